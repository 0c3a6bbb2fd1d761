// Small helpers the run browser's views share.

import type { Value } from "./types";

/** True when a key press is meant for a text field, not for the page's shortcuts. */
export function isTyping(e: KeyboardEvent): boolean {
  const el = e.target as HTMLElement | null;
  if (e.ctrlKey || e.metaKey || e.altKey) return true;
  return !!el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
}

export function show(value: Value | unknown): string {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(value < 1 && value > -1 ? 3 : 2);
  if (typeof value === "string") return value.length > 80 ? `${value.slice(0, 79)}…` : value;
  if (typeof value === "boolean") return value ? "true" : "false";
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

export function seconds(t: number | null | undefined): string {
  return t === null || t === undefined ? "–" : `${t.toFixed(t < 10 ? 2 : 1)} s`;
}
