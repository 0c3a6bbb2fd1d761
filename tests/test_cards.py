"""Factor cards: every built-in operator has one, its numbers are the benchmarks' results, and the
CLI, the schema and the report show it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import media_fixtures as fx
import pytest
import yaml
from typer.testing import CliRunner

from factorline.cards import CARDS_DIR, load_card, render_markdown, summary_line
from factorline.cli import app
from factorline.plugins import list_operators

ROOT = Path(__file__).resolve().parent.parent
BUILT_IN = sorted((s for s in list_operators() if s.run.__module__.startswith("factorline.")), key=lambda s: s.name)
runner = CliRunner()


def _generator():
    spec = importlib.util.spec_from_file_location("cards_generator", ROOT / "benchmarks" / "cards.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("spec", BUILT_IN, ids=lambda s: s.name)
def test_every_built_in_operator_has_a_current_card_with_limits(spec):
    card = load_card(spec.name)
    assert card is not None, f"no card for {spec.name}: run `make cards`"
    assert card["operator"] == spec.id, f"card of {card['operator']} is stale for {spec.id}: run `make cards`"
    assert spec.limits and card["limits"] == list(spec.limits)
    assert card["command"] == "make cards"
    assert card.get("real") or card.get("synthetic") or card.get("measured_elsewhere") or card.get("not_measured")


def test_card_numbers_are_what_the_benchmark_results_give():
    """The stored cards hold exactly what benchmarks/cards.py derives from results/*.json."""
    gen = _generator()
    results = ROOT / "benchmarks" / "results"
    real = json.loads((results / "real_media.json").read_text(encoding="utf-8"))
    acc = json.loads((results / "factor_accuracy.json").read_text(encoding="utf-8"))
    for spec in BUILT_IN:
        card = load_card(spec.name)
        assert card["real"] == gen.real_metrics(spec.name, real), spec.name
        assert card["synthetic"] == gen.synthetic_metric(spec.name, acc), spec.name
        assert card["sources"]["real_media"]["date"] == real["date"]
        # "not measured" only where no result covers the operator (a new one, before `make cards` reruns)
        unmeasured = not (card["real"] or card["synthetic"]) and spec.name not in gen.MEASURED_ELSEWHERE
        assert card.get("not_measured") == (gen.NOT_MEASURED if unmeasured else None), spec.name
    # the real sets the benchmark scored are on the cards of the operators they judge
    assert set(load_card("black_border")["real"]) == {n for n, r in real["results"].items() if "bars" in r["factors"]}


def test_summary_line_and_markdown():
    card = load_card("black_border")
    line = summary_line(card)
    assert "bars present P" in line and "cropdetect" in line and "synthetic" in line
    text = render_markdown(card, ("a limit",))
    assert "**Known limits**" in text and "- a limit" in text and "make cards" in text
    assert summary_line(None) == "no card yet (make cards)"
    pending = {"operator": "x@1", "title": "X", "not_measured": "Not measured yet."}
    assert "Not measured yet." in render_markdown(pending) and summary_line(pending) == "not measured"
    assert summary_line(card, "black_border@99").startswith("stale: measured on black_border@")
    assert load_card("../etc/passwd") is None and load_card("no_such_operator") is None
    assert not list(CARDS_DIR.glob("*.tmp"))


def test_schema_carries_the_card_and_limits():
    schema = next(s for s in list_operators() if s.name == "logo").schema()
    assert schema["limits"] and "has_logo" in schema["card"]


def test_operators_command_shows_cards():
    listing = runner.invoke(app, ["operators"], catch_exceptions=False, env={"COLUMNS": "400"})
    assert listing.exit_code == 0 and "measured" in listing.stdout and "black_border@4" in listing.stdout
    one = runner.invoke(app, ["operators", "--card", "black_border"], catch_exceptions=False)
    assert one.exit_code == 0 and "## black_border@4" in one.stdout and "Known limits" in one.stdout
    bad = runner.invoke(app, ["operators", "--card", "blak_border"])
    assert bad.exit_code == 2 and "no operator named 'blak_border'" in bad.stderr and "black_border" in bad.stderr


def test_report_links_each_factor_to_its_card(tmp_path):
    doc = {"name": "cards", "input": "video", "sampling": {"fps": 1.0, "max_frames": 4},
           "steps": {"border": {"op": "black_border"}}}
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(yaml.safe_dump(doc))
    clip = fx.letterboxed_clip(tmp_path / "lb.mp4", bar=40)
    result = runner.invoke(app, ["run", str(pipeline), str(clip), "--out", str(tmp_path / "run"), "--no-cache"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    html = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert "<h2>Factor cards</h2>" in html and 'id="card-border"' in html and 'href="#card-border"' in html
    assert "A black bar must be flat or end on a straight line" in html and "stale" not in html
