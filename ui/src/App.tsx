// The editor: palette | canvas | inspector, with decision tables and the run panel below.
// State is the graph (nodes, edges) plus the rest of the document (meta); the document that is
// validated, saved and run is always graphToDocument(graph), so there is one source of truth.

import { useEdgesState, useNodesState, useReactFlow, type Connection } from "@xyflow/react";
import { useCallback, useEffect, useMemo, useState } from "react";
import { ApiError, api, getToken, setToken } from "./api";
import { makeCatalog, resolveOperator, type Catalog } from "./catalog";
import { Canvas, type Notice } from "./components/Canvas";
import { Palette } from "./components/Palette";
import { PipelineSettings } from "./components/PipelineSettings";
import { ProblemsPanel } from "./components/ProblemsPanel";
import { RulesEditor, type FactorRef } from "./components/RulesEditor";
import { RunPanel } from "./components/RunPanel";
import { StepInspector } from "./components/StepInspector";
import { Toolbar } from "./components/Toolbar";
import { EditorContext, type EditorContextValue } from "./context";
import {
  STEP_NAME_PATTERN,
  blankDocument,
  documentText,
  documentToGraph,
  freeStepName,
  graphToDocument,
  handleName,
  renameStepInDecisions,
  stepNode,
  wireEdge,
  type StepNode,
  type WireEdge,
} from "./document";
import { indexIssues, issueTarget } from "./issues";
import { withParam, withRenamedStep, withoutDangling } from "./edits";
import { parseJson, toJson } from "./json";
import { wireRefusal } from "./kinds";
import { autoLayout, loadPositions, savePositions } from "./layout";
import type { Issue, OperatorSchema, PipelineDocument, PipelineSummary, RunRecord, SampleFile } from "./types";
import { useValidation } from "./useValidation";

const PIPELINE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$/; // serve/pipelines.py NAME_PATTERN

function describe(exc: unknown): string {
  if (exc instanceof ApiError) {
    return exc.needsToken ? "this server needs an API token: enter it in the Token field (top right)" : `${exc.type}: ${exc.message}`;
  }
  return String(exc);
}

export function App() {
  const [catalog, setCatalog] = useState<Catalog | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [pipelines, setPipelines] = useState<PipelineSummary[]>([]);
  const [samples, setSamples] = useState<SampleFile[]>([]);
  const [token, setTokenState] = useState(getToken());

  const [nodes, setNodes, onNodesChange] = useNodesState<StepNode>([]);
  const [edges, setEdges, onEdgesChange] = useEdgesState<WireEdge>([]);
  const [meta, setMeta] = useState<PipelineDocument>(() => blankDocument());
  const [savedText, setSavedText] = useState<string | null>(null); // what the server holds (null: never saved)
  const [origin, setOrigin] = useState<string | null>(null); // the server pipeline this document is
  const [replaceConfirmed, setReplaceConfirmed] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);

  const [notice, setNotice] = useState<Notice | null>(null);
  const [bottomTab, setBottomTab] = useState<"rules" | "run">("rules");
  const [activeTable, setActiveTable] = useState<string | null>(null);
  const { fitView } = useReactFlow();

  // Confirmations fade; refusals and errors stay until the next action or a click.
  useEffect(() => {
    if (notice?.tone !== "info") return;
    const timer = window.setTimeout(() => setNotice((n) => (n === notice ? null : n)), 4000);
    return () => window.clearTimeout(timer);
  }, [notice]);

  // ------------------------------------------------------------------ server data
  const loadServerData = useCallback(async () => {
    try {
      const [ops, listed, media] = await Promise.all([api.operators(), api.pipelines(), api.samples()]);
      setCatalog(makeCatalog(ops));
      setPipelines(listed);
      setSamples(media);
      setLoadError(null);
    } catch (exc) {
      setLoadError(describe(exc));
    }
  }, []);
  useEffect(() => {
    void loadServerData();
  }, [loadServerData, token]);

  const refreshPipelines = () => api.pipelines().then(setPipelines, () => undefined);

  // ------------------------------------------------------------------ the document
  const doc = useMemo(() => graphToDocument({ meta, nodes, edges }), [meta, nodes, edges]);
  const docText = useMemo(() => documentText(doc), [doc]);
  const dirty = docText !== savedText;
  const { issues, setIssues, check } = useValidation(docText, catalog !== null, describe);
  const issueIndex = useMemo(() => indexIssues(issues), [issues]);

  const positions = () => Object.fromEntries(nodes.map((n) => [n.data.name, n.position]));

  const openDocument = useCallback(
    (next: PipelineDocument, fromServer: boolean) => {
      if (!catalog) return;
      const countHandles = (op: string) => {
        const spec = resolveOperator(catalog, op);
        return { inputs: Object.keys(spec?.inputs ?? {}).length, outputs: Object.keys(spec?.output.fields ?? {}).length };
      };
      const stored = loadPositions(next.name);
      const auto = autoLayout(next, countHandles);
      const graph = documentToGraph(next, catalog, (step) => stored[step] ?? auto[step] ?? { x: 40, y: 40 });
      setMeta(graph.meta);
      setNodes(graph.nodes);
      setEdges(graph.edges);
      // Straight from the server: "saved" exactly when the graph gives back the same document.
      setSavedText(fromServer ? documentText(next) : null);
      setOrigin(fromServer ? next.name : null);
      setIssues([]);
      setActiveTable(null);
      setNotice(null);
      window.setTimeout(() => void fitView({ padding: 0.15, maxZoom: 1 }), 50);
    },
    [catalog, setNodes, setEdges, fitView],
  );

  const openByName = async (name: string) => {
    try {
      openDocument(await api.pipeline(name), true);
    } catch (exc) {
      setNotice({ tone: "error", text: `cannot open ${name}: ${describe(exc)}` });
    }
  };

  const importFile = async (file: File) => {
    const text = await file.text();
    try {
      const reply = await api.validate({ text });
      if (reply.document) return openDocument(reply.document, false);
      try {
        openDocument(parseJson(text) as PipelineDocument, false); // JSON opens even when invalid
        setIssues(reply.issues);
      } catch {
        setIssues(reply.issues);
        setNotice({ tone: "error", text: `${file.name} has ${reply.issues.length} problem(s) and only valid YAML can be opened: see Problems` });
      }
    } catch (exc) {
      setNotice({ tone: "error", text: describe(exc) });
    }
  };

  const download = () => {
    const blob = new Blob([toJson(doc, 2) + "\n"], { type: "application/json" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `${doc.name || "pipeline"}.json`;
    link.click();
    window.setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  };

  const save = async (): Promise<string | null> => {
    const name = doc.name;
    if (!PIPELINE_NAME.test(name)) {
      setNotice({ tone: "error", text: "name the pipeline first: 1-64 of A-Z a-z 0-9 _ . - (not starting with a dot)" });
      return null;
    }
    // Saving under the name of another pipeline on the server replaces it: ask for a second click.
    if (name !== origin && pipelines.some((p) => p.name === name) && replaceConfirmed !== name) {
      setReplaceConfirmed(name);
      setNotice({ tone: "error", text: `a pipeline named ${name} exists on the server: Save again to replace it` });
      return null;
    }
    setSaving(true);
    try {
      const reply = await api.save(name, doc);
      setSavedText(docText);
      setOrigin(name);
      savePositions(name, positions());
      setNotice({ tone: "info", text: `Saved ${name}${reply.file ? ` to ${reply.file}` : ""}` });
      void refreshPipelines();
      return name;
    } catch (exc) {
      if (exc instanceof ApiError && exc.issues.length) setIssues(exc.issues);
      setNotice({ tone: "error", text: `not saved: ${describe(exc)}` });
      return null;
    } finally {
      setSaving(false);
    }
  };

  const prepareRun = async () => (dirty ? save() : doc.name);
  const runItem = (pipeline: string, source: { path: string } | { file: File }): Promise<RunRecord> =>
    "path" in source ? api.runPath(pipeline, source.path) : api.runUpload(pipeline, source.file);

  // ------------------------------------------------------------------ graph edits
  const nodeName = useCallback((id: string) => nodes.find((n) => n.id === id)?.data.name ?? id, [nodes]);

  const addStep = (op: OperatorSchema, position?: { x: number; y: number }) => {
    const name = freeStepName(op.name, nodes.map((n) => n.data.name));
    const at = position ?? { x: 60 + (nodes.length % 4) * 300, y: 60 + Math.floor(nodes.length / 4) * 260 };
    const node = { ...stepNode(name, { op: op.name }, at), selected: true };
    setNodes((list) => [...list.map((n) => ({ ...n, selected: false })), node]);
    setNotice(null);
  };

  const refusal = useCallback(
    (c: Connection): string | null => {
      if (!catalog) return "the operator catalogue is not loaded";
      const from = nodes.find((n) => n.id === c.source);
      const to = nodes.find((n) => n.id === c.target);
      if (!from || !to) return "unknown step";
      const upstreamOf = (step: string) => {
        const id = nodes.find((n) => n.data.name === step)?.id;
        // The wire being replaced (same input) does not count: it goes away with this one.
        return edges
          .filter((e) => e.target === id && !(e.target === c.target && e.targetHandle === c.targetHandle))
          .map((e) => nodeName(e.source));
      };
      return wireRefusal(
        {
          fromStep: from.data.name,
          fromField: handleName(c.sourceHandle),
          fromOp: resolveOperator(catalog, from.data.op),
          toStep: to.data.name,
          toInput: handleName(c.targetHandle),
          toOp: resolveOperator(catalog, to.data.op),
        },
        upstreamOf,
      );
    },
    [catalog, nodes, edges, nodeName],
  );

  const wire = (c: Connection) => {
    const reason = refusal(c);
    if (reason) return setNotice({ tone: "refused", text: reason });
    const from = nodes.find((n) => n.id === c.source)!;
    const field = handleName(c.sourceHandle);
    const kind = resolveOperator(catalog!, from.data.op)?.output.fields[field]?.kind ?? "factor";
    const input = handleName(c.targetHandle);
    // One wire per input: a new one replaces the old.
    setEdges((list) => [...list.filter((e) => !(e.target === c.target && e.targetHandle === c.targetHandle)), wireEdge(c.source, field, c.target, input, kind)]);
    updateNode(c.target, (n) => ({ ...n, data: withoutDangling(n.data, input) }));
    setNotice(null);
  };

  const updateNode = (id: string, update: (node: StepNode) => StepNode) => setNodes((list) => list.map((n) => (n.id === id ? update(n) : n)));

  const setParam = (id: string, key: string, value: unknown | undefined) =>
    updateNode(id, (n) => ({ ...n, data: withParam(n.data, key, value, catalog ? resolveOperator(catalog, n.data.op) : undefined) }));

  const renameStep = (id: string, to: string): string | null => {
    const from = nodeName(id);
    if (!STEP_NAME_PATTERN.test(to)) return "lower_snake_case: a-z, 0-9 and _, not starting with a digit";
    if (nodes.some((n) => n.id !== id && n.data.name === to)) return `another step is named ${to}`;
    setNodes((list) => list.map((n) => ({ ...n, data: withRenamedStep(n.data, from, to) })));
    setMeta((m) => ({ ...m, decisions: renameStepInDecisions(m.decisions, from, to) }));
    return null;
  };

  const unwire = (id: string, input: string) => {
    setEdges((list) => list.filter((e) => !(e.target === id && handleName(e.targetHandle) === input)));
    updateNode(id, (n) => ({ ...n, data: withoutDangling(n.data, input) }));
  };

  const removeStep = (id: string) => {
    setNodes((list) => list.filter((n) => n.id !== id));
    setEdges((list) => list.filter((e) => e.source !== id && e.target !== id));
  };

  const selectStep = (step: string) => {
    setNodes((list) => list.map((n) => ({ ...n, selected: n.data.name === step })));
    const node = nodes.find((n) => n.data.name === step);
    if (node) void fitView({ nodes: [{ id: node.id }], padding: 0.6, maxZoom: 1, duration: 200 });
  };

  const pickIssue = (issue: Issue) => {
    const target = issueTarget(issue.path);
    if (target.area === "step") selectStep(target.step);
    else if (target.area === "rule" || target.area === "table") {
      setBottomTab("rules");
      setActiveTable(target.table);
    } else setNodes((list) => list.map((n) => ({ ...n, selected: false })));
  };

  const newPipeline = () => openDocument(blankDocument(), false);

  const changeToken = (next: string) => {
    setToken(next);
    setTokenState(next);
  };

  // ------------------------------------------------------------------ derived views
  const wires = useMemo(() => {
    const names = new Map(nodes.map((n) => [n.id, n.data.name]));
    const out: Record<string, Record<string, string>> = {};
    for (const n of nodes) out[n.id] = { ...n.data.dangling };
    for (const e of edges) (out[e.target] ??= {})[handleName(e.targetHandle)] = `${names.get(e.source)}.${handleName(e.sourceHandle)}`;
    return out;
  }, [nodes, edges]);

  const factorRefs: FactorRef[] = useMemo(() => {
    if (!catalog) return [];
    return nodes.flatMap((n) => {
      const op = resolveOperator(catalog, n.data.op);
      return Object.entries(op?.output.fields ?? {})
        .filter(([field]) => field !== "evidence")
        .map(([field, f]) => ({ ref: `${n.data.name}.${field}`, dtype: f.dtype, description: f.description }));
    });
  }, [catalog, nodes]);

  const context: EditorContextValue | null = useMemo(
    () => (catalog ? { catalog, issues: issueIndex, itemKind: doc.input ?? "video", wires } : null),
    [catalog, issueIndex, doc.input, wires],
  );

  if (!catalog || !context) {
    return (
      <div className="loading" data-testid="loading">
        {loadError ? (
          <>
            <p className="error-box">Cannot load the operator catalogue: {loadError}</p>
            <form
              className="token-field"
              onSubmit={(e) => {
                e.preventDefault();
                changeToken(String(new FormData(e.currentTarget).get("token") ?? "").trim());
              }}
            >
              <label htmlFor="first-token">Token</label>
              <input id="first-token" name="token" type="password" autoComplete="off" data-testid="token-input" />
              <button type="submit">Connect</button>
            </form>
          </>
        ) : (
          <p>Loading operators…</p>
        )}
      </div>
    );
  }

  const selected = nodes.find((n) => n.selected);
  const selectedOp = selected ? resolveOperator(catalog, selected.data.op) : undefined;
  const rulesIssueCount = Object.values(issueIndex.tables).reduce((sum, t) => sum + t.all.length, 0);

  return (
    <EditorContext.Provider value={context}>
      <div className="app">
        <Toolbar
          pipelines={pipelines}
          name={doc.name}
          onName={(name) => setMeta((m) => ({ ...m, name }))}
          onOpen={openByName}
          onNew={newPipeline}
          onImport={importFile}
          onSave={() => void save()}
          onDownload={download}
          saving={saving}
          dirty={dirty}
          check={check}
          token={token}
          onToken={changeToken}
        />
        <div className="workspace">
          <Palette catalog={catalog} itemKind={doc.input ?? "video"} onAdd={(op) => addStep(op)} />
          <main className="main-column">
            <Canvas
              nodes={nodes}
              edges={edges}
              onNodesChange={onNodesChange}
              onEdgesChange={onEdgesChange}
              refusal={refusal}
              onWire={wire}
              onRefused={(reason) => setNotice({ tone: "refused", text: reason })}
              onDropOperator={(id, position) => {
                const op = catalog.byId.get(id);
                if (op) addStep(op, position);
              }}
              onNodeDragStop={() => PIPELINE_NAME.test(doc.name) && savePositions(doc.name, positions())}
              notice={notice}
              onDismissNotice={() => setNotice(null)}
            />
            <section className="lower-panel">
              <nav className="tabs lower-tabs">
                <button type="button" className={`tab${bottomTab === "rules" ? " active" : ""}`} onClick={() => setBottomTab("rules")} data-testid="tab-rules">
                  Decision tables {rulesIssueCount > 0 && <span className="issue-badge">{rulesIssueCount}</span>}
                </button>
                <button type="button" className={`tab${bottomTab === "run" ? " active" : ""}`} onClick={() => setBottomTab("run")} data-testid="tab-run">
                  Run
                </button>
              </nav>
              <div className="lower-body" hidden={bottomTab !== "rules"}>
                <RulesEditor
                  decisions={meta.decisions}
                  onChange={(decisions) => setMeta((m) => ({ ...m, decisions }))}
                  issues={issueIndex.tables}
                  active={activeTable}
                  onActivate={setActiveTable}
                  factors={factorRefs}
                />
              </div>
              <div className="lower-body" hidden={bottomTab !== "run"}>
                <RunPanel itemKind={doc.input ?? "video"} samples={samples} canRun={nodes.length > 0} prepare={prepareRun} run={runItem} />
              </div>
            </section>
          </main>
          <aside className="inspector">
            {selected ? (
              <StepInspector
                node={selected}
                op={selectedOp}
                wires={wires[selected.id] ?? {}}
                issues={issueIndex.steps[selected.data.name]}
                onRename={(name) => renameStep(selected.id, name)}
                onParam={(key, value) => setParam(selected.id, key, value)}
                onUnwire={(input) => unwire(selected.id, input)}
                onRemove={() => removeStep(selected.id)}
              />
            ) : (
              <PipelineSettings doc={doc} issues={issueIndex.pipeline} onChange={(update) => setMeta((m) => update(m))} />
            )}
            <ProblemsPanel issues={issues} onPick={pickIssue} />
          </aside>
        </div>
      </div>
    </EditorContext.Provider>
  );
}
