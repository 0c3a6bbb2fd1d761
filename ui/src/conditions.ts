// What to suggest while a condition is typed: ``step.field`` after a step name and a dot, the
// closed vocabulary of a text field after ``==``, ``!=`` or ``in [``, and otherwise the step
// names, the item's fields, the functions and the words of the rule language -- all read from the
// server (operator schemas and /api/schema), none written here. Pure functions, no React.

import type { FactorRef } from "./components/RulesEditor";
import type { EditorSchema } from "./types";

export interface Suggestion {
  label: string; // what the list shows
  insert: string; // what replaces the word being typed
  detail: string; // dtype, signature or help
}

export interface Completion {
  from: number; // start of the text being replaced
  to: number; // the caret
  items: Suggestion[];
}

const KEYWORDS = ["and", "or", "not", "in", "true", "false"];

/** Suggestions for the caret at ``caret`` in ``text`` (null: nothing to suggest there). */
export function complete(text: string, caret: number, factors: FactorRef[], rules: EditorSchema["rules"], limit = 12): Completion | null {
  const before = text.slice(0, caret);
  if (insideQuotes(before) && !/(==|!=)\s*["'][^"']*$/.test(before) && !/\bin\s*\[[^\]]*["'][^"']*$/.test(before)) return null;

  // An enum value: border.fill == "bl|   or   border.fill in ["black", "bl|
  const value = /([A-Za-z_]\w*\.[A-Za-z_]\w*)\s*(?:==|!=|\bin\s*\[(?:[^\]]*,)?)\s*(["']?)([^"',\]]*)$/.exec(before);
  if (value) {
    const ref = factors.find((f) => f.ref === value[1]);
    if (ref?.values?.length) {
      const typed = value[3];
      const quote = value[2] || '"';
      const items = ref.values
        .filter((v) => v.toLowerCase().startsWith(typed.toLowerCase()))
        .map((v) => ({ label: `"${v}"`, insert: `${quote}${v}${quote}`, detail: `a value of ${ref.ref}` }));
      return items.length ? { from: caret - typed.length - value[2].length, to: caret, items: items.slice(0, limit) } : null;
    }
  }

  // A field: border.ar|   (the fields of that step, or of the item)
  const field = /(?<![\w.])([A-Za-z_]\w*)\.(\w*)$/.exec(before);
  if (field) {
    const [, step, typed] = field;
    const fields =
      step === rules.item
        ? Object.entries(rules.item_fields).map(([f, dtype]) => ({ f, detail: dtype }))
        : factors.filter((r) => r.ref.startsWith(`${step}.`)).map((r) => ({ f: r.ref.slice(step.length + 1), detail: `${r.dtype}${r.values ? ` · ${r.values.join(" | ")}` : ""}` }));
    const items = fields.filter(({ f }) => f.startsWith(typed)).map(({ f, detail }) => ({ label: `${step}.${f}`, insert: f, detail }));
    return items.length ? { from: caret - typed.length, to: caret, items: items.slice(0, limit) } : null;
  }

  // A word: a step, the item, a function or a keyword.
  const word = /(?<![\w.])([A-Za-z_]\w*)$/.exec(before);
  if (!word) return null;
  const typed = word[1];
  const steps = [...new Set(factors.map((r) => r.ref.split(".")[0]))];
  const candidates: Suggestion[] = [
    ...steps.map((s) => ({ label: `${s}.`, insert: `${s}.`, detail: "step" })),
    { label: `${rules.item}.`, insert: `${rules.item}.`, detail: "the item's own fields" },
    ...rules.functions.map((f) => ({ label: `${f.name}()`, insert: `${f.name}(`, detail: f.signature })),
    ...KEYWORDS.map((k) => ({ label: k, insert: k, detail: "keyword" })),
  ];
  const items = candidates.filter((c) => c.label.startsWith(typed) && c.insert !== typed);
  return items.length ? { from: caret - typed.length, to: caret, items: items.slice(0, limit) } : null;
}

function insideQuotes(text: string): boolean {
  let quote: string | null = null;
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") quote = ch;
  }
  return quote !== null;
}

export type Token = { text: string; kind: "ref" | "fn" | "kw" | "str" | "num" | "op" | "plain" };

/** ``text`` cut into tokens for highlighting: references, functions, keywords, strings, numbers. */
export function tokens(text: string, functions: Set<string>): Token[] {
  const out: Token[] = [];
  const pattern = /("[^"]*"?|'[^']*'?)|(\b\d+(?:\.\d+)?\b)|([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)|([A-Za-z_]\w*)|(==|!=|<=|>=|<|>|[-+*/])|(\s+|.)/g;
  for (const m of text.matchAll(pattern)) {
    const [all, str, num, ref, word, op] = m;
    const kind: Token["kind"] = str ? "str" : num ? "num" : ref ? "ref" : word ? (functions.has(word) ? "fn" : KEYWORDS.includes(word) ? "kw" : "plain") : op ? "op" : "plain";
    out.push({ text: all, kind });
  }
  return out;
}
