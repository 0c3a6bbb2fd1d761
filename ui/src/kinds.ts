// Which output may feed which input, answered while a wire is dragged with the compiler's own
// words. What fits what (``kinds.fits``) and which kinds come from the item's decode
// (``kinds.source``) are read from the server's /api/schema (factorline/kinds.py): no copy here.
// The server checks again on every validation.

import type { EditorSchema, OperatorSchema } from "./types";

export type KindRules = EditorSchema["kinds"];

/** ``kinds_fit`` as the server publishes it: may a ``produced`` value feed a ``wanted`` input? */
export function kindsFit(rules: KindRules, produced: string, wanted: string): boolean {
  return (rules.fits[produced] ?? [produced]).includes(wanted);
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
export function wireRefusal(ends: WireEnds, upstreamOf: (step: string) => string[], rules: KindRules): string | null {
  const { fromStep, fromField, fromOp, toStep, toInput, toOp } = ends;
  if (fromStep === toStep) return `a step cannot feed itself (${fromStep}.${fromField} -> ${toStep}.${toInput})`;
  if (!fromOp || !toOp) return "one end is a step with an unknown operator";
  const field = fromOp.output.fields[fromField];
  if (!field) return `${fromStep} has no field '${fromField}'`;
  const input = toOp.inputs[toInput];
  if (!input) return `${toOp.id} has no input '${toInput}'`;
  if (!kindsFit(rules, field.kind, input.kind)) {
    const text = `kind mismatch: ${fromStep}.${fromField} is ${field.kind}, input '${toInput}' wants ${input.kind}`;
    return rules.source.includes(input.kind) ? `${text} (${input.kind} come from the item's decode, not from a step)` : text;
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
