"""Saves that keep the file (serve/yaml_saves.py, saves.py, history.py) and the editor's schema
(serve/schema.py), fast: pure functions first, then the HTTP routes on one small server."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from test_serve_support import IMAGE_AUDIT, ROOT, LiveServer, error_of

from factorline.contract.errors import ConfigError
from factorline.engine.compiler import check_pipeline, compile_pipeline
from factorline.engine.document import parse_text
from factorline.rules import functions
from factorline.serve import history, yaml_saves
from factorline.serve.errors import NotFoundError
from factorline.serve.yaml_saves import apply_document, merge3, same

VIDEO_AUDIT = ROOT / "examples" / "video_audit.yaml"

COMMENTED = """\
# The audit we run on every upload.
name: commented
input: image                 # video | image
sampling: {fps: 1.0, max_frames: 64}

steps:
  # borders first: cheap
  border: {op: black_border, params: {threshold: 24}}   # px
  clarity:   {op: clarity}
decisions:
  moderation:
    policy: first            # first | collect | priority
    on_missing: review
    on_error: review
    rules:
    - id: bars
      when: border.area_ratio > 0.1 and clarity.score > 0.2
      outcome: review
      reason: "the photo carries bars"   # shown to reviewers
    # the catch-all
    - id: ok
      default: true
      outcome: accept
"""


def changed_lines(old: str, new: str) -> list[tuple[str, str]]:
    a, b = old.splitlines(), new.splitlines()
    assert len(a) == len(b), f"line count changed:\n{new}"
    return [(x, y) for x, y in zip(a, b) if x != y]


# --------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("text", [COMMENTED, VIDEO_AUDIT.read_text(), IMAGE_AUDIT.read_text()], ids=["commented", "video", "image"])
def test_an_unchanged_document_gives_the_file_back_byte_for_byte(text):
    doc = parse_text(text)
    assert apply_document(text, doc) == text
    normalized = compile_pipeline(doc).doc.to_dict()  # what the editor holds: 1.0 for 1, defaults unset
    assert apply_document(text, json.loads(json.dumps(normalized))) == text


def test_one_parameter_changes_one_line_and_keeps_comments():
    doc = parse_text(COMMENTED)
    doc["steps"]["border"]["params"]["threshold"] = 30
    out = apply_document(COMMENTED, doc)
    assert changed_lines(COMMENTED, out) == [
        ("  border: {op: black_border, params: {threshold: 24}}   # px",
         "  border: {op: black_border, params: {threshold: 30}}   # px"),
    ]
    assert "  clarity:   {op: clarity}" in out  # its odd spacing, which ruamel would not write, stays


def test_a_condition_edit_changes_that_line_and_quotes_stay():
    doc = parse_text(COMMENTED)
    rule = doc["decisions"]["moderation"]["rules"][0]
    rule["when"] = "border.area_ratio > 0.25"
    rule["reason"] = "bars, top and bottom"
    out = apply_document(COMMENTED, doc)
    changed = changed_lines(COMMENTED, out)
    reason = changed[1][0]
    assert changed[0][1] == "      when: border.area_ratio > 0.25"
    assert changed[1][1].startswith('      reason: "bars, top and bottom" ')  # still in double quotes
    assert changed[1][1].index("# shown to reviewers") == reason.index("# shown to reviewers")  # the comment keeps its column


def test_added_and_removed_keys_and_list_items_touch_only_their_lines():
    text = VIDEO_AUDIT.read_text()
    doc = parse_text(text)
    doc["steps"]["policy"]["params"]["terms"].append("casino")
    del doc["steps"]["cuts"]
    doc["layout"] = {"steps": {"border": {"x": 10, "y": 20}}}
    out = apply_document(text, doc)
    assert parse_text(out) == doc
    assert "      terms: [free money, 赌博, casino]\n" in out  # a flow list stays a flow list
    assert "  cuts:\n" not in out and "op: shot_cuts" not in out
    assert out.endswith("layout:\n  steps:\n    border:\n      x: 10\n      y: 20\n")  # the file's own 2-space indent
    assert out.count("\n") == text.count("\n") - 2 + 5
    kept = [line for line in text.splitlines() if line not in ("  cuts:", "    op: shot_cuts") and "terms:" not in line]
    assert [line for line in out.splitlines() if "terms:" not in line][:-5] == kept  # every other line as it was


def test_rules_reordered_and_a_rule_added_keep_the_other_rules():
    doc = parse_text(COMMENTED)
    rules = doc["decisions"]["moderation"]["rules"]
    rules.insert(1, {"id": "soft", "when": "clarity.score < 0.3", "outcome": "review"})
    out = apply_document(COMMENTED, doc)
    assert parse_text(out) == doc
    assert "    # the catch-all\n" in out and '"the photo carries bars"   # shown to reviewers' in out


def test_a_json_file_keeps_its_bytes_when_unchanged_and_stays_json():
    text = json.dumps(parse_text(IMAGE_AUDIT.read_text()), indent=4)
    doc = json.loads(text)
    assert apply_document(text, doc, fmt="json") == text
    doc["description"] = "changed"
    assert json.loads(apply_document(text, doc, fmt="json"))["description"] == "changed"


def test_windows_line_endings_stay_and_a_broken_file_is_replaced_whole():
    crlf = COMMENTED.replace("\n", "\r\n")
    doc = parse_text(crlf)
    assert apply_document(crlf, doc) == crlf
    doc["steps"]["border"]["params"]["threshold"] = 30
    out = apply_document(crlf, doc)
    assert out == crlf.replace("threshold: 24", "threshold: 30")
    broken = "name: [unclosed\n"
    assert parse_text(apply_document(broken, doc)) == doc  # nothing to keep: the document, normalized


def test_a_result_that_would_not_read_back_is_refused(monkeypatch):
    doc = parse_text(COMMENTED)
    doc["steps"]["border"]["params"]["threshold"] = 30
    monkeypatch.setattr(yaml_saves, "merge3", lambda ours, base, theirs: ours)  # a merge that loses the edit
    with pytest.raises(ConfigError, match=r"would not read back .*first difference at steps\.border\.params\.threshold"):
        apply_document(COMMENTED, doc)


def test_merge3_keeps_untouched_lines_the_edit_did_not_reach():
    ours = "a:   1\nb: 2\nc: 3\n"
    base = "a: 1\nb: 2\nc: 3\n"
    assert merge3(ours, base, "a: 1\nb: 5\nc: 3\n") == "a:   1\nb: 5\nc: 3\n"
    assert merge3(ours, base, "a: 1\nb: 2\nc: 3\nd: 4\n") == "a:   1\nb: 2\nc: 3\nd: 4\n"


def test_same_treats_one_and_one_point_zero_as_equal_but_not_true():
    assert same({"a": 1}, {"a": 1.0}) and not same({"a": True}, {"a": 1}) and not same([1, 2], [2, 1])


def test_layout_is_accepted_round_trips_and_is_in_no_fingerprint():
    doc = parse_text(IMAGE_AUDIT.read_text())
    plain = compile_pipeline(doc)
    laid_out = compile_pipeline({**doc, "layout": {"steps": {"border": {"x": 40, "y": 60}}, "tables": {"moderation": {"x": 500, "y": 0}}}})
    assert laid_out.doc.to_dict()["layout"] == {"steps": {"border": {"x": 40, "y": 60}}, "tables": {"moderation": {"x": 500, "y": 0}}}
    assert laid_out.fingerprint == plain.fingerprint and laid_out.factors_fingerprint == plain.factors_fingerprint
    _, issues = check_pipeline({**doc, "layout": {"steps": {"border": {"x": "left"}}}})
    assert {i.path for i in issues} == {"layout.steps.border.x", "layout.steps.border.y"}


# --------------------------------------------------------------------------- history


def test_history_records_lists_and_refuses_unknown_versions(tmp_path, monkeypatch):
    target = tmp_path / "p.yaml"
    target.write_text("name: p\n# mine\n")
    history.keep_disk_version(target)
    history.keep_disk_version(target)  # the same text again: not recorded twice
    history.record(target, "name: p\n", "editor")
    found = history.versions(target)
    assert [(v.seq, v.origin) for v in found] == [(1, "file"), (2, "editor")]
    assert not history.created_by_editor(target)
    assert history.get(target, "2").path.read_text() == "name: p\n"
    with pytest.raises(NotFoundError, match="p.yaml has no saved version 7"):
        history.get(target, "7")
    with pytest.raises(NotFoundError, match="versions are numbers"):
        history.get(target, "../../etc/passwd")
    with pytest.raises(ValueError, match="origin must be one of"):
        history.record(target, "x", "someone")
    monkeypatch.setattr(history, "MAX_VERSIONS", 3)
    for n in range(4):
        history.record(target, f"name: p{n}\n", "editor")
    assert [v.seq for v in history.versions(target)] == [4, 5, 6]  # the oldest go first


# --------------------------------------------------------------------------- HTTP


@pytest.fixture
def server(tmp_path):
    (tmp_path / "commented.yaml").write_text(COMMENTED)
    with LiveServer([tmp_path], pipelines_dir=tmp_path, isolation="thread", workers=1) as live:
        yield live, tmp_path


def test_put_keeps_comments_and_history_restores_the_hand_written_file(server):
    live, folder = server
    c = live.client
    doc = c.get("/api/pipelines/commented").json()
    assert c.put("/api/pipelines/commented", json=doc).status_code == 200
    assert (folder / "commented.yaml").read_text() == COMMENTED  # unchanged: byte for byte
    assert c.get("/api/pipelines/commented/history").json()["versions"] == []  # nothing written, nothing recorded

    doc["steps"]["border"]["params"]["threshold"] = 30
    preview = c.post("/api/pipelines/commented/preview-save", json=doc).json()
    assert preview["confirm"] and preview["changed"] and preview["file"] == "commented.yaml"
    assert "-  border: {op: black_border, params: {threshold: 24}}   # px\n" in preview["diff"]
    assert "+  border: {op: black_border, params: {threshold: 30}}   # px\n" in preview["diff"]
    assert (folder / "commented.yaml").read_text() == COMMENTED  # a preview writes nothing
    assert c.put("/api/pipelines/commented", json=doc).status_code == 200
    saved = (folder / "commented.yaml").read_text()
    assert changed_lines(COMMENTED, saved) == [("  border: {op: black_border, params: {threshold: 24}}   # px",
                                                "  border: {op: black_border, params: {threshold: 30}}   # px")]

    listed = c.get("/api/pipelines/commented/history").json()
    assert [(v["version"], v["origin"], v["current"]) for v in listed["versions"]] == [("000002", "editor", True), ("000001", "file", False)]
    first = c.get("/api/pipelines/commented/history/000001").json()
    assert first["text"] == COMMENTED and "+  border: {op: black_border, params: {threshold: 24}}   # px" in first["diff"]
    restored = c.post("/api/pipelines/commented/history/000001/restore").json()
    assert restored["ok"] and restored["document"]["steps"]["border"]["params"] == {"threshold": 24}
    assert (folder / "commented.yaml").read_text() == COMMENTED
    assert c.get("/api/pipelines/commented").json()["steps"]["border"]["params"] == {"threshold": 24}
    assert c.get("/api/pipelines/commented/history").json()["versions"][0]["origin"] == "restore"
    err = error_of(c.get("/api/pipelines/commented/history/000099"))
    assert err["type"] == "NotFoundError" and "no saved version 000099" in err["message"] and err["path"] == "version"


def test_a_new_pipeline_is_created_and_later_saves_need_no_confirmation(server):
    live, folder = server
    c = live.client
    doc = yaml.safe_load(COMMENTED) | {"name": "fresh"}
    preview = c.post("/api/pipelines/fresh/preview-save", json=doc).json()
    assert preview["exists"] is False and preview["confirm"] is False
    assert c.put("/api/pipelines/fresh", json=doc).status_code == 201
    assert parse_text((folder / "fresh.yaml").read_text())["steps"] == doc["steps"]  # a new file: the normalized form
    assert [v["origin"] for v in c.get("/api/pipelines/fresh/history").json()["versions"]] == ["created"]
    changed = copy.deepcopy(doc)
    changed["description"] = "now described"
    again = c.post("/api/pipelines/fresh/preview-save", json=changed).json()
    assert again["changed"] and not again["confirm"]  # the editor made this file: no diff to confirm
    bad = c.post("/api/pipelines/fresh/preview-save", json={**doc, "steps": {"border": {"op": "black_border", "params": {"threshold": -1}}}})
    assert bad.status_code == 422 and error_of(bad)["issues"][0]["path"] == "steps.border.params.threshold"


def test_the_schema_publishes_what_the_editor_checks(server):
    live = server[0]
    s = live.client.get("/api/schema").json()
    assert s["kinds"]["fits"]["text"] == ["text", "factor"] and s["kinds"]["source"] == ["audio", "frames"]
    assert s["names"]["step"] == "^[a-z_][a-z0-9_]{0,63}$"
    assert set(s["documents"]["sampling"]["properties"]) == {"fps", "max_frames", "min_frames", "max_side"}
    assert [f["name"] for f in s["rules"]["functions"]] == functions.names()
    assert "count(list)" in s["rules"]["grammar"] and s["rules"]["item_fields"]["partial"] == "bool"
    assert "missing(x)" in s["documents"]["rule"]["properties"]["when"]["description"]
