"""The closed loop over a real run (a small batch on the bundled sample videos): verdicts in
reviews.jsonl scored by `factorline evaluate`, read as labels by `factorline train`'s data
reader, and the Label Studio round trip (tasks with pre-annotations out, annotations back in)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from review_support import VIDEOS, make_run
from typer.testing import CliRunner

from factorline.cli import app
from factorline.contract.errors import DataError
from factorline.review.labelstudio import export_tasks, import_annotations
from factorline.review.runs import open_run
from factorline.review.store import REVIEWS_FILE, append_review, make_verdict, read_reviews
from factorline.train.data import load_dataset, read_rows

runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, sample_set) -> Path:
    return make_run(sample_set, tmp_path_factory.mktemp("loop") / "run")


@pytest.fixture
def fresh(run_dir, tmp_path) -> Path:
    """A copy of the run without verdicts (each test writes its own reviews.jsonl)."""
    import shutil

    out = tmp_path / "run"
    shutil.copytree(run_dir, out, ignore=shutil.ignore_patterns(REVIEWS_FILE, "evaluation.*"))
    return out


def _index(run: Path, name: str) -> int:
    return VIDEOS.index(name)  # the run keeps input order


def review(run: Path, name: str, **body) -> dict:
    view = open_run(run)
    index = _index(run, name)
    return append_review(run, make_verdict(view.require_plan(), view.record(index), index, {"reviewer": "ana", **body}))


def test_evaluate_scores_the_run_against_the_verdicts(fresh):
    review(fresh, "logo.mp4", table="moderation", verdict="override", value="accept")  # the rule was wrong
    review(fresh, "letterbox.mp4", table="moderation", verdict="confirm")
    review(fresh, "clean.mp4", table="moderation", verdict="review")  # issue form: an outcome, read as override
    review(fresh, "clean.mp4", table="moderation", verdict="accept")  # changed mind: the latest verdict wins
    review(fresh, "bikes.mp4", table="moderation", verdict="override", value="review")
    review(fresh, "logo.mp4", factor="logo.has_logo", verdict="confirm")
    review(fresh, "subtitles_en.mp4", factor="subs.has_subtitles", verdict="override", value=False)
    result = runner.invoke(app, ["evaluate", str(fresh), "--labels", str(fresh / REVIEWS_FILE)])
    assert result.exit_code == 0, result.output
    assert "moderation: accuracy 50.0% on 5 labelled items" in result.output
    evaluation = json.loads((fresh / "evaluation.json").read_text())
    table = evaluation["tables"]["moderation"]
    assert (table["labeled"], table["correct"]) == (4, 2)
    accept, rev = table["per_outcome"]["accept"], table["per_outcome"]["review"]
    assert (accept["tp"], accept["predicted"], accept["support"]) == (1, 2, 2)  # clean right, bikes wrong
    assert (rev["tp"], rev["predicted"], rev["support"]) == (1, 2, 2)  # letterbox right, logo wrong
    assert table["rules"]["branded"]["precision"] == 0.0 and table["rules"]["letterboxed"]["precision"] == 1.0
    assert evaluation["factors"]["logo.has_logo"]["accuracy"] == 1.0
    assert evaluation["factors"]["subs.has_subtitles"]["accuracy"] == 0.0
    assert evaluation["labels"]["matched_by"] == {"id": 5}


def test_train_reads_verdicts_as_labels(fresh):
    review(fresh, "logo.mp4", factor="logo.has_logo", verdict="confirm")
    review(fresh, "clean.mp4", factor="logo.has_logo", verdict="confirm")
    review(fresh, "bikes.mp4", factor="logo.has_logo", verdict="override", value=True)
    review(fresh, "letterbox.mp4", factor="logo.has_logo", verdict="confirm")
    review(fresh, "bikes.mp4", table="moderation", verdict="confirm")
    fmt, rows, bad = read_rows(fresh / REVIEWS_FILE, "logo.has_logo")
    assert fmt == "reviews:logo.has_logo" and not bad
    assert sorted((r.path.name, r.label) for r in rows) == [("bikes.mp4", "true"), ("clean.mp4", "false"), ("letterbox.mp4", "false"),
                                                                    ("logo.mp4", "true")]
    dataset = load_dataset(fresh / REVIEWS_FILE, label_field="logo.has_logo")
    assert dataset.classes == ["false", "true"] and {e.kind for e in dataset.examples} == {"video"}
    with pytest.raises(DataError, match=r"say which table or factor is the label with --label-field"):
        read_rows(fresh / REVIEWS_FILE)
    with pytest.raises(DataError, match=r"no verdict in reviews.jsonl is about 'subs.has_subtitles'; verdicts name: logo.has_logo, moderation"):
        read_rows(fresh / REVIEWS_FILE, "subs.has_subtitles")


def test_label_studio_export_has_pre_annotations(fresh, tmp_path, sample_set):
    result = runner.invoke(app, ["reviews", "export-ls", str(fresh), "--out", str(tmp_path / "tasks.json"),
                                 "--config", str(tmp_path / "config.xml"), "--document-root", str(sample_set)])
    assert result.exit_code == 0, result.output
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    assert len(tasks) == 5 and tasks[2]["data"]["video"] == "/data/local-files/?d=videos/logo.mp4"
    results = tasks[2]["predictions"][0]["result"]
    assert results[0] == {"id": "t-moderation", "from_name": "moderation", "to_name": "media", "type": "choices",
                          "value": {"choices": ["review"]}}
    logo = next(r for r in results if r["type"] == "videorectangle")
    assert logo["value"]["labels"] == ["logo"] and len(logo["value"]["sequence"]) == 5
    first = logo["value"]["sequence"][0]
    assert (first["x"], first["y"], first["width"], first["height"]) == pytest.approx((85.0, 16 / 3.6, 12.5, 48 / 3.6))
    lines = [r for r in tasks[3]["predictions"][0]["result"] if r["type"] == "videorectangle"]
    assert [r["value"]["text"] for r in lines] == [["The forest wakes up slowly."], ["A big rabbit leaves his burrow."],
                                                   ["He stretches in the morning sun."]]
    config = ET.fromstring((tmp_path / "config.xml").read_text())
    assert [e.get("value") for e in config.iter("Label")] == ["logo", "subs"]
    choices = next(config.iter("Choices"))
    assert choices.get("name") == "moderation" and choices.get("choice") == "single"
    assert [c.get("value") for c in choices.iter("Choice")] == ["review", "accept"]


def test_label_studio_annotations_come_back_as_verdicts(fresh, tmp_path):
    export_tasks(fresh, tmp_path / "tasks.json")
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    for n, task in enumerate(tasks):  # the annotator keeps the predictions ...
        task["annotations"] = [{"id": 100 + n, "completed_by": {"email": "lee@example.org"},
                                "result": json.loads(json.dumps(task["predictions"][0]["result"]))}]
    logo = tasks[2]["annotations"][0]
    logo["result"] = [r for r in logo["result"] if r["type"] == "choices"]  # ... removes the logo box
    logo["result"][0]["value"]["choices"] = ["accept"]  # ... and accepts it
    tasks[0]["annotations"][0]["was_cancelled"] = True
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    result = runner.invoke(app, ["reviews", "import-ls", str(fresh), str(tmp_path / "export.json")])
    assert result.exit_code == 0, result.output
    lines = read_reviews(fresh / REVIEWS_FILE).lines
    got = [(line["index"], line.get("table") or line.get("factor"), line["verdict"], line["value"]) for line in lines]
    assert got == [(1, "moderation", "confirm", "review"),
                   (2, "moderation", "override", "accept"), (2, "logo.has_logo", "override", False),
                   (3, "moderation", "confirm", "accept"), (3, "subs.has_subtitles", "confirm", True),
                   (4, "moderation", "confirm", "accept")]
    assert {line["reviewer"] for line in lines} == {"lee@example.org"} and lines[1]["source"] == "label-studio:3/102"
    again = runner.invoke(app, ["reviews", "import-ls", str(fresh), str(tmp_path / "export.json")])
    assert "0 verdict(s) added" in again.output and "4 task(s) imported before, skipped" in again.output
    assert len(read_reviews(fresh / REVIEWS_FILE).lines) == len(lines)
    summary = runner.invoke(app, ["reviews", "summary", str(fresh)])
    assert "6 verdict(s), 6 current" in summary.output and "lee@example.org (6)" in summary.output


def test_an_export_from_another_run_is_refused(fresh, tmp_path):
    export_tasks(fresh, tmp_path / "tasks.json")
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    tasks[0]["data"]["item"] = "sha256:" + "1" * 64
    tasks[0]["annotations"] = [{"id": 1, "result": []}]
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    result = runner.invoke(app, ["reviews", "import-ls", str(fresh), str(tmp_path / "export.json")])
    assert result.exit_code == 2 and "the export was made from another run" in result.output
    (tmp_path / "bad.json").write_text(json.dumps({"tasks": []}))
    with pytest.raises(Exception, match=r"expected a JSON array of tasks in .*bad.json, found dict"):
        import_annotations(fresh, tmp_path / "bad.json")


@pytest.mark.slow
def test_factorline_train_learns_from_verdicts(fresh, tmp_path):
    for name in VIDEOS:  # has_logo as the reviewers see it: bikes.mp4 corrected to true
        if name == "bikes.mp4":
            review(fresh, name, factor="logo.has_logo", verdict="override", value=True)
        else:
            review(fresh, name, factor="logo.has_logo", verdict="confirm")
    result = runner.invoke(app, ["train", str(fresh / REVIEWS_FILE), "--label-field", "logo.has_logo", "--name", "reviewed_logo",
                                 "--store", str(tmp_path / "store"), "--folds", "2", "--seeds", "0", "--max-frames", "4",
                                 "--no-cache", "--test-size", "0.4", "--json"])
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "store" / "reviewed_logo" / "v1" / "card.json").read_text())
    assert card["data"]["format"] == "reviews:logo.has_logo" and card["data"]["labels"] == {"false": 3, "true": 2}
    assert card["data"]["source"] == str(fresh / REVIEWS_FILE) and card["data"]["splits"]["test"]["count"] == 2


def test_concurrent_verdicts_are_all_kept_whole(fresh):
    from concurrent.futures import ThreadPoolExecutor

    view = open_run(fresh)
    plan, record = view.require_plan(), view.record(0)

    def write(n: int) -> str:
        line = make_verdict(plan, record, 0, {"table": "moderation", "verdict": "confirm", "reviewer": f"r{n}", "note": "x" * 3000})
        return append_review(fresh, line)["review"]

    with ThreadPoolExecutor(8) as pool:
        written = list(pool.map(write, range(200)))
    found = read_reviews(fresh / REVIEWS_FILE)
    assert found.damaged == 0 and sorted(line["review"] for line in found.lines) == sorted(written)
    assert {line["reviewer"] for line in found.lines} == {f"r{n}" for n in range(200)}
