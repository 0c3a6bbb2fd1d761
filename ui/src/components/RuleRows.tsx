// One rule of a decision table as two rows: its id, outcome, reason, priority, default flag and
// actions; below them, across the whole table, its condition (ConditionEditor), so that a long
// condition is read whole. The compiler's problems show under the cell they concern; beside the
// condition, how many items of the counted run the rule would decide and match (RuleCountBadge).

import type { DragEvent } from "react";
import type { Issue, RuleCount, RuleDoc } from "../types";
import { ConditionEditor } from "./ConditionEditor";
import type { FactorRef } from "./RulesEditor";

export const ROW_MIME = "application/x-factorline-rule";
const KNOWN = new Set(["id", "when", "outcome", "reason", "priority", "default"]);

export function Issues({ list, testid }: { list: Issue[] | undefined; testid?: string }) {
  if (!list?.length) return null;
  return (
    <div className="field-issue" data-testid={testid}>
      {list.map((i) => i.message).join("; ")}
    </div>
  );
}

interface Props {
  index: number;
  count: number;
  rule: RuleDoc;
  policy: string;
  issues: Record<string, Issue[]>;
  factors: FactorRef[];
  /** This rule's count over the run (null: no run, or not counted yet). */
  tally: RuleCount | null;
  total: number;
  stale: boolean;
  dragging: boolean;
  onKey: (key: string, value: unknown) => void;
  onDefault: (on: boolean) => void;
  onMove: (to: number) => void;
  onDelete: () => void;
  onDragFrom: (index: number | null) => void;
  onDrop: (event: DragEvent) => void;
}

export function RuleRows({ index: i, count, rule, policy, issues: cell, factors, tally, total, stale, dragging, onKey, onDefault, onMove, onDelete, onDragFrom, onDrop }: Props) {
  const rowLevel = Object.entries(cell).filter(([field]) => !KNOWN.has(field));
  const bad = (field: string) => (cell[field]?.length ? "bad" : undefined);
  const columns = policy === "priority" ? 8 : 7;
  const rowClass = `${Object.keys(cell).length ? "invalid" : ""}${dragging ? " dragging" : ""}${rule.default ? " default-row" : ""}`;
  const dropTarget = { onDragOver: (e: DragEvent) => e.preventDefault(), onDrop };
  return (
    <>
      <tr className={`rule-main ${rowClass}`} data-testid={`rule-row-${i}`} {...dropTarget}>
        <td
          className="grip"
          rowSpan={2}
          draggable
          onDragStart={(e) => {
            e.dataTransfer.setData(ROW_MIME, String(i));
            onDragFrom(i);
          }}
          onDragEnd={() => onDragFrom(null)}
          title="Drag to reorder"
        >
          ⋮⋮
        </td>
        <td className="muted">{i + 1}</td>
        <td className={bad("id")}>
          <input value={rule.id ?? ""} onChange={(e) => onKey("id", e.target.value)} data-testid={`rule-id-${i}`} spellCheck={false} />
          <Issues list={cell.id} testid={`rule-issue-${i}-id`} />
        </td>
        <td className={bad("outcome")}>
          <input value={rule.outcome ?? ""} onChange={(e) => onKey("outcome", e.target.value)} data-testid={`rule-outcome-${i}`} />
          <Issues list={cell.outcome} testid={`rule-issue-${i}-outcome`} />
        </td>
        <td className={bad("reason")}>
          <input
            value={rule.reason ?? ""}
            onChange={(e) => onKey("reason", e.target.value === "" && !("reason" in rule) ? undefined : e.target.value)}
            data-testid={`rule-reason-${i}`}
          />
          <Issues list={cell.reason} testid={`rule-issue-${i}-reason`} />
        </td>
        {policy === "priority" && (
          <td className={bad("priority")}>
            <input
              className="narrow"
              inputMode="numeric"
              value={rule.priority ?? ""}
              onChange={(e) => {
                const text = e.target.value.trim();
                onKey("priority", text === "" ? undefined : Number.isFinite(Number(text)) ? Number(text) : text);
              }}
              disabled={Boolean(rule.default)}
              data-testid={`rule-priority-${i}`}
            />
            <Issues list={cell.priority} testid={`rule-issue-${i}-priority`} />
          </td>
        )}
        <td className="centered">
          <input type="checkbox" checked={Boolean(rule.default)} onChange={(e) => onDefault(e.target.checked)} data-testid={`rule-default-${i}`} />
          <Issues list={cell.default} testid={`rule-issue-${i}-default`} />
        </td>
        <td className="row-actions">
          <button type="button" onClick={() => onMove(i - 1)} disabled={i === 0} title="Move up" data-testid={`rule-up-${i}`}>
            ↑
          </button>
          <button type="button" onClick={() => onMove(i + 1)} disabled={i === count - 1} title="Move down" data-testid={`rule-down-${i}`}>
            ↓
          </button>
          <button type="button" onClick={onDelete} title="Delete rule" data-testid={`rule-delete-${i}`}>
            ✕
          </button>
          {rowLevel.length > 0 && (
            <div className="field-issue" data-testid={`rule-issue-${i}`}>
              {rowLevel.flatMap(([, list]) => list.map((x) => x.message)).join("; ")}
            </div>
          )}
        </td>
      </tr>
      <tr className={`rule-condition ${rowClass}`} data-testid={`rule-condition-row-${i}`} {...dropTarget}>
        <td colSpan={columns - 1} className={bad("when")}>
          {rule.default ? (
            <div className="condition-cell">
              <span className="muted default-note">when: — decides when no rule matched —</span>
              <RuleCountBadge tally={tally} total={total} stale={stale} index={i} />
            </div>
          ) : (
            <div className="condition-cell">
              <span className="when-label">when</span>
              <ConditionEditor
                value={typeof rule.when === "string" ? rule.when : ""}
                onChange={(text) => onKey("when", text)}
                factors={factors}
                testid={`rule-when-${i}`}
                invalid={Boolean(cell.when?.length)}
              />
              <RuleCountBadge tally={tally} total={total} stale={stale} index={i} />
            </div>
          )}
          <Issues list={cell.when} testid={`rule-issue-${i}-when`} />
          {tally?.error && (
            <div className="hint count-problem" data-testid={`rule-count-problem-${i}`}>
              Not counted on the run: {tally.error}
            </div>
          )}
        </td>
      </tr>
    </>
  );
}

/** "decides 3 · matches 5 of 40" (the default row: "decides 12 of 40"), or "not counted" (the
 * reason is said under the condition). */
function RuleCountBadge({ tally, total, stale, index }: { tally: RuleCount | null; total: number; stale: boolean; index: number }) {
  if (!tally) return null;
  const testid = `rule-count-${index}`;
  if (tally.error) {
    return (
      <span className="rule-count not-counted" title={tally.error} data-testid={testid}>
        not counted
      </span>
    );
  }
  const decides = tally.decides === null ? "decides ?" : `decides ${tally.decides}`;
  const text = tally.default ? `${decides} of ${total}` : `${decides} · matches ${tally.matches ?? "?"} of ${total}`;
  const missing = tally.missing ? ` · ${tally.missing} missing` : "";
  const title = [
    "Items of the run this rule would decide (first match under the table's policy) and match at all (its condition is true).",
    tally.missing ? `${tally.missing} item(s) lack a value it reads: the table's missing-factor outcome decides those it reaches.` : "",
    tally.note ?? "",
  ].filter(Boolean).join(" ");
  return (
    <span className={`rule-count${stale ? " stale" : ""}${tally.note ? " noted" : ""}`} title={title} data-testid={testid}>
      {text}
      {missing}
      {tally.note ? " *" : ""}
    </span>
  );
}
