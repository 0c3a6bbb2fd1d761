// What the canvas and the panels draw from the graph: each node's wires by input, the tables'
// read edges and nodes beside the steps, and the step.field references the rules can read.

import { useMemo } from "react";
import { resolveOperator, type Catalog } from "./catalog";
import type { FactorRef } from "./components/RulesEditor";
import { handleName, type PipelineMeta, type StepNode, type WireEdge } from "./document";
import { readEdges, tableReads, type TableNode } from "./tables";

export function useGraphViews(catalog: Catalog | null, meta: PipelineMeta, nodes: StepNode[], edges: WireEdge[], tableNodes: TableNode[]) {
  /** node id -> input name -> "step.field" feeding it (drawn or dangling). */
  const wires = useMemo(() => {
    const names = new Map(nodes.map((n) => [n.id, n.data.name]));
    const out: Record<string, Record<string, string>> = {};
    for (const n of nodes) out[n.id] = { ...n.data.dangling };
    for (const e of edges) (out[e.target] ??= {})[handleName(e.targetHandle)] = `${names.get(e.source)}.${handleName(e.sourceHandle)}`;
    return out;
  }, [nodes, edges]);

  const reads = useMemo(() => tableReads(meta.decisions, new Set(nodes.map((n) => n.data.name))), [meta.decisions, nodes]);
  const shownEdges = useMemo(() => [...edges, ...readEdges(reads, nodes)], [edges, reads, nodes]);
  const shownNodes = useMemo(() => [...nodes, ...tableNodes], [nodes, tableNodes]);

  const factorRefs: FactorRef[] = useMemo(() => {
    if (!catalog) return [];
    return nodes.flatMap((n) => {
      const op = resolveOperator(catalog, n.data.op);
      return Object.entries(op?.output.fields ?? {})
        .filter(([field]) => field !== "evidence")
        .map(([field, f]) => ({ ref: `${n.data.name}.${field}`, dtype: f.dtype, description: f.description, values: f.values }));
    });
  }, [catalog, nodes]);

  return { wires, shownEdges, shownNodes, factorRefs };
}
