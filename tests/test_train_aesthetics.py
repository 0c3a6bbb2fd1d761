"""`factorline train PAIRS.jsonl --task aesthetics`: the aesthetics head from a pair set, stored and used."""

from __future__ import annotations

import json

import numpy as np
import pytest
import skimage.data
from PIL import Image
from typer.testing import CliRunner

from factorline.contract.errors import DataError, FactorlineError, ResourceError
from factorline.models.store import ModelStore
from factorline.operators.aesthetics import HEAD_FEATURES, AestheticsParams, load_stored_head, parse_head
from factorline.samples import transforms as T
from factorline.train import aesthetics as lib

PHOTOS = {"astronaut": skimage.data.astronaut(), "coffee": skimage.data.coffee(), "chelsea": skimage.data.chelsea()}


def small(image: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((160, 120), Image.Resampling.BILINEAR))


def degraded(image: np.ndarray) -> dict[str, np.ndarray]:
    grey = image.astype(np.float64).mean(axis=2, keepdims=True)
    rng = np.random.default_rng(3)
    return {"dark": T.levels(image, 0.35), "blur": T.gaussian_blur(image, 2.5),
            "flat": np.clip(grey + (image - grey) * 0.1, 0, 255).astype(np.uint8),
            "noise": np.clip(image + rng.normal(0, 20, image.shape), 0, 255).astype(np.uint8)}


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    (root / "media").mkdir()
    rows = []
    for name, photo in PHOTOS.items():
        base = small(photo)
        Image.fromarray(base).save(root / "media" / f"{name}.png")
        for kind, worse in degraded(base).items():
            Image.fromarray(worse).save(root / "media" / f"{name}_{kind}.png")
            rows.append({"better": f"media/{name}.png", "worse": f"media/{name}_{kind}.png", "kind": kind, "group": name})
    (root / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return root


def with_bad_rows(root, tmp_path) -> str:
    (root / "media" / "broken.png").write_bytes(b"not a picture at all")
    good = (root / "pairs.jsonl").read_text(encoding="utf-8")
    bad = tmp_path / "bad.jsonl"
    # paths relative to the manifest: the bad manifest sits elsewhere, so it names the media absolutely
    lines = [json.dumps({k: (str(root / v) if k in ("better", "worse") else v) for k, v in json.loads(line).items()})
             for line in good.splitlines()]
    lines += [json.dumps({"better": str(root / "media/coffee.png"), "worse": "nowhere.png"}),  # line 13: missing file
              json.dumps({"better": str(root / "media/coffee.png")}),  # line 14: no worse
              json.dumps({"better": str(root / "media/coffee.png"), "worse": str(root / "media/broken.png")}),  # 15
              "{not json"]  # line 16
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(bad)


def test_train_stores_a_head_in_the_format_of_the_shipped_one(pairs_dir, tmp_path):
    store = ModelStore(tmp_path / "models")
    model = lib.train_aesthetics(pairs_dir / "pairs.jsonl", "my-aesthetics", store=store)
    card = model.card
    assert card["task"] == "aesthetics" and card["version"] == 1 and card["data"]["pairs"] == 12
    assert card["data"]["media"] == 15 and card["data"]["skipped"] == []
    assert card["metrics"]["train_agreement"] >= 0.9 and card["metrics"]["cv_groups"] == 3
    assert set(card["metrics"]["train_agreement_by_kind"]) == {"dark", "blur", "flat", "noise"}
    head = parse_head(json.loads((model.path / "head.json").read_text(encoding="utf-8")))
    assert head.features == HEAD_FEATURES and head.trained["command"].startswith("factorline train")
    assert "reproduce" in (model.path / "card.md").read_text(encoding="utf-8")
    listed = store.list()
    assert listed[0]["task"] == "aesthetics" and listed[0]["name"] == "my-aesthetics"
    again = lib.train_aesthetics(pairs_dir / "pairs.jsonl", "my-aesthetics", store=store)
    assert again.card["version"] == 2 and again.card["head"]["weights"] == card["head"]["weights"]  # deterministic


def test_every_bad_row_is_reported_with_its_line_and_field(pairs_dir, tmp_path):
    bad = with_bad_rows(pairs_dir, tmp_path)
    with pytest.raises(DataError, match=r"bad\.jsonl:13: worse: missing file .*nowhere\.png") as info:
        lib.train_aesthetics(bad, "x", store=ModelStore(tmp_path / "models"))
    message = info.value.message
    assert "4 bad row(s)" in message and "--skip-bad" in message
    assert "bad.jsonl:14: worse: expected a path" in message
    assert "bad.jsonl:15: worse: unreadable media" in message and "bad.jsonl:16: not JSON" in message


def test_skip_bad_leaves_them_out_and_lists_them_in_the_card(pairs_dir, tmp_path):
    bad = with_bad_rows(pairs_dir, tmp_path)
    model = lib.train_aesthetics(bad, "x", store=ModelStore(tmp_path / "models"), skip_bad=True)
    skipped = model.card["data"]["skipped"]
    assert len(skipped) == 4 and skipped[0].startswith("bad.jsonl:13: worse: missing file")
    assert model.card["data"]["pairs"] == 12 and model.card["data"]["rows"] == 16


def test_a_manifest_that_is_not_jsonl_or_missing_says_what_is_expected(tmp_path):
    (tmp_path / "pairs.csv").write_text("better,worse\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"reads a \.jsonl pair manifest"):
        lib.measure_pairs(tmp_path / "pairs.csv")
    with pytest.raises(DataError, match=r"no pair manifest at"):
        lib.measure_pairs(tmp_path / "none.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"no usable pairs"):
        lib.train_aesthetics(tmp_path / "empty.jsonl", "x", store=ModelStore(tmp_path / "models"))


def test_the_operator_uses_a_stored_head_pinned_in_its_params(pairs_dir, tmp_path, monkeypatch):
    from factorline.cache import StepCache
    from factorline.engine.compiler import compile_pipeline
    from factorline.engine.executor import Engine

    monkeypatch.setenv("FACTORLINE_MODELS", str(tmp_path / "models"))
    model = lib.train_aesthetics(pairs_dir / "pairs.jsonl", "mine", store=ModelStore())
    assert AestheticsParams(head="mine").head == "mine@1"  # pinned: a new version changes the cache key
    head = load_stored_head("mine@1")
    assert list(head.weights) == pytest.approx(model.card["head"]["weights"])
    doc = {"name": "look", "input": "image", "steps": {"mine": {"op": "aesthetics", "params": {"head": "mine"}},
                                                        "shipped": {"op": "aesthetics"}}}
    engine = Engine(compile_pipeline(doc), cache=StepCache(tmp_path / "cache"))
    good = engine.run_item(pairs_dir / "media" / "coffee.png")
    worse = engine.run_item(pairs_dir / "media" / "coffee_dark.png")
    assert good["error"] is None, good["error"]
    mine, shipped = good["factors"]["mine"], good["factors"]["shipped"]
    assert mine["brightness"] == shipped["brightness"] and mine["score"] != shipped["score"]  # same parts, other head
    expected = float(head.score(np.asarray(lib.head_features({**{k: mine[k] for k in mine if k in _MEASURES}}))))
    assert mine["score"] == pytest.approx(expected, abs=1e-3)
    assert worse["factors"]["mine"]["score"] < mine["score"]


_MEASURES = ("brightness", "clipped", "black_level", "white_level", "dynamic_range", "contrast", "colourfulness",
             "colour_cast", "saturation", "saturation_clipped", "noise", "sharpness", "subject_x", "subject_y",
             "placement", "tilt", "tilt_confidence", "clutter", "shake")


def test_a_missing_or_foreign_stored_head_fails_validation(tmp_path, monkeypatch):
    from pydantic import ValidationError

    monkeypatch.setenv("FACTORLINE_MODELS", str(tmp_path / "models"))
    with pytest.raises(ValidationError, match=r"no model 'nothing'"):
        AestheticsParams(head="nothing")
    with pytest.raises(FactorlineError, match=r"no model 'nothing'"):
        load_stored_head("nothing")
    folder = tmp_path / "models" / "clf" / "v1"  # a (compressed) image classifier: not an aesthetics head
    monkeypatch.setattr("factorline.models.store.render_markdown", lambda card: "# clf\n")
    ModelStore().save_model("clf", {"kind": "compressed", "task": "image", "head": {"kind": "net", "classes": ["a", "b"]}},
                            lambda f, c: [])
    with pytest.raises(ResourceError, match=r"'image' model; expected an aesthetics head"):
        load_stored_head(str(folder))


def test_the_cli_trains_with_task_aesthetics_and_refuses_classifier_options(pairs_dir, tmp_path):
    from factorline.cli import app

    runner = CliRunner()
    store = str(tmp_path / "models")
    got = runner.invoke(app, ["train", str(pairs_dir / "pairs.jsonl"), "--name", "cli-aesthetics", "--task", "aesthetics",
                              "--store", store, "--json"], catch_exceptions=False)
    assert got.exit_code == 0, got.output
    assert json.loads(got.output)["metrics"]["train_agreement"] >= 0.9
    got = runner.invoke(app, ["train", str(pairs_dir / "pairs.jsonl"), "--name", "x", "--task", "aesthetics",
                              "--backbone", "minilm", "--store", store])
    assert got.exit_code == 2 and "--backbone" in got.output
    got = runner.invoke(app, ["train", str(pairs_dir / "pairs.jsonl"), "--name", "x", "--task", "nope", "--store", store])
    assert got.exit_code == 2 and "classify or aesthetics" in got.output
    got = runner.invoke(app, ["eval", "cli-aesthetics", "--store", store])
    assert got.exit_code == 2 and "aesthetics head" in got.output
