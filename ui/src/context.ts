// What every canvas node needs to draw itself without prop drilling through React Flow.

import { createContext, useContext } from "react";
import type { Catalog } from "./catalog";
import type { IssueIndex } from "./issues";
import type { DecisionTableDoc, RunRecord } from "./types";

export interface EditorContextValue {
  catalog: Catalog;
  issues: IssueIndex;
  itemKind: string; // the pipeline's input: video | image
  /** node id -> input name -> "step.field" feeding it (drawn or dangling). */
  wires: Record<string, Record<string, string>>;
  decisions: Record<string, DecisionTableDoc>;
  /** The last run of this pipeline, for the status on each node (null: none yet). */
  run: RunRecord | null;
  openTable: (table: string) => void;
}

export const EditorContext = createContext<EditorContextValue | null>(null);

export function useEditor(): EditorContextValue {
  const value = useContext(EditorContext);
  if (!value) throw new Error("useEditor outside EditorContext");
  return value;
}
