// Where steps go on the canvas. A document has no layout (the server refuses unknown keys), so
// a pipeline is laid out by its wiring (a step right of the steps feeding it), and positions the
// user arranged are remembered in localStorage per pipeline name.

import type { PipelineDocument } from "./types";

type Point = { x: number; y: number };

const COLUMN_WIDTH = 300;
const ROW_GAP = 30;
const COLUMN_HEIGHT = 760; // a wiring level taller than this wraps into another column
const ORIGIN = { x: 40, y: 40 };

/** Rough height of a step card: enough to keep auto-laid-out cards from overlapping. */
function cardHeight(outputs: number, inputs: number): number {
  return 96 + 24 * (outputs + inputs);
}

/** Positions by wiring depth: steps fed by others sit right of the steps feeding them; a level
 * with many steps wraps into several columns so that a wide pipeline still reads at 100 %. */
export function autoLayout(
  doc: PipelineDocument,
  countHandles: (op: string) => { inputs: number; outputs: number },
): Record<string, Point> {
  const steps = doc.steps ?? {};
  const depth = new Map<string, number>();
  const depthOf = (name: string, trail: Set<string>): number => {
    if (depth.has(name)) return depth.get(name)!;
    if (trail.has(name)) return 0; // a cycle (the server reports it): do not recurse forever
    trail.add(name);
    const ups = Object.values(steps[name]?.inputs ?? {})
      .map((ref) => String(ref).split(".")[0])
      .filter((up) => up in steps);
    const d = ups.length ? 1 + Math.max(...ups.map((u) => depthOf(u, trail))) : 0;
    depth.set(name, d);
    return d;
  };
  const levels = new Map<number, string[]>();
  for (const name of Object.keys(steps)) {
    const d = depthOf(name, new Set());
    levels.set(d, [...(levels.get(d) ?? []), name]);
  }
  const out: Record<string, Point> = {};
  let column = 0;
  for (const d of [...levels.keys()].sort((a, b) => a - b)) {
    let y = ORIGIN.y;
    for (const name of levels.get(d)!) {
      const handles = countHandles(steps[name].op);
      const height = cardHeight(handles.outputs, handles.inputs);
      if (y > ORIGIN.y && y + height > ORIGIN.y + COLUMN_HEIGHT) {
        column += 1;
        y = ORIGIN.y;
      }
      out[name] = { x: ORIGIN.x + column * COLUMN_WIDTH, y };
      y += height + ROW_GAP;
    }
    column += 1;
  }
  return out;
}

const storageKey = (pipeline: string) => `factorline.layout.${pipeline}`;

export function loadPositions(pipeline: string): Record<string, Point> {
  try {
    const raw = localStorage.getItem(storageKey(pipeline));
    const parsed = raw ? JSON.parse(raw) : {};
    return parsed && typeof parsed === "object" ? parsed : {};
  } catch {
    return {};
  }
}

export function savePositions(pipeline: string, positions: Record<string, Point>): void {
  try {
    localStorage.setItem(storageKey(pipeline), JSON.stringify(positions));
  } catch {
    // storage full or disabled: the layout is a convenience only
  }
}
