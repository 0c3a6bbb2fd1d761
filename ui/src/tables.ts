// Decision tables as nodes of the canvas: one node per table, wired (read-only, dashed) from the
// steps whose fields its rules read. The tables themselves stay in the document's ``decisions``;
// these nodes are drawn from it, and only their positions are the canvas's (``layout.tables``).

import type { Edge, Node } from "@xyflow/react";
import type { StepNode } from "./document";
import type { DecisionTableDoc, Point } from "./types";

export interface TableData extends Record<string, unknown> {
  name: string;
}

export type TableNode = Node<TableData, "table">;

export const tableNodeId = (table: string) => `table:${table}`;
export const isTableNodeId = (id: string) => id.startsWith("table:");
export const READS_OUT = "reads-out";
export const READS_IN = "reads-in";

/** The step names a condition reads (``border.area_ratio`` reads ``border``), text in quotes skipped. */
export function stepsRead(condition: string): string[] {
  const code = condition.replace(/"[^"]*"|'[^']*'/g, '""');
  const found = new Set<string>();
  for (const match of code.matchAll(/(?<![\w.])([A-Za-z_]\w*)\.(?=[A-Za-z_])/g)) found.add(match[1]);
  return [...found];
}

/** The fields of ``step`` that any rule of ``decisions`` reads (``border.area_ratio`` -> area_ratio). */
export function fieldsRead(decisions: Record<string, DecisionTableDoc> | undefined, step: string): string[] {
  const found = new Set<string>();
  const ref = new RegExp(`(?<![\\w.])${step}\\.([A-Za-z_]\\w*)`, "g");
  for (const table of Object.values(decisions ?? {})) {
    for (const rule of Array.isArray(table.rules) ? table.rules : []) {
      if (typeof rule.when !== "string") continue;
      for (const match of rule.when.replace(/"[^"]*"|'[^']*'/g, '""').matchAll(ref)) found.add(match[1]);
    }
  }
  return [...found];
}

/** Table -> the steps (by name, of ``steps``) its rules and its default row read. */
export function tableReads(decisions: Record<string, DecisionTableDoc> | undefined, steps: ReadonlySet<string>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, table] of Object.entries(decisions ?? {})) {
    const reads = new Set<string>();
    for (const rule of Array.isArray(table.rules) ? table.rules : []) {
      if (typeof rule.when === "string") for (const step of stepsRead(rule.when)) if (steps.has(step)) reads.add(step);
    }
    out[name] = [...reads];
  }
  return out;
}

/** The dashed edges from each step to the tables reading it (derived: never stored, never deleted). */
export function readEdges(reads: Record<string, string[]>, nodes: StepNode[]): Edge[] {
  const idOf = new Map(nodes.map((n) => [n.data.name, n.id]));
  return Object.entries(reads).flatMap(([table, steps]) =>
    steps.map((step) => ({
      id: `reads:${step}->${table}`,
      source: idOf.get(step)!,
      sourceHandle: READS_OUT,
      target: tableNodeId(table),
      targetHandle: READS_IN,
      selectable: false,
      deletable: false,
      focusable: false,
      className: "reads-edge",
      data: { kind: "decision" },
    })),
  );
}

/** Table nodes for ``names``, keeping the nodes already there (and their measured sizes). */
export function syncTableNodes(current: TableNode[], names: string[], positionOf: (table: string) => Point): TableNode[] {
  const byName = new Map(current.map((n) => [n.data.name, n]));
  const same = current.length === names.length && names.every((name, i) => current[i]?.data.name === name);
  if (same) return current;
  return names.map(
    (name) =>
      byName.get(name) ?? { id: tableNodeId(name), type: "table", position: positionOf(name), data: { name }, deletable: false, connectable: false },
  );
}
