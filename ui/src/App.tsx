// The editor: palette | canvas | inspector, with decision tables, run and history below; the side
// and bottom panels fold away so that the canvas can take the screen. The state and its edits
// live in useGraph (undoable), saving in useSaving; what is validated, saved and run is always
// graphToDocument(graph), so there is one source of truth.

import { useReactFlow } from "@xyflow/react";
import { useCallback, useEffect, useMemo, useState } from "react";
import { ApiError, api, getToken, setToken } from "./api";
import { makeCatalog, resolveOperator, type Catalog } from "./catalog";
import { Canvas, type Notice } from "./components/Canvas";
import { HistoryPanel } from "./components/HistoryPanel";
import { LowerPanel, type LowerTab } from "./components/LowerPanel";
import { Palette } from "./components/Palette";
import { PipelineSettings } from "./components/PipelineSettings";
import { ProblemsPanel } from "./components/ProblemsPanel";
import { RulesEditor, type FactorRef } from "./components/RulesEditor";
import { RunPanel } from "./components/RunPanel";
import { SaveDialog } from "./components/SaveDialog";
import { StepInspector } from "./components/StepInspector";
import { Toolbar } from "./components/Toolbar";
import { EditorContext, type EditorContextValue } from "./context";
import { blankDocument, documentText, graphToDocument, handleName } from "./document";
import { indexIssues, issueTarget } from "./issues";
import { parseJson, toJson } from "./json";
import { readEdges, tableReads } from "./tables";
import type { Issue, OperatorSchema, PipelineDocument, PipelineSummary, RunRecord, SampleFile } from "./types";
import { useGraph } from "./useGraph";
import { useSaving } from "./useSaving";
import { useLeaveGuard, useShortcuts } from "./useShortcuts";
import { useValidation } from "./useValidation";

function describe(exc: unknown): string {
  if (exc instanceof ApiError) {
    return exc.needsToken ? "this server needs an API token: enter it in the Token field (top right)" : `${exc.type}: ${exc.message}`;
  }
  return String(exc);
}

type Folds = { palette: boolean; inspector: boolean; lower: boolean };
const FOLDS_KEY = "factorline.editor.folds";

/** Which panels are folded: kept in the browser, so the canvas keeps the room it was given. */
function loadFolds(): Folds {
  const none = { palette: false, inspector: false, lower: false };
  try {
    return { ...none, ...JSON.parse(localStorage.getItem(FOLDS_KEY) ?? "{}") };
  } catch {
    return none;
  }
}

function saveFolds(folds: Folds): void {
  try {
    localStorage.setItem(FOLDS_KEY, JSON.stringify(folds));
  } catch {
    // storage disabled: folds last until reload
  }
}

export function App() {
  const [catalog, setCatalog] = useState<Catalog | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [pipelines, setPipelines] = useState<PipelineSummary[]>([]);
  const [samples, setSamples] = useState<SampleFile[]>([]);
  const [token, setTokenState] = useState(getToken());

  const graph = useGraph(catalog, blankDocument());
  const { meta, nodes, edges, tableNodes, undo } = graph;
  const [savedText, setSavedText] = useState<string | null>(null); // what the server holds (null: never saved)
  const [origin, setOrigin] = useState<string | null>(null); // the server pipeline this document is
  const [savedMark, setSavedMark] = useState(0);
  const [lastRun, setLastRun] = useState<RunRecord | null>(null);

  const [notice, setNotice] = useState<Notice | null>(null);
  const [bottomTab, setBottomTab] = useState<LowerTab>("rules");
  const [activeTable, setActiveTable] = useState<string | null>(null);
  const [folded, setFolded] = useState(loadFolds);
  useEffect(() => saveFolds(folded), [folded]);
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
      const [ops, schema, listed, media] = await Promise.all([api.operators(), api.schema(), api.pipelines(), api.samples()]);
      setCatalog(makeCatalog(ops, schema));
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

  // ------------------------------------------------------------------ the document
  const doc = useMemo(() => graphToDocument({ meta, nodes, edges }), [meta, nodes, edges]);
  const docText = useMemo(() => documentText(doc), [doc]);
  const dirty = docText !== savedText;
  const { issues, setIssues, check } = useValidation(docText, catalog !== null, describe);
  const issueIndex = useMemo(() => indexIssues(issues), [issues]);
  useLeaveGuard(dirty && (nodes.length > 0 || savedText !== null));

  const openDocument = useCallback(
    (next: PipelineDocument, fromServer: boolean) => {
      if (!catalog) return;
      graph.open(next);
      // Straight from the server: "saved" exactly when the graph gives back the same document.
      setSavedText(fromServer ? documentText(next) : null);
      setOrigin(fromServer ? next.name : null);
      setIssues([]);
      setActiveTable(null);
      setNotice(null);
      setLastRun(null);
      window.setTimeout(() => void fitView({ padding: 0.1, maxZoom: 1 }), 50);
    },
    [catalog, graph.open, fitView], // eslint-disable-line react-hooks/exhaustive-deps
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

  const saving = useSaving({
    catalog,
    doc,
    dirty,
    origin,
    pipelines,
    describe,
    setIssues,
    notify: setNotice,
    onSaved: (name) => {
      setSavedText(docText);
      setOrigin(name);
      setSavedMark((n) => n + 1);
      void api.pipelines().then(setPipelines, () => undefined);
    },
  });

  const runItem = async (pipeline: string, source: { path: string } | { file: File }): Promise<RunRecord> => {
    const record = await ("path" in source ? api.runPath(pipeline, source.path) : api.runUpload(pipeline, source.file));
    setLastRun(record);
    return record;
  };

  // ------------------------------------------------------------------ keyboard
  const say = (text: string) => setNotice({ tone: "info", text });
  useShortcuts({
    save: () => void saving.save(),
    undo: () => graph.undo.undo() || (say("Nothing to undo"), true),
    redo: () => graph.undo.redo() || (say("Nothing to redo"), true),
    copy: () => {
      const n = graph.copy();
      if (n) say(`Copied ${n} step${n > 1 ? "s" : ""}`);
      return n > 0;
    },
    paste: () => graph.paste() > 0,
    duplicate: () => graph.duplicate() > 0,
  });

  // ------------------------------------------------------------------ selection
  const selectStep = (step: string) => {
    graph.setNodes((list) => list.map((n) => ({ ...n, selected: n.data.name === step })));
    const node = nodes.find((n) => n.data.name === step);
    if (node) void fitView({ nodes: [{ id: node.id }], padding: 0.6, maxZoom: 1, duration: 200 });
  };

  const openTable = useCallback((table: string) => {
    setBottomTab("rules");
    setActiveTable(table);
    setFolded((f) => ({ ...f, lower: false }));
  }, []);

  const pickIssue = (issue: Issue) => {
    const target = issueTarget(issue.path);
    if (target.area === "step") selectStep(target.step);
    else if (target.area === "rule" || target.area === "table") openTable(target.table);
    else graph.setNodes((list) => list.map((n) => ({ ...n, selected: false })));
  };

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

  const reads = useMemo(() => tableReads(meta.decisions, new Set(nodes.map((n) => n.data.name))), [meta.decisions, nodes]);
  const shownEdges = useMemo(() => [...edges, ...readEdges(reads, nodes)], [edges, reads, nodes]);
  const shownNodes = useMemo(() => [...nodes, ...tableNodes], [nodes, tableNodes]);

  const factorRefs: FactorRef[] = useMemo(() => {
    if (!catalog) return [];
    return nodes.flatMap((n) => {
      const op = resolveOperator(catalog, n.data.op);
      return Object.entries(op?.output.fields ?? {})
        .filter(([field]) => field !== "evidence")
        .map(([field, f]) => ({ ref: `${n.data.name}.${field}`, dtype: f.dtype, description: f.description, values: f.values }));
    });
  }, [catalog, nodes]);

  const context: EditorContextValue | null = useMemo(
    () =>
      catalog
        ? { catalog, issues: issueIndex, itemKind: doc.input ?? "video", wires, decisions: meta.decisions ?? {}, run: lastRun?.pipeline.name === doc.name ? lastRun : null, openTable }
        : null,
    [catalog, issueIndex, doc.input, doc.name, wires, meta.decisions, lastRun, openTable],
  );

  if (!catalog || !context) return <Loading error={loadError} onToken={changeToken} />;

  const selected = nodes.find((n) => n.selected);
  const selectedOp = selected ? resolveOperator(catalog, selected.data.op) : undefined;
  const rulesIssueCount = Object.values(issueIndex.tables).reduce((sum, t) => sum + t.all.length, 0);
  const fold = (panel: keyof typeof folded) => setFolded((f) => ({ ...f, [panel]: !f[panel] }));

  return (
    <EditorContext.Provider value={context}>
      <div className="app">
        <Toolbar
          pipelines={pipelines}
          name={doc.name}
          onName={(name) => graph.editMeta((m) => ({ ...m, name }), "name")}
          onOpen={openByName}
          onNew={() => openDocument(blankDocument(), false)}
          onImport={importFile}
          onSave={() => void saving.save()}
          onDownload={download}
          saving={saving.saving}
          dirty={dirty}
          check={check}
          token={token}
          onToken={changeToken}
        />
        <div className={`workspace${folded.palette ? " palette-folded" : ""}${folded.inspector ? " inspector-folded" : ""}`}>
          {folded.palette ? (
            <button type="button" className="fold-strip" onClick={() => fold("palette")} title="Show the operators" data-testid="unfold-palette">
              ▸ Operators
            </button>
          ) : (
            <div className="side-panel">
              <button type="button" className="fold-button" onClick={() => fold("palette")} title="Hide the operators" data-testid="fold-palette">
                ◂ hide
              </button>
              <Palette catalog={catalog} itemKind={doc.input ?? "video"} onAdd={(op: OperatorSchema) => graph.addStep(op)} />
            </div>
          )}
          <main className="main-column">
            <Canvas
              nodes={shownNodes}
              edges={shownEdges}
              onNodesChange={graph.onNodesChange}
              onEdgesChange={graph.onEdgesChange}
              refusal={graph.refusal}
              onWire={(c) => {
                const reason = graph.refusal(c);
                if (reason) return setNotice({ tone: "refused", text: reason });
                graph.wire(c);
                setNotice(null);
              }}
              onRefused={(reason) => setNotice({ tone: "refused", text: reason })}
              onDropOperator={(id, position) => {
                const op = catalog.byId.get(id);
                if (op) graph.addStep(op, position);
                setNotice(null);
              }}
              onNodeDragStart={graph.onNodeDragStart}
              onNodeDragStop={graph.onNodeDragStop}
              notice={notice}
              onDismissNotice={() => setNotice(null)}
              tools={
                <>
                  <button type="button" onClick={() => graph.undo.undo()} disabled={!undo.canUndo} title="Undo (Ctrl+Z)" data-testid="undo-button">
                    ↶ Undo
                  </button>
                  <button type="button" onClick={() => graph.undo.redo()} disabled={!undo.canRedo} title="Redo (Shift+Ctrl+Z, Ctrl+Y)" data-testid="redo-button">
                    ↷ Redo
                  </button>
                  <button
                    type="button"
                    onClick={() => {
                      graph.layoutAll();
                      window.setTimeout(() => void fitView({ padding: 0.1, maxZoom: 1, duration: 200 }), 30);
                    }}
                    title="Lay the steps out left to right along their wires"
                    data-testid="auto-layout"
                  >
                    Auto-layout
                  </button>
                </>
              }
            />
            <LowerPanel
              tab={bottomTab}
              folded={folded.lower}
              onTab={(name) => {
                setBottomTab(name);
                setFolded((f) => ({ ...f, lower: false }));
              }}
              onFold={() => fold("lower")}
              rulesIssues={rulesIssueCount}
              rules={
                <RulesEditor
                  decisions={meta.decisions}
                  onChange={(decisions, key) => graph.editMeta((m) => ({ ...m, decisions }), key)}
                  issues={issueIndex.tables}
                  active={activeTable}
                  onActivate={setActiveTable}
                  factors={factorRefs}
                  doc={doc}
                />
              }
              run={<RunPanel itemKind={doc.input ?? "video"} samples={samples} canRun={nodes.length > 0} prepare={saving.prepareRun} run={runItem} />}
              history={
                <HistoryPanel
                  pipeline={origin}
                  dirty={dirty}
                  savedMark={savedMark}
                  onRestored={(reply) => {
                    openDocument(reply.document, true);
                    setBottomTab("history");
                    setNotice({ tone: "info", text: `Restored ${reply.name}${reply.file ? ` (${reply.file})` : ""}` });
                  }}
                />
              }
            />
          </main>
          {folded.inspector ? (
            <button type="button" className="fold-strip" onClick={() => fold("inspector")} title="Show the inspector" data-testid="unfold-inspector">
              ◂ Inspector
            </button>
          ) : (
            <aside className="inspector">
              <button type="button" className="fold-button" onClick={() => fold("inspector")} title="Hide the inspector" data-testid="fold-inspector">
                hide ▸
              </button>
              {selected ? (
                <StepInspector
                  node={selected}
                  op={selectedOp}
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
              <ProblemsPanel issues={issues} onPick={pickIssue} />
            </aside>
          )}
        </div>
        {saving.pending && (
          <SaveDialog
            preview={saving.pending.preview}
            reason={saving.pending.reason}
            confirmLabel={saving.pending.confirmLabel}
            onConfirm={() => saving.pending?.answer(true)}
            onCancel={() => saving.pending?.answer(false)}
          />
        )}
      </div>
    </EditorContext.Provider>
  );
}

/** Before the catalogue is in: loading, or why not (with a token field when the API needs one). */
function Loading({ error, onToken }: { error: string | null; onToken: (token: string) => void }) {
  return (
    <div className="loading" data-testid="loading">
      {error ? (
        <>
          <p className="error-box">Cannot load the operator catalogue: {error}</p>
          <form
            className="token-field"
            onSubmit={(e) => {
              e.preventDefault();
              onToken(String(new FormData(e.currentTarget).get("token") ?? "").trim());
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
