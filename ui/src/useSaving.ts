// Saving: the server first says what a save would write (preview-save); a save that rewrites a
// file the editor did not create shows that diff and waits for the user, and so does Run when it
// needs unsaved changes saved first. Nothing is ever written without the user asking for it.

import { useState } from "react";
import { ApiError, api } from "./api";
import type { Catalog } from "./catalog";
import type { Notice } from "./components/Canvas";
import type { Issue, PipelineDocument, PipelineSummary, SavePreview } from "./types";

export interface PendingSave {
  preview: SavePreview;
  reason: string;
  confirmLabel: string;
  answer: (yes: boolean) => void;
}

interface Options {
  catalog: Catalog | null;
  doc: PipelineDocument;
  dirty: boolean;
  origin: string | null;
  pipelines: PipelineSummary[];
  describe: (exc: unknown) => string;
  setIssues: (issues: Issue[]) => void;
  notify: (notice: Notice | null) => void;
  /** After a save: the document text now on the server, and the pipeline's name. */
  onSaved: (name: string, file: string | null) => void;
}

export function useSaving({ catalog, doc, dirty, origin, pipelines, describe, setIssues, notify, onSaved }: Options) {
  const [saving, setSaving] = useState(false);
  const [pending, setPending] = useState<PendingSave | null>(null);
  const [replaceConfirmed, setReplaceConfirmed] = useState<string | null>(null);

  const ask = (preview: SavePreview, reason: string, confirmLabel: string) =>
    new Promise<boolean>((resolve) =>
      setPending({
        preview,
        reason,
        confirmLabel,
        answer: (yes) => {
          setPending(null);
          resolve(yes);
        },
      }),
    );

  /** Save the document; ``forRun``: Run asked, so any change is shown before it is written. */
  const save = async (forRun = false): Promise<string | null> => {
    const name = doc.name;
    if (saving || pending) return null;
    if (!catalog?.patterns.pipeline.test(name)) {
      notify({ tone: "error", text: "name the pipeline first: 1-64 of A-Z a-z 0-9 _ . - (not starting with a dot)" });
      return null;
    }
    // Saving under the name of another pipeline on the server replaces it: ask for a second click.
    if (name !== origin && pipelines.some((p) => p.name === name) && replaceConfirmed !== name) {
      setReplaceConfirmed(name);
      notify({ tone: "error", text: `a pipeline named ${name} exists on the server: Save again to replace it` });
      return null;
    }
    setSaving(true);
    try {
      const preview = await api.previewSave(name, doc);
      const mustAsk = forRun ? preview.changed : preview.confirm;
      if (mustAsk) {
        const reason = forRun
          ? "Run uses the pipeline saved on the server, so these changes must be saved first."
          : `${preview.file} was not created by the editor: check what this save changes in it.`;
        if (!(await ask(preview, reason, forRun ? "Save and run" : "Save"))) {
          notify({ tone: "info", text: "Not saved: the file is unchanged" });
          return null;
        }
      }
      const reply = await api.save(name, doc);
      onSaved(name, reply.file);
      notify({ tone: "info", text: `Saved ${name}${reply.file ? ` to ${reply.file}` : ""}` });
      return name;
    } catch (exc) {
      if (exc instanceof ApiError && exc.issues.length) setIssues(exc.issues);
      notify({ tone: "error", text: `not saved: ${describe(exc)}` });
      return null;
    } finally {
      setSaving(false);
    }
  };

  /** Run needs a saved pipeline: the name to run, after saving (with the user's yes) when dirty. */
  const prepareRun = async (): Promise<string | null> => (dirty || origin !== doc.name ? save(true) : doc.name);

  return { saving, pending, save, prepareRun };
}
