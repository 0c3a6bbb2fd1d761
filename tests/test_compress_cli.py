"""`factorline compress` from the command line: the gate refuses (exit 1), --force publishes,
nonsense combinations exit 2 saying what to do, a pipeline's decision is distilled end to end."""

from __future__ import annotations

import json

import pytest
from compress_data import bars_set, fast
from typer.testing import CliRunner

from factorline.cache import StepCache
from factorline.cli import app
from factorline.compress import compress
from factorline.contract.errors import GateError
from factorline.models.store import ModelStore

runner = CliRunner()
QUICK = ["--size", "32", "--bench-runs", "1", "--calibration", "8"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return bars_set(tmp_path_factory.mktemp("cli") / "data")


def invoke(*args: str, env: dict | None = None):
    return runner.invoke(app, list(args), env={"COLUMNS": "200", **(env or {})})


def test_a_child_beyond_tolerance_is_refused_and_kept_aside(data, tmp_path):
    store = tmp_path / "models"
    # One epoch at a tiny learning rate: a student that has learned nothing, against a zero tolerance.
    result = invoke("compress", "op:black_border.fill", "--data", str(data), "--distill", "tiny-cnn", "--epochs", "1",
                    "--lr", "1e-7", "--tolerance", "0", "--store", str(store), "--cache", str(tmp_path / "c"), *QUICK)
    assert result.exit_code == 1, result.output
    assert "refused" in result.output and "not published" in result.output and "--force" in result.output
    assert ModelStore(store).names() == []  # nothing published
    (kept,) = list((store / ".rejected").iterdir())
    report = json.loads((kept / "report.json").read_text())
    assert report["gate"]["verdict"] == "refused" and report["gate"]["drop_points"] > 0 and report["location"] == str(kept)
    assert "**REFUSED (not published)**" in (kept / "report.md").read_text()
    assert json.loads((kept / "card.json").read_text())["published"] is False


def test_force_publishes_beyond_tolerance_and_the_report_says_so(data, tmp_path):
    store = tmp_path / "models"
    result = invoke("compress", "op:black_border.fill", "--data", str(data), "--distill", "tiny-cnn", "--epochs", "1",
                    "--lr", "1e-7", "--tolerance", "0", "--force", "--name", "forced", "--store", str(store),
                    "--cache", str(tmp_path / "c"), *QUICK)
    assert result.exit_code == 0, result.output
    assert "forced" in result.output and "beyond the tolerance" in result.output
    stored = ModelStore(store).load("forced")
    assert stored.card["gate"]["verdict"] == "forced"
    assert "PUBLISHED BY --force (beyond tolerance)" in (stored.path / "report.md").read_text()
    listed = invoke("models", "list", "--store", str(store), "--json")
    assert json.loads(listed.output)[0]["parent"] == "op:black_border@4.fill"
    shown = invoke("models", "show", "forced", "--store", str(store))
    assert shown.exit_code == 0 and "Lineage" in shown.output
    again = invoke("eval", "forced", "--store", str(store))
    assert again.exit_code == 2 and "is a compressed model" in again.output and "report.md" in again.output


def test_the_library_raises_gate_error_naming_the_drop(data, tmp_path):
    with pytest.raises(GateError, match=r"distill child 'x' lost \d+\.\d\d points \(agreement\b.* vs parent; parent op:black_border@4\.fill\) .* not published; kept at"):
        compress("op:black_border.fill", data=data, store=ModelStore(tmp_path / "m"), cache=StepCache(tmp_path / "c"),
                 options=fast(distill="tiny-cnn", epochs=1, lr=1e-7, tolerance=0.0, name="x"))


@pytest.mark.parametrize("args, message", [
    (["op:black_border.fill"], "nothing to do: give at least one of --distill"),
    (["op:black_border.fill", "--prune", "0.3"], "is an operator, not a network: --prune needs one. Distill it first"),
    (["op:black_border.fill", "--quantize", "int4"], "--quantize expects int8, found 'int4'"),
    (["op:black_border.fill", "--distill", "resnet"], "--distill expects one of tiny-cnn, effnet-lite0, found 'resnet'"),
    (["op:black_border.fill", "--distill", "tiny-cnn", "--teacher-level", "both"], "expected frame or item"),
    (["pipeline:nowhere.yaml", "--distill", "tiny-cnn"], "expected a pipeline YAML/JSON file, found nothing at"),
    (["nosuchmodel", "--export", "onnx"], "no model 'nosuchmodel' in the store"),
    (["op:black_border.fill", "--distill", "tiny-cnn", "--op-params", "{bad"], "--op-params: expected a JSON object"),
])
def test_nonsense_exits_2_saying_what_was_expected(data, tmp_path, args, message):
    result = invoke("compress", *args, "--data", str(data), "--store", str(tmp_path / "m"))
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_a_pipeline_decision_is_distilled_end_to_end_with_agreement_per_outcome(data, tmp_path):
    pipeline = tmp_path / "bars.yaml"
    pipeline.write_text(
        "name: bars\ninput: image\nsteps:\n  border: {op: black_border}\n"
        "decisions:\n  verdict:\n    on_missing: accept\n    on_error: accept\n    rules:\n"
        "      - {id: bars, when: border.area_ratio > 0.1, outcome: crop}\n"
        "      - {id: ok, default: true, outcome: accept}\n")
    store = tmp_path / "models"
    result = invoke("compress", f"pipeline:{pipeline}#verdict", "--data", str(data), "--distill", "tiny-cnn",
                    "--epochs", "12", "--tolerance", "100", "--store", str(store), "--cache", str(tmp_path / "c"), "--json", *QUICK)
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.output)
    assert report["parent"]["kind"] == "pipeline" and report["gate"]["level"] == "item"
    assert set(report["agreement"]["item"]["per_class"]) == {"accept", "crop"}
    assert report["agreement"]["item"]["agreement"] >= 0.8
    assert report["parent"]["latency_ms"]["item"]["batch_1"] > 0 and report["child"]["latency_ms"]["item"]["batch_1"] > 0
    card = ModelStore(store).read_card("bars.verdict-tiny-cnn")
    assert card["parent"]["ref"].endswith("bars.yaml#verdict") and card["head"]["classes"] == ["accept", "crop"]
