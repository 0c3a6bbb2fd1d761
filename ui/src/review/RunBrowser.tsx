// The run browser: the runs under --runs, a run's grid (filters, sort, queues, all in the URL;
// scrolled a page at a time), one item with its evidence and the reviewer's verdicts. The loaded
// part of the list is held here, so j/k in the item view walk the same filtered list.

import { useCallback, useEffect, useRef, useState } from "react";
import { describeError, reviewApi } from "./api";
import { Grid } from "./Grid";
import { ItemView } from "./ItemView";
import { go, GRID_KEYS, type Route } from "./route";
import type { GridItem, RunDetail, RunSummary } from "./types";
import { asPage, usePagedList } from "./usePagedList";
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
  const [error, setError] = useState<string | null>(null);
  const listKey = GRID_KEYS.map((k) => route.params.get(k) ?? "").join("\u0001");
  // The loaded part of the list, for this listKey only: a page of another list (the filter just
  // changed, its answer not in yet) is never shown, so keys never walk a list that is about to go.
  const paged = usePagedList(run, route.params, listKey);
  // The selected card, as an item's row index in its list: the item last opened when back from it.
  const [selected, setSelected] = useState<{ key: string; index: number } | null>(null);
  const select = useCallback((index: number) => setSelected({ key: listKey, index }), [listKey]);
  useEffect(() => {
    if (route.item !== null) select(route.item);
  }, [route.item, select]);

  useEffect(() => {
    reviewApi.run(run).then(setDetail, (exc) => setError(describeError(exc)));
  }, [run]);

  // Keys pressed faster than the page re-renders: walk on from where the last press went.
  const pending = useRef<{ from: number; to: number } | null>(null);
  const { current, more, earlier, refresh } = paged;

  /** Go to the item ``step`` places away in the list, loading the next (or previous) page at
   * the edge of the loaded items; stay at either end of the list. */
  const neighbour = useCallback(
    async (shown: number, step: 1 | -1): Promise<void> => {
      let list = current();
      if (!list || list.total === null) return;
      const index = pending.current && pending.current.from === shown ? pending.current.to : shown;
      let at = list.items.findIndex((i) => i.index === index);
      if (at < 0 && step === -1) return; // an item opened outside the list: j goes to its start
      let target: GridItem | undefined = list.items[at + step];
      if (!target && step === 1) {
        list = await more();
        target = list?.items[at + 1];
      } else if (!target && step === -1) {
        list = await earlier();
        at = list ? list.items.findIndex((i) => i.index === index) : -1;
        target = at > 0 ? list?.items[at - 1] : undefined;
      }
      if (!target) return;
      pending.current = { from: shown, to: target.index };
      go(run, target.index, route.params);
    },
    [current, more, earlier, route.params, run],
  );
  const item = route.item;
  const onReviewed = useCallback(() => (item === null ? Promise.resolve() : refresh(item)), [item, refresh]);

  if (error && !detail) return <p className="rv-error">{error}</p>;
  if (!detail) return <p className="rv-muted">loading {run}…</p>;
  if (item !== null)
    return (
      <ItemView run={detail} index={item} params={route.params} page={asPage(paged.list)} reviewer={reviewer}
                onNeighbour={neighbour} onReviewed={onReviewed} />
    );
  return (
    <Grid run={detail} params={route.params} paged={paged}
          selected={selected && selected.key === listKey ? selected.index : null} onSelect={select} />
  );
}
