// The operator catalogue as the editor uses it: look-ups by id or name, and palette groups; with
// the server's schema (GET /api/schema): kinds, name patterns, sampling form, rule language. The
// editor keeps no copies of these rules: they are read from the server that enforces them.

import type { EditorSchema, OperatorSchema } from "./types";

export interface Patterns {
  pipeline: RegExp;
  step: RegExp;
  table: RegExp;
  ruleId: RegExp;
}

export interface Catalog {
  operators: OperatorSchema[];
  byId: Map<string, OperatorSchema>;
  latestByName: Map<string, OperatorSchema>;
  schema: EditorSchema;
  patterns: Patterns;
}

export function makeCatalog(operators: OperatorSchema[], schema: EditorSchema): Catalog {
  const byId = new Map<string, OperatorSchema>();
  const latestByName = new Map<string, OperatorSchema>();
  for (const op of operators) {
    byId.set(op.id, op);
    const known = latestByName.get(op.name);
    if (!known || known.version < op.version) latestByName.set(op.name, op);
  }
  const patterns = {
    pipeline: new RegExp(schema.names.pipeline),
    step: new RegExp(schema.names.step),
    table: new RegExp(schema.names.table),
    ruleId: new RegExp(schema.names.rule_id),
  };
  return { operators, byId, latestByName, schema, patterns };
}

/** Whether a kind comes from the item's shared decode (frames, audio) rather than a wire. */
export function isSourceKind(catalog: Catalog, kind: string): boolean {
  return catalog.schema.kinds.source.includes(kind);
}

/** The operator a step's ``op`` names: ``name@version``, or a bare name (its latest version,
 * as the server's registry resolves it). */
export function resolveOperator(catalog: Catalog, op: string): OperatorSchema | undefined {
  return op.includes("@") ? catalog.byId.get(op) : catalog.latestByName.get(op);
}

/** Operators by group (groups and operators sorted), keeping only those matching ``query``. */
export function paletteGroups(catalog: Catalog, query: string): [string, OperatorSchema[]][] {
  const words = query.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const matches = (op: OperatorSchema) => {
    const haystack = [op.name, op.id, op.title, op.group, op.description, ...Object.keys(op.output.fields)]
      .join(" ")
      .toLowerCase();
    return words.every((w) => haystack.includes(w));
  };
  const groups = new Map<string, OperatorSchema[]>();
  for (const op of catalog.operators) {
    if (!matches(op)) continue;
    const list = groups.get(op.group) ?? [];
    list.push(op);
    groups.set(op.group, list);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([group, ops]) => [group, ops.sort((a, b) => a.name.localeCompare(b.name))]);
}
