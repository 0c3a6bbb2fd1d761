// What the last run says about one step: its time, a few of its values, its thumbnails.

import type { Evidence, RunRecord, Shot } from "./types";

export function fmt(value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(3).replace(/0+$/, "").replace(/\.$/, "");
  if (typeof value === "string") return value.length > 160 ? `${value.slice(0, 159)}…` : value;
  const text = JSON.stringify(value);
  return text.length > 160 ? `${text.slice(0, 159)}…` : text;
}

export interface StepStatus {
  ms: number | undefined;
  values: [string, string][];
  shots: Shot[];
  ran: boolean;
}

/** The step's status in ``record``: scalar values (the ``prefer``red ones, those the rules read,
 * first; at most ``limit``), shots at its evidence times. */
export function stepStatus(record: RunRecord, step: string, prefer: string[] = [], limit = 4): StepStatus {
  const fields = record.factors[step];
  const scalar = ([, v]: [string, unknown]) => v === null || ["number", "string", "boolean"].includes(typeof v);
  const rank = (k: string) => (prefer.includes(k) ? prefer.indexOf(k) : prefer.length);
  const values = Object.entries(fields ?? {})
    .filter(([k]) => k !== "evidence")
    .filter(scalar)
    .sort(([a], [b]) => rank(a) - rank(b))
    .slice(0, limit)
    .map(([k, v]) => [k, fmt(v).slice(0, 40)] as [string, string]);
  const evidence = (Array.isArray(fields?.evidence) ? fields.evidence : []) as Evidence[];
  const times = new Set(evidence.map((e) => e.t).filter((t): t is number => typeof t === "number").map((t) => Math.round(t * 1000)));
  const shots = (record.thumbnails?.shots ?? []).filter((s) => s.image && times.has(Math.round(s.t * 1000)));
  return { ms: record.timings_ms?.[step], values, shots, ran: fields !== undefined };
}
