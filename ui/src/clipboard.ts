// Copy, paste and duplicate of steps with their wiring. A copy keeps the selected steps, the
// wires between them and the wires feeding them from other steps; a paste gives the copies free
// names and fresh node ids, rewires them among themselves, and keeps a wire from a step outside
// the copy when that step is still on the canvas.

import { copyFloatMarks } from "./json";
import { freeStepName, handleName, newNodeId, wireEdge, type StepNode, type WireEdge } from "./document";

export interface Clip {
  steps: StepNode[];
  wires: WireEdge[];
}

export function copySteps(nodes: StepNode[], edges: WireEdge[], ids: ReadonlySet<string>): Clip | null {
  const steps = nodes.filter((n) => ids.has(n.id));
  if (!steps.length) return null;
  // State is never changed in place (every edit makes new objects), so a shallow copy is a snapshot.
  return { steps: steps.map((n) => ({ ...n, data: { ...n.data } })), wires: edges.filter((e) => ids.has(e.target)).map((e) => ({ ...e })) };
}

/** The nodes and edges to add for ``clip`` on a canvas holding ``nodes``, moved by ``offset``. */
export function pasteSteps(clip: Clip, nodes: StepNode[], offset: { x: number; y: number }): { nodes: StepNode[]; edges: WireEdge[] } {
  const taken = nodes.map((n) => n.data.name);
  const ids = new Map<string, string>();
  const added: StepNode[] = clip.steps.map((step) => {
    const name = freeStepName(step.data.name, taken);
    taken.push(name);
    const id = newNodeId();
    ids.set(step.id, id);
    return {
      id,
      type: "step",
      position: { x: Math.round(step.position.x + offset.x), y: Math.round(step.position.y + offset.y) },
      selected: true,
      data: {
        ...step.data,
        name,
        // 1.0 stays 1.0: the float marks of json.ts follow the copied parameters.
        ...(step.data.params ? { params: copyFloatMarks(step.data.params, { ...step.data.params }) } : {}),
      },
    };
  });
  const present = new Set(nodes.map((n) => n.id));
  const edges: WireEdge[] = [];
  for (const wire of clip.wires) {
    const target = ids.get(wire.target);
    const source = ids.get(wire.source) ?? (present.has(wire.source) ? wire.source : undefined);
    if (!target || !source) continue; // its step is gone: the input shows "needs a wire"
    edges.push(wireEdge(source, handleName(wire.sourceHandle), target, handleName(wire.targetHandle), wire.data?.kind ?? "factor"));
  }
  return { nodes: added, edges };
}
