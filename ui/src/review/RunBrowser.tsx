// The run browser: the runs under --runs, a run's grid (filters, sort, queues, paging, all in the
// URL), one item with its evidence and the reviewer's verdicts. The page of the grid is held
// here, so j/k in the item view walk the same filtered list.

import { useCallback, useEffect, useRef, useState } from "react";
import { describeError, reviewApi } from "./api";
import { Grid } from "./Grid";
import { ItemView } from "./ItemView";
import { go, type Route } from "./route";
import type { ItemPage, RunDetail, RunSummary } from "./types";

export const PAGE_SIZE = 60;
const REVIEWER_KEY = "factorline.reviewer";

function storedReviewer(): string {
  try {
    return localStorage.getItem(REVIEWER_KEY) ?? "";
  } catch {
    return "";
  }
}

export function RunBrowser({ route }: { route: Route }) {
  const [reviewer, setReviewer] = useState(storedReviewer());
  const saveReviewer = (name: string) => {
    setReviewer(name);
    try {
      localStorage.setItem(REVIEWER_KEY, name);
    } catch {
      // storage disabled: the name lasts until reload
    }
  };
  return (
    <div className="rv-page" data-testid="rv-run-browser">
      <header className="rv-header">
        <a href="#/runs" className="rv-brand">
          factorline · runs
        </a>
        {route.run && (
          <a href={`#/runs/${encodeURIComponent(route.run)}`} data-testid="rv-crumb-run">
            {route.run}
          </a>
        )}
        {route.item !== null && <span className="rv-muted">item {route.item}</span>}
        <span className="rv-spacer" />
        <label className="rv-reviewer">
          reviewer{" "}
          <input data-testid="rv-reviewer" value={reviewer} placeholder="your name" onChange={(e) => saveReviewer(e.target.value)} />
        </label>
        <a href="#/" className="rv-muted">
          pipeline editor
        </a>
      </header>
      {route.run === null ? <RunList /> : <RunPages key={route.run} run={route.run} route={route} reviewer={reviewer.trim()} />}
    </div>
  );
}

function RunList() {
  const [runs, setRuns] = useState<RunSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    reviewApi.runs().then(setRuns, (exc) => setError(describeError(exc)));
  }, []);
  if (error) return <p className="rv-error">{error}</p>;
  if (runs === null) return <p className="rv-muted">loading runs…</p>;
  if (!runs.length)
    return (
      <p className="rv-muted" data-testid="rv-no-runs">
        No runs. Start the server with <code>--runs DIR</code>, DIR holding folders written by <code>factorline run</code>.
      </p>
    );
  return (
    <table className="rv-runs" data-testid="rv-runs">
      <thead>
        <tr>
          <th>run</th>
          <th>pipeline</th>
          <th>items</th>
          <th>failed</th>
          <th>tables</th>
          <th>finished</th>
          <th>reviews</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((r) => (
          <tr key={r.name}>
            <td>
              <a href={`#/runs/${encodeURIComponent(r.name)}`} data-testid={`rv-run-link-${r.name}`}>
                {r.name}
              </a>
            </td>
            <td>{r.pipeline ?? r.problem}</td>
            <td>{r.items ?? "–"}</td>
            <td>{r.failed ?? "–"}</td>
            <td>{r.tables?.join(", ")}</td>
            <td>{r.finished_at ?? r.status}</td>
            <td>{r.reviews ? "yes" : ""}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function RunPages({ run, route, reviewer }: { run: string; route: Route; reviewer: string }) {
  const [detail, setDetail] = useState<RunDetail | null>(null);
  // The page with the list it was loaded for: a page of another list (the filter just changed,
  // its answer not in yet) is never shown, so keys never walk a list that is about to go.
  const [loaded, setLoaded] = useState<{ key: string; page: ItemPage } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const listKey = ["filter", "sort", "offset", "queue", "pipeline", "field", "band", "table", "outcome", "margin", "seed"]
    .map((k) => route.params.get(k) ?? "")
    .join("\u0001");

  useEffect(() => {
    reviewApi.run(run).then(setDetail, (exc) => setError(describeError(exc)));
  }, [run]);

  const loadPage = useCallback(async () => {
    const p = route.params;
    const offset = Number(p.get("offset") ?? 0) || 0;
    const queue = p.get("queue");
    try {
      const next = queue
        ? await reviewApi.queue(run, queue, {
            offset, limit: PAGE_SIZE, pipeline: p.get("pipeline") ?? undefined, field: p.get("field") ?? undefined,
            band: p.get("band") ?? undefined, table: p.get("table") ?? undefined, outcome: p.get("outcome") ?? undefined,
            margin: p.get("margin") ?? undefined, seed: p.get("seed") ?? undefined,
          })
        : await reviewApi.items(run, { filter: p.get("filter") ?? "", sort: p.get("sort") ?? "", offset, limit: PAGE_SIZE });
      setLoaded({ key: listKey, page: next });
      setError(null);
    } catch (exc) {
      setError(describeError(exc));
      setLoaded(null);
    }
    // listKey stands for route.params' list fields
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [run, listKey]);

  useEffect(() => {
    void loadPage();
  }, [loadPage]);
  const page = loaded && loaded.key === listKey ? loaded.page : null;

  // Keys pressed faster than the page re-renders: walk on from where the last press went.
  const pending = useRef<{ from: number; to: number } | null>(null);

  /** Go to the item ``step`` places away in the list (across pages); stay at either end. */
  const neighbour = useCallback(
    async (shown: number, step: 1 | -1): Promise<void> => {
      if (!page) return;
      const index = pending.current && pending.current.from === shown ? pending.current.to : shown;
      const at = page.items.findIndex((i) => i.index === index);
      const target = page.items[at + step];
      const params = new URLSearchParams(route.params);
      if (at >= 0 && target) {
        pending.current = { from: shown, to: target.index };
        go(run, target.index, params);
        return;
      }
      const offset = page.offset + step * page.limit;
      if (offset < 0 || offset >= page.total) return;
      params.set("offset", String(offset));
      const p = route.params;
      const queue = p.get("queue");
      const next = queue
        ? await reviewApi.queue(run, queue, { ...Object.fromEntries(p), offset, limit: PAGE_SIZE })
        : await reviewApi.items(run, { filter: p.get("filter") ?? "", sort: p.get("sort") ?? "", offset, limit: PAGE_SIZE });
      const landed = step === 1 ? next.items[0] : next.items[next.items.length - 1];
      if (landed) go(run, landed.index, params);
    },
    [page, route.params, run],
  );

  if (error && !detail) return <p className="rv-error">{error}</p>;
  if (!detail) return <p className="rv-muted">loading {run}…</p>;
  if (route.item !== null)
    return (
      <ItemView run={detail} index={route.item} params={route.params} page={page} reviewer={reviewer}
                onNeighbour={neighbour} onReviewed={loadPage} />
    );
  return <Grid run={detail} params={route.params} page={page} listKey={listKey} error={error} />;
}
