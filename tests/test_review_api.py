"""The run browser's HTTP API over a real run folder (a small batch on the bundled sample videos),
served by a real uvicorn: runs, the filtered/sorted/paged grid, one item, media, verdicts into
reviews.jsonl, queues, OpenAPI."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest
from review_support import PIPELINE, RULES, candidate, index_of, make_run
from test_serve_support import LiveServer, error_of

from factorline.batch.decide import decide_run
from factorline.engine.compiler import compile_pipeline
from factorline.review.queues import sample_size

RUN = "sample"


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory, sample_set):
    root = tmp_path_factory.mktemp("runs")
    make_run(sample_set, root / RUN)
    return root


@pytest.fixture(scope="module")
def server(runs_root, sample_set, tmp_path_factory):
    pipelines = tmp_path_factory.mktemp("served")
    (pipelines / "candidate.json").write_text(json.dumps(candidate([RULES[0], RULES[2]])))
    other = {**PIPELINE, "name": "other", "steps": {**PIPELINE["steps"], "border": {"op": "black_border", "params": {"threshold": 40}}}}
    (pipelines / "other.json").write_text(json.dumps(other))
    with LiveServer([pipelines], runs_root=runs_root, media_roots=(sample_set,), isolation="thread", workers=1) as live:
        yield live


@pytest.fixture
def client(server):
    return server.client


def test_runs_are_listed_and_described(client):
    runs = client.get("/api/runs").json()
    assert [r["name"] for r in runs] == [RUN]
    assert runs[0]["items"] == 5 and runs[0]["pipeline"] == "review_t" and runs[0]["tables"] == ["moderation"]
    run = client.get(f"/api/runs/{RUN}").json()
    columns = {c["name"]: c for c in run["columns"]}
    assert columns["logo.has_logo"] == {"name": "logo.has_logo", "type": "bool", "group": "factor"}
    assert columns["moderation"]["group"] == "decision" and columns["moderation.rule"]["type"] == "str"
    table = run["decision_tables"][0]
    assert table["counts"] == {"accept": 3, "review": 2} and table["outcomes"] == ["review", "accept"]
    assert [r["id"] for r in table["rules"]] == ["letterboxed", "branded", "ok"]
    assert run["confidence_fields"] == ["logo.confidence", "subs.confidence"]


def test_filter_sort_and_page(client):
    page = client.get(f"/api/runs/{RUN}/items", params={"filter": "logo.has_logo is true and moderation is review"}).json()
    assert page["total"] == 1 and [i["name"] for i in page["items"]] == ["logo.mp4"]
    item = page["items"][0]
    assert item["id"].startswith("sha256:") and item["decisions"]["moderation"] == {"outcome": "review", "rule": "branded"}
    assert item["values"]["logo.has_logo"] is True and item["thumb_url"] == f"media/runs/{RUN}/items/{item['index']}/thumb"
    ranked = client.get(f"/api/runs/{RUN}/items", params={"sort": "-border.area_ratio,path", "limit": 2}).json()
    assert ranked["total"] == 5 and ranked["items"][0]["name"] == "letterbox.mp4" and len(ranked["items"]) == 2
    everything = [i["index"] for i in client.get(f"/api/runs/{RUN}/items", params={"sort": "path"}).json()["items"]]
    pages = [i["index"] for off in (0, 2, 4) for i in
             client.get(f"/api/runs/{RUN}/items", params={"sort": "path", "offset": off, "limit": 2}).json()["items"]]
    assert pages == everything and len(set(everything)) == 5
    accepted = client.get(f"/api/runs/{RUN}/items", params={"filter": "moderation != review and border.area_ratio <= 0.2"}).json()
    assert accepted["total"] == 3
    words = client.get(f"/api/runs/{RUN}/items", params={"filter": 'subs.text ~ "RABBIT"'}).json()
    assert [i["name"] for i in words["items"]] == ["subtitles_en.mp4"]
    assert client.get(f"/api/runs/{RUN}/items", params={"filter": "error is null"}).json()["total"] == 5


@pytest.mark.parametrize(("params", "where", "message"), [
    ({"filter": "logo.has_lgo is true"}, "query.filter", r"no column named 'logo.has_lgo'"),
    ({"filter": "logo.has_logo is maybe"}, "query.filter", r"logo.has_logo is bool, expected true or false, found 'maybe'"),
    ({"filter": "border.area_ratio > x"}, "query.filter", r"expected a number, found 'x'"),
    ({"filter": "moderation > accept"}, "query.filter", r"> needs a number column, moderation is str"),
    ({"filter": "moderation = accept or moderation = review"}, "query.filter", r"'or' is not supported"),
    ({"filter": "moderation accept"}, "query.filter", r"expected NAME OP VALUE"),
    ({"filter": 'path") OR 1=1 -- = x'}, "query.filter", r"cannot read '\"\) OR 1=1 -- = x' at character 4"),
    ({"filter": '"path = 1 OR 1=1" = x'}, "query.filter", r"expected NAME OP VALUE"),
    ({"filter": 'path;DROP = x'}, "query.filter", r"no column named 'path;DROP'"),
    ({"sort": "-nope"}, "query.sort", r"sort: no column named 'nope'"),
    ({"limit": 0}, "query.limit", r"greater than or equal to 1"),
])
def test_bad_filters_say_what_was_expected(client, params, where, message):
    response = client.get(f"/api/runs/{RUN}/items", params=params)
    assert response.status_code == 422
    err = error_of(response)
    assert err["path"] == where
    assert re.search(message, err["message"]), err["message"]


def test_filter_values_are_parameters_never_sql(client):
    for text in ["path = \"x' OR '1'='1\"", "path = \"'; DROP VIEW grid; --\"", "subs.text ~ \"%\""]:
        assert client.get(f"/api/runs/{RUN}/items", params={"filter": text}).json()["total"] == 0
    assert client.get(f"/api/runs/{RUN}/items").json()["total"] == 5  # the view is still there


def test_item_detail(client):
    logo = index_of(client, RUN, "logo.mp4")
    detail = client.get(f"/api/runs/{RUN}/items/{logo}").json()
    same = client.get(f"/api/runs/{RUN}/items/{detail['id']}").json()
    assert same["index"] == logo and detail["record"]["factors"]["logo"]["has_logo"] is True
    table = detail["tables"]["moderation"]
    assert table["rule"] == "branded" and "logo.has_logo true" in table["explanation"]
    assert [(r["id"], r["fired"]) for r in table["rules"]] == [("letterboxed", False), ("branded", True), ("ok", False)]
    assert detail["timeline"]["boxes"][0] == {"step": "logo", "t": 0.0, "box": [544.0, 16.0, 80.0, 48.0], "text": None, "score": None}
    assert detail["media"]["available"] and detail["media"]["video_url"] == f"media/runs/{RUN}/items/{logo}/video"
    subs = client.get(f"/api/runs/{RUN}/items/{index_of(client, RUN, 'subtitles_en.mp4')}").json()
    lines = next(t for t in subs["timeline"]["tracks"] if t["name"] == "subs.lines")
    assert lines["kind"] == "spans" and lines["items"][0] == {"start_s": 1.0, "end_s": 2.0, "text": "The forest wakes up slowly."}
    boxed = client.get(f"/api/runs/{RUN}/items/{index_of(client, RUN, 'letterbox.mp4')}").json()
    assert boxed["timeline"]["bars"] == [{"step": "border", "top": 45, "bottom": 45, "left": 0, "right": 0}]
    assert detail["timeline"]["bars"] == []
    bikes = client.get(f"/api/runs/{RUN}/items/{index_of(client, RUN, 'bikes.mp4')}").json()
    cuts = next(t for t in bikes["timeline"]["tracks"] if t["name"] == "cuts.cuts_s")
    assert cuts["kind"] == "points" and len(cuts["items"]) == bikes["record"]["factors"]["cuts"]["count"] >= 2


@pytest.mark.parametrize(("url", "status", "message"), [
    (f"/api/runs/{RUN}/items/99", 404, r"no item 99 in run sample: it has 5 items \(0 to 4\)"),
    (f"/api/runs/{RUN}/items/sha256:{'0' * 64}", 404, r"no item with id sha256:0+ in run sample"),
    (f"/api/runs/{RUN}/items/clean.mp4", 404, r"expected a row index .* or an item id"),
    ("/api/runs/nope/items", 404, r"no run named 'nope'"),
    ("/api/runs/..%2f..%2fetc/items", 404, r"invalid run name|Not Found"),
    ("/api/runs/.hidden/items", 404, r"invalid run name '.hidden'"),
])
def test_missing_items_and_runs(client, url, status, message):
    response = client.get(url)
    assert response.status_code == status
    assert re.search(message, error_of(response)["message"])


def test_media_thumbnail_and_video_ranges(client):
    logo = index_of(client, RUN, "logo.mp4")
    thumb = client.get(f"/media/runs/{RUN}/items/{logo}/thumb")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg" and thumb.content[:2] == b"\xff\xd8"
    at = client.get(f"/media/runs/{RUN}/items/{logo}/thumb", params={"t": 2.0})
    assert at.status_code == 200 and at.content != b""
    part = client.get(f"/media/runs/{RUN}/items/{logo}/video", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100 and part.headers["content-type"] == "video/mp4"
    assert part.content[4:8] == b"ftyp"
    fds = len(os.listdir("/proc/self/fd"))  # the server runs in this process: descriptors are closed
    for start in range(0, 20_000, 1000):
        client.get(f"/media/runs/{RUN}/items/{logo}/video", headers={"Range": f"bytes={start}-{start + 99}"})
    client.head(f"/media/runs/{RUN}/items/{logo}/video")
    assert len(os.listdir("/proc/self/fd")) <= fds + 2


def test_media_outside_the_roots_is_refused(runs_root, tmp_path):
    with LiveServer({}, runs_root=runs_root, media_roots=(tmp_path,), isolation="thread", workers=1) as live:
        detail = live.client.get(f"/api/runs/{RUN}/items/0").json()
        assert not detail["media"]["available"] and "outside the allowed media roots" in detail["media"]["reason"]
        refused = live.client.get(f"/media/runs/{RUN}/items/0/video")
        assert refused.status_code == 403 and "outside the allowed media roots" in error_of(refused)["message"]
    with LiveServer({}, isolation="thread", workers=1) as off:
        assert off.client.get("/api/runs").json() == []
        refused = off.client.get(f"/api/runs/{RUN}/items")
        assert refused.status_code == 403 and "start the server with --runs DIR" in error_of(refused)["message"]


def test_media_urls_are_signed_when_the_server_has_a_token(runs_root, sample_set, tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret-token-for-the-tests-0123")
    with LiveServer({}, runs_root=runs_root, media_roots=(sample_set,), token_file=token, isolation="thread", workers=1) as live:
        auth = {"Authorization": "Bearer s3cret-token-for-the-tests-0123"}
        assert live.client.get(f"/api/runs/{RUN}/items/0").status_code == 401
        detail = live.client.get(f"/api/runs/{RUN}/items/0", headers=auth).json()
        url = detail["media"]["thumb_url"]
        assert "&sig=" in url and live.client.get("/" + url).status_code == 200
        bare = live.client.get(f"/media/runs/{RUN}/items/0/thumb")
        assert bare.status_code == 401 and "need exp and sig" in error_of(bare)["message"]
        forged = live.client.get("/" + url.replace("sig=", "sig=0"))
        assert forged.status_code == 401 and "invalid media URL signature" in error_of(forged)["message"]


# -- verdicts ----------------------------------------------------------------------------------
def test_verdicts_are_appended_to_reviews_jsonl(client, runs_root):
    logo = index_of(client, RUN, "logo.mp4")
    path = runs_root / RUN / "reviews.jsonl"
    before = path.read_bytes() if path.exists() else b""
    override = client.post(f"/api/runs/{RUN}/items/{logo}/reviews",
                           json={"table": "moderation", "verdict": "override", "value": "accept", "reviewer": "ana", "note": "own logo"})
    assert override.status_code == 201
    short = client.post(f"/api/runs/{RUN}/items/{logo}/reviews", json={"table": "moderation", "verdict": "review", "reviewer": "bo"})
    factor = client.post(f"/api/runs/{RUN}/items/{logo}/reviews",
                         json={"factor": "logo.has_logo", "verdict": "override", "value": "false", "reviewer": "ana"})
    assert (short.json()["verdict"], short.json()["value"]) == ("confirm", "review")
    assert factor.json()["value"] is False and factor.json()["was"] is True
    data = path.read_bytes()
    assert data.startswith(before)  # append-only
    lines = [json.loads(x) for x in data[len(before):].splitlines()]
    assert [(x["verdict"], x.get("table") or x.get("factor"), x["value"], x["reviewer"]) for x in lines] == [
        ("override", "moderation", "accept", "ana"), ("confirm", "moderation", "review", "bo"),
        ("override", "logo.has_logo", False, "ana")]
    assert lines[0]["review"] == override.json()["review"] and lines[0]["time"] == override.json()["time"]
    assert lines[0]["was"] == "review" and lines[0]["rule"] == "branded" and lines[0]["note"] == "own logo"
    listed = client.get(f"/api/runs/{RUN}/reviews", params={"item": str(logo)}).json()
    assert [r["review"] for r in listed["reviews"][-3:]] == [x["review"] for x in lines]
    grid = client.get(f"/api/runs/{RUN}/items", params={"filter": "logo.has_logo is true"}).json()["items"][0]
    assert grid["reviewed"] == {"table:moderation": "confirm", "factor:logo.has_logo": "override"}


@pytest.mark.parametrize(("body", "where", "message"), [
    ({"verdict": "confirm", "reviewer": "a"}, "body.table", r"exactly one of 'table'.*found neither"),
    ({"table": "moderation", "factor": "logo.has_logo", "verdict": "confirm", "reviewer": "a"}, "body.table", r"found both"),
    ({"table": "moderatoin", "verdict": "confirm", "reviewer": "a"}, "body.table", r"no decision table 'moderatoin'.*moderation"),
    ({"table": "moderation", "verdict": "maybe", "reviewer": "a"}, "body.verdict", r"expected 'verdict' confirm or override"),
    ({"table": "moderation", "verdict": "override", "value": "ban", "reviewer": "a"}, "body.value",
     r"needs 'value', one of its outcomes \(review, accept\); found 'ban'"),
    ({"factor": "logo.nope", "verdict": "confirm", "reviewer": "a"}, "body.factor", r"no factor 'logo.nope'"),
    ({"factor": "subs.lines", "verdict": "confirm", "reviewer": "a"}, "body.factor", r"holds lines values"),
    ({"factor": "border.area_ratio", "verdict": "override", "value": "wide", "reviewer": "a"}, "body.value", r"expected a number, found 'wide'"),
    ({"table": "moderation", "verdict": "confirm", "reviewer": " "}, "body.reviewer", r"expected 'reviewer', a non-empty name"),
    ({"table": "moderation", "verdict": "confirm"}, "body.reviewer", r"Field required"),
    ({"table": "moderation", "verdict": "confirm", "reviewer": "a", "extra": 1}, "body.extra", r"Extra inputs are not permitted"),
])
def test_bad_verdicts_name_the_field(client, runs_root, body, where, message):
    path = runs_root / RUN / "reviews.jsonl"
    before = path.read_bytes() if path.exists() else b""
    response = client.post(f"/api/runs/{RUN}/items/0/reviews", json=body)
    assert response.status_code == 422
    err = error_of(response)
    assert err["path"] == where and re.search(message, err["message"]), err
    assert (path.read_bytes() if path.exists() else b"") == before


def test_a_torn_last_line_is_counted_not_fatal(client, runs_root, tmp_path):
    shutil.copytree(runs_root / RUN, runs_root / "torn")
    try:
        (runs_root / "torn" / "reviews.jsonl").open("ab").write(b'{"review": "r-x", "verdict": "conf')
        listed = client.get("/api/runs/torn/reviews").json()
        assert listed["damaged"] == 1 and listed["total"] == len(listed["reviews"])
        added = client.post("/api/runs/torn/items/0/reviews", json={"table": "moderation", "verdict": "confirm", "reviewer": "c"})
        assert added.status_code == 201
    finally:
        shutil.rmtree(runs_root / "torn")


# -- queues ------------------------------------------------------------------------------------
def test_sample_size_formula():
    assert sample_size(0.95, 0.05, 10**9) == 385 and sample_size(0.95, 0.05, 100) == 80
    assert sample_size(0.99, 0.05, 10**9) == 664 and sample_size(0.95, 0.1, 10**9, p=0.9) == 35
    assert sample_size(0.95, 0.05, 3) == 3 and sample_size(0.95, 0.05, 0) == 0


def test_random_sample_queue(client):
    reply = client.get(f"/api/runs/{RUN}/queues/sample", params={"table": "moderation", "outcome": "accept", "margin": 0.3}).json()
    assert reply["queue"]["population"] == 3 and reply["queue"]["size"] == sample_size(0.95, 0.3, 3) == 3
    assert all(i["decisions"]["moderation"]["outcome"] == "accept" for i in reply["items"]) and reply["total"] == 3
    missing = client.get(f"/api/runs/{RUN}/queues/sample", params={"table": "moderation"})
    assert missing.status_code == 422 and "sample needs ?outcome=" in error_of(missing)["message"]


def test_low_confidence_queue(client):
    wide = client.get(f"/api/runs/{RUN}/queues/low_confidence", params={"band": 0.5}).json()
    values = [i["values"]["logo.confidence"] for i in wide["items"]]
    assert wide["queue"]["field"] == "logo.confidence" and wide["total"] == 5
    assert [abs(v - 0.5) for v in values] == sorted(abs(v - 0.5) for v in values)
    near = client.get(f"/api/runs/{RUN}/queues/low_confidence", params={"band": 0.1}).json()
    assert all(abs(i["values"]["logo.confidence"] - 0.5) <= 0.1 for i in near["items"])
    bad = client.get(f"/api/runs/{RUN}/queues/low_confidence", params={"field": "moderation"})
    assert bad.status_code == 422 and "is not a number column" in error_of(bad)["message"]


def test_flips_of_a_candidate_pipeline_and_of_changes_jsonl(client, runs_root):
    flips = client.get(f"/api/runs/{RUN}/queues/flips", params={"pipeline": "candidate"}).json()
    assert [(i["name"], i["queue"]) for i in flips["items"]] == [
        ("logo.mp4", {"table": "moderation", "before": "review", "after": "accept", "rule": "ok"})]
    nothing = client.get(f"/api/runs/{RUN}/queues/flips")
    assert nothing.status_code == 422 and "has no changes.jsonl" in error_of(nothing)["message"]
    shutil.copytree(runs_root / RUN, runs_root / "decided")
    try:
        decide_run(compile_pipeline(candidate([RULES[0], RULES[2]])), runs_root / "decided")
        changed = client.get("/api/runs/decided/queues/flips").json()
        assert changed["queue"]["source"] == "changes.jsonl"
        assert [(i["name"], i["queue"]["before"], i["queue"]["after"]) for i in changed["items"]] == [("logo.mp4", "review", "accept")]
    finally:
        shutil.rmtree(runs_root / "decided")
    other = client.get(f"/api/runs/{RUN}/queues/flips", params={"pipeline": "other"})
    assert other.status_code == 422 and "measures other factors than run sample" in error_of(other)["message"]


def test_openapi_documents_the_review_api(client):
    schema = client.get("/openapi.json").json()
    for path in ("/api/runs", "/api/runs/{run}/items", "/api/runs/{run}/items/{item_id}", "/api/runs/{run}/items/{item_id}/reviews",
                 "/api/runs/{run}/reviews", "/api/runs/{run}/queues/{queue}", "/media/runs/{run}/items/{index}/{what}"):
        assert path in schema["paths"], path
    page = schema["components"]["schemas"]["ItemPage"]
    assert {"items", "total"} <= set(page["properties"])
    body = schema["components"]["schemas"]["ReviewBody"]
    assert {"table", "factor", "verdict", "value", "reviewer", "note"} == set(body["properties"])
    posted = schema["paths"]["/api/runs/{run}/items/{item_id}/reviews"]["post"]["responses"]["201"]
    assert posted["content"]["application/json"]["schema"]["$ref"].endswith("/Review")


def test_serve_command_passes_runs_and_media_roots(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    import factorline.serve
    from factorline.cli import app

    seen = {}
    monkeypatch.setattr(factorline.serve, "serve", lambda pipelines, settings: seen.update(settings=settings))
    result = CliRunner().invoke(app, ["serve", str(tmp_path), "--runs", str(tmp_path / "runs"), "--media-root", str(tmp_path / "a"),
                                      "--media-root", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert seen["settings"].runs_root == tmp_path / "runs"
    assert seen["settings"].media_roots == (tmp_path / "a", tmp_path / "b")


def test_no_server_errors_on_generated_review_requests(server):
    """Schemathesis over the review operations (filters, sorts, ids, verdict bodies, queue
    parameters), valid and invalid: never a 5xx. Last in this file: it may append verdicts."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [r.ok() for r in schema.get_all_operations()]
    operations = [op for op in operations if op.path.startswith(("/api/runs", "/media/runs"))]
    assert len(operations) == 8
    errors: list[str] = []
    for operation in operations:
        for mode, examples in ((GenerationMode.POSITIVE, 15), (GenerationMode.NEGATIVE, 8)):
            fixed = {"run": RUN} if "{run}" in operation.path and mode == GenerationMode.POSITIVE else None

            @settings(max_examples=examples, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed))
            def check(case):
                response = case.call(base_url=server.url, timeout=60)
                if response.status_code >= 500:
                    errors.append(f"{case.method} {case.formatted_path} {case.query} -> {response.status_code}: {response.text[:200]}")

            try:
                check()
            except Unsatisfiable:
                assert mode == GenerationMode.NEGATIVE
    assert not errors, "\n".join(errors[:10])
