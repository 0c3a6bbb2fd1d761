"""The editor people can live in (issue 18), end to end in Debian's headless Chromium: saves that
keep the file (diff first, history, restore), undo/redo, copy/paste/duplicate, keyboard saves,
the leave guard, auto-layout and placement, decision tables on the graph, readable conditions,
the live rule counts over a run folder.

Screenshots go to test-artifacts/editor-saves/. Like test_editor_e2e.py, these tests need the
built editor (`cd ui && npm run build`) and fail, never skip, without it.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest
from test_editor_e2e import EXAMPLES, _built_editor, chromium_browser, drop_operator, editor_tab
from test_serve_support import ROOT, LiveServer

from factorline.batch import run_pipeline
from factorline.engine.compiler import compile_pipeline
from factorline.engine.document import load_text, parse_text

try:
    from playwright.sync_api import expect
except ImportError:  # _built_editor fails with the fix
    expect = None

pytestmark = pytest.mark.slow

ARTIFACTS = ROOT / "test-artifacts" / "editor-saves"
LONG_CONDITION = ("border.area_ratio > 0.2 and not slides.is_slideshow and (border.fill == \"black\" or "
                  "missing(border.fill) or border.top > 40 or border.bottom > 40 or clarity.score < 0.5)")


def commented(name: str) -> str:
    return f"""\
# Photos with bars or a soft picture go to review.
name: {name}
input: image                 # video | image

steps:
  # borders first: cheap
  border: {{op: black_border, params: {{threshold: 24}}}}   # px
  clarity:   {{op: clarity}}
decisions:
  moderation:
    policy: first            # first | collect | priority
    on_missing: review
    on_error: review
    rules:
    - id: bars
      when: border.area_ratio > 0.1
      outcome: review
      reason: "the photo carries bars"   # shown to reviewers
    # the catch-all
    - id: ok
      default: true
      outcome: accept
"""


@pytest.fixture(scope="module")
def pipelines_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("editor-saves")
    for example in EXAMPLES:
        shutil.copy(example, folder / example.name)
    for name in ("commented_a", "commented_b", "commented_c"):
        (folder / f"{name}.yaml").write_text(commented(name))
    return folder


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory, pipelines_dir, sample_set) -> Path:
    """One run folder: the pipeline commented_counts on the three bundled sample images."""
    root = tmp_path_factory.mktemp("editor-runs")
    images = sorted(str(p) for p in (sample_set / "images").iterdir())
    summary = run_pipeline(parse_text(commented("commented_counts")), images, root / "counts-run", workers=1, cache_dir=None)
    assert summary.succeeded == len(images) == 3, summary
    (pipelines_dir / "commented_counts.yaml").write_text(commented("commented_counts"))
    return root


@pytest.fixture(scope="module")
def server(pipelines_dir, sample_set, runs_root):
    _built_editor()
    with LiveServer([pipelines_dir], data_root=sample_set, pipelines_dir=pipelines_dir, runs_root=runs_root, workers=1) as live:
        yield live


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as chromium:
        yield chromium


@pytest.fixture
def page(browser, server, request):
    """A fresh tab on the editor; fails the test on any uncaught script error."""
    with editor_tab(browser, server.url, ARTIFACTS, request.node.name) as tab:
        yield tab


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def open_pipeline(page, name: str) -> None:
    page.get_by_test_id("open-pipeline").select_option(name)
    expect(page.get_by_test_id("dirty-state")).to_have_text("saved")
    expect(page.get_by_test_id("check-state")).to_have_text("✓ compiles")


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    a, b = before.splitlines(), after.splitlines()
    assert len(a) == len(b), after
    return [(x, y) for x, y in zip(a, b) if x != y]


# --------------------------------------------------------------------------- saves


def test_a_commented_file_survives_a_parameter_change_with_only_that_line_changed(page, pipelines_dir):
    path = pipelines_dir / "commented_a.yaml"
    before = path.read_text()
    open_pipeline(page, "commented_a")
    page.get_by_test_id("node-border").click()
    page.get_by_test_id("param-border-threshold").fill("30")
    expect(page.get_by_test_id("dirty-state")).to_have_text("unsaved changes")
    expect(page.get_by_test_id("check-state")).to_have_text("✓ compiles")

    page.get_by_test_id("save-button").click()  # a file the editor did not create: the diff first
    dialog = page.get_by_test_id("save-dialog")
    expect(dialog).to_be_visible()
    expect(page.get_by_test_id("save-diff")).to_contain_text("-  border: {op: black_border, params: {threshold: 24}}   # px")
    expect(page.get_by_test_id("save-diff")).to_contain_text("+  border: {op: black_border, params: {threshold: 30}}   # px")
    shot(page, "1-save-diff")
    assert path.read_text() == before  # nothing written while the dialog is open
    page.get_by_test_id("save-cancel").click()
    expect(dialog).to_have_count(0)
    assert path.read_text() == before

    page.get_by_test_id("save-button").click()
    page.get_by_test_id("save-confirm").click()
    expect(page.get_by_test_id("notice")).to_contain_text("Saved commented_a")
    expect(page.get_by_test_id("dirty-state")).to_have_text("saved")
    assert changed_lines(before, path.read_text()) == [
        ("  border: {op: black_border, params: {threshold: 24}}   # px", "  border: {op: black_border, params: {threshold: 30}}   # px"),
    ]

    # The history keeps the hand-written version; restoring it writes those very bytes back.
    page.get_by_test_id("tab-history").click()
    expect(page.get_by_test_id("history-000002")).to_contain_text("current")
    page.get_by_test_id("history-show-000001").click()
    expect(page.get_by_test_id("history-diff")).to_contain_text("+  border: {op: black_border, params: {threshold: 24}}   # px")
    shot(page, "2-history")
    page.get_by_test_id("history-restore-000001").click()
    expect(page.get_by_test_id("notice")).to_contain_text("Restored commented_a")
    assert path.read_text() == before
    page.get_by_test_id("node-border").click()
    expect(page.get_by_test_id("param-border-threshold")).to_have_value("24")
    expect(page.get_by_test_id("dirty-state")).to_have_text("saved")


def test_an_unchanged_save_with_ctrl_s_keeps_the_file_byte_for_byte(page, pipelines_dir):
    path = pipelines_dir / "commented_b.yaml"
    before = path.read_bytes()
    open_pipeline(page, "commented_b")
    page.get_by_test_id("canvas").click(position={"x": 600, "y": 30})
    page.keyboard.press("Control+s")
    expect(page.get_by_test_id("notice")).to_contain_text("Saved commented_b")
    expect(page.get_by_test_id("save-dialog")).to_have_count(0)  # nothing changes: nothing to confirm
    assert path.read_bytes() == before


def test_run_with_unsaved_changes_asks_before_it_writes(page, pipelines_dir):
    path = pipelines_dir / "commented_c.yaml"
    before = path.read_text()
    open_pipeline(page, "commented_c")
    page.get_by_test_id("rule-reason-0").fill("bars, top and bottom")
    page.get_by_test_id("tab-run").click()
    page.get_by_test_id("run-sample").select_option(index=1)
    page.get_by_test_id("run-sample-button").click()
    expect(page.get_by_test_id("save-dialog")).to_contain_text("Run uses the pipeline saved on the server")
    expect(page.get_by_test_id("save-diff")).to_contain_text('+      reason: "bars, top and bottom"')
    page.get_by_test_id("save-cancel").click()
    expect(page.get_by_test_id("run-error")).to_contain_text("was not saved, so it was not run")
    assert path.read_text() == before  # Run no longer rewrites the file behind the user's back

    page.get_by_test_id("run-sample-button").click()
    page.get_by_test_id("save-confirm").click()
    expect(page.get_by_test_id("run-result")).to_be_visible(timeout=60_000)
    assert 'reason: "bars, top and bottom"' in path.read_text() and "# the catch-all" in path.read_text()
    # Per-node status after the run: the step's time and values, the table's outcome.
    expect(page.get_by_test_id("node-status-border")).to_contain_text("ms")
    expect(page.get_by_test_id("node-status-border")).to_contain_text("area_ratio")
    expect(page.get_by_test_id("table-status-moderation")).to_contain_text("last run:")
    shot(page, "3-run-status")


def test_leaving_with_unsaved_changes_asks_first(browser, server):
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    tab = context.new_page()
    try:
        tab.goto(server.url + "/")
        open_pipeline(tab, "image_audit")
        tab.get_by_test_id("rule-reason-0").fill("changed, not saved")
        tab.get_by_test_id("canvas").click(position={"x": 700, "y": 20})  # a user gesture: the guard may ask
        dialogs = []

        def answer(dialog):
            dialogs.append(dialog.type)
            dialog.dismiss()  # stay on the page

        tab.on("dialog", answer)
        tab.close(run_before_unload=True)
        deadline = 50
        while not dialogs and deadline:
            context.pages and context.pages[0].wait_for_timeout(100)
            deadline -= 1
        assert dialogs == ["beforeunload"]
    finally:
        context.close()


# --------------------------------------------------------------------------- undo, clipboard


def test_undo_after_delete_restores_the_step_and_its_wires(page):
    open_pipeline(page, "video_audit")
    edges = page.locator(".react-flow__edge")
    wires_before = page.locator(".react-flow__edge:not(.reads-edge)").count()
    page.get_by_test_id("node-slides").click()
    page.keyboard.press("Delete")
    expect(page.get_by_test_id("node-slides")).to_have_count(0)
    expect(page.locator(".react-flow__edge:not(.reads-edge)")).to_have_count(wires_before - 1)
    expect(page.get_by_test_id("check-state")).to_contain_text("problem")  # rules read slides.is_slideshow
    shot(page, "4-deleted")

    page.keyboard.press("Control+z")
    expect(page.get_by_test_id("node-slides")).to_be_visible()
    expect(page.get_by_test_id("node-slides")).to_contain_text("← subs.text")
    expect(page.locator(".react-flow__edge:not(.reads-edge)")).to_have_count(wires_before)
    expect(page.get_by_test_id("dirty-state")).to_have_text("saved")  # the very document again
    expect(page.get_by_test_id("check-state")).to_have_text("✓ compiles")
    shot(page, "5-undone")

    page.keyboard.press("Control+Shift+z")  # redo ...
    expect(page.get_by_test_id("node-slides")).to_have_count(0)
    page.keyboard.press("Control+z")
    page.get_by_test_id("node-border").click()  # ... and an edit of a field, undone by the button
    page.get_by_test_id("param-border-threshold").fill("40")
    expect(page.get_by_test_id("dirty-state")).to_have_text("unsaved changes")
    page.get_by_test_id("undo-button").click()
    expect(page.get_by_test_id("param-border-threshold")).to_have_value("24")
    page.get_by_test_id("redo-button").click()
    expect(page.get_by_test_id("param-border-threshold")).to_have_value("40")
    page.get_by_test_id("canvas").click(position={"x": 700, "y": 20})
    page.keyboard.press("Control+y")  # nothing left to redo
    expect(page.get_by_test_id("notice")).to_contain_text("Nothing to redo")
    assert edges.count() > 0


def test_copy_paste_and_duplicate_keep_the_wiring(page):
    open_pipeline(page, "video_audit")
    page.get_by_test_id("node-policy").click()
    page.keyboard.press("Control+d")
    expect(page.get_by_test_id("node-policy_2")).to_be_visible()
    expect(page.get_by_test_id("node-policy_2")).to_contain_text("← subs.text")
    expect(page.get_by_test_id("node-params-policy_2")).to_contain_text("free money")
    page.get_by_test_id("node-slides").click()
    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")
    expect(page.get_by_test_id("node-slides_2")).to_contain_text("← subs.text")
    expect(page.get_by_test_id("check-state")).to_have_text("✓ compiles")
    assert_no_overlap(page)
    shot(page, "6-pasted")
    page.keyboard.press("Control+z")
    expect(page.get_by_test_id("node-slides_2")).to_have_count(0)
    expect(page.get_by_test_id("node-policy_2")).to_be_visible()


# --------------------------------------------------------------------------- layout


def boxes(page) -> dict[str, dict]:
    """Every node's box, read at once (in one frame) once the view has stopped moving (fitView animates)."""
    for _ in range(50):
        before = page.locator(".react-flow__viewport").get_attribute("style")
        page.wait_for_timeout(100)
        if page.locator(".react-flow__viewport").get_attribute("style") == before:
            break
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.react-flow__node')].map(n => {
        const r = n.getBoundingClientRect();
        return [n.dataset.id, {x: r.x, y: r.y, width: r.width, height: r.height}];
    }))""")


def assert_no_overlap(page) -> None:
    found = boxes(page)
    for (a, ba), (b, bb) in itertools.combinations(found.items(), 2):
        apart = (ba["x"] + ba["width"] <= bb["x"] or bb["x"] + bb["width"] <= ba["x"]
                 or ba["y"] + ba["height"] <= bb["y"] or bb["y"] + bb["height"] <= ba["y"])
        assert apart, f"{a} {ba} overlaps {b} {bb}"


def test_auto_layout_leaves_no_overlapping_nodes_and_the_layout_is_saved_in_the_file(page, pipelines_dir, server):
    plan = compile_pipeline(load_text(pipelines_dir / "video_audit.yaml"))
    open_pipeline(page, "video_audit")
    expect(page.get_by_test_id("table-node-moderation")).to_be_visible()  # decision tables are on the graph
    expect(page.get_by_test_id("table-node-tags")).to_be_visible()
    assert page.locator(".react-flow__edge.reads-edge").count() >= 8  # wired from the steps their rules read
    page.get_by_test_id("table-open-tags").click()  # a table node opens its rules
    expect(page.get_by_test_id("table-tab-tags")).to_have_class("tab active")
    expect(page.get_by_test_id("rule-id-0")).to_have_value("subtitled")
    # Drag two steps on top of each other, then lay the graph out.
    border, clarity = page.get_by_test_id("node-border"), page.get_by_test_id("node-clarity")
    a, b = border.bounding_box(), clarity.bounding_box()
    page.mouse.move(a["x"] + 60, a["y"] + 12)
    page.mouse.down()
    page.mouse.move(b["x"] + 70, b["y"] + 20, steps=8)
    page.mouse.up()
    expect(page.get_by_test_id("dirty-state")).to_have_text("unsaved changes")  # positions are the document's
    page.get_by_test_id("auto-layout").click()
    assert_no_overlap(page)
    shot(page, "7-auto-layout")
    assert len(boxes(page)) == len(plan.doc.steps) + 2

    page.keyboard.press("Control+s")
    page.get_by_test_id("save-confirm").click()
    expect(page.get_by_test_id("notice")).to_contain_text("Saved video_audit")
    saved = load_text(pipelines_dir / "video_audit.yaml")
    assert set(saved["layout"]["steps"]) == set(plan.doc.steps) and set(saved["layout"]["tables"]) == {"moderation", "tags"}
    listed = {p["name"]: p for p in server.client.get("/api/pipelines").json()}
    assert listed["video_audit"]["fingerprint"] == plan.fingerprint  # the engine ignores the layout

    page.reload()  # positions come back from the file
    open_pipeline(page, "video_audit")
    assert_no_overlap(page)


def test_dropped_operators_never_land_on_each_other(page):
    page.get_by_test_id("open-pipeline").select_option("\u0000new")
    for _ in range(3):
        drop_operator(page, "black_border", 200, 150)
    expect(page.get_by_test_id("node-black_border_3")).to_be_visible()
    assert_no_overlap(page)
    page.get_by_test_id("fold-palette").click()  # the canvas takes the screen
    page.get_by_test_id("fold-inspector").click()
    page.get_by_test_id("fold-lower").click()
    canvas = page.get_by_test_id("canvas").bounding_box()
    assert canvas["width"] > 1500 and canvas["height"] > 850
    shot(page, "8-dropped-folded")


# --------------------------------------------------------------------------- conditions


def test_a_long_condition_is_readable_whole(browser, server):
    context = browser.new_context(viewport={"width": 1440, "height": 900})  # the size the issue measured at
    tab = context.new_page()
    try:
        tab.goto(server.url + "/")
        open_pipeline(tab, "video_audit")
        when = tab.get_by_test_id("rule-when-1")
        expect(when).to_have_value("border.area_ratio > 0.2 and not slides.is_slideshow")
        when.fill(LONG_CONDITION)
        expect(tab.get_by_test_id("check-state")).to_have_text("✓ compiles")
        when.scroll_into_view_if_needed()
        # Nothing is cut: the box is as wide as the table and as tall as its (wrapped) text.
        fits = when.evaluate("el => [el.scrollWidth <= el.clientWidth, el.scrollHeight <= el.clientHeight + 2, el.clientWidth]")
        assert fits[0] and fits[1], fits
        assert fits[2] > 700, fits
        highlight = tab.locator("[data-testid='rule-condition-row-1'] .condition-highlight")
        assert highlight.inner_text().replace("\u200b", "") == LONG_CONDITION
        assert highlight.locator(".tok-ref").first.inner_text() == "border.area_ratio"
        tab.get_by_test_id("rule-condition-row-1").screenshot(path=str(ARTIFACTS / "9-long-condition.png"))
        shot(tab, "9-long-condition-page")
    finally:
        context.close()


def test_conditions_autocomplete_fields_and_values_and_the_help_comes_from_the_server(page, server):
    open_pipeline(page, "image_audit")
    page.get_by_test_id("add-rule").click()
    when = page.get_by_test_id("rule-when-2")
    when.click()
    when.press_sequentially("bord")
    expect(page.get_by_test_id("rule-when-2-suggestions")).to_contain_text("border.")
    when.press("Enter")
    expect(when).to_have_value("border.")
    expect(page.get_by_test_id("rule-when-2-suggestions")).to_contain_text("border.area_ratio")
    when.press_sequentially("fi")
    when.press("Enter")
    expect(when).to_have_value("border.fill")
    when.press_sequentially(' == "bl')
    suggestions = page.get_by_test_id("rule-when-2-suggestions")
    expect(suggestions).to_contain_text('"black"')  # the field's closed vocabulary
    expect(suggestions).to_contain_text('"blurred"')
    shot(page, "10-autocomplete")
    when.press("Enter")
    expect(when).to_have_value('border.fill == "black"')
    expect(page.get_by_test_id("check-state")).to_have_text("✓ compiles")
    when.fill('border.fill == "blak"')  # a value the field never takes
    expect(page.get_by_test_id("rule-issue-2-when")).to_contain_text("black")

    page.get_by_test_id("rule-help-toggle").click()
    help_box = page.get_by_test_id("rule-help")
    schema = server.client.get("/api/schema").json()
    for fn in schema["rules"]["functions"]:
        expect(page.get_by_test_id(f"rule-help-fn-{fn['name']}")).to_contain_text(fn["help"])
    expect(help_box).to_contain_text("count(list)")
    expect(help_box).to_contain_text("item.partial")
    shot(page, "11-rule-help")


def test_each_rule_shows_how_many_items_of_the_last_run_it_catches_while_it_is_edited(page, server):
    open_pipeline(page, "commented_counts")
    expect(page.get_by_test_id("counts-run")).to_have_value("counts-run")
    expect(page.get_by_test_id("counts-summary")).to_contain_text("3 items")
    stored = server.client.get("/api/runs/counts-run").json()["decision_tables"][0]["counts"]
    bars = page.get_by_test_id("rule-count-0")
    expect(bars).to_have_text(f"decides {stored.get('review', 0)} · matches {stored.get('review', 0)} of 3")
    expect(page.get_by_test_id("rule-count-1")).to_have_text(f"decides {stored.get('accept', 0)} of 3")
    before = bars.inner_text()

    when = page.get_by_test_id("rule-when-0")
    when.fill("border.area_ratio >= 0")  # every image has a border ratio: the rule catches all three
    expect(bars).to_have_text("decides 3 · matches 3 of 3")
    expect(page.get_by_test_id("rule-count-1")).to_have_text("decides 0 of 3")
    assert bars.inner_text() != before
    shot(page, "12-rule-counts")

    when.fill("border.area_ratio >= 0 and clarity.scor > 1")  # a typo: answered on that rule
    expect(bars).to_have_text("not counted")
    expect(page.get_by_test_id("rule-count-problem-0")).to_contain_text("scor")
    when.fill("border.area_ratio > 0.1")  # back as the run decided it
    expect(bars).to_have_text(before)
    expect(page.get_by_test_id("rule-count-problem-0")).to_have_count(0)


def test_rule_counts_wait_for_a_run_of_the_pipeline_being_edited(page):
    open_pipeline(page, "image_audit")  # the only run is of commented_counts
    expect(page.get_by_test_id("counts-run")).to_have_value("")
    expect(page.get_by_test_id("counts-summary")).to_contain_text("no run of image_audit")
    expect(page.get_by_test_id("rule-count-0")).to_have_count(0)
    page.get_by_test_id("counts-run").select_option("counts-run")  # another pipeline's run, by choice
    expect(page.get_by_test_id("counts-summary")).to_contain_text("3 items")
    expect(page.get_by_test_id("rule-count-0")).to_be_visible()
