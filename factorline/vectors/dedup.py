"""Near-duplicate clusters of a run or a set of media (``factorline dedup``).

Two items are near-duplicates when the cosine of their item vectors (the mean of their
frame embeddings) reaches ``threshold`` and, for videos, at least ``min_frames`` of the
shorter item's frames find a frame of the other at ``frame_threshold`` or more (so two
clips sharing a look but not content are not merged). Clusters are the connected
components of that graph (union-find), largest first; each names a keeper: the item with the
most pixels, then the longest, then the first in input order.
"""

from __future__ import annotations

import numpy as np

from .index import VectorIndex


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def frame_overlap(a: np.ndarray, b: np.ndarray, threshold: float) -> float:
    """Share of the shorter item's frames whose best match in the other reaches ``threshold``."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    sims = a @ b.T
    short = sims.max(axis=1) if len(a) <= len(b) else sims.max(axis=0)
    return float((short >= threshold).mean())


def clusters(index: VectorIndex, *, threshold: float = 0.9, frame_threshold: float = 0.9, min_frames: float = 0.5,
             neighbours: int = 20) -> list[dict]:
    """Clusters of two or more near-duplicate items: ``{keeper, items: [{id, path, score}], size}``."""
    n = len(index.items)
    parent = list(range(n))
    best: dict[int, float] = {}
    for row in range(n):
        for hit in index.search_items(index.item_vector(row), neighbours, exclude=row):
            if hit.score < threshold:
                break
            overlap = frame_overlap(index.frame_vectors(row), index.frame_vectors(hit.row), frame_threshold)
            if overlap < min_frames:
                continue
            parent[_find(parent, row)] = _find(parent, hit.row)
            for r in (row, hit.row):
                best[r] = max(best.get(r, 0.0), hit.score)
    groups: dict[int, list[int]] = {}
    for row in range(n):
        groups.setdefault(_find(parent, row), []).append(row)
    out = []
    for rows in groups.values():
        if len(rows) < 2:
            continue
        items = [index.items[r] for r in rows]
        keeper = max(rows, key=lambda r: ((index.items[r].get("width") or 0) * (index.items[r].get("height") or 0),
                                          index.items[r].get("duration_s") or 0.0, -r))
        out.append({"keeper": index.items[keeper]["path"], "size": len(rows),
                    "items": [{"id": it["id"], "path": it["path"], "score": round(best.get(r, 0.0), 4)} for r, it in zip(rows, items)]})
    return sorted(out, key=lambda c: (-c["size"], c["keeper"]))
