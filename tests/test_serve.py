"""The HTTP service end to end: a real uvicorn server on 127.0.0.1, every endpoint over httpx."""

from __future__ import annotations

import stat

import pytest
import yaml
from test_serve_support import IMAGE_AUDIT, LiveServer, decisions, error_of, jpeg, upload

from factorline.engine.document import load_text


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    (root / "images").mkdir()
    (root / "images" / "bars.jpg").write_bytes(jpeg(bars=40))
    (root / "images" / "plain.jpg").write_bytes(jpeg())
    (root / "notes.txt").write_text("not media")
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory, data_root):
    folder = tmp_path_factory.mktemp("pipelines")
    (folder / "image_audit.yaml").write_text(IMAGE_AUDIT.read_text())
    with LiveServer([folder], data_root=data_root) as live:
        yield live


def test_health_ready_and_docs(server):
    c = server.client
    assert c.get("/health").json() == {"status": "ok"}
    ready = c.get("/ready").json()
    assert ready["status"] == "ready" and ready["pipelines"] == 1
    schema = c.get("/openapi.json").json()
    for path in ("/api/operators", "/api/pipelines", "/api/pipelines/{name}", "/api/validate", "/api/pipelines/{name}/run",
                 "/api/pipelines/{name}/run-path", "/api/pipelines/{name}/decide", "/api/samples", "/metrics"):
        assert path in schema["paths"], path
    assert "multipart/form-data" in schema["paths"]["/api/pipelines/{name}/run"]["post"]["requestBody"]["content"]
    assert c.get("/docs").status_code == 200


def test_operators_are_the_palette(server):
    ops = server.client.get("/api/operators").json()
    by_id = {o["id"]: o for o in ops}
    border = by_id["black_border@4"]
    assert border["params"]["properties"]["threshold"]["type"] == "integer"
    assert "area_ratio" in border["output"]["fields"]
    assert {"id", "name", "version", "title", "group", "inputs", "output", "resources", "item_kinds"} <= set(border)


def test_pipelines_list_and_document(server):
    listed = server.client.get("/api/pipelines").json()
    assert [p["name"] for p in listed] == ["image_audit"]
    entry = listed[0]
    assert entry["input"] == "image" and entry["fingerprint"].startswith("sha256:")
    assert [s["name"] for s in entry["steps"]] == ["border", "clarity"] and entry["steps"][0]["op"] == "black_border@4"
    doc = server.client.get("/api/pipelines/image_audit").json()
    assert doc["name"] == "image_audit" and set(doc["steps"]) == {"border", "clarity"}
    err = error_of(server.client.get("/api/pipelines/nope"))
    assert err["type"] == "NotFoundError" and err["path"] == "name"


def test_run_upload_returns_the_record_and_leaves_nothing(server):
    r = upload(server.client, "image_audit", "bars.jpg", jpeg(bars=40))
    assert r.status_code == 200, r.text
    record = r.json()
    assert set(record) == {"item", "factors", "decisions", "error", "pipeline", "timings_ms"}
    assert record["error"] is None and record["item"]["path"] == "bars.jpg" and record["item"]["kind"] == "image"
    assert record["factors"]["border"]["top"] == 40 and record["decisions"]["moderation"]["outcome"] == "review"
    assert record["decisions"]["moderation"]["rule"] == "bars"
    folder = server.state.uploads.path
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert list(folder.iterdir()) == []  # removed once the run is done


def test_run_path_and_samples(server):
    r = server.client.post("/api/pipelines/image_audit/run-path", json={"path": "images/plain.jpg"})
    assert r.status_code == 200, r.text
    assert r.json()["item"]["path"] == "images/plain.jpg" and r.json()["error"] is None
    samples = server.client.get("/api/samples").json()
    assert [s["path"] for s in samples] == ["images/bars.jpg", "images/plain.jpg"]
    assert samples[0]["kind"] == "image" and samples[0]["size"] > 0


def test_decide(server):
    r = server.client.post("/api/pipelines/image_audit/decide", json={"factors": {"border": {"area_ratio": 0.5}, "clarity": {"score": 0.9}}})
    assert r.status_code == 200
    body = r.json()
    assert body["decisions"]["moderation"]["outcome"] == "review" and body["decisions"]["moderation"]["rule"] == "bars"
    assert body["pipeline"]["name"] == "image_audit"
    missing = server.client.post("/api/pipelines/image_audit/decide", json={"factors": {}}).json()
    assert missing["decisions"]["moderation"]["rule"] == "on_missing"  # never a silent accept
    failed = server.client.post("/api/pipelines/image_audit/decide", json={"factors": {}, "error": {"type": "CorruptMediaError", "message": "x"}})
    assert failed.json()["decisions"]["moderation"]["rule"] == "on_error"
    err = error_of(server.client.post("/api/pipelines/image_audit/decide", json={"factors": [1, 2]}))
    assert err["type"] == "RequestValidationFailed" and err["path"] == "body.factors"


def test_validate(server):
    c = server.client
    good = load_text(IMAGE_AUDIT)
    r = c.post("/api/validate", json=good).json()
    assert r["ok"] and r["issues"] == [] and r["fingerprint"].startswith("sha256:") and r["document"]["name"] == "image_audit"
    as_text = c.post("/api/validate", json={"text": IMAGE_AUDIT.read_text()}).json()
    assert as_text["ok"] and as_text["fingerprint"] == r["fingerprint"]
    bad = {**good, "steps": {"border": {"op": "black_border", "params": {"threshold": "high"}}, "x": {"op": "no_such_op"}}}
    r = c.post("/api/validate", json=bad).json()
    paths = {i["path"] for i in r["issues"]}
    assert not r["ok"] and r["fingerprint"] is None
    assert {"steps.border.params.threshold", "steps.x.op"} <= paths  # every problem, each with its path
    yaml_error = c.post("/api/validate", json={"text": "name: [unclosed"}).json()
    assert not yaml_error["ok"] and yaml_error["issues"][0]["code"] == "syntax"
    failing_case = {**good, "decisions": {"moderation": {**good["decisions"]["moderation"],
                                                          "cases": [{"factors": {"border": {"area_ratio": 0.5}, "clarity": {"score": 0.9}}, "expect": "accept"}]}}}
    assert not c.post("/api/validate", json=failing_case).json()["ok"]


def test_put_saves_atomically_and_serves(server, tmp_path):
    c = server.client
    doc = {"name": "bars_only", "input": "image", "steps": {"border": {"op": "black_border"}},
           "decisions": decisions([{"id": "bars", "when": "border.area_ratio > 0.1", "outcome": "review"}])}
    r = c.put("/api/pipelines/bars_only", json=doc)
    assert r.status_code == 201, r.text
    assert r.json()["file"] == "bars_only.yaml"
    saved = server.state.store.get("bars_only").source
    assert yaml.safe_load(saved.read_text())["steps"] == {"border": {"op": "black_border"}}
    assert not [p for p in saved.parent.iterdir() if p.name.startswith(".") and p.name != ".history"]  # no temp file left
    assert "bars_only" in [p["name"] for p in c.get("/api/pipelines").json()]
    assert upload(c, "bars_only", "x.jpg", jpeg(bars=40)).json()["decisions"]["moderation"]["outcome"] == "review"
    # Replace: 200; an invalid document: 422 with every issue, the file untouched.
    doc["steps"]["border"]["params"] = {"threshold": 30}
    assert c.put("/api/pipelines/bars_only", json=doc).status_code == 200
    before = saved.read_text()
    bad = c.put("/api/pipelines/bars_only", json={**doc, "steps": {"border": {"op": "black_border", "params": {"threshold": -5}}}})
    err = error_of(bad)
    assert bad.status_code == 422 and err["type"] == "PipelineError"
    assert err["issues"][0]["path"] == "steps.border.params.threshold"
    assert saved.read_text() == before
    # The URL names the pipeline: a document naming another is refused; so are unsafe names.
    assert error_of(c.put("/api/pipelines/other", json=doc))["issues"][0]["path"] == "name"
    for name in (".hidden", "a b", "..", "x" * 65):
        assert c.put(f"/api/pipelines/{name}", json=doc).status_code in (404, 405, 422), name


def test_put_without_a_folder_is_refused():
    doc = {"name": "p", "input": "image", "steps": {"border": {"op": "black_border"}}, "decisions": decisions()}
    with LiveServer({"p": doc}) as live:
        err = error_of(live.client.put("/api/pipelines/new_one", json={**doc, "name": "new_one"}))
        assert err["type"] == "ForbiddenError"


def test_metrics(server):
    upload(server.client, "image_audit", "a.jpg", jpeg())
    text = server.client.get("/metrics").text
    assert 'factorline_http_requests_total{method="POST",route="/api/pipelines/{name}/run",status="200"}' in text
    assert 'factorline_items_total{pipeline="image_audit",result="ok"}' in text
    assert "factorline_queue_capacity 64.0" in text and "factorline_ready 1.0" in text


def test_unknown_route_and_method_errors_are_json(server):
    assert error_of(server.client.get("/api/nothing"))["type"] == "NotFoundError"
    assert error_of(server.client.delete("/api/pipelines/image_audit"))["type"] == "MethodNotAllowedError"
    bad_json = server.client.post("/api/validate", content=b"{not json", headers={"content-type": "application/json"})
    assert bad_json.status_code == 422 and error_of(bad_json)["path"].startswith("body")


def test_json_bodies_have_their_own_smaller_cap(server):
    big = b'{"text": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    r = server.client.post("/api/validate", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and error_of(r)["type"] == "PayloadTooLargeError"
