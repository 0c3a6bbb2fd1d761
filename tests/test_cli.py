"""The CLI as a user types it: operators, validate, run, decide."""

from __future__ import annotations

import json
from pathlib import Path

import media_fixtures as fx
import pytest
import yaml
from typer.testing import CliRunner

from factorline.cli import app
from factorline.engine.records import read_jsonl

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_operators_json_is_the_full_catalogue():
    result = invoke("operators", "--json")
    assert result.exit_code == 0
    catalogue = {op["id"]: op for op in json.loads(result.stdout)}
    assert catalogue["black_border@4"]["params"]["properties"]["threshold"]["default"] == 24
    assert set(catalogue["black_border@4"]["output"]["fields"]) >= {"top", "bottom", "left", "right", "area_ratio", "fill", "evidence"}


def test_operators_table_lists_every_operator():
    result = invoke("operators")
    assert result.exit_code == 0 and "black_border@4" in result.stdout and "clarity@1" in result.stdout


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_examples_validate(example):
    result = invoke("validate", str(example))
    assert result.exit_code == 0, result.output
    assert "ok:" in result.stdout


def test_validate_lists_every_problem_with_its_path(tmp_path):
    doc = yaml.safe_load((EXAMPLES / "video_audit.yaml").read_text())
    doc["steps"]["border"]["params"]["threshold"] = "dark"
    doc["steps"]["ghost"] = {"op": "nope"}
    doc["decisions"]["moderation"]["rules"][1]["when"] = "border.area_ratio > "
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    result = invoke("validate", str(bad))
    assert result.exit_code == 2
    for path in ("steps.border.params.threshold", "steps.ghost.op", "decisions.moderation.rules[1].when"):
        assert path in result.stderr


def test_validate_runs_rule_cases(tmp_path):
    doc = yaml.safe_load((EXAMPLES / "video_audit.yaml").read_text())
    doc["decisions"]["moderation"]["cases"][0]["expect"] = "accept"
    bad = tmp_path / "bad_case.yaml"
    bad.write_text(yaml.safe_dump(doc))
    result = invoke("validate", str(bad))
    assert result.exit_code == 2 and "decisions.moderation.cases[0]" in result.stderr and "expected 'accept'" in result.stderr


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("cli")
    clip = fx.letterboxed_clip(base / "letterbox.mp4", bar=40)
    (base / "broken.mp4").write_bytes(b"\x00" * 100)
    out = base / "run"
    result = invoke("run", str(EXAMPLES / "video_audit.yaml"), str(clip), str(base / "broken.mp4"), "--out", str(out), "--cache-dir", str(base / "cache"))
    assert result.exit_code == 0, result.output
    assert "1 succeeded, 1 failed" in result.stdout
    return out


def test_run_writes_the_run_folder(finished_run):
    assert {p.name for p in finished_run.iterdir()} >= {"results.jsonl", "results.parquet", "pipeline.yaml", "run.json", "report.html"}
    records = list(read_jsonl(finished_run / "results.jsonl"))
    assert [r["decisions"]["moderation"]["outcome"] for r in records] == ["review", "review"]
    assert records[0]["decisions"]["moderation"]["rule"] == "letterboxed"
    assert records[1]["decisions"]["moderation"]["rule"] == "on_error"


def test_run_strict_exits_1_when_an_item_failed(tmp_path, finished_run):
    broken = tmp_path / "x.mp4"
    broken.write_bytes(b"junk")
    result = invoke("run", str(EXAMPLES / "video_audit.yaml"), str(broken), "--out", str(tmp_path / "r"), "--no-cache", "--strict")
    assert result.exit_code == 1


def test_run_refuses_missing_input(tmp_path):
    result = invoke("run", str(EXAMPLES / "video_audit.yaml"), str(tmp_path / "nope.mp4"), "--out", str(tmp_path / "r"))
    assert result.exit_code == 2 and "input not found" in result.stderr


def test_decide_reports_changed_outcomes_without_decoding(finished_run, tmp_path, monkeypatch):
    from factorline.engine import executor

    monkeypatch.setattr(executor, "decode_frames", lambda *a, **k: pytest.fail("decide must not decode"))
    doc = yaml.safe_load((EXAMPLES / "video_audit.yaml").read_text())
    letterboxed = next(r for r in doc["decisions"]["moderation"]["rules"] if r["id"] == "letterboxed")
    letterboxed["when"] = "border.area_ratio > 0.9"
    doc["decisions"]["moderation"]["cases"] = []
    relaxed = tmp_path / "relaxed.yaml"
    relaxed.write_text(yaml.safe_dump(doc))
    result = invoke("decide", str(relaxed), "--from", str(finished_run), "--out", str(tmp_path / "decided"))
    assert result.exit_code == 0, result.output
    assert "1 decision(s) changed" in result.stdout and "letterbox.mp4" in result.stdout
    records = list(read_jsonl(tmp_path / "decided" / "results.jsonl"))
    assert [r["decisions"]["moderation"]["outcome"] for r in records] == ["accept", "review"]
    assert records[0]["factors"] == list(read_jsonl(finished_run / "results.jsonl"))[0]["factors"]


def test_decide_refuses_a_pipeline_with_other_factors(finished_run, tmp_path):
    doc = yaml.safe_load((EXAMPLES / "video_audit.yaml").read_text())
    doc["sampling"]["fps"] = 3.0
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(doc))
    result = invoke("decide", str(other), "--from", str(finished_run))
    assert result.exit_code == 2 and "only `decisions` may change" in result.stderr


def test_report_command_rewrites_the_page(finished_run):
    (finished_run / "report.html").unlink()
    result = invoke("report", str(finished_run), "--no-pictures")
    assert result.exit_code == 0, result.output
    assert "2 items" in result.stdout and (finished_run / "report.html").stat().st_size > 1000


def test_evaluate_command_scores_against_labels(finished_run, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("path,moderation\nletterbox.mp4,review\nbroken.mp4,accept\n")
    result = invoke("evaluate", str(finished_run), "--labels", str(labels))
    assert result.exit_code == 0, result.output
    assert "moderation: accuracy 50.0% on 2 labelled items" in result.stdout
    assert (finished_run / "evaluation.json").is_file() and (finished_run / "evaluation.html").is_file()


def test_evaluate_refuses_a_folder_that_is_not_a_run(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("path,moderation\nx.mp4,review\n")
    result = invoke("evaluate", str(tmp_path), "--labels", str(labels))
    assert result.exit_code == 2 and "not a run folder" in result.stderr


def test_run_resume_skips_finished_items(finished_run):
    items = [r["item"]["path"] for r in read_jsonl(finished_run / "results.jsonl")]
    result = invoke("run", str(EXAMPLES / "video_audit.yaml"), *items, "--out", str(finished_run), "--resume", "--no-cache", "--no-report-pictures")
    assert result.exit_code == 0, result.output
    assert "0 succeeded, 0 failed, 2 skipped" in result.stdout


def test_factors_only_pipeline_runs_reports_resumes_and_decides(tmp_path):
    """A pipeline without `decisions:` is a main use: Parquet has no decisions column, the run
    completes with its report, a resume skips the item and `decide` adds tables later."""
    import pyarrow.parquet as pq

    doc = yaml.safe_load((EXAMPLES / "video_audit.yaml").read_text())
    factors_only = {key: value for key, value in doc.items() if key != "decisions"}
    factors_only["steps"] = {"border": doc["steps"]["border"]}
    pipeline = tmp_path / "factors_only.yaml"
    pipeline.write_text(yaml.safe_dump(factors_only))
    clip = fx.letterboxed_clip(tmp_path / "letterbox.mp4", bar=40)
    out = tmp_path / "run"
    args = ("run", str(pipeline), str(clip), "--out", str(out), "--no-cache")
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "run.json").read_text())["status"] == "complete"
    assert (out / "report.html").is_file()
    table = pq.read_table(out / "results.parquet")
    assert "decisions" not in table.column_names and table.column("factors").to_pylist()[0]["border"]["top"] > 0
    [record] = read_jsonl(out / "results.jsonl")
    assert record["decisions"] == {} and record["error"] is None

    resumed = invoke(*args, "--resume")
    assert resumed.exit_code == 0 and "0 succeeded, 0 failed, 1 skipped" in resumed.stdout

    with_table = dict(factors_only, decisions={"bars": {"on_error": "review", "on_missing": "review", "rules": [{"id": "boxed", "when": "border.area_ratio > 0.05", "outcome": "review"}, {"id": "ok", "default": True, "outcome": "accept"}]}})
    decided_pipeline = tmp_path / "with_table.yaml"
    decided_pipeline.write_text(yaml.safe_dump(with_table))
    decided = invoke("decide", str(decided_pipeline), "--from", str(out), "--out", str(tmp_path / "decided"))
    assert decided.exit_code == 0, decided.output
    [redecided] = read_jsonl(tmp_path / "decided" / "results.jsonl")
    assert redecided["decisions"]["bars"]["outcome"] == "review"


def test_square_brackets_in_user_text_are_shown_not_taken_as_markup(tmp_path):
    # a folder "a[" holding "]b.mp4": the path reads "a[/]b.mp4", a closing tag for rich
    folder = tmp_path / "a["
    folder.mkdir()
    broken = folder / "]b.mp4"
    broken.write_bytes(b"\x00" * 64)
    result = invoke("run", str(EXAMPLES / "video_audit.yaml"), str(broken), "--out", str(tmp_path / "run"), "--no-cache")
    assert result.exit_code == 0, result.output
    assert "0 succeeded, 1 failed" in result.stdout and "]b.mp4" in result.stdout
    [record] = read_jsonl(tmp_path / "run" / "results.jsonl")
    assert "a[/]b.mp4" in record["item"]["path"] and record["error"]["type"]
    assert (tmp_path / "run" / "report.html").is_file()

    doc = yaml.safe_load((EXAMPLES / "video_audit.yaml").read_text())
    doc["decisions"]["moderation"]["rules"][0]["when"] = "border.area_ratio > [a-z]"
    bad = tmp_path / "[bold]bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    checked = invoke("validate", str(bad))
    assert checked.exit_code == 2 and "decisions.moderation.rules[0].when" in checked.stderr
    missing = invoke("validate", str(tmp_path / "[red]nope.yaml"))
    assert missing.exit_code == 2 and "[red]nope.yaml" in missing.stderr.replace("\n", "")


def test_resume_treats_a_part_line_with_bytes_that_are_not_utf8_as_torn(tmp_path):
    doc = yaml.safe_load((EXAMPLES / "video_audit.yaml").read_text())
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(yaml.safe_dump({k: v for k, v in doc.items() if k != "decisions"} | {"steps": {"border": doc["steps"]["border"]}}))
    clips = [fx.letterboxed_clip(tmp_path / f"c{i}.mp4", bar=40 + 8 * i) for i in range(2)]
    out = tmp_path / "run"
    args = ("run", str(pipeline), *map(str, clips), "--out", str(out), "--no-cache")
    assert invoke(*args).exit_code == 0
    [part] = sorted((out / "parts").glob("part-*.jsonl"))
    lines = part.read_bytes().splitlines(keepends=True)
    part.write_bytes(lines[0] + b'{"item": {"path": "\xff\xfe broken' + b"\n")  # the second record damaged
    resumed = invoke(*args, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "1 succeeded, 0 failed, 1 skipped" in resumed.stdout
    assert len(list(read_jsonl(out / "results.jsonl"))) == 2


def test_the_readme_decide_example_is_decided_by_the_letterbox_rule():
    """The README's /decide body carries every factor the moderation table reads."""
    import re

    from factorline.engine.compiler import compile_pipeline

    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    body = re.search(r"/decide -H 'content-type: application/json' \\\n\s+-d '(.*?)'", readme, re.S).group(1)
    plan = compile_pipeline(yaml.safe_load((EXAMPLES / "video_audit.yaml").read_text()))
    decided = plan.decisions.decide(json.loads(body)["factors"])["moderation"]
    assert (decided["outcome"], decided["rule"]) == ("review", "letterboxed")


def test_an_empty_input_is_an_error_unless_allowed(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = invoke("run", str(EXAMPLES / "video_audit.yaml"), str(empty), "--out", str(tmp_path / "r"), "--no-cache")
    assert refused.exit_code == 2 and "no media found in" in refused.stderr and "--allow-empty" in refused.stderr
    allowed = invoke("run", str(EXAMPLES / "video_audit.yaml"), str(empty), "--out", str(tmp_path / "r"), "--no-cache", "--allow-empty")
    assert allowed.exit_code == 0 and "0 succeeded, 0 failed" in allowed.stdout
