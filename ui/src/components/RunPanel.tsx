// Run the pipeline on one item (a bundled sample on the server, or an uploaded file) and show
// what came out: each decision with its rule, reason and explanation; each factor's values
// with thumbnails of the frames at its evidence timestamps.

import { useMemo, useState } from "react";
import { ApiError } from "../api";
import type { Evidence, RunRecord, SampleFile, Shot } from "../types";

interface Props {
  itemKind: string;
  samples: SampleFile[];
  canRun: boolean;
  /** Saves first when needed (after asking); resolves to the pipeline name to run, or null when not saved. */
  prepare: () => Promise<string | null>;
  run: (pipeline: string, source: { path: string } | { file: File }) => Promise<RunRecord>;
}

export function RunPanel({ itemKind, samples, canRun, prepare, run }: Props) {
  const usable = useMemo(() => samples.filter((s) => s.kind === itemKind), [samples, itemKind]);
  const [samplePath, setSamplePath] = useState("");
  const [file, setFile] = useState<File | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [record, setRecord] = useState<RunRecord | null>(null);
  const chosenSample = usable.some((s) => s.path === samplePath) ? samplePath : "";

  const start = async (source: { path: string } | { file: File }) => {
    setBusy(true);
    setError(null);
    try {
      const name = await prepare();
      if (name === null) {
        setError("The pipeline was not saved, so it was not run: see the message above the canvas (and the Problems list).");
        return;
      }
      setRecord(await run(name, source));
    } catch (exc) {
      setError(exc instanceof ApiError ? `${exc.type}: ${exc.message}` : String(exc));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="run-panel" data-testid="run-panel">
      <div className="run-controls">
        <label className="field inline">
          <span>Sample</span>
          <select value={chosenSample} onChange={(e) => setSamplePath(e.target.value)} data-testid="run-sample">
            <option value="">{usable.length ? `choose one of ${usable.length} ${itemKind} samples` : `no ${itemKind} samples on the server`}</option>
            {usable.map((s) => (
              <option key={s.path} value={s.path}>
                {s.path} ({Math.round(s.size / 1024)} KB)
              </option>
            ))}
          </select>
        </label>
        <button
          type="button"
          className="primary"
          disabled={!canRun || busy || !chosenSample}
          onClick={() => start({ path: chosenSample })}
          data-testid="run-sample-button"
        >
          {busy ? "Running…" : "Run sample"}
        </button>
        <span className="muted">or</span>
        <label className="field inline">
          <span>Upload</span>
          <input type="file" accept={itemKind === "image" ? "image/*" : "video/*"} onChange={(e) => setFile(e.target.files?.[0] ?? null)} data-testid="run-file" />
        </label>
        <button type="button" disabled={!canRun || busy || !file} onClick={() => file && start({ file })} data-testid="run-upload-button">
          Run file
        </button>
        <span className="hint">The server runs the saved pipeline: with unsaved changes, Run shows what saving them changes and asks first.</span>
      </div>
      {error && (
        <div className="error-box" data-testid="run-error">
          {error}
        </div>
      )}
      {record && <RunResult record={record} />}
    </div>
  );
}

function fmt(value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(3).replace(/0+$/, "").replace(/\.$/, "");
  if (typeof value === "string") return value.length > 160 ? `${value.slice(0, 159)}…` : value;
  const text = JSON.stringify(value);
  return text.length > 160 ? `${text.slice(0, 159)}…` : text;
}

const outcomeClass = (outcome: string) => `outcome outcome-${outcome.toLowerCase().replace(/[^a-z0-9_-]/g, "")}`;

function RunResult({ record }: { record: RunRecord }) {
  const shotAt = useMemo(() => {
    const map = new Map<number, Shot>();
    for (const s of record.thumbnails?.shots ?? []) map.set(Math.round(s.t * 1000), s);
    return map;
  }, [record]);
  const item = record.item;
  return (
    <div className="run-result" data-testid="run-result">
      <div className="run-item">
        <span className="muted">{record.pipeline.name} on</span> <strong data-testid="run-item-path">{item.path}</strong>{" "}
        <span className="muted">
          {[item.kind, item.width && item.height ? `${item.width}×${item.height}` : "", item.duration_s ? `${fmt(item.duration_s)} s` : "", record.timings_ms?.total ? `${Math.round(record.timings_ms.total)} ms` : ""]
            .filter(Boolean)
            .join(" · ")}
        </span>
      </div>
      {record.error && (
        <div className="error-box" data-testid="run-item-error">
          The item failed — {record.error.type}: {record.error.message}
        </div>
      )}

      <h3>Decisions</h3>
      <div className="decisions">
        {Object.entries(record.decisions).map(([table, d]) => (
          <div className="decision-card" key={table} data-testid={`decision-${table}`}>
            <div className="decision-head">
              <span className="muted">{table}</span>
              <span className={outcomeClass(d.outcome)} data-testid={`decision-outcome-${table}`}>
                {d.outcome}
              </span>
              <span className="muted">
                by rule <code data-testid={`decision-rule-${table}`}>{d.rule}</code>
              </span>
              {d.outcomes && d.outcomes.length > 1 && <span className="muted">outcomes: {d.outcomes.join(", ")}</span>}
            </div>
            {d.reason && (
              <div className="decision-reason" data-testid={`decision-reason-${table}`}>
                {d.reason}
              </div>
            )}
            <div className="decision-explanation" data-testid={`decision-explanation-${table}`}>
              {d.explanation}
            </div>
            {(d.hits ?? []).length > 0 && (
              <ul className="hits">
                {(d.hits ?? []).map((h) => (
                  <li key={h.rule}>
                    <code>{h.rule}</code>{" "}
                    {Object.entries(h.values)
                      .map(([k, v]) => `${k} = ${fmt(v)}`)
                      .join(", ")}
                  </li>
                ))}
              </ul>
            )}
          </div>
        ))}
      </div>

      <h3>Factors</h3>
      {record.thumbnails?.note && <p className="muted">{record.thumbnails.note}</p>}
      <div className="factors">
        {Object.entries(record.factors).map(([step, fields]) => (
          <FactorCard key={step} step={step} fields={fields} shotAt={shotAt} timing={record.timings_ms?.[step]} />
        ))}
      </div>
    </div>
  );
}

function FactorCard({ step, fields, shotAt, timing }: { step: string; fields: Record<string, unknown>; shotAt: Map<number, Shot>; timing?: number }) {
  const evidence = (Array.isArray(fields.evidence) ? fields.evidence : []) as Evidence[];
  const times = [...new Set(evidence.map((e) => e.t).filter((t): t is number => typeof t === "number").map((t) => Math.round(t * 1000)))].sort((a, b) => a - b);
  const shots = times.map((ms) => shotAt.get(ms)).filter((s): s is Shot => Boolean(s?.image));
  return (
    <div className="factor-card" data-testid={`factor-${step}`}>
      <div className="factor-head">
        <strong>{step}</strong>
        {timing !== undefined && <span className="muted">{Math.round(timing)} ms</span>}
      </div>
      <table className="values">
        <tbody>
          {Object.entries(fields)
            .filter(([k]) => k !== "evidence")
            .map(([k, v]) => (
              <tr key={k}>
                <td>
                  <code>{k}</code>
                </td>
                <td data-testid={`factor-value-${step}-${k}`}>{fmt(v)}</td>
              </tr>
            ))}
          <tr>
            <td>
              <code>evidence</code>
            </td>
            <td>
              {evidence.length === 0
                ? "none"
                : `${evidence.length} ${evidence.length === 1 ? "entry" : "entries"}${times.length ? ` at ${times.map((ms) => `${ms / 1000} s`).join(", ")}` : ""}`}
            </td>
          </tr>
        </tbody>
      </table>
      {shots.length > 0 && (
        <div className="thumbs">
          {shots.map((s) => (
            <figure key={s.t} data-testid={`thumb-${step}-${s.t}`}>
              <img src={s.image ?? ""} alt={`${step} at ${s.t} s`} loading="lazy" />
              <figcaption>
                {s.t} s{s.notes.filter((n) => n.startsWith(`${step} · `)).map((n) => ` · ${n.slice(step.length + 3)}`).join("")}
              </figcaption>
            </figure>
          ))}
        </div>
      )}
    </div>
  );
}
