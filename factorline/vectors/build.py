"""Embedding media for the index (``vectors/library.py`` builds it) and the queries of
``factorline search`` / ``copy_of`` / ``dedup``.

An :class:`Embedder` names the space vectors live in. With an image backbone (``effnet-lite0``,
``onnx:``, an ``hf:`` image tower) it is the backbone's features; with an image-text backbone
(``hf:`` CLIP/SigLIP folder, ``builtin:imagenet-minilm``) it is the joint space, so a text
prompt can be searched too. Frame features come through the embedding cache (the ``embed``
namespace the trainer and ``learned`` use), so indexing a run whose items were embedded before
decodes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..contract.errors import ConfigError
from ..contract.items import Limits, Sampling
from ..models.backbones import Backbone, get_backbone
from ..models.embed import EmbeddingCache
from .index import normalized

DEFAULT_SAMPLING = Sampling(fps=1.0, max_frames=64, max_side=1280)


def is_imagetext(spec: str) -> bool:
    from ..models.imagetext import BRIDGE, FAMILIES

    if spec == BRIDGE:
        return True
    if not spec.startswith("hf:"):
        return False
    config = Path(spec[3:].partition("#")[0]).expanduser() / "config.json"
    try:
        return json.loads(config.read_text()).get("model_type") in FAMILIES
    except (OSError, ValueError):
        return False


@dataclass
class Embedder:
    """Vectors of frames (and, for image-text backbones, of texts) in one space."""

    spec: str
    image: Backbone
    to_space: Callable[[np.ndarray], np.ndarray]
    text: Callable[[str], np.ndarray] | None = None
    cache: EmbeddingCache = field(default_factory=EmbeddingCache)

    @classmethod
    def load(cls, spec: str, cache: EmbeddingCache | None = None) -> Embedder:
        cache = cache or EmbeddingCache()
        if is_imagetext(spec):
            from ..models.imagetext import get_imagetext

            model = get_imagetext(spec)
            return cls(spec, model.image, model.image_vectors, lambda t: model.texts([t]), cache)
        backbone = get_backbone(spec)
        if backbone.modality != "image":
            raise ConfigError(f"backbone {spec!r} embeds {backbone.modality}s; the index needs an image backbone "
                              "(effnet-lite0, onnx:<file>, hf:<folder>)", path="backbone")
        return cls(spec, backbone, normalized, None, cache)

    @property
    def space(self) -> str:
        return "joint" if self.text is not None else "features"

    def meta(self, sampling: Sampling) -> dict:
        return {"backbone": {**self.image.describe(), "spec": self.spec}, "space": self.space,
                "imagetext": self.spec if self.text is not None else None, "dim": self.dim,
                "sampling": sampling.frame_key()}

    @property
    def dim(self) -> int:
        return int(self.to_space(np.zeros((1, self.image.dim), np.float32)).shape[1])

    def frames(self, digest: str, images: np.ndarray, times) -> np.ndarray:
        return normalized(self.to_space(self.cache.frames(self.image, digest, images, list(times)))) if len(images) else \
            np.zeros((0, self.dim), np.float32)

    def media(self, path: str | Path, sampling: Sampling = DEFAULT_SAMPLING, limits: Limits | None = None) -> tuple[dict, np.ndarray]:
        """(item description, (N, dim) frame vectors) of a media file; MediaError when unusable."""
        from ..media import decode_frames, probe

        limits = limits or Limits()
        info = probe(path, limits)
        key = sampling.frame_key()

        def decoded():
            batch = decode_frames(path, info, sampling, limits)
            return batch.images, list(batch.times)

        times, features = self.cache.item(self.image, info.id, key, decoded)
        vectors = normalized(self.to_space(features)) if len(features) else np.zeros((0, self.dim), np.float32)
        item = {"id": info.id, "path": str(Path(path).resolve()), "kind": info.kind, "duration_s": info.duration_s,
                "width": info.width, "height": info.height, "times": [round(float(t), 4) for t in times]}
        return item, vectors

    def text_vector(self, text: str) -> np.ndarray:
        if self.text is None:
            raise ConfigError(f"text search needs an index built with an image-text backbone (hf:<CLIP/SigLIP folder> or "
                              f"builtin:imagenet-minilm); this one was built with {self.spec}", path="text")
        return normalized(self.text(text))
