"""Searching an index by image, video, text prompt or item (the CLI and the HTTP endpoint).

Items are ranked by the cosine of their item vector with the query (the mean of the query's
frame vectors; a text's vector in an image-text index); every hit also says which of its
frames matched the query best (``frame_t``, ``frame_score``), the evidence a reviewer opens.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..contract.errors import ConfigError
from ..contract.items import Sampling
from .build import Embedder
from .index import VectorIndex

_EMBEDDERS: dict[str, Embedder] = {}
_LOCK = threading.Lock()


def embedder_for(index: VectorIndex) -> Embedder:
    """The embedder an index was built with, loaded once per process; refused when the
    backbone's weights on this machine differ from those the index recorded."""
    spec = index.meta["backbone"]["spec"]
    with _LOCK:
        if spec not in _EMBEDDERS:
            _EMBEDDERS[spec] = Embedder.load(spec)
        embedder = _EMBEDDERS[spec]
    recorded = index.meta["backbone"].get("revision")
    if recorded and embedder.image.revision != recorded:
        raise ConfigError(f"{index.folder} was built with {spec} revision {recorded}, but this machine has "
                          f"{embedder.image.revision}; rebuild the index with `factorline index build`", path="index")
    return embedder


def index_sampling(index: VectorIndex) -> Sampling:
    return Sampling(**index.meta.get("sampling", {}))


def query_vectors(index: VectorIndex, *, image: str | Path | None = None, video: str | Path | None = None,
                  text: str | None = None, item: str | None = None) -> tuple[np.ndarray, int | None]:
    """(query frame vectors, the index row to leave out of the answer) for exactly one query."""
    given = {k: v for k, v in {"image": image, "video": video, "text": text, "item": item}.items() if v not in (None, "")}
    if len(given) != 1:
        raise ConfigError(f"expected exactly one query (image, video, text or item), found {sorted(given) or 'none'}", path="query")
    if item is not None:
        row = index.row_of(item)
        vectors = index.frame_vectors(row)
        return (vectors if len(vectors) else index.item_vector(row)), row
    embedder = embedder_for(index)
    if text is not None:
        return embedder.text_vector(text), None
    _, vectors = embedder.media(image if image is not None else video, index_sampling(index))  # type: ignore[arg-type]
    if len(vectors) == 0:
        raise ConfigError(f"{image or video}: no frame could be decoded to search with", path="query")
    return vectors, None


def search(index: VectorIndex, vectors: np.ndarray, k: int = 10, *, exclude: int | None = None) -> list[dict]:
    """The ``k`` nearest items, best first: ``{rank, id, path, kind, score, frame_t, frame_score}``."""
    if not 1 <= k <= 1000:
        raise ConfigError(f"k: expected 1 to 1000 results, found {k}", path="k")
    out = []
    for rank, hit in enumerate(index.search_items(vectors, k, exclude=exclude), start=1):
        frames = index.frame_vectors(hit.row)
        frame_t, frame_score = None, None
        if len(frames):
            sims = (vectors @ frames.T).max(axis=0)
            best = int(np.argmax(sims))
            frame_t, frame_score = float(hit.item["times"][best]), round(float(sims[best]), 4)
        out.append({"rank": rank, "id": hit.item["id"], "path": hit.item["path"], "kind": hit.item.get("kind"),
                    "score": round(hit.score, 4), "frame_t": frame_t, "frame_score": frame_score})
    return out
