// Which output may feed which input: the compiler's rule (factorline/kinds.py, core/compiler.py),
// mirrored here so a refused edge is refused while dragging, with the compiler's own words.
// The server checks again on every validation; this copy only makes the answer immediate.

import type { OperatorSchema } from "./types";

/** Kinds an item provides by itself: every step asking for them gets the item's shared decode. */
export const SOURCE_KINDS: ReadonlySet<string> = new Set(["frames", "audio"]);

/** Mirrors ``kinds_fit``: equal kinds, or text/segments into an input that consumes factors. */
export function kindsFit(produced: string, wanted: string): boolean {
  if (produced === wanted) return true;
  return wanted === "factor" && (produced === "segments" || produced === "text");
}

/** The colour of a kind on handles and edges (kept in one place so the legend matches). */
export const KIND_COLORS: Record<string, string> = {
  frames: "#64748b",
  audio: "#0e7490",
  text: "#7c3aed",
  factor: "#2563eb",
  segments: "#c2410c",
  embedding: "#be185d",
  image: "#475569",
  video: "#475569",
  decision: "#15803d",
};

export function kindColor(kind: string): string {
  return KIND_COLORS[kind] ?? "#6b7280";
}

export interface WireEnds {
  fromStep: string;
  fromField: string;
  fromOp: OperatorSchema | undefined;
  toStep: string;
  toInput: string;
  toOp: OperatorSchema | undefined;
}

/** Why a wire from ``fromStep.fromField`` into ``toStep``'s input ``toInput`` is refused, or null. */
export function wireRefusal(ends: WireEnds, upstreamOf: (step: string) => string[]): string | null {
  const { fromStep, fromField, fromOp, toStep, toInput, toOp } = ends;
  if (fromStep === toStep) return `a step cannot feed itself (${fromStep}.${fromField} -> ${toStep}.${toInput})`;
  if (!fromOp || !toOp) return "one end is a step with an unknown operator";
  const field = fromOp.output.fields[fromField];
  if (!field) return `${fromStep} has no field '${fromField}'`;
  const input = toOp.inputs[toInput];
  if (!input) return `${toOp.id} has no input '${toInput}'`;
  if (!kindsFit(field.kind, input.kind)) {
    const text = `kind mismatch: ${fromStep}.${fromField} is ${field.kind}, input '${toInput}' wants ${input.kind}`;
    return SOURCE_KINDS.has(input.kind) ? `${text} (${input.kind} come from the item's decode, not from a step)` : text;
  }
  const cycle = pathBetween(toStep, fromStep, upstreamOf);
  if (cycle) return `cycle between steps: ${[...cycle, toStep].join(" -> ")}`;
  return null;
}

/** A chain of steps from ``start`` down its upstream wires to ``goal`` (so goal feeds start), or null. */
function pathBetween(goal: string, start: string, upstreamOf: (step: string) => string[]): string[] | null {
  // Adding fromStep -> toStep closes a cycle when toStep already feeds fromStep.
  const seen = new Set<string>();
  const walk = (step: string, trail: string[]): string[] | null => {
    if (step === goal) return [...trail, step];
    if (seen.has(step)) return null;
    seen.add(step);
    for (const up of upstreamOf(step)) {
      const found = walk(up, [...trail, step]);
      if (found) return found;
    }
    return null;
  };
  const found = walk(start, []);
  return found ? found.reverse() : null;
}
