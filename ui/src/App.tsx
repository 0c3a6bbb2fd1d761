// The editor: palette | canvas | inspector, with decision tables, run and history below; the side
// and bottom panels fold away so that the canvas can take the screen. The state and its edits
// live in useGraph (undoable), saving in useSaving, what the server lists in useServerData, the
// panels and the notice in usePanels, the views drawn from the graph in useGraphViews; what is
// validated, saved and run is always graphToDocument(graph), so there is one source of truth.

import { useReactFlow } from "@xyflow/react";
import { useCallback, useMemo, useState } from "react";
import { api } from "./api";
import { Canvas } from "./components/Canvas";
import { CanvasTools } from "./components/CanvasTools";
import { HistoryPanel } from "./components/HistoryPanel";
import { Inspector } from "./components/Inspector";
import { Loading } from "./components/Loading";
import { LowerPanel } from "./components/LowerPanel";
import { Palette } from "./components/Palette";
import { RulesEditor } from "./components/RulesEditor";
import { RunPanel } from "./components/RunPanel";
import { SaveDialog } from "./components/SaveDialog";
import { Toolbar } from "./components/Toolbar";
import { EditorContext, type EditorContextValue } from "./context";
import { blankDocument, documentText, graphToDocument } from "./document";
import { indexIssues, issueTarget } from "./issues";
import { parseJson, toJson } from "./json";
import type { Issue, OperatorSchema, PipelineDocument, RunRecord } from "./types";
import { useGraph } from "./useGraph";
import { useGraphViews } from "./useGraphViews";
import { useNotice, usePanels } from "./usePanels";
import { useSaving } from "./useSaving";
import { describe, useServerData } from "./useServerData";
import { useLeaveGuard, useShortcuts } from "./useShortcuts";
import { useValidation } from "./useValidation";

export function App() {
  const { catalog, loadError, pipelines, samples, token, changeToken, refreshPipelines } = useServerData();
  const graph = useGraph(catalog, blankDocument());
  const { meta, nodes, edges, tableNodes, undo } = graph;
  const [savedText, setSavedText] = useState<string | null>(null); // what the server holds (null: never saved)
  const [origin, setOrigin] = useState<string | null>(null); // the server pipeline this document is
  const [savedMark, setSavedMark] = useState(0);
  const [lastRun, setLastRun] = useState<RunRecord | null>(null);

  const { notice, setNotice, say } = useNotice();
  const { folded, fold, bottomTab, showTab, activeTable, setActiveTable, openTable } = usePanels();
  const { fitView } = useReactFlow();

  // ------------------------------------------------------------------ the document
  const doc = useMemo(() => graphToDocument({ meta, nodes, edges }), [meta, nodes, edges]);
  const docText = useMemo(() => documentText(doc), [doc]);
  const dirty = docText !== savedText;
  const { issues, setIssues, check } = useValidation(docText, catalog !== null, describe);
  const issueIndex = useMemo(() => indexIssues(issues), [issues]);
  useLeaveGuard(dirty && (nodes.length > 0 || savedText !== null));
  const { wires, shownEdges, shownNodes, factorRefs } = useGraphViews(catalog, meta, nodes, edges, tableNodes);

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
      refreshPipelines();
    },
  });

  const runItem = async (pipeline: string, source: { path: string } | { file: File }): Promise<RunRecord> => {
    const record = await ("path" in source ? api.runPath(pipeline, source.path) : api.runUpload(pipeline, source.file));
    setLastRun(record);
    return record;
  };

  // ------------------------------------------------------------------ keyboard
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

  const pickIssue = (issue: Issue) => {
    const target = issueTarget(issue.path);
    if (target.area === "step") selectStep(target.step);
    else if (target.area === "rule" || target.area === "table") openTable(target.table);
    else graph.setNodes((list) => list.map((n) => ({ ...n, selected: false })));
  };

  const context: EditorContextValue | null = useMemo(
    () =>
      catalog
        ? { catalog, issues: issueIndex, itemKind: doc.input ?? "video", wires, decisions: meta.decisions ?? {}, run: lastRun?.pipeline.name === doc.name ? lastRun : null, openTable }
        : null,
    [catalog, issueIndex, doc.input, doc.name, wires, meta.decisions, lastRun, openTable],
  );

  if (!catalog || !context) return <Loading error={loadError} onToken={changeToken} />;

  const rulesIssueCount = Object.values(issueIndex.tables).reduce((sum, t) => sum + t.all.length, 0);

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
                <CanvasTools
                  canUndo={undo.canUndo}
                  canRedo={undo.canRedo}
                  onUndo={() => graph.undo.undo()}
                  onRedo={() => graph.undo.redo()}
                  onLayout={() => {
                    graph.layoutAll();
                    window.setTimeout(() => void fitView({ padding: 0.1, maxZoom: 1, duration: 200 }), 30);
                  }}
                />
              }
            />
            <LowerPanel
              tab={bottomTab}
              folded={folded.lower}
              onTab={showTab}
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
                    showTab("history");
                    setNotice({ tone: "info", text: `Restored ${reply.name}${reply.file ? ` (${reply.file})` : ""}` });
                  }}
                />
              }
            />
          </main>
          <Inspector
            folded={folded.inspector}
            onFold={() => fold("inspector")}
            catalog={catalog}
            graph={graph}
            doc={doc}
            wires={wires}
            issues={issues}
            issueIndex={issueIndex}
            onPick={pickIssue}
          />
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
