"""The editor's live rule counts (POST /api/rule-counts, serve/rule_counts.py) over a real run
folder: a small batch on bundled sample videos, served by a real uvicorn with --runs."""

from __future__ import annotations

import copy

import pytest
from test_serve_support import LiveServer, error_of

from factorline.batch import run_pipeline
from factorline.engine.compiler import compile_pipeline

RUN = "counted"
VIDEOS = ("clean.mp4", "letterbox.mp4", "logo.mp4")
PIPELINE = {
    "name": "counts_t", "input": "video", "sampling": {"fps": 1.0, "max_frames": 6},
    "steps": {"border": {"op": "black_border"}, "logo": {"op": "logo"}},
    "decisions": {"moderation": {"policy": "first", "on_missing": "review", "on_error": "review", "rules": [
        {"id": "letterboxed", "when": "border.area_ratio > 0.2", "outcome": "review", "reason": "large borders"},
        {"id": "branded", "when": "logo.has_logo", "outcome": "review", "reason": "a logo"},
        {"id": "ok", "default": True, "outcome": "accept"},
    ]}},
}


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory, sample_set):
    root = tmp_path_factory.mktemp("runs")
    summary = run_pipeline(PIPELINE, [str(sample_set / "videos" / v) for v in VIDEOS], root / RUN, workers=2, cache_dir=None)
    assert summary.succeeded == len(VIDEOS), summary
    (root / "not-a-run").mkdir()
    return root


@pytest.fixture(scope="module")
def client(runs_root, tmp_path_factory):
    served = tmp_path_factory.mktemp("served")
    with LiveServer([served], runs_root=runs_root, isolation="thread", workers=1) as live:
        yield live.client


def edited(**rules_by_index) -> dict:
    doc = copy.deepcopy(PIPELINE)
    for index, when in rules_by_index.items():
        doc["decisions"]["moderation"]["rules"][int(index[1:])]["when"] = when
    return doc


def counts(client, doc: dict, run: str = RUN) -> dict:
    reply = client.post("/api/rule-counts", json={"document": doc, "run": run})
    assert reply.status_code == 200, reply.text
    return reply.json()


def per_rule(reply: dict, table: str = "moderation") -> dict:
    return {r["id"]: (r["decides"], r["matches"]) for r in reply["tables"][table]["rules"]}


def stored_decisions(runs_root) -> dict:
    import polars as pl

    rules = pl.read_parquet(runs_root / RUN / "results.parquet")["decisions"].struct.field("moderation").struct.field("rule")
    return dict(rules.value_counts().iter_rows())


def test_the_run_as_it_was_counts_as_its_stored_decisions(client, runs_root):
    reply = counts(client, PIPELINE)
    assert reply["run"] == {"name": RUN, "pipeline": "counts_t", "items": 3, "failed": 0}
    table = reply["tables"]["moderation"]
    assert table["decides_error"] is None and table["on_missing"] == 0 and table["on_error"] == 0
    decided = {r["id"]: r["decides"] for r in table["rules"] if r["decides"]}
    assert decided == stored_decisions(runs_root)  # what the run itself decided, rule by rule
    assert per_rule(reply) == {"letterboxed": (1, 1), "branded": (1, 1), "ok": (1, None)}
    assert all(r["error"] is None and r["note"] is None for r in table["rules"])


def test_an_edited_threshold_changes_the_counts_and_matches_ignore_order(client):
    everything = counts(client, edited(r0="border.area_ratio >= 0"))  # every item has a border ratio
    assert per_rule(everything) == {"letterboxed": (3, 3), "branded": (0, 1), "ok": (0, None)}
    nothing = counts(client, edited(r0="border.area_ratio > 0.99"))
    assert per_rule(nothing) == {"letterboxed": (0, 0), "branded": (1, 1), "ok": (2, None)}
    # the same as the vectorized evaluator decides over the run's values, through the compiler
    plan = compile_pipeline(edited(r0="border.area_ratio > 0.99"))
    assert plan.decisions.tables["moderation"].order[0].id == "letterboxed"


def test_a_rule_that_does_not_compile_is_answered_on_that_rule(client):
    reply = counts(client, edited(r1="logo.has_lgo"))
    table = reply["tables"]["moderation"]
    rules = {r["id"]: r for r in table["rules"]}
    assert "has_lgo" in rules["branded"]["error"] and rules["branded"]["matches"] is None
    assert rules["letterboxed"]["matches"] == 1 and rules["letterboxed"]["error"] is None  # the others still count
    assert rules["letterboxed"]["decides"] is None
    assert "rules[1] ('branded') cannot be counted" in table["decides_error"]
    syntax = counts(client, edited(r0="border.area_ratio >"))
    assert syntax["tables"]["moderation"]["rules"][0]["error"]
    empty = counts(client, edited(r0=""))
    assert empty["tables"]["moderation"]["rules"][0]["error"].startswith("no condition")


def test_a_step_the_run_did_not_compute_is_answered_on_the_rules_reading_it(client):
    doc = edited(r1="clarity.score < 0.5")
    doc["steps"]["clarity"] = {"op": "clarity"}
    rules = {r["id"]: r for r in counts(client, doc)["tables"]["moderation"]["rules"]}
    assert rules["branded"]["error"] == (f"run {RUN} has no step 'clarity' (its steps: border, logo); "
                                         "run the pipeline to count rules reading it")
    assert rules["letterboxed"]["matches"] == 1

    other_op = copy.deepcopy(PIPELINE)
    other_op["steps"]["logo"] = {"op": "clarity"}
    other_op["decisions"]["moderation"]["rules"][1]["when"] = "logo.score < 0.5"
    rules = {r["id"]: r for r in counts(client, other_op)["tables"]["moderation"]["rules"]}
    assert "step 'logo' is op 'clarity' here but was op 'logo'" in rules["branded"]["error"]

    params = copy.deepcopy(PIPELINE)
    params["steps"]["border"]["params"] = {"threshold": 40}
    rules = {r["id"]: r for r in counts(client, params)["tables"]["moderation"]["rules"]}
    assert rules["letterboxed"]["note"].startswith("step 'border' ran with other parameters or inputs")
    assert rules["letterboxed"]["matches"] == 1 and rules["letterboxed"]["error"] is None


def test_no_run_and_bad_requests_are_clear_errors(client):
    missing = client.post("/api/rule-counts", json={"document": PIPELINE, "run": "nope"})
    assert missing.status_code == 404 and error_of(missing)["path"] == "body.run"
    assert "nope" in error_of(missing)["message"]
    not_run = client.post("/api/rule-counts", json={"document": PIPELINE, "run": "not-a-run"})
    assert not_run.status_code == 404 and "not a finished run folder" in error_of(not_run)["message"]
    sneaky = client.post("/api/rule-counts", json={"document": PIPELINE, "run": "../etc"})
    assert sneaky.status_code == 404 and "invalid run name" in error_of(sneaky)["message"]
    shape = client.post("/api/rule-counts", json={"document": {**PIPELINE, "decisions": [1]}, "run": RUN})
    assert shape.status_code == 422 and error_of(shape)["path"] == "body.document.decisions"
    assert client.post("/api/rule-counts", json={"document": PIPELINE}).status_code == 422


def test_without_a_runs_root_the_endpoint_says_how_to_turn_it_on(tmp_path):
    with LiveServer([tmp_path], isolation="thread", workers=1) as live:
        reply = live.client.post("/api/rule-counts", json={"document": PIPELINE, "run": RUN})
    assert reply.status_code == 403
    err = error_of(reply)
    assert err["path"] == "body.run" and "--runs DIR" in err["message"]
