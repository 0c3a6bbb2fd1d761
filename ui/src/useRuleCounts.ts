// How many items of a run each rule would catch, while the rules are edited: the run folders
// under the server's runs root are listed once; the newest run of this pipeline is counted on
// unless the user picks another (another pipeline's run only by choice, kept while the same
// pipeline is edited); every change of the steps or decisions asks
// the server again (debounced), and an answer for an older document is dropped.

import { useEffect, useMemo, useRef, useState } from "react";
import { ApiError, api } from "./api";
import { parseJson, toJson } from "./json";
import type { PipelineDocument, RuleCountsReply, RunFolder } from "./types";

const COUNT_DELAY_MS = 350;

export interface RuleCounts {
  runs: RunFolder[];
  /** The run counted on (null: no run of this pipeline and none chosen, or run browsing is off). */
  run: string | null;
  choose: (run: string) => void;
  reply: RuleCountsReply | null;
  /** The reply is for an older document: a newer one is being counted. */
  stale: boolean;
  error: string | null;
}

function newestFirst(a: RunFolder, b: RunFolder): number {
  return (b.finished_at ?? "").localeCompare(a.finished_at ?? "");
}

export function useRuleCounts(doc: PipelineDocument): RuleCounts {
  const [runs, setRuns] = useState<RunFolder[]>([]);
  const [chosen, setChosen] = useState<{ pipeline: string; run: string } | null>(null);
  const [reply, setReply] = useState<RuleCountsReply | null>(null);
  const [countedText, setCountedText] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const seqRef = useRef(0);

  useEffect(() => {
    api.runs().then(
      (listed) => setRuns(listed.filter((r) => !r.problem).sort(newestFirst)),
      () => setRuns([]), // a server without run browsing: no counts
    );
  }, []);

  const run = useMemo(() => {
    if (chosen?.pipeline === doc.name && runs.some((r) => r.name === chosen.run)) return chosen.run;
    return runs.find((r) => r.pipeline === doc.name)?.name ?? null;
  }, [runs, chosen, doc.name]);
  const choose = (name: string) => setChosen({ pipeline: doc.name, run: name });

  // Only what a count reads: the steps and the decisions.
  const text = useMemo(() => toJson({ name: doc.name, input: doc.input, steps: doc.steps, decisions: doc.decisions ?? {} }), [doc]);
  const key = run ? `${run}\n${text}` : null;

  useEffect(() => {
    if (!run || !key) return;
    const seq = ++seqRef.current;
    const timer = window.setTimeout(async () => {
      try {
        const answer = await api.ruleCounts(parseJson(text) as PipelineDocument, run);
        if (seq !== seqRef.current) return;
        setReply(answer);
        setCountedText(key);
        setError(null);
      } catch (exc) {
        if (seq !== seqRef.current) return;
        setReply(null);
        setCountedText(key);
        setError(exc instanceof ApiError ? `${exc.type}: ${exc.message}` : String(exc));
      }
    }, COUNT_DELAY_MS);
    return () => window.clearTimeout(timer);
  }, [run, key, text]);

  return { runs, run, choose, reply: run ? reply : null, stale: countedText !== key, error: run ? error : null };
}
