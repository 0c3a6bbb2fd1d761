"""Models as operators see them: a reference resolved to a backbone plus a head, loaded once.

Besides store references (``name``, ``name@N``, a version folder), two built-in models need
no training and no store, so an operator's default parameters work on a bare install:

``builtin:imagenet``  effnet-lite0 with its own ImageNet-1k classifier (the 1280 x 1000
                      layer the weights ship with) as a linear head: an image's ImageNet
                      label and confidence.
``builtin:zeroshot``  minilm with a prototype head whose prototypes are the embeddings of
                      "This text is about <label>." for the labels the operator is given:
                      zero-shot topic scores of a text, temperature :data:`ZEROSHOT_TEMPERATURE`.

Compressed models (``factorline compress``: a distilled, pruned, exported or quantized
network in ``model.onnx`` or ``model.safetensors``) load through
:mod:`factorline.models.compressed` as a logits "backbone" plus an identity head.

The hub is the ``models`` resource of the ``learned`` and ``text_classifier`` operators; an
optional :class:`~factorline.models.embed.EmbeddingCache` keeps frame embeddings on disk.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import numpy as np

from ..contract.errors import StoreError
from ..contract.items import FrameBatch
from .backbones import Backbone, get_backbone
from .embed import EmbeddingCache
from .heads import Head
from .store import ModelStore, StoredModel, is_confined

BUILTIN_IMAGENET, BUILTIN_ZEROSHOT = "builtin:imagenet", "builtin:zeroshot"
BUILTINS = {BUILTIN_IMAGENET: "image", BUILTIN_ZEROSHOT: "text"}
ZEROSHOT_TEMPLATE = "This text is about {}."
# all-MiniLM cosine similarities of a text to label prompts differ by ~0.02-0.3: 0.02 turns a
# 0.1 lead into ~99% and a 0.02 lead into ~73%.
ZEROSHOT_TEMPERATURE = 0.02
_MEMO = "_factorline_embeddings"
log = logging.getLogger("factorline.models")


@dataclass
class LoadedModel:
    ref: str
    task: str  # "image" | "text"
    backbone: Backbone
    head: Head
    threshold: float | None = None
    positive: str | None = None

    @property
    def classes(self) -> list[str]:
        return self.head.classes


def model_task(ref: str, store: ModelStore | None = None) -> tuple[str, str]:
    """(pinned reference, task) of a reference, for validation: the model is load-checked (every
    file against the card's checksums, a head read; numpy only), so a pipeline naming a model
    that cannot load fails validation instead of every item of its runs."""
    if ref.startswith("builtin:"):
        if ref not in BUILTINS:
            raise StoreError(f"unknown built-in model {ref!r}; expected one of {', '.join(BUILTINS)}", path=ref)
        return ref, BUILTINS[ref]
    store = store or ModelStore()
    pinned = store.pin(ref)
    return pinned, store.load(pinned).card["task"]


class ModelHub:
    def __init__(self, store: ModelStore | None = None, cache: EmbeddingCache | None = None):
        self._store = store
        self.cache = cache or EmbeddingCache()
        self._models: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()

    @property
    def store(self) -> ModelStore:
        """The given store, or the default one as the environment says now (as validation sees it)."""
        return self._store or ModelStore()

    def model(self, ref: str) -> LoadedModel:
        """The model of a store reference or ``builtin:imagenet`` (loaded once per hub)."""
        with self._lock:
            key = ref if ref.startswith("builtin:") else self.store.pin(ref)
            if key not in self._models:
                self._models[key] = self._load(key)
            return self._models[key]

    def zeroshot(self, labels: list[str]) -> LoadedModel:
        key = f"{BUILTIN_ZEROSHOT}:{labels!r}"
        with self._lock:
            if key not in self._models:
                backbone = get_backbone("minilm")
                prompts = backbone.embed([ZEROSHOT_TEMPLATE.format(label) for label in labels])
                head = Head("prototype", list(labels), {"prototypes": prompts, "temperature": np.array([ZEROSHOT_TEMPERATURE])})
                self._models[key] = LoadedModel(BUILTIN_ZEROSHOT, "text", backbone, head)
            return self._models[key]

    def _load(self, key: str) -> LoadedModel:
        if key.startswith("builtin:") and key != BUILTIN_IMAGENET:
            raise StoreError(f"{key} is not a model of its own here (the zero-shot head needs labels)", path=key)
        stored = None if key == BUILTIN_IMAGENET else self.store.load(key)  # confined: its errors name only the reference
        try:
            backbone, head = self._network(stored)
        except Exception as exc:
            if not is_confined():
                raise
            # A server's client: what failed below the store (a backbone, an ONNX file) may name
            # server paths; the log has it in full, the client gets the reference.
            log.warning("model %s could not be loaded", key, exc_info=exc)
            raise StoreError(f"model {key!r} could not be loaded ({type(exc).__name__}); the server log has the details",
                             path=key) from exc
        if stored is None:
            return LoadedModel(key, "image", backbone, head)
        recorded = None if stored.compressed else stored.card["backbone"]["revision"]
        if recorded is not None and backbone.revision != recorded:
            raise StoreError(f"model {stored.ref} was trained on {stored.backbone_id} revision {recorded}, "
                             f"but this machine has {backbone.revision}", path=key)
        return LoadedModel(stored.ref, stored.task, backbone, head, stored.threshold, stored.positive)

    @staticmethod
    def _network(stored: StoredModel | None) -> tuple[Backbone, Head]:
        """Backbone and head of a stored model, or of ``builtin:imagenet`` (``stored`` None)."""
        if stored is None:
            from ._imagenet_labels import IMAGENET_LABELS

            backbone = get_backbone("effnet-lite0")
            clf = backbone.extras["classifier"]
            return backbone, Head("linear", list(IMAGENET_LABELS), {"weight": clf["weight"], "bias": clf["bias"]}, normalize="none")
        if stored.compressed:  # a whole network from `factorline compress` (ONNX or torch)
            from .compressed import load_compressed

            return load_compressed(stored.path, stored.card)
        assert stored.head is not None
        return get_backbone(stored.backbone_id), stored.head

    def frame_embeddings(self, backbone: Backbone, frames: FrameBatch, digest: str) -> np.ndarray:
        """Embeddings of a frame batch, computed once per batch and backbone (two heads on
        one backbone share them), through the embedding cache."""
        return frames.memo((_MEMO, backbone.key), lambda: self.cache.frames(backbone, digest, frames.images, list(frames.times)))
