// Maps the compiler's issue paths onto what the editor shows: a step's operator, parameter or
// input; a decision table's setting or one cell of one rule; or the pipeline's own fields.
//
//   steps.border.params.threshold      -> step "border", params, field "threshold"
//   steps.policy.inputs.text           -> step "policy", inputs, field "text"
//   decisions.moderation.rules[2].when -> table "moderation", rule 2, field "when"
//   decisions.moderation.on_error      -> table "moderation", setting "on_error"
//   sampling.fps, name, steps, ""      -> the pipeline

import type { Issue } from "./types";

export type IssueTarget =
  | { area: "step"; step: string; part: "op" | "params" | "inputs" | "step"; field: string }
  | { area: "rule"; table: string; index: number; field: string }
  | { area: "table"; table: string; field: string }
  | { area: "pipeline"; field: string };

export function issueTarget(path: string): IssueTarget {
  const step = /^steps\.([^.]+)(?:\.(op|params|inputs)(?:\.([^.[]+))?)?/.exec(path);
  if (step) {
    const part = (step[2] ?? "step") as "op" | "params" | "inputs" | "step";
    return { area: "step", step: step[1], part, field: step[3] ?? "" };
  }
  const rule = /^decisions\.([^.[]+)\.rules\[(\d+)\](?:\.([^.[]+))?/.exec(path);
  if (rule) return { area: "rule", table: rule[1], index: Number(rule[2]), field: rule[3] ?? "" };
  const table = /^decisions\.([^.[]+)(?:\.([^.[]+))?/.exec(path);
  if (table) return { area: "table", table: table[1], field: table[2] ?? "" };
  return { area: "pipeline", field: path.split(/[.[]/)[0] };
}

export interface StepIssues {
  all: Issue[];
  op: Issue[];
  params: Record<string, Issue[]>;
  inputs: Record<string, Issue[]>;
  general: Issue[]; // the step as a whole (e.g. a bad step name, a cycle)
}

export interface TableIssues {
  all: Issue[];
  fields: Record<string, Issue[]>; // policy, on_missing, on_error, description, rules, cases ...
  rules: Record<number, Record<string, Issue[]>>; // rule index -> field ("" = the whole rule)
}

export interface IssueIndex {
  steps: Record<string, StepIssues>;
  tables: Record<string, TableIssues>;
  pipeline: Issue[];
}

const push = <T>(map: Record<string | number, T[]>, key: string | number, item: T) => {
  (map[key] ??= []).push(item);
};

export function indexIssues(issues: Issue[]): IssueIndex {
  const index: IssueIndex = { steps: {}, tables: {}, pipeline: [] };
  for (const issue of issues) {
    const target = issueTarget(issue.path);
    if (target.area === "step") {
      const s = (index.steps[target.step] ??= { all: [], op: [], params: {}, inputs: {}, general: [] });
      s.all.push(issue);
      if (target.part === "op") s.op.push(issue);
      else if (target.part === "params") push(s.params, target.field, issue);
      else if (target.part === "inputs") push(s.inputs, target.field, issue);
      else s.general.push(issue);
    } else if (target.area === "rule" || target.area === "table") {
      const t = (index.tables[target.table] ??= { all: [], fields: {}, rules: {} });
      t.all.push(issue);
      if (target.area === "rule") push((t.rules[target.index] ??= {}), target.field, issue);
      else push(t.fields, target.field, issue);
    } else {
      index.pipeline.push(issue);
    }
  }
  return index;
}

