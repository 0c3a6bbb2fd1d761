// Wires drawn around the nodes they do not connect (issue: "wires run behind nodes"). Pure
// geometry, no React: ``routeWire`` gives the corner points of an orthogonal path from a source
// handle to a target handle that stays out of every node box (padded), and ``roundedPath`` draws
// such points as an SVG path with small rounded corners, like React Flow's smoothstep edges.
//
// The router is A* over a sparse grid: the only x and y lines a path needs are the padded
// obstacle borders and the two handle stubs, so a graph of n nodes gives ~(2n+3)^2 points, which
// routes in well under a millisecond for the pipelines people draw. A wire whose plain smoothstep
// path already misses every node keeps that path, so a tidy graph looks as it always did.

import type { Point } from "./types";

export type Side = "left" | "right" | "top" | "bottom";

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface RouteOptions {
  /** Clearance kept around every node box. */
  pad?: number;
  /** How far a wire leaves its handle straight before it may turn (more than ``pad``). */
  stub?: number;
  /** Extra cost of a corner, in pixels of length: fewer, longer segments read better. */
  bendCost?: number;
  /** Search budget (expanded states); past it the caller falls back to the plain path. */
  budget?: number;
}

const DIRS: Record<Side, Point> = { left: { x: -1, y: 0 }, right: { x: 1, y: 0 }, top: { x: 0, y: -1 }, bottom: { x: 0, y: 1 } };
// Move directions by index: 0 right, 1 down, 2 left, 3 up (opposite = (d + 2) % 4).
const STEPS: Point[] = [{ x: 1, y: 0 }, { x: 0, y: 1 }, { x: -1, y: 0 }, { x: 0, y: -1 }];
const dirIndex = (p: Point) => STEPS.findIndex((s) => s.x === p.x && s.y === p.y);

/** Whether ``p`` lies strictly inside ``b`` (a point on the border is outside: paths may run along it). */
export function inside(p: Point, b: Box): boolean {
  return p.x > b.x && p.x < b.x + b.width && p.y > b.y && p.y < b.y + b.height;
}

export function grow(b: Box, by: number): Box {
  return { x: b.x - by, y: b.y - by, width: b.width + 2 * by, height: b.height + 2 * by };
}

/** Whether the axis-parallel segment ``a``-``b`` passes through the inside of ``box``. */
export function segmentHits(a: Point, b: Point, box: Box): boolean {
  const [x1, x2] = a.x < b.x ? [a.x, b.x] : [b.x, a.x];
  const [y1, y2] = a.y < b.y ? [a.y, b.y] : [b.y, a.y];
  if (y1 === y2) return y1 > box.y && y1 < box.y + box.height && x1 < box.x + box.width && x2 > box.x;
  if (x1 === x2) return x1 > box.x && x1 < box.x + box.width && y1 < box.y + box.height && y2 > box.y;
  return true; // not axis-parallel: never produced here; say "blocked" rather than guess
}

/** Whether the polyline through ``points`` keeps out of every box. */
export function pathClear(points: Point[], boxes: Box[]): boolean {
  for (let i = 1; i < points.length; i += 1) for (const b of boxes) if (segmentHits(points[i - 1], points[i], b)) return false;
  return true;
}

/** The corners of React Flow's smoothstep path for a right-side output feeding a left-side input
 * well to its right (the usual wire): out, across at the middle x, in. Null for other shapes. */
export function plainPath(from: Point, fromSide: Side, to: Point, toSide: Side, stub: number): Point[] | null {
  if (fromSide !== "right" || toSide !== "left" || to.x - from.x < 2 * stub) return null;
  const midX = (from.x + to.x) / 2;
  return simplify([from, { x: midX, y: from.y }, { x: midX, y: to.y }, to]);
}

/** Drops repeated points and the middle of three collinear points. */
export function simplify(points: Point[]): Point[] {
  const out: Point[] = [];
  for (const p of points) {
    if (out.length && out[out.length - 1].x === p.x && out[out.length - 1].y === p.y) continue;
    if (out.length >= 2) {
      const a = out[out.length - 2];
      const b = out[out.length - 1];
      if ((a.x === b.x && b.x === p.x) || (a.y === b.y && b.y === p.y)) out.pop();
    }
    out.push(p);
  }
  return out;
}

/** Corner points of an orthogonal wire from ``from`` (leaving towards ``fromSide``) to ``to``
 * (entering from ``toSide``) that keeps ``pad`` px off every box of ``obstacles`` (its own two
 * nodes included), or null when there is none within the budget. */
export function routeWire(from: Point, fromSide: Side, to: Point, toSide: Side, obstacles: Box[], options: RouteOptions = {}): Point[] | null {
  const { pad = 12, stub = 20, bendCost = 30, budget = 40_000 } = options;
  const outDir = DIRS[fromSide];
  const inDir = DIRS[toSide]; // the wire arrives moving against this
  // The stub ends: the path between them avoids every box, the wire's own two nodes included.
  const a = { x: from.x + outDir.x * stub, y: from.y + outDir.y * stub };
  const b = { x: to.x + inDir.x * stub, y: to.y + inDir.y * stub };
  const plain = plainPath(from, fromSide, to, toSide, stub);
  // Checked from stub end to stub end: the handles themselves sit on their nodes' borders.
  if (plain && pathClear([a, ...plain.slice(1, -1), b], obstacles.map((o) => grow(o, pad / 2)))) return plain;
  // A handle squeezed against another node: keep only the boxes its stub end is clear of.
  const walls = obstacles.map((o) => grow(o, pad)).filter((w) => !inside(a, w) && !inside(b, w));

  const xs = uniqueSorted([a.x, b.x, (a.x + b.x) / 2, ...walls.flatMap((w) => [w.x, w.x + w.width])]);
  const ys = uniqueSorted([a.y, b.y, (a.y + b.y) / 2, ...walls.flatMap((w) => [w.y, w.y + w.height])]);
  const nx = xs.length;
  const ny = ys.length;
  const at = (i: number, j: number): Point => ({ x: xs[i], y: ys[j] });
  // blockedRight[i*ny+j]: the step from (i, j) to (i+1, j) runs inside a wall (likewise down).
  // A wall's borders are grid lines, so it blocks exactly the steps between its border indices.
  const col = new Map(xs.map((x, i) => [x, i]));
  const row = new Map(ys.map((y, j) => [y, j]));
  const blockedRight = new Uint8Array(nx * ny);
  const blockedDown = new Uint8Array(nx * ny);
  for (const w of walls) {
    const [i0, i1, j0, j1] = [col.get(w.x)!, col.get(w.x + w.width)!, row.get(w.y)!, row.get(w.y + w.height)!];
    for (let i = i0; i < i1; i += 1) for (let j = j0 + 1; j < j1; j += 1) blockedRight[i * ny + j] = 1;
    for (let i = i0 + 1; i < i1; i += 1) for (let j = j0; j < j1; j += 1) blockedDown[i * ny + j] = 1;
  }
  const open = (i: number, j: number, d: number): boolean => {
    if (d === 0) return i + 1 < nx && blockedRight[i * ny + j] === 0;
    if (d === 1) return j + 1 < ny && blockedDown[i * ny + j] === 0;
    if (d === 2) return i > 0 && blockedRight[(i - 1) * ny + j] === 0;
    return j > 0 && blockedDown[i * ny + (j - 1)] === 0;
  };

  const start = xs.indexOf(a.x) * ny + ys.indexOf(a.y);
  const goal = xs.indexOf(b.x) * ny + ys.indexOf(b.y);
  const startDir = dirIndex(outDir);
  const endDir = (dirIndex(inDir) + 2) % 4;
  // States are (grid point, direction of arrival): a corner costs only when the direction changes.
  const key = (cell: number, d: number) => cell * 4 + d;
  const cost = new Float64Array(nx * ny * 4).fill(Infinity);
  const prev = new Int32Array(nx * ny * 4).fill(-1);
  const h = (cell: number) => Math.abs(xs[Math.floor(cell / ny)] - b.x) + Math.abs(ys[cell % ny] - b.y);
  const heap = new MinHeap();
  cost[key(start, startDir)] = 0;
  heap.push(h(start), key(start, startDir));
  let best = -1;
  let bestCost = Infinity;
  for (let expanded = 0; heap.size && expanded < budget; expanded += 1) {
    const [f, k] = heap.pop();
    if (f >= bestCost) break;
    const cell = k >> 2;
    const d = k & 3;
    const g = cost[k];
    if (f > g + h(cell) + 1e-9) continue; // a stale entry
    if (cell === goal) {
      const total = g + (d === endDir ? 0 : bendCost);
      if (total < bestCost && d !== (endDir + 2) % 4) [best, bestCost] = [k, total];
      continue;
    }
    const i = Math.floor(cell / ny);
    const j = cell % ny;
    for (let nd = 0; nd < 4; nd += 1) {
      if (nd === (d + 2) % 4 || !open(i, j, nd)) continue; // never double back
      const ni = i + STEPS[nd].x;
      const nj = j + STEPS[nd].y;
      const next = ni * ny + nj;
      const ng = g + Math.abs(xs[ni] - xs[i]) + Math.abs(ys[nj] - ys[j]) + (nd === d ? 0 : bendCost);
      const nk = key(next, nd);
      if (ng < cost[nk]) {
        cost[nk] = ng;
        prev[nk] = k;
        heap.push(ng + h(next), nk);
      }
    }
  }
  if (best < 0) return null;
  const cells: Point[] = [];
  for (let k = best; k >= 0; k = prev[k]) cells.push(at(Math.floor((k >> 2) / ny), (k >> 2) % ny));
  return simplify([from, ...cells.reverse(), to]);
}

/** An SVG path through ``points`` with corners rounded by up to ``radius`` px, and its midpoint
 * along its length (where a label goes). */
export function roundedPath(points: Point[], radius = 6): { d: string; mid: Point } {
  const fmt = (p: Point) => `${round(p.x)},${round(p.y)}`;
  let d = `M${fmt(points[0])}`;
  for (let i = 1; i < points.length - 1; i += 1) {
    const [p, c, n] = [points[i - 1], points[i], points[i + 1]];
    const r = Math.min(radius, dist(p, c) / 2, dist(c, n) / 2);
    const before = towards(c, p, r);
    const after = towards(c, n, r);
    d += ` L${fmt(before)} Q${fmt(c)} ${fmt(after)}`;
  }
  d += ` L${fmt(points[points.length - 1])}`;
  return { d, mid: pointAlong(points, 0.5) };
}

/** The point at ``fraction`` of the polyline's length. */
export function pointAlong(points: Point[], fraction: number): Point {
  const total = points.slice(1).reduce((sum, p, i) => sum + dist(points[i], p), 0);
  let left = total * fraction;
  for (let i = 1; i < points.length; i += 1) {
    const len = dist(points[i - 1], points[i]);
    if (left <= len && len > 0) return towards(points[i - 1], points[i], left);
    left -= len;
  }
  return points[points.length - 1];
}

const dist = (a: Point, b: Point) => Math.hypot(b.x - a.x, b.y - a.y);
const round = (v: number) => Math.round(v * 10) / 10;

function towards(from: Point, to: Point, by: number): Point {
  const len = dist(from, to);
  return len === 0 ? from : { x: from.x + ((to.x - from.x) * by) / len, y: from.y + ((to.y - from.y) * by) / len };
}

function uniqueSorted(values: number[]): number[] {
  return [...new Set(values)].sort((p, q) => p - q);
}

/** A binary min-heap of (priority, value) pairs: A*'s open list. */
class MinHeap {
  private items: [number, number][] = [];
  get size(): number {
    return this.items.length;
  }
  push(priority: number, value: number): void {
    const items = this.items;
    items.push([priority, value]);
    for (let i = items.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (items[parent][0] <= items[i][0]) break;
      [items[parent], items[i]] = [items[i], items[parent]];
      i = parent;
    }
  }
  pop(): [number, number] {
    const items = this.items;
    const top = items[0];
    const last = items.pop()!;
    if (items.length) {
      items[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < items.length && items[l][0] < items[m][0]) m = l;
        if (r < items.length && items[r][0] < items[m][0]) m = r;
        if (m === i) break;
        [items[i], items[m]] = [items[m], items[i]];
        i = m;
      }
    }
    return top;
  }
}
