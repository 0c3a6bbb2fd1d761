// Pure conversion between a pipeline document (the JSON the server reads and writes) and the
// React Flow graph the canvas edits. Steps become nodes (in document order), each wire
// ``inputs: {text: subs.text}`` becomes an edge from handle ``out:text`` of the node of step
// ``subs`` to handle ``in:text``. Everything else in the document (name, sampling, decision
// tables, keys the editor does not know) is carried unchanged in ``meta``, in its original key
// order, so that load -> save gives back the same normalized document.

import type { Edge, Node } from "@xyflow/react";
import { resolveOperator, type Catalog } from "./catalog";
import { copyFloatMarks, toJson } from "./json";
import type { DecisionTableDoc, LayoutDoc, PipelineDocument, StepDoc } from "./types";

export interface StepData extends Record<string, unknown> {
  name: string;
  op: string; // as written: "black_border" or "black_border@2"
  params?: Record<string, unknown>; // only the values the document sets; absent: no params key
  /** Input names in the document's order, so saved wires keep their order. */
  inputOrder: string[];
  /** Wires the canvas cannot draw (unknown step, field or input): kept and saved as written. */
  dangling: Record<string, string>;
  /** Whether the document had an ``inputs`` key (kept even when empty). */
  hadInputs: boolean;
  /** Step keys the editor does not know (the server refuses them, but they are not dropped). */
  extra: Record<string, unknown>;
}

export type StepNode = Node<StepData, "step">;
export type WireEdge = Edge<{ kind: string }>;

/** The document without its steps; ``steps`` keeps its key position (value ignored). */
export type PipelineMeta = PipelineDocument;

export interface Graph {
  meta: PipelineMeta;
  nodes: StepNode[];
  edges: WireEdge[];
}

export const outHandle = (field: string) => `out:${field}`;
export const inHandle = (input: string) => `in:${input}`;
export const handleName = (handle: string | null | undefined) => (handle ?? "").replace(/^(in|out):/, "");

let nodeSeq = 0;
/** Node ids are independent of step names, so renaming a step keeps its wires. */
export function newNodeId(): string {
  nodeSeq += 1;
  return `node-${nodeSeq}`;
}

export function edgeId(source: string, sourceHandle: string, target: string, targetHandle: string): string {
  return `${source}/${sourceHandle}->${target}/${targetHandle}`;
}

/** A fresh document: one moderation table with its default row, ready for rules. */
export function blankDocument(name = "untitled"): PipelineDocument {
  return {
    name,
    input: "video",
    steps: {},
    decisions: {
      moderation: blankTable(),
    },
  };
}

export function blankTable(): DecisionTableDoc {
  return {
    policy: "first",
    on_missing: "review",
    on_error: "review",
    rules: [{ id: "ok", default: true, outcome: "accept" }],
  };
}

export function stepNode(name: string, step: StepDoc, position: { x: number; y: number }, id = newNodeId()): StepNode {
  const { op, params, inputs, ...extra } = step;
  return {
    id,
    type: "step",
    position,
    data: {
      name,
      op,
      ...(params !== undefined ? { params: copyFloatMarks(params, { ...params }) } : {}),
      inputOrder: Object.keys(inputs ?? {}),
      dangling: {},
      hadInputs: inputs !== undefined,
      extra,
    },
  };
}

/** The graph of ``doc``; ``positionOf`` places each step (see layout.ts). */
export function documentToGraph(
  doc: PipelineDocument,
  catalog: Catalog,
  positionOf: (step: string, index: number) => { x: number; y: number },
): Graph {
  const steps = doc.steps && typeof doc.steps === "object" ? doc.steps : {};
  const names = Object.keys(steps);
  const nodes = names.map((name, i) => stepNode(name, steps[name], positionOf(name, i)));
  const nodeOf = new Map(nodes.map((n) => [n.data.name, n]));
  const edges: WireEdge[] = [];
  for (const node of nodes) {
    const wires = steps[node.data.name].inputs ?? {};
    const op = resolveOperator(catalog, node.data.op);
    for (const [input, ref] of Object.entries(wires)) {
      const [upName, field] = splitRef(ref);
      const up = upName !== undefined ? nodeOf.get(upName) : undefined;
      const upOp = up ? resolveOperator(catalog, up.data.op) : undefined;
      const drawable = up && field && op?.inputs[input] && upOp?.output.fields[field];
      if (drawable) {
        edges.push(wireEdge(up.id, field, node.id, input, upOp.output.fields[field].kind));
      } else {
        node.data.dangling[input] = ref;
      }
    }
  }
  return { meta: { ...doc }, nodes, edges };
}

export function wireEdge(source: string, field: string, target: string, input: string, kind: string): WireEdge {
  const sourceHandle = outHandle(field);
  const targetHandle = inHandle(input);
  return {
    id: edgeId(source, sourceHandle, target, targetHandle),
    source,
    sourceHandle,
    target,
    targetHandle,
    data: { kind },
    className: `kind-${kind}`,
  };
}

function splitRef(ref: string): [string | undefined, string | undefined] {
  if (typeof ref !== "string") return [undefined, undefined];
  const dot = ref.indexOf(".");
  return dot < 0 ? [ref, undefined] : [ref.slice(0, dot), ref.slice(dot + 1)];
}

/** The document the graph stands for (what Save sends). */
export function graphToDocument({ meta, nodes, edges }: Graph): PipelineDocument {
  const nameOf = new Map(nodes.map((n) => [n.id, n.data.name]));
  const steps: Record<string, StepDoc> = {};
  for (const node of nodes) {
    const wired: Record<string, string> = { ...node.data.dangling };
    for (const edge of edges) {
      if (edge.target === node.id && nameOf.has(edge.source)) {
        wired[handleName(edge.targetHandle)] = `${nameOf.get(edge.source)}.${handleName(edge.sourceHandle)}`;
      }
    }
    const order = [...node.data.inputOrder.filter((i) => i in wired), ...Object.keys(wired).filter((i) => !node.data.inputOrder.includes(i))];
    const step: StepDoc = { op: node.data.op };
    if (node.data.params !== undefined) step.params = copyFloatMarks(node.data.params, { ...node.data.params });
    if (order.length || node.data.hadInputs) step.inputs = Object.fromEntries(order.map((i) => [i, wired[i]]));
    steps[node.data.name] = { ...step, ...node.data.extra };
  }
  // Spreading meta keeps its key order; "steps" is replaced in place (or appended when absent).
  const doc: PipelineDocument = { ...meta, steps };
  if (meta.layout !== undefined) doc.layout = documentLayout(meta, nodes);
  return doc;
}

/** The ``layout`` section: step positions from the canvas (whole pixels, document order); table
 * positions as the meta holds them, for tables that exist; other keys kept in their order. */
function documentLayout(meta: PipelineMeta, nodes: StepNode[]): LayoutDoc {
  const old = meta.layout && typeof meta.layout === "object" ? meta.layout : {};
  const steps = Object.fromEntries(nodes.map((n) => [n.data.name, { x: Math.round(n.position.x), y: Math.round(n.position.y) }]));
  const layout: LayoutDoc = "steps" in old ? { ...old, steps } : { steps, ...old };
  if (old.tables !== undefined || Object.keys(meta.decisions ?? {}).length) {
    const tables = old.tables ?? {};
    layout.tables = Object.fromEntries(Object.keys(meta.decisions ?? {}).filter((t) => t in tables).map((t) => [t, tables[t]]));
    if (!Object.keys(layout.tables).length && old.tables === undefined) delete layout.tables;
  }
  return layout;
}

/** A free step name for operator ``opName``: the name itself, then name_2, name_3 ... */
export function freeStepName(opName: string, taken: Iterable<string>): string {
  const used = new Set(taken);
  const base = opName.toLowerCase().replace(/[^a-z0-9_]/g, "_").replace(/^([0-9])/, "_$1") || "step";
  if (!used.has(base)) return base;
  for (let i = 2; ; i += 1) if (!used.has(`${base}_${i}`)) return `${base}_${i}`;
}

/** Rule conditions and cases that read step ``from`` now read ``to`` (after a rename). */
export function renameStepInDecisions(
  decisions: Record<string, DecisionTableDoc> | undefined,
  from: string,
  to: string,
): Record<string, DecisionTableDoc> | undefined {
  if (!decisions) return decisions;
  const ref = new RegExp(`(^|[^\\w.])${from.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\.(?=[A-Za-z_])`, "g");
  const out: Record<string, DecisionTableDoc> = {};
  for (const [table, doc] of Object.entries(decisions)) {
    const rules = Array.isArray(doc.rules)
      ? doc.rules.map((r) => (typeof r.when === "string" ? { ...r, when: r.when.replace(ref, `$1${to}.`) } : r))
      : doc.rules;
    const cases = Array.isArray(doc.cases) ? doc.cases.map((c) => renameInCase(c, from, to)) : doc.cases;
    out[table] = { ...doc, ...(doc.rules !== undefined ? { rules } : {}), ...(doc.cases !== undefined ? { cases } : {}) };
  }
  return out;
}

function renameInCase(item: unknown, from: string, to: string): unknown {
  if (!item || typeof item !== "object") return item;
  const c = { ...(item as Record<string, unknown>) };
  if (c.factors && typeof c.factors === "object") {
    c.factors = renameKeys(c.factors as Record<string, unknown>, (k) => (k === from ? to : k));
  }
  if (c.given && typeof c.given === "object") {
    const renamed = (k: string) => (k.startsWith(`${from}.`) ? to + k.slice(from.length) : k);
    c.given = copyFloatMarks(c.given as object, renameKeys(c.given as Record<string, unknown>, renamed), renamed);
  }
  return c;
}

function renameKeys(obj: Record<string, unknown>, rename: (key: string) => string): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [rename(k), v]));
}

/** Canonical text of a document, for "has it changed" checks (key order and 1.0 vs 1 count,
 * as in the saved YAML). */
export function documentText(doc: PipelineDocument): string {
  return toJson(doc);
}
