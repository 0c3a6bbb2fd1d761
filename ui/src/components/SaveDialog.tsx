// Before a save rewrites a file the editor did not create (or before Run saves), the change is
// shown as a diff of the file on disk against what will be written, and nothing is written until
// the user says so.

import { useEffect, useRef } from "react";
import type { SavePreview } from "../types";
import { DiffView } from "./DiffView";

interface Props {
  preview: SavePreview;
  /** Why the dialog is shown ("Run uses the saved pipeline" ...), above the diff. */
  reason: string;
  confirmLabel: string;
  onConfirm: () => void;
  onCancel: () => void;
}

export function SaveDialog({ preview, reason, confirmLabel, onConfirm, onCancel }: Props) {
  const confirm = useRef<HTMLButtonElement>(null);
  useEffect(() => confirm.current?.focus(), []);
  return (
    <div className="modal-backdrop" onKeyDown={(e) => e.key === "Escape" && onCancel()}>
      <div className="modal" role="dialog" aria-modal="true" aria-labelledby="save-dialog-title" data-testid="save-dialog">
        <h2 id="save-dialog-title">
          {preview.exists ? `Save changes to ${preview.file}?` : `Create ${preview.file}?`}
        </h2>
        <p className="muted">{reason}</p>
        {preview.changed ? (
          <DiffView diff={preview.diff || "(new file)"} testid="save-diff" />
        ) : (
          <p data-testid="save-diff-empty">The file already holds this document: nothing will change.</p>
        )}
        <div className="modal-actions">
          <button type="button" onClick={onCancel} data-testid="save-cancel">
            Cancel
          </button>
          <button type="button" className="primary" ref={confirm} onClick={onConfirm} data-testid="save-confirm">
            {confirmLabel}
          </button>
        </div>
      </div>
    </div>
  );
}
