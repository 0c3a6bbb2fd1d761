// The selected step: its name, what feeds its inputs, its parameter form and its output fields
// (the names rules read as step.field).

import { useEffect, useState } from "react";
import { isSourceKind } from "../catalog";
import { useEditor } from "../context";
import type { StepNode } from "../document";
import type { StepIssues } from "../issues";
import { kindColor } from "../kinds";
import type { OperatorSchema } from "../types";
import { ParamForm } from "./ParamForm";

interface Props {
  node: StepNode;
  op: OperatorSchema | undefined;
  wires: Record<string, string>;
  issues: StepIssues | undefined;
  onRename: (name: string) => string | null; // an error message, or null when renamed
  onParam: (name: string, value: unknown | undefined) => void;
  onUnwire: (input: string) => void;
  onRemove: () => void;
}

export function StepInspector({ node, op, wires, issues, onRename, onParam, onUnwire, onRemove }: Props) {
  const { name } = node.data;
  const { catalog } = useEditor();
  const [draftName, setDraftName] = useState(name);
  const [nameError, setNameError] = useState<string | null>(null);
  useEffect(() => {
    setDraftName(name);
    setNameError(null);
  }, [name, node.id]);

  // Renaming rewrites rule conditions, so it happens once the name is complete (Enter / leaving).
  const commitName = () => {
    if (draftName === name) return setNameError(null);
    setNameError(onRename(draftName));
  };

  return (
    <div className="inspector-body" data-testid={`inspector-${name}`}>
      <div className="inspector-head">
        <div>
          <div className="muted small">{op ? `${op.group} · ${op.id}` : node.data.op}</div>
          <h2>{op?.title ?? "Unknown operator"}</h2>
        </div>
        <button type="button" className="danger" onClick={onRemove} data-testid="remove-step">
          Remove
        </button>
      </div>
      {op?.description && <p className="op-description">{op.description}</p>}
      {issues?.op.map((i, n) => (
        <p key={n} className="field-issue-block">
          {i.message}
        </p>
      ))}
      {issues?.general.map((i, n) => (
        <p key={n} className="field-issue-block">
          {i.message}
        </p>
      ))}

      <label className="field">
        <span>Step name</span>
        <input
          value={draftName}
          onChange={(e) => setDraftName(e.target.value)}
          onBlur={commitName}
          onKeyDown={(e) => e.key === "Enter" && commitName()}
          spellCheck={false}
          data-testid="step-name"
        />
        <span className="hint">Rules read its fields as {draftName || "name"}.field; renaming updates them.</span>
        {nameError && <span className="field-issue">{nameError}</span>}
      </label>

      {op && Object.keys(op.inputs).length > 0 && (
        <section>
          <h3>Inputs</h3>
          {Object.entries(op.inputs).map(([input, decl]) => {
            const from = wires[input];
            const problems = issues?.inputs[input] ?? [];
            return (
              <div key={input} className={`input-row${problems.length ? " invalid" : ""}`}>
                <code>{input}</code>{" "}
                <span className="kind-tag" style={{ color: kindColor(decl.kind), borderColor: kindColor(decl.kind) }}>
                  {decl.kind}
                </span>{" "}
                {from ? (
                  <>
                    ← <code>{from}</code>{" "}
                    <button type="button" className="link" onClick={() => onUnwire(input)}>
                      unwire
                    </button>
                  </>
                ) : isSourceKind(catalog, decl.kind) ? (
                  <span className="muted">from the item's shared decode</span>
                ) : (
                  <span className={decl.optional ? "muted" : "warn"}>
                    {decl.optional ? "optional, not wired" : "required: drag a wire from a field of the same kind"}
                  </span>
                )}
                <div className="hint">{decl.description}</div>
                {problems.map((i, n) => (
                  <div key={n} className="field-issue" data-testid={`input-issue-${name}-${input}`}>
                    {i.message}
                  </div>
                ))}
              </div>
            );
          })}
        </section>
      )}

      {op && (
        <section>
          <h3>Parameters</h3>
          <ParamForm step={name} op={op} params={node.data.params} issues={issues?.params ?? {}} onChange={onParam} />
        </section>
      )}

      {op && (
        <section>
          <h3>Output fields</h3>
          <table className="fields-table">
            <tbody>
              {Object.entries(op.output.fields).map(([field, f]) => (
                <tr key={field}>
                  <td>
                    <code>
                      {name}.{field}
                    </code>
                  </td>
                  <td className="muted">{f.dtype}</td>
                  <td>{f.description}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
    </div>
  );
}
