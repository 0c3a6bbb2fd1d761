// Chooses the page from the URL's hash: the run browser at #/runs..., the editor otherwise.
// The editor, once shown, stays mounted (hidden) while the run browser is open, so switching
// pages never loses unsaved edits. (The editor's own layout is left untouched.)

import { useState, type ReactNode } from "react";
import { RunBrowser } from "./RunBrowser";
import { isRunsHash, parseHash, useHash } from "./route";
import "./review.css";

export function Root({ editor }: { editor: ReactNode }) {
  const hash = useHash();
  const runs = isRunsHash(hash);
  const [editorSeen, setEditorSeen] = useState(!runs);
  if (!runs && !editorSeen) setEditorSeen(true);
  return (
    <>
      {editorSeen && <div style={{ display: runs ? "none" : "contents" }}>{editor}</div>}
      {runs && <RunBrowser route={parseHash(hash)} />}
    </>
  );
}
