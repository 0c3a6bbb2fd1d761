// A step's parameter form, generated from its operator's parameter schema: one control per
// parameter with its title, default, allowed range and description, and the server's
// compile problems under the very field they concern. Only values the user sets go into the
// document; "reset" removes one so the operator's default applies again.

import { useMemo } from "react";
import {
  formatDefault,
  formatValue,
  paramFields,
  parseText,
  rangeText,
  type ParamField,
} from "../paramSchema";
import type { Issue, OperatorSchema } from "../types";
import { DraftField } from "./DraftField";

interface Props {
  step: string;
  op: OperatorSchema;
  params: Record<string, unknown> | undefined;
  issues: Record<string, Issue[]>;
  onChange: (name: string, value: unknown | undefined) => void;
}

export function ParamForm({ step, op, params, issues, onChange }: Props) {
  const fields = useMemo(() => paramFields(op.params), [op]);
  const unknown = Object.keys(params ?? {}).filter((k) => !fields.some((f) => f.name === k));
  if (fields.length === 0 && unknown.length === 0) return <p className="muted">This operator has no parameters.</p>;
  return (
    <div className="param-form" data-testid={`param-form-${step}`}>
      {fields.map((f) => (
        <ParamRow
          key={f.name}
          step={step}
          field={f}
          set={params !== undefined && f.name in params}
          value={params?.[f.name]}
          issues={issues[f.name] ?? []}
          onChange={(v) => onChange(f.name, v)}
        />
      ))}
      {unknown.map((name) => (
        <div key={name} className="param-row invalid">
          <div className="param-label">
            <code>{name}</code> <span className="muted">not a parameter of {op.id}</span>
            <button type="button" className="link" onClick={() => onChange(name, undefined)}>
              remove
            </button>
          </div>
          <FieldIssues issues={issues[name] ?? []} testid={`param-issue-${step}-${name}`} />
        </div>
      ))}
      {issues[""] && <FieldIssues issues={issues[""]} testid={`param-issue-${step}`} />}
    </div>
  );
}

function FieldIssues({ issues, testid }: { issues: Issue[]; testid: string }) {
  if (!issues.length) return null;
  return (
    <ul className="field-issues" data-testid={testid}>
      {issues.map((i, n) => (
        <li key={n}>{i.message}</li>
      ))}
    </ul>
  );
}

interface RowProps {
  step: string;
  field: ParamField;
  set: boolean;
  value: unknown;
  issues: Issue[];
  onChange: (value: unknown | undefined) => void;
}

function ParamRow({ step, field: f, set, value, issues, onChange }: RowProps) {
  const testid = `param-${step}-${f.name}`;
  const effective = set ? value : f.default;
  const range = rangeText(f);
  const def = formatDefault(f);

  let control;
  switch (f.control) {
    case "boolean":
      control = (
        <input type="checkbox" checked={Boolean(effective)} onChange={(e) => onChange(e.target.checked)} data-testid={testid} />
      );
      break;
    case "enum":
      control = (
        <select value={String(effective ?? "")} onChange={(e) => onChange(f.options.find((o) => String(o) === e.target.value))} data-testid={testid}>
          {effective === undefined && <option value="">—</option>}
          {f.options.map((o) => (
            <option key={String(o)} value={String(o)}>
              {String(o)}
            </option>
          ))}
        </select>
      );
      break;
    case "enum-list": {
      const chosen = new Set(Array.isArray(effective) ? effective.map(String) : []);
      control = (
        <div className="enum-list" data-testid={testid}>
          {f.options.map((o) => (
            <label key={String(o)}>
              <input
                type="checkbox"
                checked={chosen.has(String(o))}
                onChange={(e) => {
                  const next = f.options.filter((x) => (String(x) === String(o) ? e.target.checked : chosen.has(String(x))));
                  onChange(next);
                }}
              />
              {String(o)}
            </label>
          ))}
        </div>
      );
      break;
    }
    default: {
      const numeric = f.control === "integer" || f.control === "number";
      const commit = (text: string) => {
        const parsed = parseText(f, text);
        if (!parsed.ok) return undefined;
        onChange(parsed.value);
        return formatValue(f, parsed.value);
      };
      control = (
        <DraftField
          value={set ? formatValue(f, value) : ""}
          onCommit={commit}
          multiline={f.control === "string-list" || f.control === "json"}
          rows={f.control === "string-list" ? 3 : undefined}
          placeholder={f.control === "string-list" ? (def && def !== "[]" ? `default: ${def}` : "one per line") : def ? `default ${def}` : ""}
          inputMode={numeric ? "decimal" : undefined}
          spellCheck={false}
          data-testid={testid}
          aria-label={f.title}
        />
      );
    }
  }

  return (
    <div className={`param-row${issues.length ? " invalid" : ""}${set ? " is-set" : ""}`}>
      <label className="param-label" title={f.name}>
        <span>{f.title}</span>
        <code className="param-key">{f.name}</code>
        {set && (
          <button type="button" className="link reset" onClick={() => onChange(undefined)} title="Use the operator's default" data-testid={`${testid}-reset`}>
            reset
          </button>
        )}
      </label>
      {control}
      <div className="param-help">
        {f.control === "string-list" && <span className="hint">one per line</span>}
        {range && <span className="hint">{range}</span>}
        {def && <span className="hint">default {def}</span>}
        {f.description && <span>{f.description}</span>}
      </div>
      <FieldIssues issues={issues} testid={`param-issue-${step}-${f.name}`} />
    </div>
  );
}
