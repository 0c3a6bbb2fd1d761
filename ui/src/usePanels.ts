// The editor's panels: which are folded (kept in the browser, so the canvas keeps the room it
// was given), the lower panel's tab and the table open in the rules editor; and the notice over
// the canvas (confirmations fade, refusals and errors stay until the next action or a click).

import { useCallback, useEffect, useState } from "react";
import type { Notice } from "./components/Canvas";
import type { LowerTab } from "./components/LowerPanel";

export type Folds = { palette: boolean; inspector: boolean; lower: boolean };
const FOLDS_KEY = "factorline.editor.folds";

function loadFolds(): Folds {
  const none = { palette: false, inspector: false, lower: false };
  try {
    return { ...none, ...JSON.parse(localStorage.getItem(FOLDS_KEY) ?? "{}") };
  } catch {
    return none;
  }
}

function saveFolds(folds: Folds): void {
  try {
    localStorage.setItem(FOLDS_KEY, JSON.stringify(folds));
  } catch {
    // storage disabled: folds last until reload
  }
}

export function usePanels() {
  const [folded, setFolded] = useState(loadFolds);
  useEffect(() => saveFolds(folded), [folded]);
  const [bottomTab, setBottomTab] = useState<LowerTab>("rules");
  const [activeTable, setActiveTable] = useState<string | null>(null);

  const fold = (panel: keyof Folds) => setFolded((f) => ({ ...f, [panel]: !f[panel] }));
  /** Show a tab of the lower panel (unfolding it). */
  const showTab = useCallback((tab: LowerTab) => {
    setBottomTab(tab);
    setFolded((f) => ({ ...f, lower: false }));
  }, []);
  const openTable = useCallback(
    (table: string) => {
      showTab("rules");
      setActiveTable(table);
    },
    [showTab],
  );

  return { folded, fold, bottomTab, showTab, activeTable, setActiveTable, openTable };
}

export function useNotice() {
  const [notice, setNotice] = useState<Notice | null>(null);
  useEffect(() => {
    if (notice?.tone !== "info") return;
    const timer = window.setTimeout(() => setNotice((n) => (n === notice ? null : n)), 4000);
    return () => window.clearTimeout(timer);
  }, [notice]);
  const say = (text: string) => setNotice({ tone: "info", text });
  return { notice, setNotice, say };
}
