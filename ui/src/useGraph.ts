// The editor's state and every edit of it: the document meta, the steps (nodes), the wires
// (edges), and the decision-table nodes drawn from ``decisions``. Each edit records an undo step
// first (useUndo), so every edit -- Delete included -- can be undone and redone. Positions are the
// document's ``layout`` section once the user places anything (drag, drop, paste, auto-layout).

import { applyNodeChanges, useEdgesState, useNodesState, type Connection, type EdgeChange, type NodeChange } from "@xyflow/react";
import { useCallback, useEffect, useRef, useState } from "react";
import { resolveOperator, type Catalog } from "./catalog";
import { copySteps, pasteSteps, type Clip } from "./clipboard";
import { documentToGraph, freeStepName, handleName, renameStepInDecisions, stepNode, wireEdge, type PipelineMeta, type StepNode, type WireEdge } from "./document";
import { withParam, withRenamedStep, withoutDangling } from "./edits";
import { wireRefusal } from "./kinds";
import { dagreLayout, estimatedStepSize, estimatedTableSize, freeSpot, rounded, type Box, type Rect } from "./layout";
import { isTableNodeId, syncTableNodes, tableNodeId, tableReads, type TableNode } from "./tables";
import type { OperatorSchema, PipelineDocument, Point } from "./types";
import { useUndo, type Snapshot } from "./useUndo";

type AnyNode = StepNode | TableNode;

function sizeOf(node: AnyNode, estimate: () => { width: number; height: number }) {
  return node.measured?.width && node.measured?.height ? { width: node.measured.width, height: node.measured.height } : estimate();
}

export function useGraph(catalog: Catalog | null, blank: PipelineDocument) {
  const [nodes, setNodes, applyStepChanges] = useNodesState<StepNode>([]);
  const [edges, setEdges, applyEdgeChanges] = useEdgesState<WireEdge>([]);
  const [meta, setMeta] = useState<PipelineMeta>(blank);
  const [tableNodes, setTableNodes] = useState<TableNode[]>([]);
  const [tableSpots, setTableSpots] = useState<Record<string, Point>>({});
  const clip = useRef<Clip | null>(null);
  const pastes = useRef(0);

  const state = useRef<Snapshot>({ meta, nodes, edges });
  state.current = { meta, nodes, edges };
  const undo = useUndo(
    useCallback(() => state.current, []),
    useCallback((s: Snapshot) => {
      setMeta(s.meta);
      setNodes(s.nodes);
      setEdges(s.edges);
    }, [setNodes, setEdges]),
  );
  const { record } = undo;

  const opOf = useCallback((op: string) => (catalog ? resolveOperator(catalog, op) : undefined), [catalog]);
  const stepSize = useCallback(
    (n: StepNode) => {
      const op = opOf(n.data.op);
      return sizeOf(n, () => estimatedStepSize(Object.keys(op?.inputs ?? {}).length, Object.keys(op?.output.fields ?? {}).length, Object.keys(n.data.params ?? {}).length));
    },
    [opOf],
  );
  const tableSize = useCallback(
    (n: TableNode) => sizeOf(n, () => estimatedTableSize(meta.decisions?.[n.data.name]?.rules?.length ?? 1)),
    [meta.decisions],
  );

  // Table nodes follow the document's tables; a table without a stored position gets a free spot.
  const tableNames = Object.keys(meta.decisions ?? {});
  const tablePositions = meta.layout?.tables;
  useEffect(() => {
    setTableNodes((current) => {
      const right = nodes.reduce((x, n) => Math.max(x, n.position.x + stepSize(n).width), 0);
      const fresh = (t: string) => tablePositions?.[t] ?? tableSpots[t] ?? freeSpot({ x: nodes.length ? right + 90 : 640, y: 40 }, estimatedTableSize(1), rects());
      const synced = syncTableNodes(current, tableNames, fresh);
      // An undo or a restore moves a table back to where the document has it.
      return synced.map((n) => {
        const want = tablePositions?.[n.data.name] ?? tableSpots[n.data.name];
        return want && !n.dragging && (want.x !== Math.round(n.position.x) || want.y !== Math.round(n.position.y)) ? { ...n, position: want } : n;
      });
    });
  }, [tableNames.join("\u0000"), tablePositions, tableSpots]); // eslint-disable-line react-hooks/exhaustive-deps

  /** Positions become part of the document (``layout:``) from the first time the user places a node. */
  const keepLayout = (tables: Record<string, Point> = {}) =>
    setMeta((m) => {
      const known = m.layout?.tables ?? {};
      const spots = Object.fromEntries(tableNodes.map((n) => [n.data.name, rounded(n.position)]));
      const merged = { ...spots, ...known, ...tables };
      const layout = { ...(m.layout ?? {}) };
      if (Object.keys(merged).length || layout.tables !== undefined) layout.tables = merged;
      return { ...m, layout };
    });

  // ------------------------------------------------------------------ opening
  const open = useCallback(
    (doc: PipelineDocument) => {
      if (!catalog) return;
      const steps = doc.steps && typeof doc.steps === "object" ? doc.steps : {};
      const stored = doc.layout?.steps ?? {};
      const storedTables = doc.layout?.tables ?? {};
      const boxes: Box[] = Object.entries(steps).map(([name, step]) => {
        const op = resolveOperator(catalog, step.op);
        return { id: name, ...estimatedStepSize(Object.keys(op?.inputs ?? {}).length, Object.keys(op?.output.fields ?? {}).length, Object.keys(step.params ?? {}).length) };
      });
      const tables = Object.entries(doc.decisions ?? {});
      boxes.push(...tables.map(([name, t]) => ({ id: tableNodeId(name), ...estimatedTableSize(Array.isArray(t.rules) ? t.rules.length : 1) })));
      const links = Object.entries(steps).flatMap(([name, step]) => Object.values(step.inputs ?? {}).map((ref) => ({ source: String(ref).split(".")[0], target: name })));
      for (const [table, reads] of Object.entries(tableReads(doc.decisions, new Set(Object.keys(steps))))) {
        links.push(...reads.map((step) => ({ source: step, target: tableNodeId(table) })));
      }
      // No steps yet: the tables wait on the right, leaving the room where steps get dropped.
      const auto = dagreLayout(boxes, links, Object.keys(steps).length ? undefined : { x: 640, y: 40 });
      const graph = documentToGraph(doc, catalog, (step) => stored[step] ?? auto[step] ?? { x: 40, y: 40 });
      setMeta(graph.meta);
      setNodes(graph.nodes);
      setEdges(graph.edges);
      setTableNodes([]);
      setTableSpots(Object.fromEntries(tables.map(([name]) => [name, storedTables[name] ?? auto[tableNodeId(name)]])));
      undo.reset();
    },
    [catalog, setNodes, setEdges, undo.reset], // eslint-disable-line react-hooks/exhaustive-deps
  );

  // ------------------------------------------------------------------ steps and wires
  const nodeName = useCallback((id: string) => nodes.find((n) => n.id === id)?.data.name ?? id, [nodes]);
  const rects = (except: Set<string> = new Set()): Rect[] => [
    ...nodes.filter((n) => !except.has(n.id)).map((n) => ({ ...n.position, ...stepSize(n) })),
    ...tableNodes.map((n) => ({ ...n.position, ...tableSize(n) })),
  ];

  const addStep = (op: OperatorSchema, position?: Point) => {
    record();
    const name = freeStepName(op.name, nodes.map((n) => n.data.name));
    const size = estimatedStepSize(Object.keys(op.inputs).length, Object.keys(op.output.fields).length, 0);
    const right = nodes.reduce((x, n) => Math.max(x, n.position.x + stepSize(n).width), 0);
    const at = freeSpot(position ?? { x: nodes.length ? right + 60 : 60, y: 60 }, size, rects());
    const node = { ...stepNode(name, { op: op.name }, at), selected: true };
    setNodes((list) => [...list.map((n) => ({ ...n, selected: false })), node]);
    keepLayout();
  };

  const refusal = useCallback(
    (c: Connection): string | null => {
      if (!catalog) return "the operator catalogue is not loaded";
      if (isTableNodeId(c.source) || isTableNodeId(c.target)) return "decision tables read factors in their rules: write step.field in a condition";
      const from = nodes.find((n) => n.id === c.source);
      const to = nodes.find((n) => n.id === c.target);
      if (!from || !to) return "unknown step";
      const upstreamOf = (step: string) => {
        const id = nodes.find((n) => n.data.name === step)?.id;
        // The wire being replaced (same input) does not count: it goes away with this one.
        return edges.filter((e) => e.target === id && !(e.target === c.target && e.targetHandle === c.targetHandle)).map((e) => nodeName(e.source));
      };
      const ends = {
        fromStep: from.data.name,
        fromField: handleName(c.sourceHandle),
        fromOp: resolveOperator(catalog, from.data.op),
        toStep: to.data.name,
        toInput: handleName(c.targetHandle),
        toOp: resolveOperator(catalog, to.data.op),
      };
      return wireRefusal(ends, upstreamOf, catalog.schema.kinds);
    },
    [catalog, nodes, edges, nodeName],
  );

  const updateNode = (id: string, update: (node: StepNode) => StepNode) => setNodes((list) => list.map((n) => (n.id === id ? update(n) : n)));

  const wire = (c: Connection) => {
    record();
    const from = nodes.find((n) => n.id === c.source)!;
    const field = handleName(c.sourceHandle);
    const kind = opOf(from.data.op)?.output.fields[field]?.kind ?? "factor";
    const input = handleName(c.targetHandle);
    // One wire per input: a new one replaces the old.
    setEdges((list) => [...list.filter((e) => !(e.target === c.target && e.targetHandle === c.targetHandle)), wireEdge(c.source, field, c.target, input, kind)]);
    updateNode(c.target, (n) => ({ ...n, data: withoutDangling(n.data, input) }));
  };

  const setParam = (id: string, key: string, value: unknown | undefined) => {
    record(`param:${id}:${key}`);
    updateNode(id, (n) => ({ ...n, data: withParam(n.data, key, value, opOf(n.data.op)) }));
  };

  const renameStep = (id: string, to: string): string | null => {
    const from = nodeName(id);
    if (!catalog?.patterns.step.test(to)) return "lower_snake_case: a-z, 0-9 and _, not starting with a digit";
    if (nodes.some((n) => n.id !== id && n.data.name === to)) return `another step is named ${to}`;
    record();
    setNodes((list) => list.map((n) => ({ ...n, data: withRenamedStep(n.data, from, to) })));
    setMeta((m) => ({ ...m, decisions: renameStepInDecisions(m.decisions, from, to) }));
    return null;
  };

  const unwire = (id: string, input: string) => {
    record();
    setEdges((list) => list.filter((e) => !(e.target === id && handleName(e.targetHandle) === input)));
    updateNode(id, (n) => ({ ...n, data: withoutDangling(n.data, input) }));
  };

  const removeSteps = (ids: Set<string>) => {
    if (!ids.size) return;
    record();
    setNodes((list) => list.filter((n) => !ids.has(n.id)));
    setEdges((list) => list.filter((e) => !ids.has(e.source) && !ids.has(e.target)));
  };

  const editMeta = (update: (m: PipelineMeta) => PipelineMeta, key?: string) => {
    record(key);
    setMeta(update);
  };

  // ------------------------------------------------------------------ canvas changes
  const onNodesChange = (changes: NodeChange<AnyNode>[]) => {
    const forTables = changes.filter((c) => "id" in c && isTableNodeId(c.id));
    const forSteps = changes.filter((c) => !("id" in c && isTableNodeId(c.id))) as NodeChange<StepNode>[];
    if (forSteps.some((c) => c.type === "remove")) record(); // Delete / Backspace: undoable
    if (forSteps.length) applyStepChanges(forSteps);
    const kept = forTables.filter((c) => c.type !== "remove"); // tables go from the rules editor
    if (kept.length) setTableNodes((list) => applyNodeChanges(kept as NodeChange<TableNode>[], list));
  };

  const onEdgesChange = (changes: EdgeChange<WireEdge>[]) => {
    const mine = changes.filter((c) => !("id" in c && c.id.startsWith("reads:")));
    if (mine.some((c) => c.type === "remove")) record();
    if (mine.length) applyEdgeChanges(mine);
  };

  const onNodeDragStart = () => record();
  const onNodeDragStop = (_: unknown, node: AnyNode, dragged: AnyNode[]) => {
    const tables = Object.fromEntries((dragged.length ? dragged : [node]).filter((n) => isTableNodeId(n.id)).map((n) => [(n as TableNode).data.name, rounded(n.position)]));
    setNodes((list) => list.map((n) => ({ ...n, position: rounded(n.position) })));
    keepLayout(tables);
  };

  /** Dagre over the drawn sizes: steps left to right along their wires, tables after the steps they read. */
  const layoutAll = () => {
    record();
    const boxes: Box[] = [...nodes.map((n) => ({ id: n.id, ...stepSize(n) })), ...tableNodes.map((n) => ({ id: n.id, ...tableSize(n) }))];
    const names = new Set(nodes.map((n) => n.data.name));
    const idOf = new Map(nodes.map((n) => [n.data.name, n.id]));
    const links = edges.map((e) => ({ source: e.source, target: e.target }));
    for (const [table, reads] of Object.entries(tableReads(meta.decisions, names))) links.push(...reads.map((s) => ({ source: idOf.get(s)!, target: tableNodeId(table) })));
    const at = dagreLayout(boxes, links);
    setNodes((list) => list.map((n) => ({ ...n, position: at[n.id] ?? n.position })));
    setTableNodes((list) => list.map((n) => ({ ...n, position: at[n.id] ?? n.position })));
    keepLayout(Object.fromEntries(tableNodes.map((n) => [n.data.name, at[n.id]])));
  };

  // ------------------------------------------------------------------ clipboard
  const selectedIds = () => new Set(nodes.filter((n) => n.selected).map((n) => n.id));
  const copy = () => {
    const taken = copySteps(nodes, edges, selectedIds());
    if (taken) clip.current = taken;
    pastes.current = 0;
    return taken?.steps.length ?? 0;
  };
  const paste = (from: Clip | null = clip.current) => {
    if (!from) return 0;
    record();
    pastes.current += 1;
    const added = pasteSteps(from, nodes, { x: 40 * pastes.current, y: 40 * pastes.current });
    const others = rects();
    for (const n of added.nodes) {
      n.position = freeSpot(n.position, stepSize(n), others);
      others.push({ ...n.position, ...stepSize(n) });
    }
    setNodes((list) => [...list.map((n) => ({ ...n, selected: false })), ...added.nodes]);
    setEdges((list) => [...list, ...added.edges]);
    keepLayout();
    return added.nodes.length;
  };
  const duplicate = () => {
    const taken = copySteps(nodes, edges, selectedIds());
    return taken ? paste(taken) : 0;
  };

  return {
    meta, nodes, edges, tableNodes, undo, open, refusal, nodeName, addStep, wire, setParam, renameStep, unwire, removeSteps,
    editMeta, setNodes, onNodesChange, onEdgesChange, onNodeDragStart, onNodeDragStop, layoutAll, copy, paste, duplicate,
  };
}
