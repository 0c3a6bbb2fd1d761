// The pipeline's own fields, shown when no step is selected: description, input kind and frame
// sampling. (The name sits in the toolbar: it is where Save writes.)

import { useEditor } from "../context";
import type { Issue, JsonSchema, PipelineDocument } from "../types";
import { DraftField } from "./DraftField";

/** The sampling form from the server's SamplingDoc schema (GET /api/schema): titles, ranges, defaults. */
function samplingFields(schema: JsonSchema) {
  return Object.entries(schema.properties ?? {}).map(([key, p]) => {
    const low = p.exclusiveMinimum !== undefined ? `${p.exclusiveMinimum} <` : p.minimum !== undefined ? `${p.minimum} ≤` : "";
    const high = p.exclusiveMaximum !== undefined ? `< ${p.exclusiveMaximum}` : p.maximum !== undefined ? `≤ ${p.maximum}` : "";
    const range = low || high ? `${low} value ${high}`.trim() : "";
    const help = [p.description, range, p.default !== undefined ? `default ${String(p.default)}` : ""].filter(Boolean).join("; ");
    return { key, title: p.title ?? key, help };
  });
}

interface Props {
  doc: PipelineDocument;
  issues: Issue[];
  onChange: (update: (doc: PipelineDocument) => PipelineDocument) => void;
}

function issuesAt(issues: Issue[], path: string) {
  return issues.filter((i) => i.path === path || i.path.startsWith(`${path}.`));
}

export function PipelineSettings({ doc, issues, onChange }: Props) {
  const { catalog } = useEditor();
  const SAMPLING = samplingFields(catalog.schema.documents.sampling);
  const setKey = (key: string, value: unknown) =>
    onChange((d) => {
      const next = { ...d };
      if (value === undefined) delete next[key];
      else next[key] = value;
      return next;
    });
  const setSampling = (key: string, value: number | undefined) =>
    onChange((d) => {
      const sampling = { ...(d.sampling ?? {}) };
      if (value === undefined) delete sampling[key];
      else sampling[key] = value;
      return { ...d, sampling };
    });

  return (
    <div className="inspector-body" data-testid="pipeline-settings">
      <h2>Pipeline</h2>
      <p className="muted">Select a step on the canvas to edit it. Drag operators in from the palette.</p>
      <label className="field">
        <span>Description</span>
        <DraftField
          multiline
          rows={3}
          value={doc.description ?? ""}
          onCommit={(text) => {
            setKey("description", text === "" ? undefined : text);
            return text;
          }}
          data-testid="pipeline-description"
        />
      </label>
      <label className="field">
        <span>Input</span>
        <select value={doc.input ?? "video"} onChange={(e) => setKey("input", e.target.value)} data-testid="pipeline-input">
          <option value="video">video</option>
          <option value="image">image</option>
        </select>
        <span className="hint">What items the pipeline takes; some operators work on video only.</span>
        {issuesAt(issues, "input").map((i, n) => (
          <span key={n} className="field-issue">
            {i.message}
          </span>
        ))}
      </label>
      <h3>Frame sampling</h3>
      {SAMPLING.map((s) => (
        <label className="field" key={s.key}>
          <span>{s.title}</span>
          <DraftField
            value={doc.sampling?.[s.key] !== undefined ? String(doc.sampling[s.key]) : ""}
            placeholder="default"
            inputMode="decimal"
            onCommit={(text) => {
              const n = text.trim() === "" ? undefined : Number(text);
              if (n !== undefined && !Number.isFinite(n)) return undefined;
              setSampling(s.key, n);
              return n === undefined ? "" : String(n);
            }}
            data-testid={`sampling-${s.key}`}
          />
          <span className="hint">{s.help}</span>
          {issuesAt(issues, `sampling.${s.key}`).map((i, n) => (
            <span key={n} className="field-issue">
              {i.message}
            </span>
          ))}
        </label>
      ))}
    </div>
  );
}
