// An operator's parameter schema (pydantic's JSON schema) turned into form fields: the kind of
// control, the default, the allowed range and the help text. Anything the form does not know
// how to edit falls back to a JSON text box, so no parameter is ever out of reach.

import type { JsonSchema } from "./types";

export type Control = "integer" | "number" | "boolean" | "string" | "enum" | "string-list" | "enum-list" | "json";

export interface ParamField {
  name: string;
  title: string;
  description: string;
  control: Control;
  hasDefault: boolean;
  default?: unknown;
  nullable: boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minItems?: number;
  maxItems?: number;
  options: unknown[];
  required: boolean;
}

function resolve(schema: JsonSchema, root: JsonSchema): JsonSchema {
  if (schema.$ref?.startsWith("#/$defs/")) {
    const target = root.$defs?.[schema.$ref.slice("#/$defs/".length)];
    if (target) return { ...target, ...schema, $ref: undefined };
  }
  return schema;
}

function controlOf(s: JsonSchema, root: JsonSchema): Control {
  if (s.enum) return "enum";
  if (s.type === "integer") return "integer";
  if (s.type === "number") return "number";
  if (s.type === "boolean") return "boolean";
  if (s.type === "string") return "string";
  if (s.type === "array" && s.items) {
    const items = resolve(s.items, root);
    if (items.enum) return "enum-list";
    if (items.type === "string") return "string-list";
  }
  return "json";
}

export function paramFields(schema: JsonSchema): ParamField[] {
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties ?? {}).map(([name, raw]) => {
    let s = resolve(raw, schema);
    let nullable = false;
    if (s.anyOf) {
      // Optional[X] is anyOf [X, null]: edit X, an empty box means null.
      const options = s.anyOf.map((o) => resolve(o, schema));
      const real = options.filter((o) => o.type !== "null");
      nullable = real.length < options.length;
      if (real.length === 1) s = { ...real[0], ...s, anyOf: undefined };
    }
    const control = s.anyOf ? "json" : controlOf(s, schema);
    const items = s.items ? resolve(s.items, schema) : undefined;
    return {
      name,
      title: s.title ?? name,
      description: s.description ?? "",
      control,
      hasDefault: "default" in s,
      default: s.default,
      nullable,
      minimum: s.minimum,
      maximum: s.maximum,
      exclusiveMinimum: s.exclusiveMinimum,
      exclusiveMaximum: s.exclusiveMaximum,
      minItems: s.minItems,
      maxItems: s.maxItems,
      options: control === "enum" ? (s.enum ?? []) : control === "enum-list" ? (items?.enum ?? []) : [],
      required: required.has(name),
    };
  });
}

/** "0 ≤ value ≤ 255", "0 < value ≤ 1", "at most 20 items", or "". */
export function rangeText(f: ParamField): string {
  const low =
    f.exclusiveMinimum !== undefined ? `${f.exclusiveMinimum} <` : f.minimum !== undefined ? `${f.minimum} ≤` : "";
  const high =
    f.exclusiveMaximum !== undefined ? `< ${f.exclusiveMaximum}` : f.maximum !== undefined ? `≤ ${f.maximum}` : "";
  if (low || high) return [low, "value", high].filter(Boolean).join(" ");
  if (f.minItems !== undefined && f.maxItems !== undefined) return `${f.minItems} to ${f.maxItems} items`;
  if (f.maxItems !== undefined) return `at most ${f.maxItems} items`;
  if (f.minItems !== undefined) return `at least ${f.minItems} items`;
  return "";
}

export function formatDefault(f: ParamField): string {
  if (!f.hasDefault) return "";
  return typeof f.default === "string" ? f.default : JSON.stringify(f.default);
}

/** The value a text box stands for; ``undefined`` means "not set" (the operator's default). */
export type Parsed = { ok: true; value: unknown } | { ok: false; error: string };

export function parseText(f: ParamField, text: string): Parsed {
  const trimmed = text.trim();
  if (trimmed === "") return { ok: true, value: f.nullable && !f.hasDefault ? null : undefined };
  switch (f.control) {
    case "integer":
    case "number": {
      // Sent as typed (even out of range or fractional for an integer): the server's
      // validation then names the problem on this very field.
      const n = Number(trimmed);
      return Number.isFinite(n) ? { ok: true, value: n } : { ok: false, error: "not a number" };
    }
    case "string-list":
      return { ok: true, value: text.split("\n").map((l) => l.trim()).filter(Boolean) };
    case "json":
      try {
        return { ok: true, value: JSON.parse(trimmed) };
      } catch {
        return { ok: false, error: "not valid JSON" };
      }
    default:
      return { ok: true, value: text };
  }
}

export function formatValue(f: ParamField, value: unknown): string {
  if (value === undefined || value === null) return "";
  if (f.control === "string-list" && Array.isArray(value)) return value.join("\n");
  if (f.control === "json") return JSON.stringify(value);
  return String(value);
}
