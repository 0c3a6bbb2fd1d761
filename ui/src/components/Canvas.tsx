// The canvas: steps as nodes, wires as edges. Operators dropped from the palette become steps;
// a wire is accepted only when the output's kind fits the input's, and a refused wire says why,
// both while it is dragged (next to the pointer) and after it is let go (a notice). Every edge
// is a RoutedEdge: drawn around the nodes it does not connect.

import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  useConnection,
  useReactFlow,
  type Connection,
  type Edge,
  type EdgeChange,
  type FinalConnectionState,
  type Handle,
  type NodeChange,
} from "@xyflow/react";
import type { DragEvent, ReactNode } from "react";
import type { StepNode, WireEdge } from "../document";
import { KIND_COLORS } from "../kinds";
import type { TableNode } from "../tables";
import { OPERATOR_MIME } from "./Palette";
import { edgeTypes } from "./RoutedEdge";
import { nodeTypes } from "./StepNode";

export interface Notice {
  tone: "refused" | "error" | "info";
  text: string;
}

type AnyNode = StepNode | TableNode;

interface Props {
  nodes: AnyNode[];
  edges: (WireEdge | Edge)[];
  onNodesChange: (changes: NodeChange<AnyNode>[]) => void;
  onEdgesChange: (changes: EdgeChange<WireEdge>[]) => void;
  refusal: (connection: Connection) => string | null;
  onWire: (connection: Connection) => void;
  onRefused: (reason: string) => void;
  onDropOperator: (operatorId: string, position: { x: number; y: number }) => void;
  onNodeDragStart: () => void;
  onNodeDragStop: (event: unknown, node: AnyNode, nodes: AnyNode[]) => void;
  notice: Notice | null;
  onDismissNotice: () => void;
  /** Buttons drawn over the canvas (auto-layout, undo, redo). */
  tools: ReactNode;
}

/** The connection a drag between two handles stands for, whichever end it started from. */
function connectionOf(from: Handle, to: Handle): Connection | string {
  if (from.type === to.type) return "connect an output (right side) to an input (left side)";
  const [source, target] = from.type === "source" ? [from, to] : [to, from];
  return { source: source.nodeId, sourceHandle: source.id ?? null, target: target.nodeId, targetHandle: target.id ?? null };
}

function reasonFor(from: Handle | null, to: Handle | null, refusal: Props["refusal"]): string | null {
  if (!from || !to) return null;
  const connection = connectionOf(from, to);
  return typeof connection === "string" ? connection : refusal(connection);
}

/** Shown beside the pointer while a wire hovers an input it may not feed. */
function ConnectionHint({ refusal }: { refusal: Props["refusal"] }) {
  const connection = useConnection();
  if (!connection.inProgress || connection.isValid !== false || !connection.toHandle) return null;
  const reason = reasonFor(connection.fromHandle, connection.toHandle, refusal);
  if (!reason) return null;
  return (
    <div className="connection-hint" data-testid="connection-hint">
      ✕ {reason}
    </div>
  );
}

export function Canvas(props: Props) {
  const { nodes, edges, onNodesChange, onEdgesChange, refusal, onWire, onRefused, onDropOperator, onNodeDragStart, onNodeDragStop, notice, onDismissNotice, tools } = props;
  const { screenToFlowPosition } = useReactFlow();

  const onDragOver = (event: DragEvent) => {
    if (event.dataTransfer.types.includes(OPERATOR_MIME)) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    }
  };
  const onDrop = (event: DragEvent) => {
    const id = event.dataTransfer.getData(OPERATOR_MIME);
    if (!id) return;
    event.preventDefault();
    // Drop so that the card's top-left corner sits a little up-left of the pointer.
    const at = screenToFlowPosition({ x: event.clientX, y: event.clientY });
    onDropOperator(id, { x: at.x - 40, y: at.y - 20 });
  };
  const onConnectEnd = (_: MouseEvent | TouchEvent, state: FinalConnectionState) => {
    if (state.isValid !== false || !state.toHandle) return; // a valid wire, or let go over nothing
    const reason = reasonFor(state.fromHandle, state.toHandle, refusal);
    if (reason) onRefused(reason);
  };

  return (
    <div className="canvas" onDragOver={onDragOver} onDrop={onDrop} data-testid="canvas">
      <ReactFlow<AnyNode, WireEdge>
        nodes={nodes}
        edges={edges as WireEdge[]}
        nodeTypes={nodeTypes}
        edgeTypes={edgeTypes}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onConnect={onWire}
        onConnectEnd={onConnectEnd}
        isValidConnection={(c: Connection | Edge) => refusal(c as Connection) === null}
        onNodeDragStart={onNodeDragStart}
        onNodeDragStop={onNodeDragStop}
        deleteKeyCode={["Delete", "Backspace"]}
        minZoom={0.2}
        maxZoom={2}
        proOptions={{ hideAttribution: false }}
        defaultEdgeOptions={{ type: "routed" }}
      >
        <Background gap={24} />
        <Controls showInteractive={false} />
        <MiniMap pannable zoomable nodeStrokeWidth={3} style={{ width: 160, height: 100 }} />
        <ConnectionHint refusal={refusal} />
      </ReactFlow>
      <div className="canvas-tools">{tools}</div>
      {!nodes.some((n) => n.type === "step") && (
        <div className="canvas-empty" data-testid="canvas-empty">
          Drag operators here from the palette, then wire an output field to an input of the same kind.
        </div>
      )}
      <div className="legend" aria-label="kinds">
        {["frames", "audio", "text", "factor", "segments", "embedding"].map((k) => (
          <span key={k}>
            <i style={{ background: KIND_COLORS[k] }} />
            {k}
          </span>
        ))}
      </div>
      {notice && (
        <div className={`notice notice-${notice.tone}`} role="status" data-testid={notice.tone === "refused" ? "edge-refusal" : "notice"}>
          <span>
            {notice.tone === "refused" ? "Wire refused: " : ""}
            {notice.text}
          </span>
          <button type="button" className="link" onClick={onDismissNotice} aria-label="Dismiss">
            ✕
          </button>
        </div>
      )}
    </div>
  );
}
