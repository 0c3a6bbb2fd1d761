// Open, import, name, validate state, save, download; and the API token for servers that
// require one (kept in sessionStorage and sent as a bearer header).

import { useRef, useState } from "react";
import type { PipelineSummary } from "../types";

export type CheckState =
  | { state: "idle" }
  | { state: "checking" }
  | { state: "ok"; fingerprint: string }
  | { state: "invalid"; count: number }
  | { state: "error"; message: string };

interface Props {
  pipelines: PipelineSummary[];
  name: string;
  onName: (name: string) => void;
  onOpen: (name: string) => void;
  onNew: () => void;
  onImport: (file: File) => void;
  onSave: () => void;
  onDownload: () => void;
  saving: boolean;
  dirty: boolean;
  check: CheckState;
  token: string;
  onToken: (token: string) => void;
}

export function Toolbar(props: Props) {
  const { pipelines, name, onName, onOpen, onNew, onImport, onSave, onDownload, saving, dirty, check, token, onToken } = props;
  const fileInput = useRef<HTMLInputElement>(null);
  const [draftToken, setDraftToken] = useState(token);

  return (
    <header className="toolbar">
      <div className="brand">
        factorline <span>editor</span>
      </div>
      <select
        value=""
        onChange={(e) => {
          if (e.target.value === "\u0000new") onNew();
          else if (e.target.value) onOpen(e.target.value);
        }}
        data-testid="open-pipeline"
        aria-label="Open a pipeline"
      >
        <option value="">Open…</option>
        <option value={"\u0000new"}>New pipeline</option>
        {pipelines.map((p) => (
          <option key={p.name} value={p.name}>
            {p.name} ({p.input}, {p.steps.length} steps)
          </option>
        ))}
      </select>
      <button type="button" onClick={() => fileInput.current?.click()} title="Open a YAML or JSON pipeline file" data-testid="import-button">
        Import…
      </button>
      <input
        ref={fileInput}
        type="file"
        accept=".yaml,.yml,.json,application/json,text/yaml"
        hidden
        onChange={(e) => {
          const file = e.target.files?.[0];
          if (file) onImport(file);
          e.target.value = "";
        }}
        data-testid="import-file"
      />
      <label className="name-field">
        <span>Name</span>
        <input value={name} onChange={(e) => onName(e.target.value)} spellCheck={false} data-testid="pipeline-name" />
      </label>
      <span className={`check check-${check.state}`} data-testid="check-state" title={check.state === "ok" ? check.fingerprint : undefined}>
        {check.state === "checking" && "checking…"}
        {check.state === "ok" && "✓ compiles"}
        {check.state === "invalid" && `${check.count} problem${check.count === 1 ? "" : "s"}`}
        {check.state === "error" && `cannot check: ${check.message}`}
      </span>
      <span className={`dirty ${dirty ? "is-dirty" : ""}`} data-testid="dirty-state">
        {dirty ? "unsaved changes" : "saved"}
      </span>
      <div className="spacer" />
      <button type="button" onClick={onDownload} title="Download the document as JSON" data-testid="download-button">
        Download
      </button>
      <button type="button" className="primary" onClick={onSave} disabled={saving} data-testid="save-button">
        {saving ? "Saving…" : "Save"}
      </button>
      {/* A form, so the browser treats the password field as one (and Enter submits it). */}
      <form
        className="token-field"
        title="Bearer token, for servers started with --token-file (kept for this tab only)"
        onSubmit={(e) => {
          e.preventDefault();
          onToken(draftToken.trim());
        }}
      >
        <label htmlFor="api-token">Token</label>
        <input
          id="api-token"
          type="password"
          value={draftToken}
          placeholder="none"
          onChange={(e) => setDraftToken(e.target.value)}
          onBlur={() => draftToken !== token && onToken(draftToken.trim())}
          autoComplete="off"
          data-testid="token-input"
        />
      </form>
    </header>
  );
}
