"""Embeddings with a disk cache: by media digest, frame time and backbone (texts: by their hash).

Entries live in the ``embed`` namespace of a :class:`~factorline.cache.StepCache` (the
same content-addressed, atomically written store the executor uses). A frame's key is
H(backbone key, media digest, frame time, analysis frame size): the size stands for the
sampling's ``max_side``, which changes the pixels the backbone sees. Vectors are stored as
base64 of float32 bytes, so a cached embedding is bit-identical to the computed one.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

import numpy as np

from ..cache import NullCache, StepCache, cache_key
from .backbones import Backbone

NAMESPACE = "embed"


def encode(vector: np.ndarray) -> dict:
    v = np.ascontiguousarray(vector, dtype="<f4")
    return {"dim": int(v.size), "f32": base64.b64encode(v.tobytes()).decode("ascii")}


def decode(entry: dict | None, dim: int) -> np.ndarray | None:
    """The vector of a cache entry; None for a miss or an entry of another dimension."""
    if not isinstance(entry, dict) or entry.get("dim") != dim:
        return None
    try:
        return np.frombuffer(base64.b64decode(entry["f32"]), dtype="<f4").astype(np.float32)
    except (KeyError, ValueError, TypeError):
        return None


def frame_key(backbone: Backbone, digest: str, t: float, shape: tuple[int, int]) -> str:
    return cache_key(NAMESPACE, backbone.key, digest, round(float(t), 4), list(shape))


def text_key(backbone: Backbone, text: str) -> str:
    return cache_key(NAMESPACE, backbone.key, hashlib.sha256(text.encode("utf-8")).hexdigest())


class EmbeddingCache:
    """Computes only the embeddings the cache misses, in one batched call, and stores them."""

    def __init__(self, cache: StepCache | None = None):
        self.cache = cache or NullCache()
        self.hits = 0
        self.misses = 0

    def _fill(self, backbone: Backbone, keys: list[str], items: Sequence) -> np.ndarray:
        out = np.zeros((len(keys), backbone.dim), np.float32)
        missing = []
        for i, key in enumerate(keys):
            found = decode(self.cache.get(NAMESPACE, key), backbone.dim)
            if found is None:
                missing.append(i)
            else:
                out[i] = found
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            computed = backbone.embed([items[i] for i in missing])
            for i, vector in zip(missing, computed):
                out[i] = vector
                self.cache.put(NAMESPACE, keys[i], encode(vector))
        return out

    def frames(self, backbone: Backbone, digest: str, images: np.ndarray, times: Sequence[float]) -> np.ndarray:
        """(N, dim) embeddings of an item's sampled frames."""
        shape = tuple(images.shape[1:3])
        keys = [frame_key(backbone, digest, t, shape) for t in times]  # type: ignore[arg-type]
        return self._fill(backbone, keys, images)

    def item(self, backbone: Backbone, digest: str, sampling: dict, decode_frames) -> tuple[np.ndarray, np.ndarray]:
        """(times, (N, dim) embeddings) of a whole item sampled with ``sampling``.

        The item's entry is read first, so a warm cache neither decodes nor runs the
        backbone; ``decode_frames()`` -> (images, times) is called only on a miss.
        """
        key = cache_key(NAMESPACE, "item", backbone.key, digest, sampling)
        entry = self.cache.get(NAMESPACE, key)
        if isinstance(entry, dict) and "times" in entry:
            vectors = decode(entry.get("vectors"), backbone.dim * len(entry["times"]))
            if vectors is not None:
                self.hits += len(entry["times"])
                return np.asarray(entry["times"], np.float64), vectors.reshape(len(entry["times"]), backbone.dim)
        images, times = decode_frames()
        vectors = self.frames(backbone, digest, images, times)
        self.cache.put(NAMESPACE, key, {"times": [float(t) for t in times], "vectors": encode(vectors.reshape(-1))})
        return np.asarray(times, np.float64), vectors

    def texts(self, backbone: Backbone, texts: Sequence[str]) -> np.ndarray:
        return self._fill(backbone, [text_key(backbone, t) for t in texts], list(texts))
