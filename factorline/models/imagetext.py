"""Image-text models: an image tower and a text tower that embed into one space, so a frame
can be scored against a sentence with no training (zero-shot prompts, text search).

=========================  ==============================================================
``hf:<folder>``            a local transformers CLIP, SigLIP/SigLIP2 or Chinese-CLIP folder
                           (both towers; ``logit_scale``/``logit_bias`` from the weights).
                           The image tower is the ``hf:`` image backbone, so it runs on
                           onnxruntime once ``factorline models export-backbone`` exported
                           it, and shares the embedding cache with every other user.
``builtin:imagenet-minilm``  offline default built only from shipped weights: a frame's
                           EfficientNet-Lite0 ImageNet-1k probabilities weight the MiniLM
                           embeddings of the 1000 class names ("a photo of a tabby cat");
                           a prompt is its MiniLM embedding. Coarse (it knows what ImageNet
                           knows), but real and offline.
=========================  ==============================================================

No hub at run time: an ``hf:`` reference must be a local folder (no network lookup is tried).
``similarity(image_vectors, text_vectors)`` gives cosines; ``scale``/``bias`` turn them into
logits the way the model was trained (CLIP: softmax over prompts; SigLIP: sigmoid per prompt).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..cache import cache_key
from ..contract.errors import ResourceError
from .backbones import Backbone, get_backbone
from .heads import l2_normalize, softmax

BRIDGE = "builtin:imagenet-minilm"
BRIDGE_TEMPLATE = "{}"
BRIDGE_SCALE = 50.0  # MiniLM cosines of related phrases differ by 0.02-0.3 (see hub.ZEROSHOT_TEMPERATURE)
FAMILIES = {"clip", "siglip", "siglip2", "chinese_clip"}


@dataclass
class ImageTextModel:
    """Both towers of an image-text model. ``image.embed`` gives raw image features (cached
    by the embedding cache under ``image.key``); ``to_joint`` maps them into the joint space
    (identity for CLIP-like models); ``encode_text`` embeds prompts, L2-normalised."""

    id: str
    revision: str
    image: Backbone
    encode_text: Callable[[list[str]], np.ndarray]
    scale: float
    bias: float = 0.0
    loss: str = "softmax"  # softmax (CLIP) | sigmoid (SigLIP)
    to_joint: Callable[[np.ndarray], np.ndarray] = l2_normalize
    memo: dict = field(default_factory=dict, repr=False)  # prompt -> its text vector (prompts repeat per item)

    def texts(self, prompts: list[str]) -> np.ndarray:
        """(N, D) L2-normalised text vectors, each prompt embedded once per process."""
        missing = [p for p in dict.fromkeys(prompts) if p not in self.memo]
        if missing:
            self.memo.update(zip(missing, l2_normalize(np.asarray(self.encode_text(missing), np.float32))))
        return np.stack([self.memo[p] for p in prompts]) if prompts else np.zeros((0, self.text_dim), np.float32)

    @property
    def key(self) -> str:
        return cache_key("imagetext", self.id, self.revision, self.image.key)

    def image_vectors(self, features: np.ndarray) -> np.ndarray:
        """(N, D) L2-normalised joint-space vectors of (N, F) image-tower features."""
        if len(features) == 0:
            return np.zeros((0, self.text_dim), np.float32)
        return l2_normalize(np.asarray(self.to_joint(np.asarray(features, np.float32)), np.float32))

    @property
    def text_dim(self) -> int:
        return int(self.texts(["a photo"]).shape[1])

    def describe(self) -> dict:
        return {"id": self.id, "revision": self.revision, "image": self.image.describe(), "scale": self.scale,
                "bias": self.bias, "loss": self.loss}


def label_vectors(model: ImageTextModel, labels: dict[str, list[str]]) -> np.ndarray:
    """(L, D) prompt-ensemble vectors: each label's prompts embedded, averaged, re-normalised
    (CLIP's ensembling recipe)."""
    rows = []
    for name, prompts in labels.items():
        texts = [p for p in prompts if p.strip()] or [name]
        rows.append(model.texts(texts).mean(axis=0))
    return l2_normalize(np.asarray(rows, np.float32).reshape(len(rows), -1))


def frame_probabilities(cosines: np.ndarray, model: ImageTextModel, extra: int = 0) -> np.ndarray:
    """(N, L) per-frame probabilities from (N, L + extra) cosines: softmax over every column
    (the last ``extra`` are background prompts, dropped after) or a sigmoid per column."""
    logits = model.scale * np.asarray(cosines, np.float64) + model.bias
    if model.loss == "sigmoid":
        proba = 1.0 / (1.0 + np.exp(-logits))
    else:
        proba = softmax(logits) if logits.size else logits
    return proba[:, : proba.shape[1] - extra] if extra else proba


# --------------------------------------------------------------------------- loaders

_LOADED: dict[str, ImageTextModel] = {}
_LOCK = threading.Lock()


def get_imagetext(spec: str) -> ImageTextModel:
    """The image-text model ``spec`` (``hf:<folder>`` or ``builtin:imagenet-minilm``), loaded once."""
    with _LOCK:
        if spec not in _LOADED:
            _LOADED[spec] = _load(spec)
        return _LOADED[spec]


def check_spec(spec: str) -> str:
    """Validate a reference without loading weights (pipeline validation); returns it."""
    if spec == BRIDGE:
        return spec
    prefix, sep, rest = spec.partition(":")
    if not sep or prefix != "hf" or not rest:
        raise ResourceError(f"image-text backbone {spec!r}: expected hf:<local CLIP/SigLIP folder> or {BRIDGE}", path=spec)
    folder = Path(rest).expanduser()
    config = folder / "config.json"
    if not config.is_file():
        raise ResourceError(f"image-text backbone {spec!r}: expected a local folder with config.json (a CLIP, SigLIP or "
                            f"Chinese-CLIP model saved with save_pretrained), found {'no folder' if not folder.is_dir() else 'no config.json'} "
                            f"at {folder}; download it elsewhere and pass the folder (no hub access at run time)", path=spec)
    try:
        model_type = json.loads(config.read_text()).get("model_type", "")
    except (OSError, ValueError) as exc:
        raise ResourceError(f"image-text backbone {spec!r}: {config} is not readable JSON ({exc})", path=spec) from exc
    if model_type not in FAMILIES:
        raise ResourceError(f"image-text backbone {spec!r}: expected a two-tower model ({', '.join(sorted(FAMILIES))}), "
                            f"found model_type {model_type!r}; an image-only model has no text tower to score prompts", path=spec)
    return spec


def _load(spec: str) -> ImageTextModel:
    check_spec(spec)
    try:
        return _bridge() if spec == BRIDGE else _hf_pair(spec.partition(":")[2])
    except ResourceError:
        raise
    except Exception as exc:
        raise ResourceError(f"could not load image-text backbone {spec!r}: {type(exc).__name__}: {exc}", path=spec, cause=exc) from exc


def _hf_pair(folder: str) -> ImageTextModel:
    path = str(Path(folder).expanduser().resolve())
    image = get_backbone(f"hf:{path}")
    text = get_backbone(f"hf:{path}#text")
    owner = image.extras["module"].owner  # the full two-tower model the image tower wraps
    scale = float(np.exp(owner.logit_scale.detach().numpy()).reshape(-1)[0])
    bias_param = getattr(owner, "logit_bias", None)
    bias = float(bias_param.detach().numpy().reshape(-1)[0]) if bias_param is not None else 0.0
    loss = "sigmoid" if owner.config.model_type.startswith("siglip") else "softmax"
    return ImageTextModel(f"hf:{path}", image.revision, image, lambda texts: l2_normalize(text.embed(list(texts))),
                          scale, bias, loss)


def _bridge() -> ImageTextModel:
    from ._imagenet_labels import IMAGENET_LABELS

    image = get_backbone("effnet-lite0")
    text = get_backbone("minilm")
    clf = image.extras["classifier"]
    weight, bias = clf["weight"].astype(np.float32), clf["bias"].astype(np.float32)
    from ..cache import StepCache, default_cache_dir
    from .embed import EmbeddingCache

    # 1000 class names through MiniLM: seconds to a minute on a busy CPU, so kept in the embedding cache.
    names = [BRIDGE_TEMPLATE.format(name) for name in IMAGENET_LABELS]
    classes = l2_normalize(EmbeddingCache(StepCache(default_cache_dir())).texts(text, names))

    def to_joint(features: np.ndarray) -> np.ndarray:
        return softmax(features @ weight.T + bias) @ classes

    return ImageTextModel(BRIDGE, f"{image.revision}|{text.revision}", image, lambda texts: l2_normalize(text.embed(list(texts))),
                          BRIDGE_SCALE, 0.0, "softmax", to_joint)


def forget_imagetext() -> None:
    with _LOCK:
        _LOADED.clear()
