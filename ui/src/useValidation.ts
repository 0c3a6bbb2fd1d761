// Every change of the document is compiled by the server (debounced), so problems show while
// editing; an answer for an older document than the current one is dropped.

import { useEffect, useRef, useState } from "react";
import { api } from "./api";
import type { CheckState } from "./components/Toolbar";
import { parseJson } from "./json";
import type { Issue, PipelineDocument } from "./types";

const VALIDATE_DELAY_MS = 300;

export function useValidation(docText: string, enabled: boolean, describe: (exc: unknown) => string) {
  const [issues, setIssues] = useState<Issue[]>([]);
  const [check, setCheck] = useState<CheckState>({ state: "idle" });
  const seqRef = useRef(0);

  useEffect(() => {
    if (!enabled) return;
    const seq = ++seqRef.current;
    setCheck({ state: "checking" });
    const timer = window.setTimeout(async () => {
      try {
        const reply = await api.validate(parseJson(docText) as PipelineDocument);
        if (seq !== seqRef.current) return;
        setIssues(reply.issues);
        setCheck(reply.ok && reply.fingerprint ? { state: "ok", fingerprint: reply.fingerprint } : { state: "invalid", count: reply.issues.length });
      } catch (exc) {
        if (seq === seqRef.current) setCheck({ state: "error", message: describe(exc) });
      }
    }, VALIDATE_DELAY_MS);
    return () => window.clearTimeout(timer);
  }, [docText, enabled, describe]);

  // setIssues: a refused save reports its issues at once, before the next validation.
  return { issues, setIssues, check };
}
