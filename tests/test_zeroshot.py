"""prompts@1: zero-shot prompt factors on tiny image-text models built here, and their calibration."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from factorline.cli import app
from factorline.contract.errors import DataError, ResourceError
from factorline.contract.items import FrameBatch, MediaInfo
from factorline.models.imagetext import forget_imagetext, frame_probabilities, get_imagetext, label_vectors
from factorline.operators.zeroshot import PromptParams, item_factor, prompts
from factorline.testing import check_operator, sample_frames
from factorline.train.prompts import best_threshold, calibrate, fit_label, load_calibration, save_calibration

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "national", "flag", "photo", "of", "cat", "dog", "car", "国", "旗"]
LABELS = {"flag": ["a national flag", "国旗"], "cat": ["a photo of a cat"], "car": ["a car"]}
ITEM = MediaInfo(id="sha256:" + "1" * 64, path="x.mp4", kind="video", duration_s=4.0, width=256, height=256, fps=1.0)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A tiny CLIP and SigLIP (random weights, both towers) plus a vision-only CLIP, saved locally."""
    import torch
    import transformers

    root = tmp_path_factory.mktemp("imagetext")
    torch.manual_seed(0)
    (root / "vocab.txt").write_text("\n".join(WORDS))
    tokenizer = transformers.BertTokenizer(str(root / "vocab.txt"))
    text = {"vocab_size": len(WORDS), "hidden_size": 16, "intermediate_size": 20, "num_hidden_layers": 1,
            "num_attention_heads": 2, "max_position_embeddings": 32, "bos_token_id": 2, "eos_token_id": 3, "pad_token_id": 0}
    vision = {"hidden_size": 16, "intermediate_size": 20, "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": 32,
              "patch_size": 8}
    transformers.CLIPModel(transformers.CLIPConfig(text_config=text, vision_config=vision, projection_dim=8)).save_pretrained(root / "clip")
    transformers.SiglipModel(transformers.SiglipConfig(text_config=text, vision_config=vision)).save_pretrained(root / "siglip")
    transformers.CLIPVisionModel(transformers.CLIPVisionConfig(**vision)).save_pretrained(root / "vision_only")
    for name in ("clip", "siglip"):
        tokenizer.save_pretrained(root / name)
    yield root
    forget_imagetext()


def params(root, name="clip", **kw) -> PromptParams:
    return PromptParams(backbone=f"hf:{root / name}", labels=LABELS, **kw)


def test_tiny_clip_scores_every_label_per_frame_and_is_deterministic(tiny_models):
    out = check_operator("prompts", params=params(tiny_models))  # schema, fields, determinism, bad input
    assert out["labels"] == ["flag", "cat", "car"] and len(out["scores"]) == 3
    assert len(out["frame_scores"]) == 4 and all(0.0 <= s <= 1.0 for s in out["scores"] + out["frame_scores"])
    assert out["label"] in ("", *out["present"]) and len(out["evidence"]) == 4
    assert {e["text"] for e in out["evidence"]} <= set(LABELS)


def test_softmax_with_background_sums_below_one_and_sigmoid_scores_each_label(tiny_models):
    clip = get_imagetext(f"hf:{tiny_models / 'clip'}")
    assert clip.loss == "softmax" and clip.scale > 1.0
    frames = sample_frames()
    with_bg = prompts({"frames": frames}, params(tiny_models, background=["a photo"], aggregate="mean"), item=ITEM,
                      resources={"models": _hub()})
    assert 0.0 < sum(with_bg["scores"]) < 1.0  # the background prompt took its share
    siglip = get_imagetext(f"hf:{tiny_models / 'siglip'}")
    assert siglip.loss == "sigmoid"
    out = prompts({"frames": frames}, params(tiny_models, "siglip"), item=ITEM, resources={"models": _hub()})
    proba = frame_probabilities(np.array([[0.0, 0.5]]), siglip)
    assert proba.shape == (1, 2) and np.all((proba > 0) & (proba < 1)) and len(out["scores"]) == 3


def test_a_prompt_ensemble_is_the_normalised_mean_of_its_prompts(tiny_models):
    model = get_imagetext(f"hf:{tiny_models / 'clip'}")
    both = label_vectors(model, {"flag": ["a national flag", "国旗"]})[0]
    one, two = model.texts(["a national flag", "国旗"])
    mean = (one + two) / np.linalg.norm(one + two)
    assert np.allclose(both, mean, atol=1e-6) and not np.allclose(one, two)


def test_aggregation_present_label_and_evidence_follow_the_threshold():
    proba = np.array([[0.9, 0.1], [0.2, 0.3], [0.1, 0.6]])
    times = np.array([0.0, 1.0, 2.0])
    top = item_factor(proba, times, ["flag", "cat"], "max", [0.5, 0.5], 0.5, 2)
    assert top["scores"] == [0.9, 0.6] and top["present"] == ["flag", "cat"] and top["label"] == "flag"
    assert [e["t"] for e in top["evidence"]] == [0.0, 1.0] and top["frame_scores"] == [0.9, 0.2, 0.1]
    mean = item_factor(proba, times, ["flag", "cat"], "mean", [0.5, 0.3], 0.5, 1)
    assert mean["scores"] == pytest.approx([0.4, 1 / 3], abs=1e-6) and mean["present"] == ["cat"] and mean["label"] == "cat"
    share = item_factor(proba, times, ["flag", "cat"], "share_above", [0.5, 0.5], 0.5, 0)
    assert share["scores"] == pytest.approx([1 / 3, 1 / 3], abs=1e-6) and share["label"] == "" and share["evidence"] == []
    empty = item_factor(np.zeros((0, 2)), np.zeros(0), ["flag", "cat"], "max", [0.5, 0.5], 0.5, 3)
    assert empty["scores"] == [0.0, 0.0] and empty["frame_scores"] == [] and empty["label"] == ""


def test_missing_folder_image_only_model_and_bad_labels_are_refused_with_the_fix(tiny_models, tmp_path):
    with pytest.raises(ValidationError, match=r"expected a local folder with config.json .* found no folder .*no hub access"):
        PromptParams(backbone=f"hf:{tmp_path / 'nowhere'}")
    with pytest.raises(ResourceError, match=r"found no folder at .*nowhere"):
        get_imagetext(f"hf:{tmp_path / 'nowhere'}")
    with pytest.raises(ValidationError, match=r"expected a two-tower model .* found model_type 'clip_vision_model'"):
        PromptParams(backbone=f"hf:{tiny_models / 'vision_only'}")
    with pytest.raises(ValidationError, match=r"label 'flag': expected 1 to 32 non-empty prompts"):
        PromptParams(backbone=f"hf:{tiny_models / 'clip'}", labels={"flag": ["  "]})
    with pytest.raises(ValidationError, match=r"expected hf:<local CLIP/SigLIP folder> or builtin:imagenet-minilm"):
        PromptParams(backbone="effnet-lite0")


def test_no_frames_give_zero_scores_not_a_crash(tiny_models):
    empty = FrameBatch(images=np.zeros((0, 8, 8, 3), np.uint8), times=np.zeros(0), source_width=8, source_height=8)
    out = prompts({"frames": empty}, params(tiny_models), item=ITEM, resources={"models": _hub()})
    assert out["scores"] == [0.0, 0.0, 0.0] and out["present"] == [] and out["evidence"] == []


# ------------------------------------------------------------------ calibration


def test_fit_label_finds_a_rising_sigmoid_and_the_separating_threshold():
    x = np.array([0.10, 0.12, 0.15, 0.30, 0.32, 0.35])
    y = np.array([0, 0, 0, 1, 1, 1])
    fit = fit_label(x, y)
    p = 1 / (1 + np.exp(-(fit["a"] * x + fit["b"])))
    assert fit["a"] > 0 and fit["f1"] == 1.0 and (p[y == 1] >= fit["threshold"]).all() and (p[y == 0] < fit["threshold"]).all()
    assert best_threshold(np.array([0.2, 0.8]), np.array([0, 1]))[1] == 1.0
    with pytest.raises(DataError, match=r"found 0 positive\(s\), 3 negative\(s\)"):
        fit_label(x[:3], y[:3])


def test_calibration_file_roundtrips_pins_its_digest_and_must_match_the_labels(tiny_models, tmp_path):
    names = list(LABELS)
    x = np.array([[0.3, 0.1, 0.1], [0.32, 0.1, 0.12], [0.1, 0.3, 0.1], [0.1, 0.31, 0.1], [0.1, 0.1, 0.3], [0.12, 0.1, 0.33]])
    doc = calibrate(x, ["flag", "flag", "cat", "cat", "car", "car"], LABELS, backbone=f"hf:{tiny_models / 'clip'}",
                    revision="r", aggregate="max")
    assert set(doc["per_label"]) == set(names) and all(v["f1"] == 1.0 for v in doc["per_label"].values())
    path = save_calibration(doc, tmp_path / "calib.json")
    loaded, digest = load_calibration(path)
    assert loaded == doc and digest.startswith("sha256:")
    pinned = params(tiny_models, calibration=str(path))
    assert pinned.calibration == f"{path}@{digest}"
    out = prompts({"frames": sample_frames()}, pinned, item=ITEM, resources={"models": _hub()})
    assert len(out["scores"]) == 3
    with pytest.raises(ValidationError, match=r"these labels or prompts differ .* recalibrate after changing prompts"):
        PromptParams(backbone=f"hf:{tiny_models / 'clip'}", labels={"flag": ["a flag"]}, calibration=str(path))
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(ValidationError, match=r"expected format 'factorline.prompt-calibration/1', found 'something else'"):
        params(tiny_models, calibration=str(tmp_path / "bad.json"))


def test_prompts_calibrate_command_writes_a_calibration_the_operator_accepts(tiny_models, tmp_path, monkeypatch):
    from PIL import Image
    from skimage import data

    monkeypatch.setenv("FACTORLINE_CACHE", str(tmp_path / "cache"))
    photos = {"cat": [data.chelsea(), data.chelsea()[::-1]], "car": [data.rocket(), data.rocket()[:, ::-1]],
              "flag": [data.astronaut(), data.astronaut()[:, ::-1]], "none": [data.coffee(), data.coffee()[::-1]]}
    for label, images in photos.items():
        (tmp_path / "data" / label).mkdir(parents=True)
        for i, image in enumerate(images):
            Image.fromarray(np.ascontiguousarray(image)).save(tmp_path / "data" / label / f"{i}.png")
    (tmp_path / "labels.json").write_text(json.dumps(LABELS, ensure_ascii=False))
    out = tmp_path / "calib.json"
    result = CliRunner().invoke(app, ["prompts", "calibrate", str(tmp_path / "data"), "--out", str(out), "--labels",
                                      str(tmp_path / "labels.json"), "--backbone", f"hf:{tiny_models / 'clip'}"])
    assert result.exit_code == 0, result.output
    doc, _ = load_calibration(out)
    assert doc["items"] == 8 and {v["positives"] for v in doc["per_label"].values()} == {2}
    assert params(tiny_models, calibration=str(out)).calibration.startswith(str(out))
    bad = CliRunner().invoke(app, ["prompts", "calibrate", str(tmp_path / "data"), "--out", str(out), "--labels",
                                   str(tmp_path / "labels.json"), "--backbone", f"hf:{tmp_path / 'none'}"])
    assert bad.exit_code == 2 and "expected a local folder with config.json" in bad.output


def _hub():
    from factorline.models.hub import ModelHub

    return ModelHub()
