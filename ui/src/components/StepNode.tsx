// A step on the canvas: operator and name, one handle per input (left) and per output field
// (right), each labelled with its kind, the parameters it sets, and its compile problems.

import { Handle, Position, type NodeProps } from "@xyflow/react";
import { memo } from "react";
import { isSourceKind, resolveOperator } from "../catalog";
import { useEditor } from "../context";
import { inHandle, outHandle, type StepNode } from "../document";
import { kindColor } from "../kinds";
import { stepStatus } from "../runStatus";
import { READS_OUT, fieldsRead } from "../tables";
import type { Issue } from "../types";
import { TableNodeView } from "./TableNode";

function KindTag({ kind }: { kind: string }) {
  return (
    <span className="kind-tag" style={{ color: kindColor(kind), borderColor: kindColor(kind) }}>
      {kind}
    </span>
  );
}

function issueLine(prefix: string, issue: Issue) {
  return `${prefix}${issue.message}`;
}

function StepNodeCard({ id, data, selected }: NodeProps<StepNode>) {
  const { catalog, issues, itemKind, wires, run, decisions } = useEditor();
  const op = resolveOperator(catalog, data.op);
  const found = issues.steps[data.name];
  const wired = wires[id] ?? {};
  const problems = found
    ? [
        ...found.general.map((i) => issueLine("", i)),
        ...found.op.map((i) => issueLine("operator: ", i)),
        ...Object.entries(found.inputs).flatMap(([k, list]) => list.map((i) => issueLine(`${k || "inputs"}: `, i))),
        ...Object.entries(found.params).flatMap(([k, list]) => list.map((i) => issueLine(`${k || "params"}: `, i))),
      ]
    : [];
  const setParams = Object.entries(data.params ?? {});
  const wrongKind = op && !op.item_kinds.includes(itemKind);
  const status = run ? stepStatus(run, data.name, fieldsRead(decisions, data.name)) : null;

  return (
    <div
      className={`step-node${selected ? " selected" : ""}${problems.length ? " has-issues" : ""}`}
      data-testid={`node-${data.name}`}
      data-step={data.name}
    >
      <header className={`step-head group-${op?.group ?? "unknown"}`}>
        <span className="step-group">{op?.group ?? "?"}</span>
        <span className="step-op" title={op?.description}>
          {op ? op.id : data.op}
        </span>
        {problems.length > 0 && (
          <span className="issue-badge" data-testid={`node-issue-count-${data.name}`} title={problems.join("\n")}>
            {problems.length}
          </span>
        )}
      </header>
      <div className="step-title">
        <strong className="step-name">{data.name}</strong>
        <span className="step-optitle">{op ? op.title : "unknown operator"}</span>
      </div>
      {wrongKind && <div className="step-warn">works on {op.item_kinds.join(", ")} only</div>}

      {op && Object.keys(op.inputs).length > 0 && (
        <div className="port-section">
          {Object.entries(op.inputs).map(([name, input]) => {
            const source = isSourceKind(catalog, input.kind);
            const from = wired[name];
            return (
              <div className="port port-in" key={name} title={input.description}>
                <Handle
                  type="target"
                  position={Position.Left}
                  id={inHandle(name)}
                  className={`handle kind-${input.kind}${source ? " handle-source-kind" : ""}`}
                  style={{ background: kindColor(input.kind) }}
                  data-testid={`handle-in-${data.name}-${name}`}
                />
                <span className="port-name">{name}</span>
                <KindTag kind={input.kind} />
                <span className="port-note">
                  {from ? `← ${from}` : source ? "from the item" : input.optional ? "optional" : "needs a wire"}
                </span>
              </div>
            );
          })}
        </div>
      )}

      {op && (
        <div className="port-section">
          {Object.entries(op.output.fields).map(([name, field]) => (
            <div className={`port port-out${name === "evidence" ? " port-evidence" : ""}`} key={name} title={field.description}>
              <span className="port-name">{name}</span>
              <KindTag kind={field.kind} />
              <span className="port-dtype">{field.dtype}</span>
              <Handle
                type="source"
                position={Position.Right}
                id={outHandle(name)}
                className={`handle kind-${field.kind}`}
                style={{ background: kindColor(field.kind) }}
                data-testid={`handle-out-${data.name}-${name}`}
              />
            </div>
          ))}
        </div>
      )}

      {setParams.length > 0 && (
        <div className="step-params" data-testid={`node-params-${data.name}`}>
          {setParams.map(([k, v]) => (
            <span key={k} className="param-chip">
              {k}={typeof v === "string" ? v : JSON.stringify(v)}
            </span>
          ))}
        </div>
      )}

      {status && (
        <div className={`node-status${status.ran ? "" : " not-run"}`} data-testid={`node-status-${data.name}`}>
          {status.ran ? (
            <>
              {status.ms !== undefined && <span className="status-time">{status.ms < 10 ? status.ms.toFixed(1) : Math.round(status.ms)} ms</span>}
              {status.values.map(([k, v]) => (
                <span key={k} className="status-value">
                  {k} <b>{v}</b>
                </span>
              ))}
              {status.shots.length > 0 && (
                <span className="status-thumbs">
                  {status.shots.slice(0, 3).map((s) => (
                    <img key={s.t} src={s.image ?? ""} alt={`${data.name} at ${s.t} s`} title={`${s.t} s`} />
                  ))}
                </span>
              )}
            </>
          ) : (
            <span>{run?.error ? `not run: ${run.error.type}` : "no values in the last run"}</span>
          )}
        </div>
      )}

      <Handle type="source" position={Position.Right} id={READS_OUT} className="handle reads-handle" style={{ top: 14 }} isConnectable={false} />
      {problems.length > 0 && (
        <ul className="node-issues" data-testid={`node-issues-${data.name}`}>
          {problems.map((p, i) => (
            <li key={i}>{p}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

export const StepNodeView = memo(StepNodeCard);
export const nodeTypes = { step: StepNodeView, table: TableNodeView };
