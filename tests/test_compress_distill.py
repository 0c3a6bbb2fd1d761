"""Distillation: an operator teacher, a tiny student, the held-out split, the gate's numbers, lineage."""

from __future__ import annotations

import json

import numpy as np
import pytest
from compress_data import bars_set, fast

from factorline.cache import StepCache
from factorline.compress import compress
from factorline.compress import gate as G
from factorline.compress.data import split_items
from factorline.compress.distill import class_weights, tempered
from factorline.compress.teachers import OperatorTeacher
from factorline.contract.errors import ConfigError, DataError
from factorline.models.store import ModelStore


@pytest.fixture(scope="module")
def distilled(tmp_path_factory):
    root = tmp_path_factory.mktemp("distill")
    data = bars_set(root / "data")
    store, cache = ModelStore(root / "models"), StepCache(root / "cache")
    results = compress("op:black_border.fill", data=data, options=fast(distill="tiny-cnn"), store=store, cache=cache)
    return root, data, store, cache, results


# ------------------------------------------------------------------ end to end


def test_a_student_learns_the_operator_and_agrees_on_held_out_frames(distilled):
    _, _, _, _, results = distilled
    (result,) = results
    assert result.step == "distill" and result.verdict == "published" and result.ref == "black_border.fill-tiny-cnn@1"
    report = result.report
    assert report["parent"]["ref"] == "op:black_border@4.fill" and report["classes"] == ["black", "none"]
    assert report["held_out"]["items"] == 10 and report["held_out"]["frames"] == 10
    assert report["agreement"]["frame"]["agreement"] >= 0.9  # an easy task for 12 epochs
    per_class = report["agreement"]["frame"]["per_class"]
    assert per_class["black"]["support"] + per_class["none"]["support"] == 10
    gate = report["gate"]
    assert (gate["metric"], gate["level"], gate["tolerance_points"], gate["verdict"]) == ("agreement", "frame", 100.0, "published")
    # the gate reads the overall agreement and each class the parent holds often enough; the worst decides
    assert gate["checks"][0] == {"against": "parent", "what": "agreement",
                                 "drop_points": pytest.approx(100 * (1 - report["agreement"]["frame"]["agreement"]))}
    assert gate["drop_points"] == max(c["drop_points"] for c in gate["checks"])
    latency = report["child"]["latency_ms"]
    assert {"model", "end_to_end"} <= set(latency) and latency["model"]["batch_32"] > 0
    assert report["parent"]["latency_ms"]["end_to_end"]["batch_1"] > 0  # the operator itself, timed
    assert report["machine"]["cores"] >= 1 and isinstance(report["machine"]["cpu_flags"], list)


def test_the_child_is_stored_with_checksums_reports_and_lineage(distilled):
    _, data, store, _, results = distilled
    stored = store.load(results[0].ref)  # checksums verified
    card = stored.card
    assert card["kind"] == "compressed" and card["task"] == "image"
    assert set(card["checksums"]) == {"model.safetensors", "report.json", "report.md", "card.md"}
    assert card["parent"]["ref"] == "op:black_border@4.fill" and card["parent"]["kind"] == "operator"
    assert card["parent"]["fingerprint"].startswith("sha256:")
    assert card["root"]["ref"] == "op:black_border@4.fill"
    (step,) = card["steps"]
    assert step["step"] == "distill" and step["student"] == "tiny-cnn" and step["fit"]["temperature"] == 4.0
    assert card["model"]["format"] == "torch" and card["model"]["arch"]["features"]["name"] == "tiny-cnn"
    assert card["model"]["input"]["preprocess"]["size"] == 32
    assert card["data"]["source"] == str(data.resolve()) and card["data"]["count"] == 40
    train = {d for d, _ in card["data"]["splits"]["train"]["items"]}
    test = {d for d, _ in card["data"]["splits"]["test"]["items"]}
    assert len(train) == 30 and len(test) == 10 and not train & test
    report = json.loads((stored.path / "report.json").read_text())
    assert report["child"]["ref"] == results[0].ref and report["location"] == str(stored.path)
    md = (stored.path / "report.md").read_text()
    assert "**PUBLISHED**" in md and "Per class of the parent" in md and "size on disk" in md
    assert "distill" in (stored.path / "card.md").read_text()
    row = next(r for r in store.list() if r["name"] == "black_border.fill-tiny-cnn")
    assert row["parent"] == "op:black_border@4.fill" and row["head"] == "network"


def test_teacher_outputs_are_cached_by_content_digest(distilled, monkeypatch):
    root, data, _, cache, _ = distilled

    def no_ocr(*args, **kwargs):
        raise AssertionError("the operator ran although its outputs are cached")

    monkeypatch.setattr(OperatorTeacher, "_run", no_ocr)
    monkeypatch.setattr(OperatorTeacher, "frames_call", lambda self, frames, batch: lambda: None)  # timing only
    again = compress("op:black_border.fill", data=data, options=fast(distill="tiny-cnn"), store=ModelStore(root / "again"),
                     cache=cache)
    assert again[0].report["held_out"]["digest"]  # same data, same split, no operator call


def test_a_child_keeps_its_parents_split(distilled):
    _, _, store, cache, results = distilled
    (child,) = compress(results[0].ref, options=fast(export="onnx"), store=store, cache=cache)
    parent_card, card = store.read_card(results[0].ref), store.read_card(child.ref)
    assert card["data"]["splits"]["test"]["digest"] == parent_card["data"]["splits"]["test"]["digest"]
    assert card["data"]["source"] == parent_card["data"]["source"]  # no --data: the parent's
    assert [s["step"] for s in card["steps"]] == ["distill", "export"]
    assert card["parent"]["ref"] == results[0].ref and card["root"]["ref"] == "op:black_border@4.fill"  # the first teacher
    assert "root" not in child.report  # the parent is this command's MODEL: nothing further up to compare with


# ------------------------------------------------------------------ errors


def test_operators_that_cannot_be_distilled_say_why(tmp_path):
    store, cache = ModelStore(tmp_path / "m"), StepCache(tmp_path / "c")
    with pytest.raises(ConfigError, match=r"clarity@1.score is a float field.*bool or str"):
        compress("op:clarity.score", data=tmp_path, options=fast(distill="tiny-cnn"), store=store, cache=cache)
    with pytest.raises(ConfigError, match=r"text_policy@1 reads text \(text\).*pipeline"):
        compress("op:text_policy.matched", data=tmp_path, options=fast(distill="tiny-cnn"), store=store, cache=cache)
    with pytest.raises(ConfigError, match=r"has no field 'nope'; fields: top, bottom"):
        compress("op:black_border.nope", data=tmp_path, options=fast(distill="tiny-cnn"), store=store, cache=cache)
    with pytest.raises(ConfigError, match=r"needs data to run on: --data"):
        compress("op:black_border.fill", options=fast(distill="tiny-cnn"), store=store, cache=cache)


def test_a_teacher_that_decides_one_way_only_is_refused(tmp_path):
    data = bars_set(tmp_path / "d", count=6)
    for p in sorted(data.iterdir())[1::2]:
        p.unlink()  # no barred picture left: the teacher says "none" everywhere
    with pytest.raises(DataError, match=r"one class only \(\['none'\]\)"):
        compress("op:black_border.fill", data=data, options=fast(distill="tiny-cnn"), store=ModelStore(tmp_path / "m"),
                 cache=StepCache(tmp_path / "c"))


# ------------------------------------------------------------------ pure parts


def test_agreement_per_class_confusion_and_drop():
    parent = np.array([0, 0, 0, 1, 1, 2])
    child = np.array([0, 0, 1, 1, 1, 0])
    got = G.agreement(parent, child, ["a", "b", "c"])
    assert got["agreement"] == pytest.approx(4 / 6, abs=1e-6)
    assert got["per_class"] == {"a": {"support": 3, "agreement": pytest.approx(2 / 3, abs=1e-6)},
                                "b": {"support": 2, "agreement": 1.0}, "c": {"support": 1, "agreement": 0.0}}
    assert got["confusion"]["counts"] == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert G.drop_points(None, None, 0.97) == ("agreement", pytest.approx(3.0))
    assert G.drop_points({"n": 10, "accuracy": 0.9}, {"n": 10, "accuracy": 0.85}, 0.5) == ("accuracy", pytest.approx(5.0))
    assert G.verdict(1.0, 1.0, False) == "published" and G.verdict(1.01, 1.0, False) == "refused"
    assert G.verdict(5.0, 1.0, True) == "forced"


def test_score_aggregates_frames_into_items_like_the_learned_operator():
    # Two items of two frames; the child flips one frame of item 0, which still averages to class 1.
    parent = np.array([[0.1, 0.9], [0.2, 0.8], [0.9, 0.1], [0.8, 0.2]])
    child = np.array([[0.6, 0.4], [0.1, 0.9], [0.7, 0.3], [0.9, 0.1]])
    s = G.score(parent, child, np.array([0, 0, 1, 1]), 2, np.array([1, 1]), ["no", "yes"], "yes", 0.5, "frame")
    assert s["frame"]["agreement"] == 0.75 and s["item"]["agreement"] == 1.0
    assert s["parent_accuracy"] == {"n": 2, "accuracy": 0.5} and s["metric"] == "accuracy" and s["drop_points"] == 0.0


def test_tempered_targets_and_class_balance():
    p = np.array([[0.9, 0.1], [0.5, 0.5]])
    soft = tempered(p, 4.0)
    assert soft[0, 0] < 0.9 and soft[0, 0] > 0.5 and np.allclose(soft.sum(1), 1) and np.allclose(soft[1], 0.5)
    assert np.allclose(tempered(p, 1.0), p)
    w = class_weights(np.array([[1, 0], [1, 0], [1, 0], [0, 1]], float))
    assert w[3] == pytest.approx(3 * w[0]) and w.mean() == pytest.approx(1.0)


def test_split_is_by_item_digest_stratified_and_keeps_recorded_sides():
    digests = [f"sha256:{i:02d}" for i in range(20)]
    y = np.array([0, 1] * 10)
    test = split_items(digests, y, 0.25, 0)
    assert test.sum() == 5 and set(y[test]) == {0, 1}
    assert np.array_equal(split_items(list(reversed(digests)), y[::-1], 0.25, 0)[::-1], test)  # order does not matter
    recorded = {digests[0]: "test", digests[1]: "train"}
    kept = split_items(digests, y, 0.25, 0, recorded)
    assert kept[0] and not kept[1]


def test_label_folders_named_like_teacher_classes_are_hard_labels(tmp_path):
    data = bars_set(tmp_path / "data", label=True)  # black/ and none/: the teacher's own class names
    (result,) = compress("op:black_border.fill", data=data, options=fast(distill="tiny-cnn", teacher_level="item"),
                         store=ModelStore(tmp_path / "m"), cache=StepCache(tmp_path / "c"))
    report = result.report
    assert report["held_out"]["labeled_items"] == 10 and report["gate"]["metric"] == "accuracy"
    assert report["accuracy"]["parent"]["n"] == 10 and report["accuracy"]["child"]["accuracy"] >= 0.8
    card = ModelStore(tmp_path / "m").read_card(result.ref)
    assert card["data"]["labeled"] == 40 and card["root"]["level"] == "item"
    assert all(label in {"black", "none"} for _, label in card["data"]["splits"]["test"]["items"])


def test_impossible_step_combinations_are_refused_before_any_work():
    from factorline.compress.stages import Options, Stage, plan

    def stage(**kw) -> Stage:
        base = dict(ref="m@1", lineage={"parent": {"ref": "m-parent@1"}}, kind="onnx", task="image", classes=["a", "b"],
                    positive=None, threshold=None, level="frame", name="m")
        return Stage(**{**base, **kw})

    with pytest.raises(ConfigError, match=r"classifies texts; students are image networks.*--quantize int8, dynamic"):
        plan(Options(distill="tiny-cnn"), stage(task="text", kind="head"))
    with pytest.raises(ConfigError, match=r"already int8 static QDQ per-channel; quantize its fp32 parent"):
        plan(Options(quantize="int8"), stage(precision="int8 static QDQ per-channel"))
    with pytest.raises(ConfigError, match=r"already an ONNX model; nothing to export"):
        plan(Options(export="onnx"), stage())
    with pytest.raises(ConfigError, match=r"head on the backbone .*works on effnet-lite0 heads.*--distill tiny-cnn"):
        plan(Options(export="onnx"), stage(kind="head", summary="linear head on hf:/clip"))
    assert [s for s, _ in plan(Options(distill="effnet-lite0", prune=0.2, quantize="int8"), stage(kind="operator"))] == \
        ["distill", "prune", "export", "quantize"]
    assert [s for s, _ in plan(Options(quantize="int8"), stage())] == ["quantize"]  # an fp32 ONNX child: straight to int8


def test_an_effnet_lite0_student_starts_from_imagenet_and_freezes_its_first_blocks(tmp_path):
    data = bars_set(tmp_path / "data", count=16)
    (result,) = compress("op:black_border.fill", data=data, options=fast(distill="effnet-lite0", size=64, epochs=2),
                         store=ModelStore(tmp_path / "m"), cache=StepCache(tmp_path / "c"))
    card = ModelStore(tmp_path / "m").read_card(result.ref)
    assert result.ref == "black_border.fill-effnet-lite0@1"
    assert card["model"]["arch"]["features"]["name"] == "effnet-lite0" and card["steps"][0]["fit"]["freeze_blocks"] == 10
    assert card["model"]["input"]["preprocess"]["mean"] == [0.4980392156862745] * 3  # TensorFlow's (x - 127) / 128
    assert 3_300_000 < result.report["child"]["parameters"] < 3_400_000  # Lite0's features + a 2-class head
    import torch

    from factorline.models.effnet import load_effnet_lite0
    from factorline.models.nets import rebuild

    net, imagenet = rebuild(card["model"]["arch"], result.path / "model.safetensors"), load_effnet_lite0()
    assert torch.equal(net.features.net._conv_stem.weight, imagenet._conv_stem.weight)  # frozen: ImageNet's
    assert torch.equal(net.features.net._blocks[9]._project_conv.weight, imagenet._blocks[9]._project_conv.weight)
    assert not torch.equal(net.features.net._conv_head.weight, imagenet._conv_head.weight)  # trained


def _scored(metric, drop, level="item", per_class=None, agreement=1.0, recall=None):
    return {"metric": metric, "drop_points": drop, "level": level,
            "item": {"agreement": agreement, "per_class": per_class or {}}, "frame": {"agreement": agreement, "per_class": per_class or {}},
            "class_recall": recall or {"parent": {}, "child": {}}}


def test_gate_reads_each_class_and_the_root_not_only_the_overall_drop():
    # 90 % overall agreement, but the child keeps none of the parent's 6 positives: refused at 25
    per_class = {"neg": {"support": 54, "agreement": 1.0}, "pos": {"support": 6, "agreement": 0.0}, "rare": {"support": 2, "agreement": 0.0}}
    checks = G.gate_checks(_scored("agreement", 10.0, per_class=per_class, agreement=0.9), "parent")
    assert [c["what"] for c in checks] == ["agreement", "agreement on neg", "agreement on pos"]  # rare: under MIN_CLASS_SUPPORT
    worst = G.worst_check(checks)
    assert (worst["what"], worst["drop_points"]) == ("agreement on pos", 100.0) and G.verdict(worst["drop_points"], 25, False) == "refused"
    # with labels: accuracy rose by chance while the child disagrees with the parent on a third of the items
    recall = {"parent": {"a": {"support": 10, "recall": 0.8}, "b": {"support": 10, "recall": 0.9}},
              "child": {"a": {"support": 10, "recall": 0.5}, "b": {"support": 10, "recall": 1.0}}}
    checks = G.gate_checks(_scored("accuracy", -5.0, agreement=0.66, recall=recall), "root")
    assert {c["what"]: c["drop_points"] for c in checks} == {"accuracy": -5.0, "agreement": pytest.approx(34.0),
                                                             "recall of a": pytest.approx(30.0), "recall of b": pytest.approx(-10.0)}
    assert all(c["against"] == "root" for c in checks) and G.worst_check(checks)["what"] == "agreement"
    assert G.class_recall(np.array([0, 1, 1]), np.array([0, 0, -1]), ["x", "y"]) == {
        "x": {"support": 2, "recall": 0.5}, "y": {"support": 0, "recall": None}}
