// The right-hand panel: the selected step's inspector (or the pipeline's settings when none is
// selected) above the Problems list; it folds to a strip.

import type { Catalog } from "../catalog";
import { resolveOperator } from "../catalog";
import type { PipelineMeta, StepNode } from "../document";
import type { IssueIndex } from "../issues";
import type { Issue } from "../types";
import type { useGraph } from "../useGraph";
import { PipelineSettings } from "./PipelineSettings";
import { ProblemsPanel } from "./ProblemsPanel";
import { StepInspector } from "./StepInspector";

interface Props {
  folded: boolean;
  onFold: () => void;
  catalog: Catalog;
  graph: ReturnType<typeof useGraph>;
  doc: PipelineMeta;
  wires: Record<string, Record<string, string>>;
  issues: Issue[];
  issueIndex: IssueIndex;
  onPick: (issue: Issue) => void;
}

export function Inspector({ folded, onFold, catalog, graph, doc, wires, issues, issueIndex, onPick }: Props) {
  if (folded) {
    return (
      <button type="button" className="fold-strip" onClick={onFold} title="Show the inspector" data-testid="unfold-inspector">
        ◂ Inspector
      </button>
    );
  }
  const selected: StepNode | undefined = graph.nodes.find((n) => n.selected);
  return (
    <aside className="inspector">
      <button type="button" className="fold-button" onClick={onFold} title="Hide the inspector" data-testid="fold-inspector">
        hide ▸
      </button>
      {selected ? (
        <StepInspector
          node={selected}
          op={resolveOperator(catalog, selected.data.op)}
          wires={wires[selected.id] ?? {}}
          issues={issueIndex.steps[selected.data.name]}
          onRename={(name) => graph.renameStep(selected.id, name)}
          onParam={(key, value) => graph.setParam(selected.id, key, value)}
          onUnwire={(input) => graph.unwire(selected.id, input)}
          onRemove={() => graph.removeSteps(new Set([selected.id]))}
        />
      ) : (
        <PipelineSettings doc={doc} issues={issueIndex.pipeline} onChange={(update) => graph.editMeta(update)} />
      )}
      <ProblemsPanel issues={issues} onPick={onPick} />
    </aside>
  );
}
