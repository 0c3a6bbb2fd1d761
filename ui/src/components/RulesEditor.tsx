// The decision-table editor: one tab per table; its hit policy and fallback outcomes; rows of
// rules (id, condition, outcome, reason, default row) that can be added, removed and reordered
// (arrows or drag by the grip); the compiler's problems inline, under the exact cell; with a run
// folder on the server, how many of its items each rule would decide and match (useRuleCounts).
//
// Tables and rules are edited in place, keeping keys the editor does not show (cases,
// descriptions, unknown keys) and their order, so an unchanged table saves unchanged.

import { useState, type DragEvent } from "react";
import { useEditor } from "../context";
import { blankTable } from "../document";
import { RuleHelp } from "./RuleHelp";
import { Issues, ROW_MIME, RuleRows } from "./RuleRows";
import type { TableIssues } from "../issues";
import type { DecisionTableDoc, HitPolicy, JsonSchema, PipelineDocument, RuleDoc, TableCounts } from "../types";
import { useRuleCounts, type RuleCounts } from "../useRuleCounts";

export interface FactorRef {
  ref: string; // step.field
  dtype: string;
  description: string;
  values?: string[]; // a closed vocabulary (text fields)
}

interface Props {
  decisions: Record<string, DecisionTableDoc> | undefined;
  /** ``key`` names the field typed into, so that typing makes one undo step. */
  onChange: (decisions: Record<string, DecisionTableDoc>, key?: string) => void;
  issues: Record<string, TableIssues>;
  active: string | null;
  onActivate: (table: string) => void;
  factors: FactorRef[];
  /** The whole document being edited: what the rule counts are computed for. */
  doc: PipelineDocument;
}

/** The hit policies and what each does, from the server's table schema ("first: ... collect: ..."). */
function policies(table: JsonSchema): { value: HitPolicy; help: string }[] {
  const field = table.properties?.policy;
  const said = new Map([...(field?.description ?? "").matchAll(/(\w+): (.*?)(?=\s+\w+: |$)/g)].map((m) => [m[1], m[2].replace(/\.$/, "")]));
  return ((field?.enum ?? []) as HitPolicy[]).map((value) => ({ value, help: said.get(value) ?? "" }));
}

function freeName(base: string, taken: Set<string>): string {
  if (!taken.has(base)) return base;
  for (let i = 2; ; i += 1) if (!taken.has(`${base}_${i}`)) return `${base}_${i}`;
}

export function RulesEditor({ decisions, onChange, issues, active, onActivate, factors, doc }: Props) {
  const { catalog } = useEditor();
  const counts = useRuleCounts(doc);
  const tables = decisions ?? {};
  const names = Object.keys(tables);
  const current = active && active in tables ? active : names[0] ?? null;

  const setTable = (name: string, table: DecisionTableDoc, key?: string) => onChange({ ...tables, [name]: table }, key && `table:${name}:${key}`);
  const addTable = () => {
    const name = freeName(names.length ? "table" : "moderation", new Set(names));
    onChange({ ...tables, [name]: blankTable() });
    onActivate(name);
  };
  const removeTable = (name: string) => {
    const next = { ...tables };
    delete next[name];
    onChange(next);
  };
  const renameTable = (from: string, to: string): string | null => {
    if (to === from) return null;
    if (!catalog.patterns.table.test(to)) return "letters, digits and _, starting with a letter or _";
    if (to in tables) return `a table named ${to} exists`;
    onChange(Object.fromEntries(Object.entries(tables).map(([k, v]) => [k === from ? to : k, v])));
    onActivate(to);
    return null;
  };

  return (
    <div className="rules-editor" data-testid="rules-editor">
      <div className="tabs">
        {names.map((name) => (
          <button
            type="button"
            key={name}
            className={`tab${name === current ? " active" : ""}${issues[name]?.all.length ? " has-issues" : ""}`}
            onClick={() => onActivate(name)}
            data-testid={`table-tab-${name}`}
          >
            {name}
            {issues[name]?.all.length ? <span className="issue-badge">{issues[name].all.length}</span> : null}
          </button>
        ))}
        <button type="button" className="tab add" onClick={addTable} data-testid="add-table">
          + table
        </button>
      </div>
      {current === null ? (
        <p className="muted empty-tables">
          No decision tables: a pipeline then only measures factors. Add a table to decide outcomes.
        </p>
      ) : (
        <TableEditor
          key={current}
          name={current}
          table={tables[current]}
          issues={issues[current]}
          factors={factors}
          counts={counts}
          pipeline={doc.name}
          onChange={(t, key) => setTable(current, t, key)}
          onRename={(to) => renameTable(current, to)}
          onRemove={() => removeTable(current)}
        />
      )}
    </div>
  );
}

interface TableProps {
  name: string;
  table: DecisionTableDoc;
  issues: TableIssues | undefined;
  factors: FactorRef[];
  counts: RuleCounts;
  pipeline: string;
  onChange: (table: DecisionTableDoc, key?: string) => void;
  onRename: (name: string) => string | null;
  onRemove: () => void;
}

function TableEditor({ name, table, issues, factors, counts, pipeline, onChange, onRename, onRemove }: TableProps) {
  const [draftName, setDraftName] = useState(name);
  const [nameError, setNameError] = useState<string | null>(null);
  const [dragFrom, setDragFrom] = useState<number | null>(null);
  const [help, setHelp] = useState(false);
  const { catalog } = useEditor();
  const POLICIES = policies(catalog.schema.documents.table);
  const rules: RuleDoc[] = Array.isArray(table.rules) ? table.rules : [];
  const policy = table.policy ?? "first";
  const fieldIssues = issues?.fields ?? {};
  const tableCounts = counts.reply?.tables[name];

  const set = (key: string, value: unknown, typing?: string) => {
    const next: DecisionTableDoc = { ...table };
    if (value === undefined) delete next[key];
    else next[key] = value;
    onChange(next, typing);
  };
  const setRules = (next: RuleDoc[], typing?: string) => set("rules", next, typing);
  const setRule = (index: number, update: (rule: RuleDoc) => RuleDoc, typing?: string) =>
    setRules(rules.map((r, i) => (i === index ? update(r) : r)), typing);
  const setRuleKey = (index: number, key: string, value: unknown) =>
    setRule(
      index,
      (r) => {
        const next = { ...r };
        if (value === undefined) delete next[key];
        else next[key] = value;
        return next;
      },
      `rule:${index}:${key}`,
    );
  const move = (from: number, to: number) => {
    if (to < 0 || to >= rules.length || from === to) return;
    const next = [...rules];
    const [row] = next.splice(from, 1);
    next.splice(to, 0, row);
    setRules(next);
  };
  const addRule = () => {
    const id = freeName("rule", new Set(rules.map((r) => r.id)));
    const rule: RuleDoc = { id, when: "", outcome: "review", reason: "" };
    // New rules go before the default row, which must stay last.
    const at = rules.length && rules[rules.length - 1].default ? rules.length - 1 : rules.length;
    setRules([...rules.slice(0, at), rule, ...rules.slice(at)]);
  };
  const addDefault = () => setRules([...rules, { id: freeName("ok", new Set(rules.map((r) => r.id))), default: true, outcome: "accept" }]);
  const toggleDefault = (index: number, on: boolean) =>
    setRule(index, (r) => {
      const next: RuleDoc = { ...r };
      if (on) {
        next.default = true;
        delete next.when;
      } else {
        delete next.default;
        next.when = "";
      }
      return next;
    });

  const commitName = () => setNameError(onRename(draftName));
  const drop = (event: DragEvent, to: number) => {
    event.preventDefault();
    const from = Number(event.dataTransfer.getData(ROW_MIME));
    setDragFrom(null);
    if (Number.isInteger(from)) move(from, to);
  };

  return (
    <div className="table-editor" data-testid={`rules-table-${name}`}>
      <div className="table-settings">
        <label className="field inline">
          <span>Table</span>
          <input
            value={draftName}
            onChange={(e) => setDraftName(e.target.value)}
            onBlur={commitName}
            onKeyDown={(e) => e.key === "Enter" && commitName()}
            data-testid="table-name"
            spellCheck={false}
          />
          {nameError && <span className="field-issue">{nameError}</span>}
        </label>
        <label className="field inline">
          <span>Hit policy</span>
          <select value={policy} onChange={(e) => set("policy", e.target.value)} data-testid="hit-policy">
            {POLICIES.map((p) => (
              <option key={p.value} value={p.value}>
                {p.value}
              </option>
            ))}
          </select>
          <span className="hint">{POLICIES.find((p) => p.value === policy)?.help}</span>
          <Issues list={fieldIssues.policy} testid="table-issue-policy" />
        </label>
        <label className="field inline">
          <span>Missing factor →</span>
          <input
            value={table.on_missing ?? ""}
            onChange={(e) => set("on_missing", e.target.value, "on_missing")}
            placeholder="review"
            title="Decides when a rule that could have matched reads a missing value: missing data never falls through to the default."
            data-testid="on-missing"
          />
          <Issues list={fieldIssues.on_missing} testid="table-issue-on_missing" />
        </label>
        <label className="field inline">
          <span>Failed item →</span>
          <input
            value={table.on_error ?? ""}
            onChange={(e) => set("on_error", e.target.value, "on_error")}
            placeholder="review"
            title="Decides for items that could not be analysed (unreadable file, timeout)."
            data-testid="on-error"
          />
          <Issues list={fieldIssues.on_error} testid="table-issue-on_error" />
        </label>
        <button type="button" className="small" onClick={() => setHelp((h) => !h)} aria-expanded={help} data-testid="rule-help-toggle">
          {help ? "Hide" : "Rule language"} help
        </button>
        <button type="button" className="danger small" onClick={onRemove} data-testid="remove-table">
          Remove table
        </button>
      </div>
      {help && <RuleHelp onClose={() => setHelp(false)} />}
      <CountsBar counts={counts} table={tableCounts} pipeline={pipeline} />

      <table className="rules-grid">
        <thead>
          <tr>
            <th aria-label="reorder" />
            <th>#</th>
            <th className="col-id">id</th>
            <th className="col-outcome">outcome</th>
            <th className="wide">reason</th>
            {policy === "priority" && <th>priority</th>}
            <th title="The default row decides when no rule matched; exactly one, last.">default</th>
            <th aria-label="actions" />
          </tr>
        </thead>
        <tbody>
          {rules.map((rule, i) => (
            <RuleRows
              key={i}
              index={i}
              count={rules.length}
              rule={rule}
              policy={policy}
              issues={issues?.rules[i] ?? {}}
              factors={factors}
              tally={!counts.error && tableCounts?.rules[i]?.id === rule.id ? tableCounts.rules[i] : null}
              total={counts.reply?.run.items ?? 0}
              stale={counts.stale}
              dragging={dragFrom === i}
              onKey={(key, value) => setRuleKey(i, key, value)}
              onDefault={(on) => toggleDefault(i, on)}
              onMove={(to) => move(i, to)}
              onDelete={() => setRules(rules.filter((_, j) => j !== i))}
              onDragFrom={setDragFrom}
              onDrop={(e) => drop(e, i)}
            />
          ))}
        </tbody>
      </table>
      <div className="rules-actions">
        <button type="button" onClick={addRule} data-testid="add-rule">
          + Add rule
        </button>
        {!rules.some((r) => r.default) && (
          <button type="button" onClick={addDefault} data-testid="add-default">
            + Default row
          </button>
        )}
        {Array.isArray(table.cases) && table.cases.length > 0 && (
          <span className="muted">
            {table.cases.length} case{table.cases.length > 1 ? "s" : ""} in the document, checked on every validation
          </span>
        )}
      </div>
      {Object.entries(fieldIssues)
        .filter(([field]) => !["policy", "on_missing", "on_error"].includes(field))
        .map(([field, list]) => (
          <div key={field} className="field-issue-block" data-testid={`table-issue-${field || "table"}`}>
            {field ? <code>{field}</code> : null} {list.map((i) => i.message).join("; ")}
          </div>
        ))}
      {factors.length > 0 && (
        <details className="factor-refs">
          <summary>Factors the rules can read ({factors.length})</summary>
          <div className="factor-ref-list">
            {factors.map((f) => (
              <code key={f.ref} title={`${f.dtype}: ${f.description}`}>
                {f.ref}
              </code>
            ))}
          </div>
        </details>
      )}
    </div>
  );
}

/** Which run the counts are over, and what the table decides there beyond its rules. */
function CountsBar({ counts, table, pipeline }: { counts: RuleCounts; table: TableCounts | undefined; pipeline: string }) {
  if (!counts.runs.length) {
    return (
      <div className="counts-bar muted" data-testid="counts-bar">
        No run to count on: with run folders on the server (<code>factorline serve --runs DIR</code>), each rule shows how many of
        the last run&apos;s items it would catch.
      </div>
    );
  }
  const run = counts.run ? counts.reply?.run : undefined;
  return (
    <div className={`counts-bar${counts.stale ? " stale" : ""}`} data-testid="counts-bar">
      <label className="field inline">
        <span>Counts on run</span>
        <select value={counts.run ?? ""} onChange={(e) => e.target.value && counts.choose(e.target.value)} data-testid="counts-run">
          {!counts.run && <option value="">none chosen</option>}
          {counts.runs.map((r) => (
            <option key={r.name} value={r.name}>
              {r.name}
              {r.pipeline ? ` (${r.pipeline}${r.items !== null ? `, ${r.items} items` : ""})` : ""}
            </option>
          ))}
        </select>
      </label>
      {!counts.run ? (
        <span className="muted" data-testid="counts-summary">
          no run of {pipeline || "this pipeline"}: choose one to count on another pipeline&apos;s run
        </span>
      ) : counts.error ? (
        <span className="field-issue" data-testid="counts-error">
          {counts.error}
        </span>
      ) : run ? (
        <span className="muted" data-testid="counts-summary">
          {run.items} item{run.items === 1 ? "" : "s"}
          {run.failed ? `, ${run.failed} failed` : ""}
          {table && table.on_missing !== null ? ` · missing factor decides ${table.on_missing}` : ""}
          {table && table.on_error !== null ? ` · failed item decides ${table.on_error}` : ""}
        </span>
      ) : (
        <span className="muted">counting…</span>
      )}
      {counts.run && table?.decides_error && (
        <span className="hint" data-testid="counts-decides-error">
          {table.decides_error}
        </span>
      )}
    </div>
  );
}
