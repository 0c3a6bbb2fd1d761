// The canvas's one edge type: a wire (or a table's dashed read edge) routed around the nodes it
// does not connect by routing.ts, drawn with React Flow's BaseEdge so that classes (kind colours,
// the dashed reads), selection, deletion and the wide click target stay React Flow's.
//
// Routing runs when the node boxes change, not on every frame of a drag: while nodes are dragged
// the boxes seen here stay those from before the drag (wires between other nodes keep their
// routes), and a wire of a dragged node is drawn as the plain smoothstep path, the same one it
// had before routing existed; on drop the boxes change once and every wire is routed again.

import { BaseEdge, getSmoothStepPath, useStore, type EdgeProps, type ReactFlowState } from "@xyflow/react";
import { memo, useMemo } from "react";
import { roundedPath, routeWire, type Box, type Side } from "../routing";

interface Scene {
  boxes: Box[];
  /** Whether some node is being dragged (its box is then not final). */
  moving: boolean;
}

// One scene for all edges, rebuilt only when React Flow's node list changes (the list is
// replaced on every move and measurement; a pan or zoom keeps it).
let cache: { nodes: unknown; scene: Scene } | null = null;

function sceneOf(state: ReactFlowState): Scene {
  if (cache?.nodes === state.nodes) return cache.scene;
  const boxes: Box[] = [];
  let moving = false;
  for (const node of state.nodeLookup.values()) {
    if (node.hidden) continue;
    moving ||= Boolean(node.dragging);
    const width = node.measured?.width ?? node.width ?? 0;
    const height = node.measured?.height ?? node.height ?? 0;
    if (width > 0 && height > 0) boxes.push({ x: node.internals.positionAbsolute.x, y: node.internals.positionAbsolute.y, width, height });
  }
  cache = { nodes: state.nodes, scene: { boxes, moving } };
  return cache.scene;
}

/** While a drag is under way the previous (pre-drag) scene is kept; otherwise equal boxes are the same scene. */
function sameScene(before: Scene, now: Scene): boolean {
  if (now.moving) return true;
  if (before.moving || before.boxes.length !== now.boxes.length) return false;
  return before.boxes.every((b, i) => {
    const c = now.boxes[i];
    return b.x === c.x && b.y === c.y && b.width === c.width && b.height === c.height;
  });
}

function RoutedEdgeView(props: EdgeProps) {
  const { id, source, target, sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition, style, markerEnd, markerStart, interactionWidth } = props;
  const { label, labelStyle, labelShowBg, labelBgStyle, labelBgPadding, labelBgBorderRadius } = props;
  const scene = useStore(sceneOf, sameScene);
  const ownMoving = useStore((s) => Boolean(s.nodeLookup.get(source)?.dragging || s.nodeLookup.get(target)?.dragging));

  const routed = useMemo(() => {
    if (ownMoving) return null;
    const points = routeWire({ x: sourceX, y: sourceY }, sourcePosition as Side, { x: targetX, y: targetY }, targetPosition as Side, scene.boxes);
    return points ? roundedPath(points) : null;
  }, [ownMoving, scene, sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition]);

  const [path, labelX, labelY] = routed
    ? [routed.d, routed.mid.x, routed.mid.y]
    : getSmoothStepPath({ sourceX, sourceY, sourcePosition, targetX, targetY, targetPosition });
  return (
    <BaseEdge
      id={id}
      path={path}
      labelX={labelX}
      labelY={labelY}
      label={label}
      labelStyle={labelStyle}
      labelShowBg={labelShowBg}
      labelBgStyle={labelBgStyle}
      labelBgPadding={labelBgPadding}
      labelBgBorderRadius={labelBgBorderRadius}
      style={style}
      markerEnd={markerEnd}
      markerStart={markerStart}
      interactionWidth={interactionWidth}
    />
  );
}

export const RoutedEdge = memo(RoutedEdgeView);
export const edgeTypes = { routed: RoutedEdge };
