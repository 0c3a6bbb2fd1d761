// The saved versions of the open pipeline's file (kept by the server in .history/ beside it):
// when and how each was saved, its diff to the file as it is now, and Restore, which writes that
// version back byte for byte.

import { useCallback, useEffect, useState } from "react";
import { ApiError, api } from "../api";
import type { HistoryVersion, HistoryVersionText, RestoreReply } from "../types";
import { DiffView } from "./DiffView";

interface Props {
  pipeline: string | null; // the server pipeline open in the editor (null: never saved)
  dirty: boolean;
  /** Changes when the file is saved, so that the list reloads. */
  savedMark: unknown;
  onRestored: (reply: RestoreReply) => void;
}

const ORIGINS: Record<HistoryVersion["origin"], string> = {
  file: "the file as found on disk",
  created: "created by the editor",
  editor: "saved from the editor",
  restore: "restored",
};

export function HistoryPanel({ pipeline, dirty, savedMark, onRestored }: Props) {
  const [versions, setVersions] = useState<HistoryVersion[]>([]);
  const [file, setFile] = useState("");
  const [shown, setShown] = useState<HistoryVersionText | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [armed, setArmed] = useState<string | null>(null);

  const load = useCallback(async () => {
    if (!pipeline) return;
    try {
      const listing = await api.history(pipeline);
      setVersions(listing.versions);
      setFile(listing.file);
      setError(null);
    } catch (exc) {
      setError(exc instanceof ApiError ? exc.message : String(exc));
    }
  }, [pipeline]);
  useEffect(() => {
    setShown(null);
    setArmed(null);
    void load();
  }, [load, savedMark]);

  if (!pipeline) return <p className="muted history-empty">Save the pipeline to start its history.</p>;

  const show = async (version: string) => {
    try {
      setShown(await api.historyVersion(pipeline, version));
      setArmed(null);
    } catch (exc) {
      setError(exc instanceof ApiError ? exc.message : String(exc));
    }
  };
  const restore = async (version: string) => {
    if (dirty && armed !== version) return setArmed(version); // a second click confirms
    try {
      const reply = await api.restore(pipeline, version);
      onRestored(reply);
      await load();
      setShown(null);
      setArmed(null);
    } catch (exc) {
      setError(exc instanceof ApiError ? `${exc.type}: ${exc.message}` : String(exc));
    }
  };

  return (
    <div className="history-panel" data-testid="history-panel">
      <div className="history-list">
        <h3>Saved versions of {file || pipeline}</h3>
        {error && <div className="error-box">{error}</div>}
        {versions.length === 0 && <p className="muted">No saved versions yet: each save from the editor keeps one here.</p>}
        <ul>
          {versions.map((v) => (
            <li key={v.version} className={shown?.version === v.version ? "active" : ""} data-testid={`history-${v.version}`}>
              <button type="button" className="link" onClick={() => void show(v.version)} data-testid={`history-show-${v.version}`}>
                #{Number(v.version)} · {new Date(v.saved_at).toLocaleString()}
              </button>
              <span className="muted"> {ORIGINS[v.origin]}</span>
              {v.current ? (
                <span className="current-tag">current</span>
              ) : (
                <button type="button" className="small" onClick={() => void restore(v.version)} data-testid={`history-restore-${v.version}`}>
                  {armed === v.version ? "Discard unsaved changes and restore" : "Restore"}
                </button>
              )}
            </li>
          ))}
        </ul>
      </div>
      <div className="history-diff">
        {shown ? (
          shown.diff ? (
            <DiffView diff={shown.diff} testid="history-diff" />
          ) : (
            <p className="muted">This version is the file as it is now.</p>
          )
        ) : (
          <p className="muted">Pick a version to see how it differs from the file now.</p>
        )}
      </div>
    </div>
  );
}
