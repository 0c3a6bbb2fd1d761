// Undo/redo over the whole editor state (the document meta, the steps and the wires). Each edit
// calls record() just before it changes anything, which keeps the state as it was; typing into
// one field (the same ``key`` within a second) makes one undo step, not one per character.

import { useCallback, useRef, useState } from "react";
import type { PipelineMeta, StepNode, WireEdge } from "./document";

export interface Snapshot {
  meta: PipelineMeta;
  nodes: StepNode[];
  edges: WireEdge[];
}

const LIMIT = 200;
const COALESCE_MS = 1000;

export function useUndo(current: () => Snapshot, apply: (snapshot: Snapshot) => void) {
  const past = useRef<Snapshot[]>([]);
  const future = useRef<Snapshot[]>([]);
  const last = useRef<{ key?: string; at: number }>({ at: 0 });
  const [, setVersion] = useState(0);
  const bump = () => setVersion((v) => v + 1);

  const record = useCallback(
    (key?: string) => {
      const now = Date.now();
      if (key !== undefined && last.current.key === key && now - last.current.at < COALESCE_MS) {
        last.current.at = now;
        return;
      }
      const snap = current();
      const top = past.current[past.current.length - 1];
      // Several changes of one action (a node and its wires deleted) record the same state once.
      if (top && top.meta === snap.meta && top.nodes === snap.nodes && top.edges === snap.edges) return;
      past.current.push(snap);
      if (past.current.length > LIMIT) past.current.shift();
      future.current = [];
      last.current = { key, at: now };
      bump();
    },
    [current],
  );

  const step = useCallback(
    (from: { current: Snapshot[] }, to: { current: Snapshot[] }) => {
      const target = from.current.pop();
      if (!target) return false;
      to.current.push(current());
      last.current = { at: 0 };
      apply(target);
      bump();
      return true;
    },
    [current, apply],
  );

  const undo = useCallback(() => step(past, future), [step]);
  const redo = useCallback(() => step(future, past), [step]);
  const reset = useCallback(() => {
    past.current = [];
    future.current = [];
    last.current = { at: 0 };
    bump();
  }, []);

  return { record, undo, redo, reset, canUndo: past.current.length > 0, canRedo: future.current.length > 0 };
}
