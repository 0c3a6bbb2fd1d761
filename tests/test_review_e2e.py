"""The run browser end to end: the built ui/ served by a real `factorline serve --runs`, over a run
made by a real batch on the bundled sample videos, driven in Debian's headless Chromium by
Playwright with the keyboard. Screenshots go to test-artifacts/review/.

Needs the editor's build (`cd ui && npm run build`); like the editor's tests these fail, never
skip, when it is missing or stale.
"""

from __future__ import annotations

import json

import pytest
from review_support import PIPELINE, RULES, candidate, make_run
from test_editor_e2e import _built_editor, chromium_browser
from test_serve_support import ROOT, LiveServer

from factorline.batch.fabricate import fabricate_run
from factorline.report import evaluate_run

try:
    from playwright.sync_api import expect
except ImportError:  # _built_editor fails with the fix
    expect = None

pytestmark = pytest.mark.slow

ARTIFACTS = ROOT / "test-artifacts" / "review"
RUN = "sample"
BIG = "big"  # fabricated: enough items for many pages of the grid
BIG_ITEMS = 1000
PAGE = 60  # ui/src/review/usePagedList.ts PAGE_SIZE


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory, sample_set):
    root = tmp_path_factory.mktemp("e2e-runs")
    # Rules that miss logos: the logo clip is accepted, which is what the reviewer corrects.
    make_run(sample_set, root / RUN, candidate([RULES[0], RULES[2]], name="misses_logos"))
    fabricate_run(PIPELINE, BIG_ITEMS, root / BIG, seed=7, part_records=250)
    return root


@pytest.fixture(scope="module")
def server(runs_root, sample_set):
    _built_editor()
    with LiveServer({}, runs_root=runs_root, media_roots=(sample_set,), isolation="thread", workers=1) as live:
        yield live


@pytest.fixture(scope="module")
def browser():
    with chromium_browser("--autoplay-policy=no-user-gesture-required") as chromium:
        yield chromium


@pytest.fixture
def page(browser, server, request):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1500, "height": 950})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and "Failed to load resource" not in msg.text else None)
    tab.goto(server.url + "/#/runs")
    yield tab
    tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}-final.png"))
    context.close()
    assert not errors, f"script errors in the run browser: {errors}"


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def _thumbnails_loaded(page) -> None:
    page.wait_for_function("() => [...document.querySelectorAll('.rv-thumb img')].every(i => i.complete && i.naturalWidth > 0)")


def test_filter_open_play_to_the_evidence_review_by_keyboard_and_evaluate(page, server, runs_root):
    page.get_by_test_id(f"rv-run-link-{RUN}").click()
    expect(page.get_by_test_id("rv-total")).to_have_text("5 of 5 loaded")
    _thumbnails_loaded(page)
    shot(page, "1-grid")

    page.get_by_test_id("rv-filter").fill("logo.has_logo is true and moderation is accept")
    page.get_by_test_id("rv-filter").press("Enter")
    expect(page.get_by_test_id("rv-total")).to_have_text("1 of 1 loaded")
    card = page.locator(".rv-card")
    expect(card).to_have_count(1)
    expect(card.first).to_contain_text("logo.mp4")
    assert "filter=logo.has_logo" in page.url  # the filter is in the URL: a saved filter is a link
    saved = page.url
    page.get_by_test_id("rv-save-filter").click()  # ... and kept in the browser's list
    page.goto(server.url + "/#/runs")
    page.goto(saved)
    expect(page.get_by_test_id("rv-total")).to_have_text("1 of 1 loaded")
    page.get_by_test_id("rv-filter").fill("")
    page.get_by_test_id("rv-filter").press("Enter")
    expect(page.get_by_test_id("rv-total")).to_have_text("5 of 5 loaded")
    page.get_by_test_id("rv-saved-filters").select_option(label="logo.has_logo is true and moderation is accept")
    expect(page.get_by_test_id("rv-total")).to_have_text("1 of 1 loaded")
    _thumbnails_loaded(page)
    shot(page, "2-filtered")

    page.keyboard.press("Enter")  # opens the selected card
    expect(page.get_by_test_id("rv-item-name")).to_have_text("logo.mp4")
    expect(page.get_by_test_id("rv-outcome-moderation")).to_have_text("accept")
    expect(page.get_by_test_id("rv-explanation-moderation")).to_contain_text("no rule matched (letterboxed)")
    expect(page.locator("#rule-moderation-ok")).to_have_class("rv-fired")
    expect(page.get_by_test_id("rv-factor-logo.has_logo")).to_have_text("true")

    # Play to the evidence: the logo's mark at 2 s seeks the video there and its box is drawn over it.
    page.get_by_test_id("rv-evidence-logo-2").click()
    page.wait_for_function("() => document.querySelector('video').currentTime >= 2")
    expect(page.get_by_test_id("rv-box-logo")).to_be_visible()
    page.keyboard.press(" ")  # pause, for a steady screenshot
    shot(page, "3-item-at-evidence")

    page.get_by_test_id("rv-reviewer").fill("e2e-reviewer")
    page.locator("body").click(position={"x": 5, "y": 300})  # leave the text field: keys go to the page
    page.keyboard.press("a")  # accept: the run was right ...
    expect(page.get_by_test_id("rv-review-notice")).to_have_text("confirmed moderation: accept")
    page.keyboard.press("o")  # ... no, a branded clip goes to review: override it
    expect(page.get_by_test_id("rv-override-outcomes")).to_be_visible()
    page.keyboard.press("1")  # the first outcome of the table: review
    expect(page.get_by_test_id("rv-review-notice")).to_have_text("overrode moderation: review")
    expect(page.get_by_test_id("rv-verdict-moderation")).to_have_text("override → review")
    expect(page.get_by_test_id("rv-reviews").locator("li")).to_have_count(2)
    shot(page, "4-reviewed")

    lines = [json.loads(x) for x in (runs_root / RUN / "reviews.jsonl").read_text().splitlines()]
    assert [(x["verdict"], x["table"], x["value"], x["reviewer"]) for x in lines] == [
        ("confirm", "moderation", "accept", "e2e-reviewer"), ("override", "moderation", "review", "e2e-reviewer")]
    assert lines[-1]["path"].endswith("logo.mp4") and lines[-1]["rule"] == "ok" and lines[-1]["was"] == "accept"

    # The loop: the run scored against the verdict (the latest one: review, where the run said accept).
    summary = evaluate_run(runs_root / RUN, runs_root / RUN / "reviews.jsonl", sweeps=[])
    assert summary.matched == 1 and summary.accuracy == {"moderation": 0.0}

    page.keyboard.press("Escape")  # back to the grid, the card now marked as reviewed
    expect(page.locator(".rv-card").first).to_contain_text("accept ✎")


def test_j_and_k_walk_the_filtered_list(page):
    page.goto(page.url.split("#")[0] + f"#/runs/{RUN}?filter=border.area_ratio%20%3C%200.2&sort=-path")
    expect(page.get_by_test_id("rv-total")).to_have_text("4 of 4 loaded")  # all but the letterboxed clip, z to a
    page.keyboard.press("j")
    expect(page.locator("[data-selected=true]")).to_contain_text("logo.mp4")
    page.keyboard.press("k")
    expect(page.locator("[data-selected=true]")).to_contain_text("subtitles_en.mp4")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("rv-item-name")).to_have_text("subtitles_en.mp4")
    expect(page.get_by_test_id("rv-timeline")).to_contain_text("subs.lines")
    page.keyboard.press("j")
    expect(page.get_by_test_id("rv-item-name")).to_have_text("logo.mp4")
    page.keyboard.press("j")
    expect(page.get_by_test_id("rv-item-name")).to_have_text("clean.mp4")
    page.keyboard.press("j")
    expect(page.get_by_test_id("rv-item-name")).to_have_text("bikes.mp4")
    expect(page.get_by_test_id("rv-timeline")).to_contain_text("cuts.cuts_s")
    page.keyboard.press("j")  # the end of the list: stays
    expect(page.get_by_test_id("rv-item-name")).to_have_text("bikes.mp4")
    page.keyboard.press("k")
    expect(page.get_by_test_id("rv-item-name")).to_have_text("clean.mp4")
    shot(page, "6-walked")
    page.goto(page.url.split("#")[0] + f"#/runs/{RUN}/items/1")  # letterbox.mp4: its bars drawn over the picture
    expect(page.get_by_test_id("rv-item-name")).to_have_text("letterbox.mp4")
    expect(page.get_by_test_id("rv-bar-border-top")).to_be_visible()
    expect(page.get_by_test_id("rv-bar-border-bottom")).to_be_visible()
    expect(page.get_by_test_id("rv-bar-border-left")).to_have_count(0)
    shot(page, "7-bars")


def test_bad_filter_and_sample_queue(page):
    page.goto(page.url.split("#")[0] + f"#/runs/{RUN}")
    page.get_by_test_id("rv-filter").fill("logo.has_lgo is true")
    page.get_by_test_id("rv-filter").press("Enter")
    expect(page.get_by_test_id("rv-grid-error")).to_contain_text("no column named 'logo.has_lgo'")
    page.get_by_test_id("rv-queue").select_option("sample")
    expect(page.get_by_test_id("rv-queue-info")).to_contain_text("random sample of 4 of 4 items decided accept")  # the most frequent
    expect(page.locator(".rv-card")).to_have_count(4)
    page.get_by_test_id("rv-queue-outcome").select_option("moderation:review")
    expect(page.get_by_test_id("rv-queue-info")).to_contain_text("random sample of 1 of 1 items decided review: precision within ±0.05")
    expect(page.locator(".rv-card")).to_have_count(1)
    shot(page, "5-sample-queue")


def test_the_editor_and_the_run_browser_share_the_page(page):
    page.get_by_test_id("rv-run-browser").get_by_text("pipeline editor").click()
    expect(page.get_by_test_id("palette")).to_be_visible()
    page.evaluate("() => { window.location.hash = '#/runs'; }")
    expect(page.get_by_test_id(f"rv-run-link-{RUN}")).to_be_visible()
    expect(page.get_by_test_id("palette")).to_be_hidden()  # kept mounted, hidden: unsaved edits survive the visit
    page.go_back()
    expect(page.get_by_test_id("palette")).to_be_visible()


def _item_offsets(requests: list[str]) -> list[int]:
    """The offsets of the grid's page requests, in order."""
    from urllib.parse import parse_qs, urlparse

    return [int(parse_qs(urlparse(url).query).get("offset", ["0"])[0]) for url in requests]


def test_the_grid_scrolls_loading_only_the_pages_reached(page):
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if f"/api/runs/{BIG}/items?" in r.url else None)
    total = page.get_by_test_id("rv-total")
    grid = page.get_by_test_id("rv-grid")
    page.goto(page.url.split("#")[0] + f"#/runs/{BIG}")
    expect(total).to_have_text(f"{PAGE} of {BIG_ITEMS} loaded")
    expect(page.locator(".rv-card")).to_have_count(PAGE)

    # Scrolled to its end, the grid fetches the next page and appends it: the cards above stay.
    for pages in (2, 3):
        grid.evaluate("g => { g.scrollTop = g.scrollHeight; }")
        expect(total).to_have_text(f"{pages * PAGE} of {BIG_ITEMS} loaded")
        expect(page.locator(".rv-card")).to_have_count(pages * PAGE)
    expect(page.get_by_test_id("rv-loading")).to_have_count(0)
    page.wait_for_timeout(500)  # nothing more is fetched while the grid stands still
    assert _item_offsets(requests) == [0, PAGE, 2 * PAGE], requests  # the pages reached, once each: never the run
    expect(page.get_by_test_id("rv-card-0")).to_have_count(1)
    shot(page, "8-scrolled")

    # j walks the loaded cards, and on past the last one into the next page.
    for _ in range(3 * PAGE - 1):
        page.keyboard.press("j")
    expect(page.locator("[data-selected=true]")).to_have_attribute("data-testid", f"rv-card-{3 * PAGE - 1}")
    page.keyboard.press("j")
    selected = page.locator("[data-selected=true]")
    expect(selected).to_have_attribute("data-testid", f"rv-card-{3 * PAGE}")
    expect(selected).to_be_in_viewport()
    expect(page.get_by_test_id("rv-loading")).to_have_count(0)
    loaded = page.locator(".rv-card").count()
    assert loaded % PAGE == 0 and 4 * PAGE <= loaded < BIG_ITEMS
    assert _item_offsets(requests) == list(range(0, loaded, PAGE)), requests

    # The item view's j past the last loaded item loads the next page too, k walks back over it.
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("rv-item-view")).to_contain_text(f"{3 * PAGE + 1} of {BIG_ITEMS} in this list")
    page.evaluate(f"() => {{ window.location.hash = '#/runs/{BIG}/items/{loaded - 1}'; }}")
    expect(page.get_by_test_id("rv-item-view")).to_contain_text(f"{loaded} of {BIG_ITEMS} in this list")
    page.keyboard.press("j")
    expect(page.get_by_test_id("rv-item-view")).to_contain_text(f"{loaded + 1} of {BIG_ITEMS} in this list")
    assert page.url.endswith(f"/items/{loaded}")
    assert _item_offsets(requests) == list(range(0, loaded + PAGE, PAGE)), requests
    page.keyboard.press("k")
    expect(page.get_by_test_id("rv-item-view")).to_contain_text(f"{loaded} of {BIG_ITEMS} in this list")
    page.keyboard.press("Escape")  # back to the grid: the item last shown is selected, in view
    selected = page.locator("[data-selected=true]")
    expect(selected).to_have_attribute("data-testid", f"rv-card-{loaded - 1}")
    expect(selected).to_be_in_viewport()
    assert len(requests) == loaded // PAGE + 1  # the list was kept, not fetched again

    # A saved link with an offset opens the list there; the items above load on demand.
    requests.clear()
    page.goto(page.url.split("#")[0] + f"#/runs/{BIG}?offset=500")
    expect(total).to_have_text(f"501–560 of {BIG_ITEMS} loaded")
    page.get_by_test_id("rv-load-earlier").click()
    expect(total).to_have_text(f"441–560 of {BIG_ITEMS} loaded")
    expect(page.get_by_test_id("rv-card-500")).to_be_in_viewport()  # the view stays where it was
    assert _item_offsets(requests)[:2] == [500, 440], requests
    page.goto(page.url.split("#")[0] + f"#/runs/{BIG}?offset=900")  # k at the top of it loads the page above
    expect(total).to_have_text(f"901–960 of {BIG_ITEMS} loaded")
    expect(page.locator("[data-selected=true]")).to_have_attribute("data-testid", "rv-card-900")
    page.keyboard.press("k")
    expect(total).to_have_text(f"841–960 of {BIG_ITEMS} loaded")
    expect(page.locator("[data-selected=true]")).to_have_attribute("data-testid", "rv-card-899")
    expect(page.locator("[data-selected=true]")).to_be_in_viewport()


def open_big_run_and_scroll(page, handler):
    """Open the 1,000-item run with its item requests going through ``handler``, wait for the
    first page, scroll to the bottom (which asks for the second); the "N of TOTAL" locator."""
    page.route(f"**/api/runs/{BIG}/items?**", handler)
    page.goto(page.url.split("#")[0] + f"#/runs/{BIG}")
    total = page.get_by_test_id("rv-total")
    expect(total).to_have_text(f"{PAGE} of {BIG_ITEMS} loaded")
    page.get_by_test_id("rv-grid").evaluate("g => { g.scrollTop = g.scrollHeight; }")
    return total


def test_a_failed_page_keeps_the_loaded_items_and_retries(page):
    fail = {"on": True}

    def maybe_fail(route):
        if fail["on"] and "offset=60" in route.request.url:
            route.fulfill(status=500, content_type="application/json",
                          body=json.dumps({"error": {"type": "Injected", "message": "page lost"}}))
        else:
            route.continue_()

    total = open_big_run_and_scroll(page, maybe_fail)
    expect(page.get_by_test_id("rv-grid-error")).to_contain_text("page lost")
    expect(page.locator(".rv-card")).to_have_count(PAGE)  # the loaded items stay
    fail["on"] = False
    page.get_by_test_id("rv-retry").click()
    expect(total).to_have_text(f"{2 * PAGE} of {BIG_ITEMS} loaded")
    expect(page.get_by_test_id("rv-grid-error")).to_have_count(0)


def test_a_late_page_of_the_previous_list_is_never_appended(page):
    held = []  # the second page of the unfiltered list, answered only after the filter changed

    def hold(route):
        if "offset=60" in route.request.url and "filter=" not in route.request.url:
            held.append(route)
        else:
            route.continue_()

    total = open_big_run_and_scroll(page, hold)
    page.wait_for_function("() => document.querySelector('[data-testid=rv-loading]') !== null")
    # The page shows "loading" as soon as it asks; the route handler runs when Playwright next
    # dispatches events on this thread (the wait below), possibly after the check above.
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1
    page.get_by_test_id("rv-filter").fill("moderation is accept")
    page.get_by_test_id("rv-filter").press("Enter")
    expect(total).to_have_text(f"{PAGE} of 144 loaded")
    with page.expect_response(lambda r: "offset=60" in r.url and "filter=" not in r.url):
        held[0].continue_()
    expect(page.get_by_test_id("rv-loading")).to_have_count(0)
    page.wait_for_timeout(300)
    expect(total).to_have_text(f"{PAGE} of 144 loaded")
    cards = page.locator(".rv-card")
    expect(cards).to_have_count(PAGE)
    assert all(text.count("accept") for text in cards.all_text_contents())
