// The panel under the canvas: decision tables, run and history tabs; it folds to its tab bar.

import type { ReactNode } from "react";

export type LowerTab = "rules" | "run" | "history";

interface Props {
  tab: LowerTab;
  folded: boolean;
  onTab: (tab: LowerTab) => void;
  onFold: () => void;
  rulesIssues: number;
  rules: ReactNode;
  run: ReactNode;
  history: ReactNode;
}

export function LowerPanel({ tab, folded, onTab, onFold, rulesIssues, rules, run, history }: Props) {
  const button = (name: LowerTab, label: ReactNode) => (
    <button type="button" className={`tab${tab === name && !folded ? " active" : ""}`} onClick={() => onTab(name)} data-testid={`tab-${name}`}>
      {label}
    </button>
  );
  return (
    <section className={`lower-panel${folded ? " folded" : ""}`}>
      <nav className="tabs lower-tabs">
        {button("rules", <>Decision tables {rulesIssues > 0 && <span className="issue-badge">{rulesIssues}</span>}</>)}
        {button("run", "Run")}
        {button("history", "History")}
        <span className="spacer" />
        <button type="button" className="fold-button" onClick={onFold} title={folded ? "Show the panel" : "Hide the panel"} data-testid="fold-lower">
          {folded ? "▴" : "▾"}
        </button>
      </nav>
      <div className="lower-body" hidden={folded || tab !== "rules"}>
        {rules}
      </div>
      <div className="lower-body" hidden={folded || tab !== "run"}>
        {run}
      </div>
      <div className="lower-body" hidden={folded || tab !== "history"}>
        {history}
      </div>
    </section>
  );
}
