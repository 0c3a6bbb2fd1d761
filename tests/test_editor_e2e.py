"""The pipeline editor end to end: the built ui/ served by a real `factorline serve`, driven in
Debian's headless Chromium by Playwright with real mouse drags.

Screenshots go to test-artifacts/editor/ (one per step of each scenario, and the final state of
every test, failed or not). The editor must be built (`make setup`, or `cd ui && npm ci && npm
run build`): without a current build these tests fail and say so; they never skip.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from test_serve_support import ROOT, LiveServer

from factorline.engine.compiler import compile_pipeline
from factorline.engine.document import load_text
from factorline.serve.static import editor_dist

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # fail in the fixtures (with the fix), never skip, never break collection
    expect = sync_playwright = None

pytestmark = pytest.mark.slow

ARTIFACTS = ROOT / "test-artifacts" / "editor"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
UI_SOURCES = ["ui/src", "ui/index.html", "ui/package.json", "ui/vite.config.ts"]


def _built_editor() -> Path:
    if sync_playwright is None:
        pytest.fail("the Python package playwright is missing (it is in the dev extras): run `make setup`")
    dist = editor_dist()
    index = dist / "index.html"
    if not index.is_file():
        pytest.fail(f"the editor is not built ({index} is missing): run `make setup` (or `cd ui && npm ci && npm run build`)")
    built = index.stat().st_mtime
    sources = [p for s in UI_SOURCES for p in ([ROOT / s] if (ROOT / s).is_file() else (ROOT / s).rglob("*")) if p.is_file()]
    stale = [p for p in sources if p.stat().st_mtime > built]
    if stale and dist == ROOT / "ui" / "dist":
        pytest.fail(f"ui/dist is older than {stale[0].relative_to(ROOT)}: rebuild with `cd ui && npm run build` (or `make setup`)")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium")
    return dist


@pytest.fixture(scope="module")
def pipelines_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("editor-pipelines")
    for example in EXAMPLES:
        shutil.copy(example, folder / example.name)
    return folder


@pytest.fixture(scope="module")
def server(pipelines_dir, sample_set):
    _built_editor()
    with LiveServer([pipelines_dir], data_root=sample_set, pipelines_dir=pipelines_dir, workers=2) as live:
        yield live


@contextmanager
def chromium_browser(*extra_args: str) -> Iterator:
    """Debian's Chromium driven by Playwright (never a downloaded browser), after checking the
    editor's build is current; ``extra_args`` are added to :data:`CHROMIUM_ARGS`."""
    _built_editor()
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as chromium:
        yield chromium


@contextmanager
def editor_tab(browser, url: str, artifacts: Path, name: str) -> Iterator:
    """A fresh tab on the editor at ``url``; its final screenshot goes to ``artifacts``; any
    uncaught script error fails the test."""
    artifacts.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    # Refused requests (a 422 on an invalid save) are logged by the browser; they are expected.
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and "Failed to load resource" not in msg.text else None)
    tab.goto(url + "/")
    expect(tab.get_by_test_id("palette")).to_be_visible()
    yield tab
    tab.screenshot(path=str(artifacts / f"{name}-final.png"))
    context.close()
    assert not errors, f"script errors in the editor: {errors}"


@pytest.fixture
def page(browser, server, request):
    with editor_tab(browser, server.url, ARTIFACTS, request.node.name) as tab:
        yield tab


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def drop_operator(page, name: str, x: int, y: int) -> None:
    """Drag an operator from the palette onto the canvas at (x, y) of the canvas."""
    page.get_by_test_id(f"palette-item-{name}").drag_to(page.get_by_test_id("canvas"), target_position={"x": x, "y": y})


def drag(page, source, target, *, release: bool = True) -> None:
    """A real mouse drag from the centre of ``source`` to the centre of ``target`` handle.

    Before letting go it waits until React Flow has taken the target as the handle under the
    wire (its ``connectingto`` class): let go before that, as a loaded machine can, and the
    wire is dropped on nothing, so the step is saved without it."""
    a, b = source.bounding_box(), target.bounding_box()
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=8)
    expect(target).to_have_class(re.compile(r"\bconnectingto\b"))
    if release:
        page.mouse.up()


def test_build_wire_rule_save_and_run_on_a_sample_video(page, server, pipelines_dir):
    expect(page.get_by_test_id("canvas-empty")).to_be_visible()  # an empty canvas to start from
    drop_operator(page, "subtitles", 140, 110)
    drop_operator(page, "text_policy", 520, 60)
    drop_operator(page, "slideshow", 520, 300)
    for step in ("subtitles", "text_policy", "slideshow"):
        expect(page.get_by_test_id(f"node-{step}")).to_be_visible()

    # Wire the subtitles' text into both text inputs (output handle -> input handle).
    # Each wire is waited for before the next drag starts and before anything is saved.
    drag(page, page.get_by_test_id("handle-out-subtitles-text"), page.get_by_test_id("handle-in-text_policy-text"))
    expect(page.get_by_test_id("node-text_policy")).to_contain_text("← subtitles.text")
    expect(page.locator(".react-flow__edge")).to_have_count(1)
    drag(page, page.get_by_test_id("handle-out-subtitles-text"), page.get_by_test_id("handle-in-slideshow-text"))
    expect(page.get_by_test_id("node-slideshow")).to_contain_text("← subtitles.text")
    expect(page.locator(".react-flow__edge")).to_have_count(2)

    # A parameter, set in the node's form (generated from its schema, with its help text).
    page.get_by_test_id("node-text_policy").click()
    form = page.get_by_test_id("param-form-text_policy")
    expect(form).to_contain_text("at most 1000 items")
    page.get_by_test_id("param-text_policy-terms").fill("rabbit")
    expect(page.get_by_test_id("node-params-text_policy")).to_contain_text('terms=["rabbit"]')
    shot(page, "1-wired")

    # Two rules, before the default row of the new pipeline's moderation table.
    page.get_by_test_id("add-rule").click()
    page.get_by_test_id("add-rule").click()
    page.get_by_test_id("rule-id-0").fill("banned_words")
    page.get_by_test_id("rule-when-0").fill("text_policy.matched")
    page.get_by_test_id("rule-outcome-0").fill("reject")
    page.get_by_test_id("rule-reason-0").fill("the subtitles say a banned word")
    page.get_by_test_id("rule-id-1").fill("slides")
    page.get_by_test_id("rule-when-1").fill("slideshow.is_slideshow")
    page.get_by_test_id("rule-outcome-1").fill("review")
    page.get_by_test_id("rule-reason-1").fill("a slideshow, not a video")
    page.get_by_test_id("pipeline-name").fill("e2e_editor")
    expect(page.get_by_test_id("check-state")).to_have_text("✓ compiles")
    for step in ("text_policy", "slideshow"):  # both wires still there when Save is clicked
        expect(page.get_by_test_id(f"node-{step}")).to_contain_text("← subtitles.text")

    page.get_by_test_id("save-button").click()
    expect(page.get_by_test_id("dirty-state")).to_have_text("saved")
    expect(page.get_by_test_id("notice")).to_contain_text("Saved e2e_editor")
    shot(page, "2-saved")
    saved = load_text(pipelines_dir / "e2e_editor.yaml")
    assert saved["steps"] == {
        "subtitles": {"op": "subtitles"},
        "text_policy": {"op": "text_policy", "params": {"terms": ["rabbit"]}, "inputs": {"text": "subtitles.text"}},
        "slideshow": {"op": "slideshow", "inputs": {"text": "subtitles.text"}},
    }
    rules = saved["decisions"]["moderation"]["rules"]
    assert [(r["id"], r.get("when"), r["outcome"]) for r in rules] == [
        ("banned_words", "text_policy.matched", "reject"),
        ("slides", "slideshow.is_slideshow", "review"),
        ("ok", None, "accept"),
    ]
    assert server.client.get("/api/pipelines/e2e_editor").json()["steps"] == saved["steps"]

    # Run on a bundled sample video with burned-in English subtitles ("A big rabbit ...").
    page.get_by_test_id("tab-run").click()
    page.get_by_test_id("run-sample").select_option("videos/subtitles_en.mp4")
    page.get_by_test_id("run-sample-button").click()
    expect(page.get_by_test_id("decision-outcome-moderation")).to_have_text("reject", timeout=60_000)
    expect(page.get_by_test_id("decision-rule-moderation")).to_have_text("banned_words")
    expect(page.get_by_test_id("decision-reason-moderation")).to_have_text("the subtitles say a banned word")
    expect(page.get_by_test_id("decision-explanation-moderation")).to_contain_text("text_policy.matched true")
    expect(page.get_by_test_id("factor-value-subtitles-has_subtitles")).to_have_text("true")
    # Thumbnails at the subtitles' evidence timestamps: one per line (lines start at 1 s, 2 s and
    # 4 s; each line's evidence is its best-read frame inside it), the second one inside 2-4 s.
    thumbs = page.get_by_test_id("factor-subtitles").locator("figure img")
    expect(thumbs).to_have_count(3)
    second = page.get_by_test_id("factor-subtitles").locator("figure").nth(1)
    assert second.get_attribute("data-testid") in ("thumb-subtitles-2", "thumb-subtitles-3")
    assert second.locator("img").get_attribute("src").startswith("data:image/jpeg;base64,")
    page.get_by_test_id("factor-subtitles").scroll_into_view_if_needed()
    shot(page, "3-run")


def test_a_refused_edge_says_why(page):
    drop_operator(page, "black_border", 140, 110)
    drop_operator(page, "text_policy", 540, 110)
    source = page.get_by_test_id("handle-out-black_border-area_ratio")
    target = page.get_by_test_id("handle-in-text_policy-text")
    reason = "kind mismatch: black_border.area_ratio is factor, input 'text' wants text"

    drag(page, source, target, release=False)  # while the wire hovers the input ...
    expect(page.get_by_test_id("connection-hint")).to_contain_text(reason)
    shot(page, "refused-while-dragging")
    page.mouse.up()  # ... and once it is let go
    expect(page.get_by_test_id("edge-refusal")).to_contain_text(reason)
    expect(page.locator(".react-flow__edge")).to_have_count(0)
    expect(page.get_by_test_id("node-text_policy")).to_contain_text("needs a wire")
    shot(page, "refused-edge")


def test_compile_errors_show_on_the_node_field_and_rule_cell(page, pipelines_dir):
    before = (pipelines_dir / "image_audit.yaml").read_text()
    page.get_by_test_id("open-pipeline").select_option("image_audit")
    expect(page.get_by_test_id("node-border")).to_be_visible()
    expect(page.get_by_test_id("check-state")).to_have_text("✓ compiles")

    page.get_by_test_id("node-border").click()
    page.get_by_test_id("param-border-threshold").fill("300")  # the schema says 0 ≤ value ≤ 255
    field_issue = page.get_by_test_id("param-issue-border-threshold")
    expect(field_issue).to_contain_text("less than or equal to 255")
    expect(page.get_by_test_id("node-issues-border")).to_contain_text("threshold: Input should be less than or equal to 255")
    expect(page.get_by_test_id("node-issue-count-border")).to_have_text("1")

    page.get_by_test_id("rule-when-0").fill("border.nope > 0.1")
    expect(page.get_by_test_id("rule-issue-0-when")).to_contain_text("unknown field 'border.nope'")
    expect(page.get_by_test_id("check-state")).to_have_text("2 problems")
    shot(page, "compile-errors")

    page.get_by_test_id("save-button").click()  # refused by the server: nothing written
    expect(page.get_by_test_id("notice")).to_contain_text("not saved")
    assert (pipelines_dir / "image_audit.yaml").read_text() == before

    page.get_by_test_id("param-border-threshold-reset").click()  # fixing them clears the marks
    page.get_by_test_id("rule-when-0").fill("border.area_ratio > 0.1")
    expect(page.get_by_test_id("check-state")).to_have_text("✓ compiles")
    expect(page.get_by_test_id("node-issues-border")).to_have_count(0)


def test_rules_reorder_hit_policy_and_step_rename(page):
    page.get_by_test_id("open-pipeline").select_option("image_audit")
    expect(page.get_by_test_id("rule-id-0")).to_have_value("bars")
    page.get_by_test_id("rule-down-0").click()  # arrows ...
    expect(page.get_by_test_id("rule-id-0")).to_have_value("soft")
    page.get_by_test_id("rule-row-1").locator(".grip").drag_to(page.get_by_test_id("rule-row-0"))  # ... or the grip
    expect(page.get_by_test_id("rule-id-0")).to_have_value("bars")

    page.get_by_test_id("hit-policy").select_option("priority")  # needs a priority on every rule
    expect(page.get_by_test_id("rule-issue-0-priority")).to_contain_text("needs a priority")
    page.get_by_test_id("rule-priority-0").fill("10")
    page.get_by_test_id("rule-priority-1").fill("5")
    expect(page.get_by_test_id("check-state")).to_have_text("✓ compiles")

    page.get_by_test_id("node-border").click()  # renaming a step rewrites the rules reading it
    page.get_by_test_id("step-name").fill("bars_seen")
    page.get_by_test_id("step-name").press("Enter")
    expect(page.get_by_test_id("node-bars_seen")).to_be_visible()
    expect(page.get_by_test_id("rule-when-0")).to_have_value("bars_seen.area_ratio > 0.1")
    expect(page.get_by_test_id("check-state")).to_have_text("✓ compiles")
    shot(page, "rules-priority-rename")


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_every_example_survives_open_then_save(page, server, pipelines_dir, example):
    plan = compile_pipeline(load_text(example))
    page.get_by_test_id("open-pipeline").select_option(plan.name)
    for step in plan.doc.steps:
        expect(page.get_by_test_id(f"node-{step}")).to_be_visible()
    # Opened straight from the server and nothing touched: the graph gives back the very same
    # document (key order included), or the editor would already report unsaved changes.
    expect(page.get_by_test_id("dirty-state")).to_have_text("saved")
    expect(page.get_by_test_id("check-state")).to_have_text("✓ compiles")
    shot(page, f"roundtrip-{plan.name}")

    page.get_by_test_id("save-button").click()
    expect(page.get_by_test_id("notice")).to_contain_text(f"Saved {plan.name}")
    assert (pipelines_dir / example.name).read_bytes() == example.read_bytes()  # saved unchanged: the very same file
    listed = {p["name"]: p for p in server.client.get("/api/pipelines").json()}
    assert listed[plan.name]["fingerprint"] == plan.fingerprint


def test_a_server_with_a_token_asks_for_it(browser, tmp_path):
    token = "editor-e2e-token-0123456789"
    token_file = tmp_path / "token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    with LiveServer([ROOT / "examples" / "image_audit.yaml"], token_file=token_file) as live:
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        tab = context.new_page()
        try:
            tab.goto(live.url + "/")  # the page itself is open; the API is not
            expect(tab.get_by_test_id("loading")).to_contain_text("needs an API token")
            tab.get_by_test_id("token-input").fill(token)
            tab.get_by_test_id("token-input").press("Enter")
            expect(tab.get_by_test_id("palette")).to_be_visible()
            tab.get_by_test_id("open-pipeline").select_option("image_audit")
            expect(tab.get_by_test_id("check-state")).to_have_text("✓ compiles")  # validate sent the token too
            assert tab.evaluate("sessionStorage.getItem('factorline.token')") == token
            shot(tab, "token")
        finally:
            context.close()
