"""learned@1 and text_classifier@1: built-in defaults, trained models from the store, pinning,
evidence, and a compiled pipeline that wires one into the other and decides on them."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError
from skimage import data as skdata
from sklearn.datasets import load_digits

from factorline.cache import StepCache
from factorline.contract.errors import PipelineError
from factorline.contract.items import FrameBatch, MediaInfo
from factorline.engine.compiler import compile_pipeline
from factorline.engine.executor import Engine
from factorline.engine.pool import ResourcePool
from factorline.models.embed import EmbeddingCache
from factorline.models.heads import Head
from factorline.models.hub import LoadedModel, ModelHub
from factorline.models.store import ModelStore
from factorline.operators.learned import factor, text_lines
from factorline.plugins import get_operator
from factorline.train import Protocol, train

ITEM = MediaInfo(id="sha256:" + "1" * 64, path="x.mp4", kind="video", duration_s=3.0, width=64, height=64, fps=1.0)


def batch(images: list[np.ndarray]) -> FrameBatch:
    h = max(i.shape[0] for i in images)
    w = max(i.shape[1] for i in images)
    stack = np.stack([np.asarray(Image.fromarray(i).resize((w, h))) for i in images])
    return FrameBatch(stack, np.arange(len(images), dtype=np.float64), w, h)


def run(name: str, inputs: dict, hub: ModelHub, **params) -> dict:
    spec = get_operator(name)
    out = spec.run(inputs, spec.params(**params), item=ITEM, resources={"models": hub})
    assert spec.check_output(out) == []
    return out


def digit(d, index: int) -> np.ndarray:
    img = (d.images[index] / 16 * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(img).resize((48, 48), Image.NEAREST).convert("RGB"))


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> ModelStore:
    """A store holding an image model (digit 0 vs 1) and a text model (ad vs news)."""
    root = tmp_path_factory.mktemp("learned")
    d = load_digits()
    for label in (0, 1):
        (root / "digits" / f"digit{label}").mkdir(parents=True)
        for i in np.flatnonzero(d.target == label)[:8]:
            Image.fromarray(digit(d, i)).save(root / "digits" / f"digit{label}" / f"{i}.png")
    with (root / "texts.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        for t in ("Buy now and save", "Limited offer today", "Free shipping on orders", "Order now, best price"):
            writer.writerow([t, "ad"])
        for t in ("The minister resigned", "Floods hit the region", "Parliament passed the budget", "Police arrested suspects"):
            writer.writerow([t, "news"])
    store = ModelStore(root / "models")
    cache = EmbeddingCache(StepCache(root / "cache"))
    train(root / "digits", "digits", store=store, cache=cache, protocol=Protocol(seeds=(0,), folds=2))
    train(root / "texts.csv", "adnews", store=store, cache=cache, protocol=Protocol(seeds=(0,), folds=2, positive="ad"))
    return store


@pytest.fixture
def in_store(store, monkeypatch):
    monkeypatch.setenv("FACTORLINE_MODELS", str(store.root))
    return ModelHub(store)


# ------------------------------------------------------------------ built-in defaults


def test_learned_default_is_the_imagenet_classifier():
    frames = batch([skdata.coffee(), skdata.chelsea(), skdata.coffee()])
    out = run("learned", {"frames": frames}, ModelHub(), aggregate="max", top_k=3, max_evidence=2)
    assert out["label"] == "espresso" and out["score"] > 0.8
    assert out["classes"][0] == "espresso" and len(out["scores"]) == 3 and out["scores"] == sorted(out["scores"], reverse=True)
    assert len(out["frame_scores"]) == 3 and out["frame_scores"][1] < 0.1  # the cat frame is no espresso
    assert [e["t"] for e in out["evidence"]] == [0.0, 2.0] and out["evidence"][0]["text"] == "espresso"


def test_text_classifier_default_is_zero_shot_topics():
    out = run("text_classifier", {"text": "Add the onions and fry until golden.\n\nStir in the tomatoes."}, ModelHub())
    assert out["label"] == "cooking" and out["classes"][:2] == ["advertising", "news"] and len(out["line_scores"]) == 2
    custom = run("text_classifier", {"text": "He scores in the final minute!"}, ModelHub(), labels=["sports", "finance"])
    assert custom["label"] == "sports" and custom["classes"] == ["sports", "finance"]


def test_text_classifier_reads_subtitle_lines_with_their_times():
    lines = [{"start_s": 1.0, "end_s": 2.0, "text": "Huge sale, buy now!", "score": 0.9},
             {"start_s": 5.0, "end_s": 6.0, "text": "The election results are in.", "score": 0.9}]
    out = run("text_classifier", {"text": lines}, ModelHub(), labels=["advertising", "news"], max_evidence=1)
    assert out["evidence"][0]["t"] in {1.0, 5.0} and out["evidence"][0]["text"] in {l["text"] for l in lines}


@pytest.mark.parametrize("text", ["", "   \n  ", None])
def test_text_classifier_without_text_is_empty_not_an_error(text):
    out = run("text_classifier", {"text": text}, ModelHub(), labels=["a", "b"])
    assert out == {"label": "", "score": 0.0, "classes": ["a", "b"], "scores": [0.0, 0.0], "line_scores": [], "evidence": []}


# ------------------------------------------------------------------ trained models


def test_learned_runs_a_trained_store_model(in_store):
    d = load_digits()
    ones = [digit(d, i) for i in np.flatnonzero(d.target == 1)[20:23]]
    zero = digit(d, int(np.flatnonzero(d.target == 0)[20]))
    out = run("learned", {"frames": batch(ones)}, in_store, model="digits")
    assert out["label"] == "digit1" and out["classes"] == ["digit0", "digit1"] and out["score"] >= 0.5
    assert out["scores"][1] == pytest.approx(out["score"]) and len(out["evidence"]) == 3
    assert run("learned", {"frames": batch([zero])}, in_store, model="digits@1")["label"] == "digit0"


def test_text_classifier_runs_a_trained_store_model(in_store):
    out = run("text_classifier", {"text": "Order today and get free shipping"}, in_store, model="adnews")
    assert out["classes"] == ["ad", "news"] and out["label"] == "ad" and out["score"] > 0.5


def test_store_names_are_pinned_to_a_version_when_validated(in_store, store):
    assert get_operator("learned").params(model="digits").model == "digits@1"
    assert get_operator("text_classifier").params(model="adnews@latest").model == "adnews@1"


@pytest.mark.parametrize("op, model, match", [
    ("learned", "nope", r"no model 'nope' in the store at .*models there: adnews, digits"),
    ("learned", "adnews", r"model 'adnews' classifies texts; expected an image model \(use op text_classifier for it\)"),
    ("text_classifier", "digits", r"classifies images; expected a text model \(use op learned for it\)"),
    ("learned", "builtin:zeroshot", r"classifies texts; expected an image model"),
    ("learned", "builtin:nothing", r"unknown built-in model 'builtin:nothing'"),
])
def test_bad_model_references_fail_validation(in_store, op, model, match):
    with pytest.raises(ValidationError, match=match):
        get_operator(op).params(model=model)


def test_frames_are_embedded_once_for_two_heads_on_one_backbone(in_store):
    frames = batch([skdata.coffee()])
    hub = ModelHub(in_store.store)
    backbone = hub.model("digits").backbone
    first = hub.frame_embeddings(backbone, frames, ITEM.id)
    assert hub.frame_embeddings(backbone, frames, ITEM.id) is first
    assert hub.cache.misses == 1  # computed once, memoised on the batch


# ------------------------------------------------------------------ pure decision logic


def stub_model(classes, positive=None, threshold=None) -> LoadedModel:
    head = Head("linear", list(classes), {"weight": np.zeros((len(classes), 2)), "bias": np.zeros(len(classes))})
    return LoadedModel("stub@1", "image", None, head, threshold, positive)  # type: ignore[arg-type]


def test_binary_label_follows_the_calibrated_threshold():
    proba = np.array([[0.7, 0.3], [0.6, 0.4]])  # positive-class mean 0.35
    high = factor(proba, stub_model(["no", "yes"], "yes", 0.5), "mean", 5)
    low = factor(proba, stub_model(["no", "yes"], "yes", 0.3), "mean", 5)
    assert (high["label"], high["score"]) == ("no", 0.35) and (low["label"], low["score"]) == ("yes", 0.35)
    assert factor(proba, stub_model(["no", "yes"], "yes", 0.5), "max", 5)["score"] == 0.4


def test_multiclass_label_is_the_most_probable_class():
    proba = np.array([[0.2, 0.5, 0.3], [0.1, 0.3, 0.6]])
    out = factor(proba, stub_model(["a", "b", "c"]), "mean", 2)
    assert out["label"] == "c" and out["classes"] == ["c", "b"] and out["score"] == pytest.approx(0.45)


def test_text_lines_split_strings_and_keep_subtitle_times():
    assert text_lines("a\n\n b \n") == (["a", "b"], [None, None])
    assert text_lines([{"text": "x", "start_s": 2.0}, {"text": " "}]) == (["x"], [2.0])


# ------------------------------------------------------------------ in a pipeline


def test_pipeline_wires_learned_into_text_classifier_and_decides(tmp_path, in_store):
    photo = tmp_path / "coffee.jpg"
    Image.fromarray(skdata.coffee()).save(photo)
    doc = {
        "name": "learned_demo",
        "input": "image",
        "steps": {
            "what": {"op": "learned", "params": {"top_k": 3}},
            "topic": {"op": "text_classifier", "inputs": {"text": "what.label"}, "params": {"labels": ["food", "animal"]}},
            "digits": {"op": "learned", "params": {"model": "digits"}},
        },
        "decisions": {"menu": {"policy": "first", "on_missing": "unknown", "on_error": "unknown", "rules": [
            {"id": "drink", "when": "what.label == 'espresso' and topic.label == 'food'", "outcome": "cafe", "reason": "coffee"},
            {"id": "other", "default": True, "outcome": "unknown"}]}},
    }
    plan = compile_pipeline(doc)
    assert plan.steps[[s.name for s in plan.steps].index("digits")].params.model == "digits@1"  # pinned
    record = Engine(plan, resources=ResourcePool({"models": in_store})).run_item(photo)
    assert record["error"] is None, record["error"]
    assert record["factors"]["what"]["label"] == "espresso" and record["factors"]["topic"]["label"] == "food"
    assert record["decisions"]["menu"]["outcome"] == "cafe"


def test_rules_reading_a_label_the_model_does_not_have_are_issues(in_store):
    """A label no model predicts can never match: builtin:imagenet's 1000 names, a stored
    model's classes and zero-shot labels are each checked, with a did-you-mean."""
    from factorline.engine.compiler import check_pipeline

    rules = [{"id": "cat", "when": "what.label == 'tabby cat'", "outcome": "review"},
             {"id": "six", "when": "digits.label == 'digit6'", "outcome": "review"},
             {"id": "sport", "when": "topic.label in ['food', 'sprts']", "outcome": "review"},
             {"id": "known", "when": "what.label == 'tabby' or digits.label == 'digit1' or topic.label == ''", "outcome": "review"},
             {"id": "ok", "default": True, "outcome": "accept"}]
    doc = {"name": "labels", "input": "image",
           "steps": {"what": {"op": "learned"}, "digits": {"op": "learned", "params": {"model": "digits"}},
                     "topic": {"op": "text_classifier", "inputs": {"text": "what.label"}, "params": {"labels": ["food", "sports"]}}},
           "decisions": {"t": {"on_missing": "review", "on_error": "review", "rules": rules}}}
    _, issues = check_pipeline(doc)
    found = {i.path: i.message for i in issues if i.code == "rule_value"}
    assert set(found) == {f"decisions.t.rules[{i}].when" for i in range(3)}
    assert "what.label is never 'tabby cat' (did you mean 'tabby'?); its values are 'tench'" in found["decisions.t.rules[0].when"]
    assert found["decisions.t.rules[0].when"].endswith("and 988 more")  # a thousand labels are not all listed
    assert "digits.label is never 'digit6'" in found["decisions.t.rules[1].when"] and "'digit0', 'digit1'" in found["decisions.t.rules[1].when"]
    assert "topic.label is never 'sprts' (did you mean 'sports'?)" in found["decisions.t.rules[2].when"]


def test_pipeline_with_an_unknown_model_reports_the_param_path(in_store):
    doc = {"name": "x", "input": "image", "steps": {"cls": {"op": "learned", "params": {"model": "ghost"}}}}
    with pytest.raises(PipelineError, match=r"steps.cls.params.model: .*no model 'ghost' in the store"):
        compile_pipeline(doc)


def test_a_model_that_cannot_load_fails_validation_not_every_item(store, tmp_path, monkeypatch):
    import shutil

    from factorline.contract.errors import PipelineError
    from factorline.engine.compiler import compile_pipeline

    copy = tmp_path / "models"
    shutil.copytree(store.root, copy)
    monkeypatch.setenv("FACTORLINE_MODELS", str(copy))
    head_file = next((copy / "digits" / "v1").glob("*.safetensors"))
    head_file.write_bytes(head_file.read_bytes()[:-8] + b"\0" * 8)  # corrupt weights
    with pytest.raises(ValidationError, match=r"safetensors checksum mismatch: card says sha256:\w+, file has sha256:\w+"):
        get_operator("learned").params(model="digits")
    doc = {"name": "uses_digits", "input": "image", "steps": {"digits": {"op": "learned", "params": {"model": "digits"}}}}
    with pytest.raises(PipelineError) as caught:
        compile_pipeline(doc)
    assert "steps.digits.params.model" in str(caught.value) and "checksum mismatch" in str(caught.value)
