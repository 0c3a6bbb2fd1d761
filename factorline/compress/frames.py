"""The frame set a chain runs on: the teacher's outputs on every sampled frame, its classes,
the hard labels and the held-out split by item (see data.py for reading and sampling).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..cache import cache_key
from ..contract.errors import DataError
from ..contract.items import Limits, Sampling
from ..models.backbones import ImagePreprocess
from . import data as D
from .stages import Options, Stage
from .teachers import Teacher

DEFAULT_SAMPLING = Sampling(fps=1.0, max_frames=16, max_side=1280)


def frame_set(teacher: Teacher, root: Stage, source: Path, options: Options, preps: list[ImagePreprocess],
              *, progress: bool, limits: Limits) -> D.FrameSet:
    items, problems = D.read_items(source, task=teacher.task, limits=limits, card_labels=teacher.card_labels,
                                   label_field=options.label_field)
    if not items:
        what = "texts" if teacher.task == "text" else {"media": "images or videos"}.get(teacher.task, f"{teacher.task}s")
        raise DataError(f"{source}: no usable {what} for {teacher.ref}" + (f" ({len(problems)} problem(s): {problems[:3]})"
                        if problems else ""), path=str(source))
    base = teacher.sampling or DEFAULT_SAMPLING
    sampling = Sampling(fps=options.fps or base.fps, max_frames=options.max_frames or base.max_frames,
                        max_side=options.max_side or base.max_side)
    if teacher.task == "text":
        texts = [it.text or "" for it in items]
        values: list = list(teacher.text_values(texts))
        row_item, times, inputs, timing = list(range(len(items))), [0.0] * len(items), {}, texts[: D.TIMING_FRAMES]
    else:
        row_item, times, values, raw_inputs, timing, more = D.collect(
            items, sampling, limits, preps, teacher.frame_values, progress=progress, label=f"sampling frames, teacher {teacher.ref}")
        problems += more
        inputs = {k: (np.concatenate(v) if v else np.zeros((0, 1, 1, 3), np.uint8)) for k, v in raw_inputs.items()}
        texts = None
    if not row_item:
        raise DataError(f"{source}: no frame could be decoded ({len(problems)} problem(s): {problems[:3]})", path=str(source))
    classes, teacher_p = _teacher_matrix(values, teacher)
    if len(classes) < 2:
        raise DataError(f"the teacher {teacher.ref} gave one class only ({classes}) on {source}; a student needs data where "
                        "it decides at least two ways", path=str(source))
    item = np.asarray(row_item, np.int64)
    item_class = np.argmax(D.item_mean(teacher_p, item, len(items)), axis=1)
    labels = np.array([classes.index(it.label) if it.label in classes else -1 for it in items], np.int64)
    test = D.split_items([it.digest for it in items], item_class, options.test_size, options.seed, teacher.card_splits)
    if not test.any() or test.all():
        raise DataError(f"{source}: {len(items)} item(s) cannot be split into training and held-out parts; "
                        "give more items (at least 4)", path=str(source))
    root.classes = classes
    return D.FrameSet(items, classes, item, np.asarray(times), teacher_p, test, labels, inputs, texts, list(timing),
                      problems, str(Path(source).resolve()), sampling if teacher.task != "text" else None)


def _teacher_matrix(values: list, teacher: Teacher) -> tuple[list[str], np.ndarray]:
    if values and not isinstance(values[0], str):
        return list(teacher.classes or []), np.asarray(values, np.float64)
    declared = list(teacher.classes or [])
    classes = declared or sorted(set(values))
    index = {c: i for i, c in enumerate(classes)}
    out = np.zeros((len(values), len(classes)))
    out[np.arange(len(values)), [index[v] for v in values]] = 1.0
    return classes, out


def split_digest(fs: D.FrameSet, held_out: bool) -> str:
    """One side of the split (held-out or training) as one digest of its items' content digests."""
    return "sha256:" + cache_key(sorted(fs.items[i].digest for i in np.flatnonzero(fs.test == held_out)))


def splits(fs: D.FrameSet) -> dict:
    """The card's record of both sides, item by item: a child compressed again keeps them (data.split_items)."""
    out = {}
    for name, side in (("train", False), ("test", True)):
        idx = np.flatnonzero(fs.test == side)
        pairs = sorted([fs.items[i].digest, fs.items[i].label if fs.labels[i] >= 0 else None] for i in idx)
        out[name] = {"digest": split_digest(fs, side), "count": len(idx), "items": pairs}
    return out
