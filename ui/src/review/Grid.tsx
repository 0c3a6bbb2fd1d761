// A run's items as a grid of thumbnails: filter text, sort, queues. Every control writes the URL
// (a saved filter is a link); the grid loads a page more as it is scrolled to its end; j/k move
// the selection (loading the next page past the last card), Enter opens the item.

import { useEffect, useMemo, useState } from "react";
import { reviewApi } from "./api";
import { go } from "./route";
import type { GridItem, RunDetail, Value } from "./types";
import { isDone, PAGE_SIZE, type Paged } from "./usePagedList";
import { useGridScroll } from "./useGridScroll";
import { show } from "./util";

interface Props {
  run: RunDetail;
  params: URLSearchParams;
  /** The loaded part of the list (a page more as the grid is scrolled to its end). */
  paged: Paged;
  /** The selected card's item (row index); null: the first card. */
  selected: number | null;
  onSelect: (index: number) => void;
}

export function Grid({ run, params, paged, selected, onSelect }: Props) {
  const [filter, setFilter] = useState(params.get("filter") ?? "");
  const sort = params.get("sort") ?? "";
  const { list, loading, error } = paged;
  const done = isDone(list);

  useEffect(() => {
    setFilter(params.get("filter") ?? "");
    // A choice made in a drop-down (sort, queue, saved filter) hands the keys back to the grid.
    const active = document.activeElement as HTMLElement | null;
    if (active?.tagName === "SELECT") active.blur();
  }, [params]);

  const update = (changes: Record<string, string | null>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v) next.set(k, v);
      else next.delete(k);
    }
    if (!("offset" in changes)) next.delete("offset");
    go(run.name, null, next);
  };

  // The columns the filter and sort name are shown on every card.
  const shown = useMemo(() => {
    const words = `${params.get("filter") ?? ""} ${sort.replace(/[-+,]/g, " ")} ${params.get("field") ?? ""}`.split(/\s+/);
    const names = new Set(run.columns.map((c) => c.name));
    return [...new Set(words.filter((w) => names.has(w) && !run.decision_tables.some((t) => t.column === w)))];
  }, [params, sort, run]);

  const { gridRef, sentinelRef, position, loadEarlier } = useGridScroll(paged, selected, onSelect, (index) => go(run.name, index, params));

  return (
    <div className="rv-grid-page">
      <div className="rv-controls">
        <form
          className="rv-filter"
          onSubmit={(e) => {
            e.preventDefault();
            (document.activeElement as HTMLElement | null)?.blur(); // the keys go back to the grid (j/k, Enter)
            update({ filter: filter.trim() || null, queue: null });
          }}
        >
          <input data-testid="rv-filter" list="rv-columns" value={filter} spellCheck={false}
                 placeholder="filter: logo.has_logo is true and moderation is accept" onChange={(e) => setFilter(e.target.value)} />
          <datalist id="rv-columns">
            {run.columns.map((c) => (
              <option key={c.name} value={c.name}>{c.type}</option>
            ))}
          </datalist>
          <button type="submit" data-testid="rv-apply-filter">Filter</button>
        </form>
        <label>
          sort{" "}
          <select data-testid="rv-sort" value={sort} onChange={(e) => update({ sort: e.target.value || null })}>
            <option value="">input order</option>
            {run.columns.filter((c) => c.name !== "index").flatMap((c) => [
              <option key={c.name} value={c.name}>{c.name} ↑</option>,
              <option key={`-${c.name}`} value={`-${c.name}`}>{c.name} ↓</option>,
            ])}
          </select>
        </label>
        <QueuePicker run={run} params={params} onChange={update} />
        <SavedFilters run={run.name} />
        <button type="button" data-testid="rv-copy-link" title="The URL holds the filter, sort and queue"
                onClick={() => void navigator.clipboard?.writeText(window.location.href)}>
          Copy link
        </button>
      </div>
      <div className="rv-counts">
        {run.decision_tables.map((t) => (
          <span key={t.name}>
            {t.name}:{" "}
            {Object.entries(t.counts).map(([o, n]) => (
              <a key={o} className={`rv-badge rv-o-${o}`} href="#" onClick={(e) => {
                e.preventDefault();
                update({ filter: `${t.column} = ${o}`, queue: null });
              }}>
                {o} {n}
              </a>
            ))}
          </span>
        ))}
        {list.queue && <span className="rv-muted" data-testid="rv-queue-info">{queueText(list.queue)}</span>}
      </div>
      <div className="rv-pager">
        <span data-testid="rv-total">
          {list.total === null ? "loading…" : !list.total ? "no items match"
            : `${list.start ? `${list.start + 1}–${list.start + list.items.length}` : list.items.length} of ${list.total} loaded`}
        </span>
        <span className="rv-muted">scroll for more · j/k select · Enter open</span>
      </div>
      <div className="rv-grid" data-testid="rv-grid" ref={gridRef}>
        {list.start > 0 && list.total !== null && (
          <button type="button" className="rv-grid-row" data-testid="rv-load-earlier" disabled={loading} onClick={loadEarlier}>
            ▴ load the {Math.min(list.start, PAGE_SIZE)} items above
          </button>
        )}
        {list.items.map((item, n) => (
          <Card key={item.index} item={item} shown={shown} selected={n === position}
                href={`#/runs/${encodeURIComponent(run.name)}/items/${item.index}${window.location.hash.includes("?") ? "?" + window.location.hash.split("?")[1] : ""}`} />
        ))}
        <div className="rv-grid-row" ref={sentinelRef} data-testid="rv-grid-end">
          {error ? (
            <span className="rv-error" data-testid="rv-grid-error">
              {error}{" "}
              <button type="button" data-testid="rv-retry" onClick={paged.retry}>Retry</button>
            </span>
          ) : loading ? (
            <span className="rv-muted" data-testid="rv-loading">loading…</span>
          ) : done && list.items.length ? (
            <span className="rv-muted">end of the list</span>
          ) : null}
        </div>
      </div>
    </div>
  );
}

function queueText(q: Record<string, unknown>): string {
  if (q.name === "sample")
    return `random sample of ${q.size} of ${q.population} items decided ${q.outcome}: precision within ±${q.margin} at ${Number(q.confidence) * 100}% (seed ${q.seed})`;
  if (q.name === "flips") return `${q.flips} decision(s) a rule change flips (${q.source})`;
  return `${q.field} within ${q.band} of ${q.threshold}, nearest first`;
}

function Card({ item, shown, selected, href }: { item: GridItem; shown: string[]; selected: boolean; href: string }) {
  return (
    <a className={`rv-card${selected ? " rv-selected" : ""}`} href={href} data-testid={`rv-card-${item.index}`} data-selected={selected}>
      <div className="rv-thumb">
        {item.error ? <span className="rv-failed">{item.error}</span> : <img src={item.thumb_url} alt="" loading="lazy" />}
      </div>
      <div className="rv-card-name" title={item.path ?? ""}>{item.name}</div>
      <div className="rv-card-decisions">
        {Object.entries(item.decisions).map(([table, d]) => (
          <span key={table} className={`rv-badge rv-o-${d.outcome}`} title={`${table}: ${d.rule}`}>
            {d.outcome}
            {item.reviewed[`table:${table}`] ? (item.reviewed[`table:${table}`] === "confirm" ? " ✓" : " ✎") : ""}
          </span>
        ))}
      </div>
      {item.queue && (
        <div className="rv-muted">{Object.entries(item.queue).map(([k, v]) => `${k} ${show(v as Value)}`).join(" · ")}</div>
      )}
      {shown.map((name) => (
        <div key={name} className="rv-card-value">
          <span className="rv-muted">{name}</span> {show(item.values[name])}
        </div>
      ))}
    </a>
  );
}

function QueuePicker({ run, params, onChange }: { run: RunDetail; params: URLSearchParams; onChange: (c: Record<string, string | null>) => void }) {
  const queue = params.get("queue") ?? "";
  const [pipelines, setPipelines] = useState<string[]>([]);
  useEffect(() => {
    reviewApi.pipelines().then((p) => setPipelines(p.map((x) => x.name)), () => setPipelines([]));
  }, []);
  const table = run.decision_tables[0];
  return (
    <span className="rv-queue">
      <label>
        queue{" "}
        <select data-testid="rv-queue" value={queue} onChange={(e) => {
          const q = e.target.value;
          const extra: Record<string, string | null> = { queue: q || null, filter: null };
          if (q === "sample") Object.assign(extra, { table: table?.name ?? null, outcome: table ? Object.keys(table.counts)[0] ?? null : null });
          if (q === "low_confidence") extra.field = run.confidence_fields[0] ?? null;
          onChange(extra);
        }}>
          <option value="">all items (filter)</option>
          <option value="flips">flips: what a rule change changes</option>
          <option value="low_confidence">low confidence</option>
          <option value="sample">random sample for precision</option>
        </select>
      </label>
      {queue === "flips" && (
        <select data-testid="rv-queue-pipeline" value={params.get("pipeline") ?? ""} onChange={(e) => onChange({ pipeline: e.target.value || null })}>
          <option value="">the run's changes.jsonl</option>
          {pipelines.map((p) => (
            <option key={p} value={p}>pipeline {p}</option>
          ))}
        </select>
      )}
      {queue === "low_confidence" && (
        <select value={params.get("field") ?? ""} onChange={(e) => onChange({ field: e.target.value || null })}>
          {run.columns.filter((c) => c.type === "float").map((c) => (
            <option key={c.name} value={c.name}>{c.name}</option>
          ))}
        </select>
      )}
      {queue === "sample" && table && (
        <>
          <select data-testid="rv-queue-outcome" value={`${params.get("table") ?? table.name}:${params.get("outcome") ?? ""}`}
                  onChange={(e) => {
                    const [t, ...o] = e.target.value.split(":");
                    onChange({ table: t, outcome: o.join(":") });
                  }}>
            {run.decision_tables.flatMap((t) => t.outcomes.map((o) => <option key={`${t.name}:${o}`} value={`${t.name}:${o}`}>{t.name} = {o}</option>))}
          </select>
          <select value={params.get("margin") ?? "0.05"} onChange={(e) => onChange({ margin: e.target.value })}>
            {["0.02", "0.05", "0.1", "0.2"].map((m) => (
              <option key={m} value={m}>±{Number(m) * 100} points (95%)</option>
            ))}
          </select>
        </>
      )}
    </span>
  );
}

const SAVED_KEY = "factorline.savedFilters";

/** Saved filters: links (the URL's hash) kept in this browser, per run. */
function SavedFilters({ run }: { run: string }) {
  const read = (): Record<string, string> => {
    try {
      return JSON.parse(localStorage.getItem(`${SAVED_KEY}.${run}`) ?? "{}") as Record<string, string>;
    } catch {
      return {};
    }
  };
  const [saved, setSaved] = useState(read);
  const save = () => {
    const params = new URLSearchParams(window.location.hash.split("?")[1] ?? "");
    const name = [params.get("queue"), params.get("filter"), params.get("sort")].filter(Boolean).join(" · ") || "all items";
    const next = { ...saved, [name]: window.location.hash };
    setSaved(next);
    try {
      localStorage.setItem(`${SAVED_KEY}.${run}`, JSON.stringify(next));
    } catch {
      // storage disabled: kept until reload
    }
  };
  return (
    <span className="rv-queue">
      <select data-testid="rv-saved-filters" value="" onChange={(e) => { if (e.target.value) window.location.hash = e.target.value; }}>
        <option value="">saved filters ({Object.keys(saved).length})</option>
        {Object.entries(saved).map(([name, hash]) => (
          <option key={name} value={hash}>{name}</option>
        ))}
      </select>
      <button type="button" data-testid="rv-save-filter" onClick={save}>Save</button>
    </span>
  );
}
