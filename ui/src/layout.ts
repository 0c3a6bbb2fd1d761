// Where nodes go on the canvas. Positions live in the pipeline document (``layout: {steps: {name:
// {x, y}}, tables: {...}}``, ignored by the engine), so a layout is shared with the file. A
// document without one is laid out by dagre along its wiring (left to right), and so is any
// document when the user presses Auto-layout; a dropped or pasted node is moved to free space.

import dagre from "@dagrejs/dagre";
import type { Point } from "./types";

export interface Box {
  id: string;
  width: number;
  height: number;
}

export interface Rect extends Point {
  width: number;
  height: number;
}

export const NODE_WIDTH = 250;
const GAP = 24;

/** Rough size of a step card before it is drawn (measured sizes are used once it is). */
export function estimatedStepSize(inputs: number, outputs: number, params: number): { width: number; height: number } {
  return { width: NODE_WIDTH, height: 96 + 24 * (inputs + outputs) + (params ? 28 : 0) };
}

/** Rough size of a decision table card before it is drawn. */
export function estimatedTableSize(rules: number): { width: number; height: number } {
  return { width: 280, height: 70 + 22 * Math.min(rules, 12) };
}

/** Top-left corners of ``boxes`` laid out left to right along ``links``; no two overlap.
 *
 * Dagre ranks the nodes (a step right of the steps feeding it, a table right of the steps it
 * reads) and orders each rank to cross few wires; a rank taller than ``maxHeight`` (many
 * independent steps) wraps into several columns, so that the graph stays readable at 100 %. */
export function dagreLayout(boxes: Box[], links: { source: string; target: string }[], origin: Point = { x: 40, y: 40 }, maxHeight = 900): Record<string, Point> {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: GAP, ranksep: 90, marginx: 0, marginy: 0 });
  g.setDefaultEdgeLabel(() => ({}));
  const known = new Set(boxes.map((b) => b.id));
  for (const b of boxes) g.setNode(b.id, { width: b.width, height: b.height });
  for (const l of links) if (known.has(l.source) && known.has(l.target) && l.source !== l.target) g.setEdge(l.source, l.target);
  dagre.layout(g);
  // Ranks: dagre gives every node of a rank the same centre x; within a rank, keep its order.
  const ranks = new Map<number, { box: Box; y: number }[]>();
  for (const b of boxes) {
    const n = g.node(b.id);
    const key = Math.round(n.x);
    ranks.set(key, [...(ranks.get(key) ?? []), { box: b, y: n.y }]);
  }
  const out: Record<string, Point> = {};
  let x = origin.x;
  for (const key of [...ranks.keys()].sort((a, b) => a - b)) {
    let y = origin.y;
    let width = 0;
    for (const { box } of ranks.get(key)!.sort((a, b) => a.y - b.y)) {
      if (y > origin.y && y + box.height > origin.y + maxHeight) {
        x += width + 40; // wrap into the next column of this rank
        y = origin.y;
        width = 0;
      }
      out[box.id] = { x: Math.round(x), y: Math.round(y) };
      y += box.height + GAP;
      width = Math.max(width, box.width);
    }
    x += width + 90;
  }
  return out;
}

export function overlaps(a: Rect, b: Rect, gap = 0): boolean {
  return a.x < b.x + b.width + gap && b.x < a.x + a.width + gap && a.y < b.y + b.height + gap && b.y < a.y + a.height + gap;
}

/** ``at``, or the nearest place below it where a ``size`` box overlaps none of ``others``. */
export function freeSpot(at: Point, size: { width: number; height: number }, others: Rect[]): Point {
  const spot = { x: Math.round(at.x), y: Math.round(at.y) };
  for (let tries = 0; tries < 500; tries += 1) {
    const hit = others.find((o) => overlaps({ ...spot, ...size }, o, GAP));
    if (!hit) return spot;
    spot.y = Math.round(hit.y + hit.height + GAP);
  }
  return spot;
}

/** A position rounded to whole pixels, as the document stores it. */
export function rounded(p: Point): Point {
  return { x: Math.round(p.x), y: Math.round(p.y) };
}
