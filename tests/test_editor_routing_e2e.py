"""Wires drawn around the nodes they do not connect ("wires run behind nodes"), end to end in
Debian's headless Chromium: a pipeline whose `layout:` puts a step right between two wired steps
(and in the way of a table's read edges) is opened, and every edge path, sampled along its
length, must stay out of every node it does not connect; routed wires can still be selected and
deleted, and they are routed again when a node is dropped somewhere else.

Screenshots go to test-artifacts/editor-routing/. Like test_editor_e2e.py, these tests need the
built editor (`cd ui && npm run build`) and fail, never skip, without it.
"""

from __future__ import annotations

import re

import pytest
from test_editor_e2e import _built_editor, chromium_browser, editor_tab
from test_editor_saves_e2e import boxes, open_pipeline
from test_serve_support import ROOT, LiveServer

from factorline.engine.compiler import compile_pipeline
from factorline.engine.document import parse_text

try:
    from playwright.sync_api import expect
except ImportError:  # _built_editor fails with the fix
    expect = None

pytestmark = pytest.mark.slow

ARTIFACTS = ROOT / "test-artifacts" / "editor-routing"

# `border` sits right on the straight line from subs.text to policy.text (and on the read edges
# from subs to the table); `slides` hangs below.
DETOUR = """\
name: routing_detour
input: video
steps:
  subs: {op: subtitles}
  border: {op: black_border}
  policy:
    op: text_policy
    inputs: {text: subs.text}
    params: {terms: [free money]}
  slides:
    op: slideshow
    inputs: {text: subs.text}
decisions:
  moderation:
    policy: first
    on_missing: review
    on_error: review
    rules:
      - {id: banned, when: policy.matched, outcome: reject}
      - {id: subtitled, when: subs.has_subtitles and border.area_ratio > 0.2, outcome: review}
      - {id: ok, default: true, outcome: accept}
layout:
  steps:
    subs: {x: 40, y: 220}
    border: {x: 390, y: 200}
    policy: {x: 740, y: 220}
    slides: {x: 740, y: 560}
  tables:
    moderation: {x: 1120, y: 140}
"""

# Every edge's path sampled every few screen pixels, in screen coordinates (getScreenCTM takes
# the viewport's pan and zoom into account), with its class and the ids of its two nodes.
SAMPLE_EDGES = """() => [...document.querySelectorAll('.react-flow__edge')].map(g => {
    const path = g.querySelector('.react-flow__edge-path');
    const m = path.getScreenCTM();
    const length = path.getTotalLength();
    const points = [];
    for (let at = 0; at <= length; at += 3) {
        const p = path.getPointAtLength(Math.min(at, length));
        points.push([m.a * p.x + m.c * p.y + m.e, m.b * p.x + m.d * p.y + m.f]);
    }
    const end = path.getPointAtLength(length);
    points.push([m.a * end.x + m.c * end.y + m.e, m.b * end.x + m.d * end.y + m.f]);
    return {id: g.dataset.id ?? g.getAttribute('data-testid'), cls: g.getAttribute('class'), d: path.getAttribute('d'), points};
})"""


@pytest.fixture(scope="module")
def pipelines_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("editor-routing")
    (folder / "routing_detour.yaml").write_text(DETOUR)
    compile_pipeline(parse_text(DETOUR))  # a pipeline that compiles: the editor opens it clean
    return folder


@pytest.fixture(scope="module")
def server(pipelines_dir, sample_set):
    _built_editor()
    with LiveServer([pipelines_dir], data_root=sample_set, pipelines_dir=pipelines_dir, workers=1) as live:
        yield live


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as chromium:
        yield chromium


@pytest.fixture
def page(browser, server, request):
    with editor_tab(browser, server.url, ARTIFACTS, request.node.name) as tab:
        yield tab


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def inside(point, box, margin: float = 1.0) -> bool:
    """Whether ``point`` is inside ``box`` by more than ``margin`` px (touching a border is not crossing)."""
    x, y = point
    return box["x"] + margin < x < box["x"] + box["width"] - margin and box["y"] + margin < y < box["y"] + box["height"] - margin


def near(point, box, by: float = 10.0) -> bool:
    x, y = point
    return box["x"] - by <= x <= box["x"] + box["width"] + by and box["y"] - by <= y <= box["y"] + box["height"] + by


def crossings(page) -> list[str]:
    """Each (edge, node) pair where the edge's path runs through a node it does not connect.

    An edge's own nodes are the ones its two ends touch (its handles sit on their borders)."""
    nodes = boxes(page)  # waits for the view to stop moving
    found = []
    edges = page.evaluate(SAMPLE_EDGES)
    assert edges, "no edges drawn"
    for edge in edges:
        ends = {node for node, box in nodes.items() if near(edge["points"][0], box) or near(edge["points"][-1], box)}
        for node, box in nodes.items():
            hits = [p for p in edge["points"] if inside(p, box)]
            if node not in ends and hits:
                found.append(f"{edge['id']} crosses {node} at {hits[0]} (path {edge['d']})")
    return found


def point_on(page, edge_testid: str, fraction: float) -> tuple[float, float]:
    """A point (screen px) at ``fraction`` of the length of an edge's path: where a click hits the wire."""
    return tuple(page.evaluate(
        """([id, fraction]) => {
            const path = document.querySelector(`[data-testid="${id}"] .react-flow__edge-path`);
            const p = path.getPointAtLength(path.getTotalLength() * fraction);
            const m = path.getScreenCTM();
            return [m.a * p.x + m.c * p.y + m.e, m.b * p.x + m.d * p.y + m.f];
        }""",
        [edge_testid, fraction],
    ))


def centre(locator) -> tuple[float, float]:
    b = locator.bounding_box()
    return b["x"] + b["width"] / 2, b["y"] + b["height"] / 2


def node_id(page, step: str) -> str:
    return page.get_by_test_id(f"node-{step}").locator("xpath=ancestor::div[contains(@class, 'react-flow__node')][1]").get_attribute("data-id")


def test_wires_go_around_a_node_in_their_way_and_stay_selectable_and_deletable(page):
    open_pipeline(page, "routing_detour")
    expect(page.get_by_test_id("table-node-moderation")).to_be_visible()
    nodes = boxes(page)
    # The layout really is in the way: `border` stands between the two handles and covers both
    # their heights, so the plain smoothstep wire (out, down or up at the middle, in) runs through it.
    out_x, out_y = centre(page.get_by_test_id("handle-out-subs-text"))
    in_x, in_y = centre(page.get_by_test_id("handle-in-policy-text"))
    border = nodes[node_id(page, "border")]
    assert out_x < border["x"] < (out_x + in_x) / 2 < border["x"] + border["width"] < in_x
    assert border["y"] + 10 < min(out_y, in_y) and max(out_y, in_y) < border["y"] + border["height"] - 10
    shot(page, "1-routed")
    assert crossings(page) == []

    # The routed wire starts and ends on its handles (the routed path is in screen space).
    wire = f"rf__edge-{node_id(page, 'subs')}/out:text->{node_id(page, 'policy')}/in:text"
    start, end = point_on(page, wire, 0), point_on(page, wire, 1)
    assert abs(start[0] - out_x) < 8 and abs(start[1] - out_y) < 8, (start, (out_x, out_y))
    assert abs(end[0] - in_x) < 8 and abs(end[1] - in_y) < 8, (end, (in_x, in_y))
    edge = page.get_by_test_id(wire)
    expect(edge).to_have_class(re.compile(r"\bkind-text\b"))  # the kind colour stays

    # Select the routed wire by clicking on it, away from any node, then delete it.
    page.mouse.click(*point_on(page, wire, 0.5))
    expect(edge).to_have_class(re.compile(r"\bselected\b"))
    page.keyboard.press("Delete")
    expect(edge).to_have_count(0)
    expect(page.get_by_test_id("dirty-state")).to_have_text("unsaved changes")
    page.keyboard.press("Control+z")  # undo brings it back, routed again
    expect(page.get_by_test_id(wire)).to_have_count(1)
    assert crossings(page) == []


def test_a_dropped_node_reroutes_the_wires(page):
    open_pipeline(page, "routing_detour")
    wire = f"rf__edge-{node_id(page, 'subs')}/out:text->{node_id(page, 'policy')}/in:text"
    boxes(page)
    detour = page.get_by_test_id(wire).locator(".react-flow__edge-path").get_attribute("d")
    # Drag `border` far below everything: the wire may now run straight.
    head = page.get_by_test_id("node-border").bounding_box()
    canvas = page.get_by_test_id("canvas").bounding_box()
    page.mouse.move(head["x"] + 60, head["y"] + 12)
    page.mouse.down()
    page.mouse.move(head["x"] + 60, canvas["y"] + canvas["height"] - 40, steps=10)
    assert page.get_by_test_id(wire).count() == 1  # drawn all through the drag
    page.mouse.up()
    expect(page.get_by_test_id("dirty-state")).to_have_text("unsaved changes")
    assert crossings(page) == []
    straight = page.get_by_test_id(wire).locator(".react-flow__edge-path").get_attribute("d")
    assert straight != detour
    # Drop `slides` onto the wire's way instead: routed around it once it is dropped.
    subs, policy = page.get_by_test_id("node-subs").bounding_box(), page.get_by_test_id("node-policy").bounding_box()
    slides = page.get_by_test_id("node-slides").bounding_box()
    page.mouse.move(slides["x"] + 60, slides["y"] + 12)
    page.mouse.down()
    mid_x = (subs["x"] + subs["width"] + policy["x"]) / 2
    page.mouse.move(mid_x - slides["width"] / 2 + 60, subs["y"] - 20 + 12, steps=10)
    page.mouse.up()
    shot(page, "2-rerouted-after-drop")
    assert crossings(page) == []
