"""Frozen embeddings of a data set, through the embedding cache, with a progress bar.

Images give one row each; videos one row per sampled frame, sampled exactly as a pipeline
samples them (:func:`factorline.media.decode_frames` with the same ``Sampling``), so a head
trained here sees what the ``learned`` operator will feed it; texts give one row each.
``item`` maps every row back to its example, so heads train on frames and are scored per
item (the mean of its frames' probabilities, the operator's default aggregate).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..contract.errors import MediaError
from ..contract.items import Limits, Sampling
from ..media import decode_frames
from ..models.backbones import Backbone
from ..models.embed import EmbeddingCache
from .data import BadRow, Dataset, Example


@dataclass
class Features:
    x: np.ndarray  # (rows, dim) float32
    item: np.ndarray  # (rows,) index into ``examples``
    examples: list[Example]
    bad: list[BadRow] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return [e.label for e in self.examples]

    def weights(self) -> np.ndarray:
        """Per row, 1 / frames of its item: every item weighs the same in training."""
        counts = np.bincount(self.item, minlength=len(self.examples)).astype(np.float64)
        return 1.0 / counts[self.item]


def _progress(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    disable=not enabled, transient=True)


def embed_dataset(dataset: Dataset, backbone: Backbone, cache: EmbeddingCache, *, sampling: Sampling | None = None,
                  limits: Limits | None = None, progress: bool = False) -> Features:
    """Embeddings of every example; media that fail to decode become bad rows (with their line)."""
    sampling = sampling or Sampling()
    limits = limits or Limits()
    wanted = "text" if dataset.task == "text" else "image"
    if backbone.modality != wanted:
        from ..contract.errors import ConfigError

        raise ConfigError(f"backbone {backbone.id} embeds {backbone.modality}s but {dataset.source} holds {wanted}s; "
                          f"expected a {wanted} backbone (e.g. {'minilm' if wanted == 'text' else 'effnet-lite0'})")
    if wanted == "text":
        return _embed_texts(dataset, backbone, cache, progress)
    rows, items, kept, bad = [], [], [], []
    with _progress(progress) as bar:
        task = bar.add_task(f"embedding with {backbone.id}", total=len(dataset.examples))
        for example in dataset.examples:
            try:
                _, vectors = cache.item(backbone, example.digest, sampling.frame_key(),
                                        lambda e=example: _decode(e, sampling, limits))
            except MediaError as exc:
                bad.append(BadRow(example.where, f"unreadable media: {exc.message}"))
            else:
                rows.append(vectors)
                items += [len(kept)] * len(vectors)
                kept.append(example)
            bar.advance(task)
    x = np.concatenate(rows) if rows else np.zeros((0, backbone.dim), np.float32)
    return Features(x, np.asarray(items, dtype=np.int64), kept, bad)


def _decode(example: Example, sampling: Sampling, limits: Limits) -> tuple[np.ndarray, list[float]]:
    batch = decode_frames(example.path, example.info, sampling, limits)  # type: ignore[arg-type]
    return batch.images, list(batch.times)


def _embed_texts(dataset: Dataset, backbone: Backbone, cache: EmbeddingCache, progress: bool) -> Features:
    texts = [e.text or "" for e in dataset.examples]
    chunks = []
    with _progress(progress) as bar:
        task = bar.add_task(f"embedding with {backbone.id}", total=len(texts))
        for i in range(0, len(texts), 64):
            chunks.append(cache.texts(backbone, texts[i : i + 64]))
            bar.advance(task, len(texts[i : i + 64]))
    x = np.concatenate(chunks) if chunks else np.zeros((0, backbone.dim), np.float32)
    return Features(x, np.arange(len(texts)), list(dataset.examples))
