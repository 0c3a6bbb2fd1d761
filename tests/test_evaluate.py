"""Evaluation: metrics checked against hand-computed fixtures, label files, matching, sweeps,
and one end-to-end evaluation of a real small run."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import media_fixtures as fx
import pytest

from factorline.batch import run_pipeline
from factorline.contract.errors import ConfigError
from factorline.engine.compiler import compile_pipeline
from factorline.report import evaluate, evaluate_run, parse_sweep, read_labels
from factorline.report.evalpage import render_evaluation
from factorline.report.labels import match_labels
from factorline.report.metrics import bootstrap_f1, class_scores, confusion, rule_precision, wilson
from factorline.report.run import RunData
from factorline.report.sweep import SweepSpec, auto_sweeps, run_sweep

RULES = [
    {"id": "bars", "when": "border.area_ratio > 0.2", "outcome": "review", "reason": "bars"},
    {"id": "blurry", "when": "clarity.score < 0.3", "outcome": "review"},
    {"id": "ok", "default": True, "outcome": "accept"},
]
DOC = {
    "name": "t_eval", "input": "video", "sampling": {"fps": 2.0, "max_frames": 8},
    "steps": {"border": {"op": "black_border"}, "clarity": {"op": "clarity"}},
    "decisions": {"moderation": {"policy": "first", "on_missing": "review", "on_error": "error", "rules": RULES}},
}


@pytest.fixture(scope="module")
def plan():
    return compile_pipeline(DOC)


def record(plan, path: str, ratio: float | None, score: float, error: dict | None = None) -> dict:
    factors = {} if error else {"border": {"area_ratio": ratio}, "clarity": {"score": score}}
    return {"item": {"id": f"sha256:{abs(hash(path)):x}", "path": path}, "factors": factors,
            "decisions": plan.decisions.decide(factors, error=error), "error": error}


# -- metrics, by hand ---------------------------------------------------------------------
EXPECTED = list("aaaabbbccc")
PREDICTED = list("aaabbbbcca")


def test_three_class_confusion_and_scores():
    matrix = confusion(EXPECTED, PREDICTED, ["a", "b", "c"])
    assert matrix == [[3, 1, 0], [0, 3, 0], [1, 0, 2]]
    s = class_scores(matrix, ["a", "b", "c"])
    assert (s["a"]["precision"], s["a"]["recall"], s["a"]["f1"]) == (0.75, 0.75, 0.75)
    assert s["b"]["precision"] == 0.75 and s["b"]["recall"] == 1.0 and s["b"]["f1"] == pytest.approx(6 / 7)
    assert s["c"]["precision"] == 1.0 and s["c"]["recall"] == pytest.approx(2 / 3) and s["c"]["f1"] == pytest.approx(0.8)
    assert s["b"]["support"] == 3 and s["b"]["predicted"] == 4


def test_wilson_interval_known_values():
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.49016, abs=1e-5) and hi == pytest.approx(0.94332, abs=1e-5)
    assert wilson(0, 5)[0] == 0.0 and wilson(5, 5)[1] == 1.0 and wilson(0, 0) is None
    assert wilson(8, 10, confidence=0.99)[0] < lo  # wider at higher confidence


def test_bootstrap_f1_is_seeded_and_brackets_the_estimate():
    first = bootstrap_f1(EXPECTED, PREDICTED, ["a", "b", "c"], seed=3)
    assert first == bootstrap_f1(EXPECTED, PREDICTED, ["a", "b", "c"], seed=3)
    lo, hi = first["b"]
    assert lo <= 6 / 7 <= hi and 0 <= lo < hi <= 1


def test_rule_precision():
    fired = [("bars", "review", "review"), ("bars", "review", "accept"),
             ("ok", "accept", "accept"), ("ok", "accept", "accept"), ("ok", "accept", "review")]
    rules = rule_precision(fired)
    assert (rules["bars"]["fired"], rules["bars"]["agreed"], rules["bars"]["precision"]) == (2, 1, 0.5)
    assert rules["ok"]["precision"] == pytest.approx(2 / 3) and rules["ok"]["precision_ci"] == wilson(2, 3)


# -- sweeps -------------------------------------------------------------------------------
def test_sweep_points_by_hand(plan):
    rows = [(0.0, 0.9, "accept"), (0.1, 0.9, "review"), (0.25, 0.9, "review"), (0.5, 0.9, "accept"), (0.3, 0.1, "review")]
    records = [record(plan, f"v{i}.mp4", r, s) for i, (r, s, _) in enumerate(rows)]
    result = run_sweep(plan, SweepSpec("moderation", "bars", "border.area_ratio"), records, [e for *_, e in rows])
    got = {p["threshold"]: (p["tp"], p["fp"], p["fn"]) for p in result["points"]}
    assert got == {0.0: (3, 1, 0), 0.1: (2, 1, 1), 0.2: (2, 1, 1), 0.25: (1, 1, 2), 0.3: (1, 1, 2), 0.5: (1, 0, 2)}
    at = {p["threshold"]: p for p in result["points"]}
    assert at[0.0]["precision"] == 0.75 and at[0.0]["recall"] == 1.0 and at[0.5]["precision"] == 1.0
    assert result["current"] == 0.2 and result["current_point"]["recall"] == pytest.approx(2 / 3)
    assert result["differs_from_run"] == 0  # the run's own threshold reproduces its decisions


def test_sweep_inside_a_list_fold():
    rules = [{"id": "soft", "when": "count(clarity.frame_scores < 0.3) >= 2", "outcome": "review"},
             {"id": "ok", "default": True, "outcome": "accept"}]
    plan = compile_pipeline({**DOC, "decisions": {"moderation": {**DOC["decisions"]["moderation"], "rules": rules}}})
    scores = [[0.1, 0.2, 0.9], [0.25, 0.5, 0.5], [0.9, 0.9], [0.1, 0.1, 0.1]]
    records = [{"item": {"path": f"{i}.mp4"}, "factors": {"clarity": {"frame_scores": s}}, "error": None,
                "decisions": plan.decisions.decide({"clarity": {"frame_scores": s}})} for i, s in enumerate(scores)]
    spec = parse_sweep("moderation.soft:clarity.frame_scores", plan)
    result = run_sweep(plan, spec, records, ["review", "accept", "accept", "review"])
    got = {p["threshold"]: (p["tp"], p["fp"], p["fn"]) for p in result["points"]}
    assert got == {0.1: (0, 0, 2), 0.2: (1, 0, 1), 0.25: (2, 0, 0), 0.3: (2, 0, 0), 0.5: (2, 0, 0), 0.9: (2, 1, 0)}
    assert result["points"][0]["precision"] is None  # nothing predicted: undefined, not 0


def test_sweep_specs_are_checked(plan):
    assert parse_sweep("moderation.bars:border.area_ratio", plan) == SweepSpec("moderation", "bars", "border.area_ratio")
    with pytest.raises(ConfigError, match="TABLE.RULE:STEP.FIELD"):
        parse_sweep("bars", plan)
    with pytest.raises(ConfigError, match="no rule 'nope'"):
        parse_sweep("moderation.nope:border.area_ratio", plan)
    with pytest.raises(ConfigError, match="expected one comparison of clarity.score.*found no comparison"):
        parse_sweep("moderation.bars:clarity.score", plan)
    assert {str(s) for s in auto_sweeps(plan, {"moderation"})} == {
        "moderation.bars:border.area_ratio", "moderation.blurry:clarity.score"}


# -- label files and matching --------------------------------------------------------------
def test_csv_labels(plan, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("path,outcome,border.area_ratio,border.fill,notes\nclips/a.mp4,review,0.25,black,x\nb.mp4,accept,,,\n")
    read = read_labels(labels, plan)
    assert [lb.outcomes for lb in read.labels] == [{"moderation": "review"}, {"moderation": "accept"}]
    assert read.labels[0].factors == {"border.area_ratio": 0.25, "border.fill": "black"} and read.labels[1].factors == {}
    assert any("notes" in note for note in read.ignored)
    labels.write_text("path,border.area_ratio\na.mp4,wide\n")
    with pytest.raises(ConfigError, match=r"labels.csv:2 border.area_ratio: expected a number, found 'wide'"):
        read_labels(labels, plan)
    labels.write_text("outcome\nreview\n")
    with pytest.raises(ConfigError, match="needs a 'path' or an 'id'"):
        read_labels(labels, plan)


def test_ground_truth_maps_operator_names_to_steps(plan, tmp_path):
    row = {"path": "videos/a.mp4", "expected": {"moderation": "review", "other": "x"},
           "factors": {"black_border": {"area_ratio": 0.25, "fill": "black"}, "clarity": {"blur_sigma": 4.0},
                       "logo": {"has_logo": False}, "border": {"top": 45.0}}}
    (tmp_path / "ground_truth.jsonl").write_text(json.dumps(row) + "\n")
    read = read_labels(tmp_path / "ground_truth.jsonl", plan)
    assert read.labels[0].outcomes == {"moderation": "review"}
    assert read.labels[0].factors == {"border.area_ratio": 0.25, "border.fill": "black", "border.top": 45}
    assert isinstance(read.labels[0].factors["border.top"], int)  # an int field's label reads as an int
    notes = " | ".join(read.ignored)
    assert "clarity has no field 'blur_sigma'" in notes and "factors.logo" in notes and "expected.other" in notes


def test_outcome_column_is_ambiguous_with_two_tables(tmp_path):
    two = compile_pipeline({**DOC, "decisions": {**DOC["decisions"], "second": DOC["decisions"]["moderation"]}})
    (tmp_path / "l.csv").write_text("path,outcome\na.mp4,review\n")
    with pytest.raises(ConfigError, match="ambiguous.*moderation, second"):
        read_labels(tmp_path / "l.csv", two)


def test_matching_by_id_path_and_suffix(plan, tmp_path):
    records = [record(plan, str(tmp_path / "set" / "a.mp4"), 0.0, 0.9), record(plan, "/data/x/clip.mp4", 0.0, 0.9),
               record(plan, "/data/y/clip.mp4", 0.0, 0.9), record(plan, "/data/z/only.mp4", 0.0, 0.9)]
    (tmp_path / "set").mkdir()
    lines = [{"path": "a.mp4", "outcome": "accept"}, {"id": records[1]["item"]["id"][7:], "outcome": "accept"},
             {"path": "z/only.mp4", "outcome": "accept"}, {"path": "clip.mp4", "outcome": "accept"},
             {"path": "missing.mp4", "outcome": "accept"}, {"path": "only.mp4", "outcome": "review"}]
    (tmp_path / "set" / "labels.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    m = match_labels(read_labels(tmp_path / "set" / "labels.jsonl", plan), records)
    assert [(lb.where.split(":")[1], i) for lb, i in m.pairs] == [("1", 0), ("2", 1), ("3", 3)]
    assert dict(m.how) == {"path": 1, "id": 1, "suffix": 1}
    reasons = [why for _, why in m.unmatched]
    assert "2 items end with clip.mp4" in reasons[0] and "no item has the path missing.mp4" in reasons[1]
    assert "already labeled by labels.jsonl:3" in reasons[2]
    assert m.unlabeled == [2]


def test_hostile_labels_are_escaped_in_the_page(plan, tmp_path):
    records = [record(plan, "a.mp4", 0.5, 0.9), record(plan, "b.mp4", 0.0, 0.9)]
    hostile = "<script>alert(1)</script>"
    (tmp_path / "l.jsonl").write_text(json.dumps({"path": "a.mp4", "outcome": hostile}) + "\n"
                                      + json.dumps({"path": f"{hostile}.mp4", "outcome": "accept"}) + "\n")
    run = RunData(tmp_path, {}, records, plan)
    result = evaluate(run, read_labels(tmp_path / "l.jsonl", plan))
    assert result["tables"]["moderation"]["confusion"]["classes"] == ["review", hostile]
    text = render_evaluation(result, run, gallery=4)
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


# -- end to end on a real run --------------------------------------------------------------
@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    base = tmp_path_factory.mktemp("eval")
    boxed = fx.letterboxed_clip(base / "boxed.mp4", seconds=2.0, bar=40)
    plain = fx.letterboxed_clip(base / "plain.mp4", seconds=2.0, bar=0)
    (base / "broken.mp4").write_bytes(b"\x00" * 64)
    run = base / "run"
    run_pipeline(DOC, [str(boxed), str(plain), str(base / "broken.mp4")], run, cache_dir=None)
    labels = base / "labels.csv"
    # plain.mp4 is labeled review on purpose: one disagreement for the gallery.
    labels.write_text("path,moderation,border.area_ratio,border.fill\nboxed.mp4,review,0.3,black\n"
                      "plain.mp4,review,0,none\nbroken.mp4,error,,\nnothing.mp4,accept,,\n")
    summary = evaluate_run(run, labels, sweeps=["moderation.bars:border.area_ratio"])
    return summary, json.loads(Path(summary.json_path).read_text()), Path(summary.html_path).read_text()


def test_end_to_end_numbers(evaluated):
    summary, result, _ = evaluated
    assert (summary.labels, summary.matched, summary.unmatched, summary.unlabeled) == (4, 3, 1, 0)
    t = result["tables"]["moderation"]
    assert (t["labeled"], t["correct"]) == (3, 2) and summary.accuracy["moderation"] == pytest.approx(2 / 3)
    c = t["confusion"]
    at = {k: i for i, k in enumerate(c["classes"])}
    assert c["matrix"][at["review"]][at["accept"]] == 1 and c["matrix"][at["error"]][at["error"]] == 1
    assert t["per_outcome"]["review"]["recall"] == 0.5 and t["per_outcome"]["review"]["precision"] == 1.0
    assert t["rules"]["on_error"]["precision"] == 1.0 and t["rules"]["ok"]["precision"] == 0.0
    assert [e["path"].endswith("plain.mp4") for e in t["errors"]] == [True]
    assert result["sweeps"][0]["differs_from_run"] == 0
    ratio = result["factors"]["border.area_ratio"]
    assert ratio["n"] == 2 and ratio["mae"] == pytest.approx(abs(1 / 3 - 0.3) / 2, abs=0.01)
    assert result["factors"]["border.fill"]["accuracy"] == 1.0


def test_evaluation_page_is_self_contained(evaluated):
    _, _, text = evaluated

    class Tags(HTMLParser):
        def __init__(self):
            super().__init__()
            self.found = []

        def handle_starttag(self, tag, attrs):
            self.found.append((tag, dict(attrs)))

    parser = Tags()
    parser.feed(text)
    images = [a for t, a in parser.found if t == "img"]
    assert images and all(a["src"].startswith("data:image/jpeg;base64,") for a in images)
    assert "http://" not in text and "https://" not in text
    assert "Worst errors" in text and "plain.mp4" in text and "<polyline" in text


def test_evaluation_page_tags_are_balanced(evaluated):
    _, _, text = evaluated
    void = {"meta", "img", "br", "input", "line", "circle", "rect", "polyline", "option"}

    class Balance(HTMLParser):
        def __init__(self):
            super().__init__()
            self.stack, self.errors = [], []

        def handle_starttag(self, tag, attrs):
            if tag not in void:
                self.stack.append(tag)

        def handle_endtag(self, tag):
            if tag in void:
                return
            if self.stack and self.stack[-1] == tag:
                self.stack.pop()
            else:
                self.errors.append((tag, self.getpos()))

    parser = Balance()
    parser.feed(text)
    assert parser.errors == [] and parser.stack == []
