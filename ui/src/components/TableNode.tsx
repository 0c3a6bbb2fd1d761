// A decision table on the canvas: its name, policy and rules (id -> outcome), wired from the steps
// its conditions read; after a run, the outcome it gave and the rule that decided. A click opens
// the table in the rules editor.

import { Handle, Position, type NodeProps } from "@xyflow/react";
import { memo } from "react";
import { useEditor } from "../context";
import { READS_IN, type TableNode } from "../tables";

function TableNodeCard({ data, selected }: NodeProps<TableNode>) {
  const { decisions, issues, run, openTable } = useEditor();
  const table = decisions[data.name];
  const rules = Array.isArray(table?.rules) ? table.rules : [];
  const decided = run?.decisions?.[data.name];
  const problems = issues.tables[data.name]?.all.length ?? 0;
  return (
    <div
      className={`table-node${selected ? " selected" : ""}${problems ? " has-issues" : ""}`}
      data-testid={`table-node-${data.name}`}
      onDoubleClick={() => openTable(data.name)}
    >
      <Handle type="target" position={Position.Left} id={READS_IN} className="handle reads-handle" style={{ top: 14 }} isConnectable={false} />
      <header className="table-head">
        <span className="step-group">decision table</span>
        <span className="step-op">{table?.policy ?? "first"}</span>
        {problems > 0 && <span className="issue-badge">{problems}</span>}
      </header>
      <button type="button" className="table-title link" onClick={() => openTable(data.name)} data-testid={`table-open-${data.name}`}>
        {data.name}
      </button>
      <ol className="table-rules">
        {rules.slice(0, 12).map((r, i) => (
          <li key={i} className={decided?.rule === r.id ? "decided" : ""} title={typeof r.when === "string" ? r.when : "default row"}>
            <code>{r.id}</code> → {r.outcome}
          </li>
        ))}
        {rules.length > 12 && <li className="muted">… {rules.length - 12} more</li>}
      </ol>
      {decided && (
        <div className="node-status" data-testid={`table-status-${data.name}`}>
          last run: <strong>{decided.outcome}</strong> by <code>{decided.rule}</code>
        </div>
      )}
    </div>
  );
}

export const TableNodeView = memo(TableNodeCard);
