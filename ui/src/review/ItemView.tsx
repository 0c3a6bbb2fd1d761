// One item: its media with the evidence, every decision with its explanation and the table's
// rules (the one that fired marked), every factor value, and the reviewer's verdicts.
// Keys: j/k next/previous item of the list, a accept (confirm the decision), o override (then
// 1-9 picks the outcome), t next table, space play/pause, Esc back to the grid.

import { useCallback, useEffect, useRef, useState } from "react";
import { describeError, reviewApi } from "./api";
import { Player, Timeline, type PlayerHandle } from "./Evidence";
import { go } from "./route";
import type { ItemDetail, ItemPage, ReviewBody, RunDetail, Value } from "./types";
import { isTyping, show } from "./util";

interface Props {
  run: RunDetail;
  index: number;
  params: URLSearchParams;
  page: ItemPage | null;
  reviewer: string;
  onNeighbour: (index: number, step: 1 | -1) => Promise<void>;
  onReviewed: () => Promise<void>;
}

export function ItemView({ run, index, params, page, reviewer, onNeighbour, onReviewed }: Props) {
  const [item, setItem] = useState<ItemDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [table, setTable] = useState(run.decision_tables[0]?.name ?? "");
  const [overriding, setOverriding] = useState(false);
  const [note, setNote] = useState("");
  const player = useRef<PlayerHandle>(null);

  const load = useCallback(() => reviewApi.item(run.name, index).then((d) => { setItem(d); setError(null); }, (e) => setError(describeError(e))), [run.name, index]);
  useEffect(() => {
    setItem(null);
    setOverriding(false);
    setNotice(null);
    setNote("");
    void load();
  }, [load]);

  const send = useCallback(async (body: Omit<ReviewBody, "reviewer" | "note">) => {
    if (!reviewer) {
      setNotice("enter your name in the reviewer field (top right) first");
      return;
    }
    try {
      const saved = await reviewApi.review(run.name, index, { ...body, reviewer, note });
      setNotice(`${saved.verdict === "confirm" ? "confirmed" : "overrode"} ${saved.table ?? saved.factor}: ${show(saved.value)}`);
      setOverriding(false);
      setNote("");
      await load();
      await onReviewed();
    } catch (exc) {
      setNotice(describeError(exc));
    }
  }, [reviewer, note, run.name, index, load, onReviewed]);

  const decision = item?.tables[table];
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (isTyping(e)) return;
      if (e.key === "j") void onNeighbour(index, 1);
      else if (e.key === "k") void onNeighbour(index, -1);
      else if (e.key === "Escape") overriding ? setOverriding(false) : go(run.name, null, params);
      else if (e.key === "a" && decision) void send({ table, verdict: "confirm" });
      else if (e.key === "o" && decision) setOverriding(true);
      else if (e.key === " ") player.current?.toggle();
      else if (e.key === "t") {
        const names = run.decision_tables.map((t) => t.name);
        setTable(names[(names.indexOf(table) + 1) % names.length]);
      } else if (overriding && decision && /^[1-9]$/.test(e.key)) {
        const outcome = decision.outcomes[Number(e.key) - 1];
        if (outcome) void send({ table, verdict: "override", value: outcome });
      } else return;
      e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [index, onNeighbour, overriding, decision, table, send, run, params]);

  if (error) return <p className="rv-error" data-testid="rv-item-error">{error}</p>;
  if (!item) return <p className="rv-muted">loading item {index}…</p>;
  const position = page ? page.items.findIndex((i) => i.index === index) : -1;
  return (
    <div className="rv-item" data-testid="rv-item-view">
      <div className="rv-item-bar">
        <button onClick={() => go(run.name, null, params)} title="Esc">◂ grid</button>
        <button onClick={() => void onNeighbour(index, -1)} title="k">prev</button>
        <button onClick={() => void onNeighbour(index, 1)} title="j">next</button>
        <strong data-testid="rv-item-name">{item.name}</strong>
        <span className="rv-muted">
          {position >= 0 && page ? `${page.offset + position + 1} of ${page.total} in this list` : `item ${index} of ${item.total}`}
        </span>
        <span className="rv-muted rv-keys">j/k next/prev · a accept · o override · t table · space play · Esc grid</span>
      </div>
      {notice && <div className="rv-notice" data-testid="rv-review-notice">{notice}</div>}
      <div className="rv-item-body">
        <div className="rv-item-media">
          <Player ref={player} item={item} />
          <Timeline item={item} onSeek={(t) => player.current?.seek(t)} />
          {item.record.error && (
            <p className="rv-error">{item.record.error.type}: {item.record.error.message}</p>
          )}
          <Factors item={item} onVerdict={(factor, verdict, value) => void send({ factor, verdict, value })} />
        </div>
        <div className="rv-item-side">
          {Object.entries(item.tables).map(([name, d]) => (
            <section key={name} className={`rv-decision${name === table ? " rv-active" : ""}`} data-testid={`rv-decision-${name}`}
                     onClick={() => setTable(name)}>
              <h3>
                {name} <span className={`rv-badge rv-o-${d.outcome}`} data-testid={`rv-outcome-${name}`}>{d.outcome}</span>
                {item.latest[`table:${name}`] && (
                  <span className="rv-verdict" data-testid={`rv-verdict-${name}`}>
                    {item.latest[`table:${name}`].verdict} → {show(item.latest[`table:${name}`].value)}
                  </span>
                )}
              </h3>
              <p>
                rule <a href={`#rule-${name}-${d.rule}`} onClick={(e) => { e.preventDefault(); document.getElementById(`rule-${name}-${d.rule}`)?.scrollIntoView(); }}>
                  <code>{d.rule}</code></a>{d.reason ? ` — ${d.reason}` : ""}
              </p>
              <p className="rv-explanation" data-testid={`rv-explanation-${name}`}>{d.explanation}</p>
              <ol className="rv-rules">
                {d.rules.map((r) => (
                  <li key={r.id} id={`rule-${name}-${r.id}`} className={r.id === d.rule ? "rv-fired" : r.fired ? "rv-hit" : ""}>
                    <code>{r.id}</code> {r.default ? "(default)" : <code>{r.when}</code>} → {r.outcome}
                  </li>
                ))}
              </ol>
              {name === table && (
                <div className="rv-actions">
                  <button data-testid="rv-accept" onClick={() => void send({ table: name, verdict: "confirm" })}>Accept (a)</button>
                  <button data-testid="rv-override" onClick={() => setOverriding(true)}>Override (o)</button>
                  {overriding && (
                    <div className="rv-outcomes" data-testid="rv-override-outcomes">
                      {d.outcomes.map((o, n) => (
                        <button key={o} data-testid={`rv-override-${o}`} disabled={o === d.outcome}
                                onClick={() => void send({ table: name, verdict: "override", value: o })}>
                          {n + 1} {o}
                        </button>
                      ))}
                    </div>
                  )}
                  <input placeholder="note (optional)" value={note} data-testid="rv-note" onChange={(e) => setNote(e.target.value)} />
                </div>
              )}
            </section>
          ))}
          <section>
            <h3>verdicts</h3>
            {item.reviews.length === 0 && <p className="rv-muted">none yet</p>}
            <ul className="rv-reviews" data-testid="rv-reviews">
              {item.reviews.map((r) => (
                <li key={r.review}>
                  <span className="rv-muted">{r.time.replace("T", " ").slice(0, 19)}</span> {r.reviewer}: {r.verdict}{" "}
                  {r.table ?? r.factor} → {show(r.value)}{r.note ? ` (${r.note})` : ""}
                </li>
              ))}
            </ul>
          </section>
        </div>
      </div>
    </div>
  );
}

function Factors({ item, onVerdict }: { item: ItemDetail; onVerdict: (factor: string, verdict: "confirm" | "override", value?: Value) => void }) {
  const rows = Object.entries(item.record.factors ?? {}).flatMap(([step, fields]) =>
    Object.entries(fields ?? {}).filter(([name]) => name !== "evidence").map(([name, value]) => ({ step, name, value })),
  );
  return (
    <table className="rv-factors" data-testid="rv-factors">
      <tbody>
        {rows.map(({ step, name, value }) => {
          const key = `${step}.${name}`;
          const dtype = item.factor_types[step]?.[name];
          const verdict = item.latest[`factor:${key}`];
          return (
            <tr key={key}>
              <td><code>{key}</code></td>
              <td data-testid={`rv-factor-${key}`}>{show(value)}</td>
              <td>
                {dtype === "bool" && typeof value === "boolean" && (
                  <>
                    <button title="the value is right" onClick={() => onVerdict(key, "confirm")}>✓</button>
                    <button title="the value is wrong" data-testid={`rv-wrong-${key}`} onClick={() => onVerdict(key, "override", !value)}>✗</button>
                  </>
                )}
                {verdict && <span className="rv-verdict">{verdict.verdict} → {show(verdict.value)}</span>}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
