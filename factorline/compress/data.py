"""The data a compression runs on: items, their sampled frames, the teacher's outputs, the split.

``--data`` is a folder (every image and video under it, recursively; ``.txt`` files are texts),
a ``.csv`` / ``.jsonl`` manifest (``path`` or ``text`` column, optional ``label``), a ``.txt``
list of paths, a Label Studio ``.json`` export, a single media file, or a ``factorline synth``
folder (its samples; ``label_field`` names the truth field used as hard label). Labels are optional:
a folder's first-level subfolder name, or the ``label`` column, is used as a *hard label*
only where it names one of the teacher's classes. Without ``--data`` a stored model's card
names its data source (a trained model's labels come from its card's splits).

Frames are sampled exactly as pipelines sample them (:func:`factorline.media.decode_frames`),
then kept only in the compact form each network needs (uint8, already resized by its
:class:`~factorline.models.backbones.ImagePreprocess`), so a thousand frames cost tens of MB.

Held-out split: by item, so no frame of a held-out item is ever trained on. Items are put in
content-digest order and split with a seeded, stratified (by the teacher's item class) draw,
as the model factory does; items a parent card already records in its train or test split
keep their side, so a child is always scored on items its ancestors never saw.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..contract.errors import DataError, MediaError
from ..contract.items import FrameBatch, Limits, Sampling
from ..engine.records import json_lines
from ..models.backbones import ImagePreprocess
from ..train.data import MEDIA_EXTENSIONS, TEXT_EXTENSIONS, text_digest

TIMING_FRAMES = 32  # decoded frames kept to time operators and whole per-frame paths


@dataclass(frozen=True)
class Item:
    where: str
    kind: str  # image | video | text
    digest: str
    path: str | None = None
    text: str | None = None
    label: str | None = None
    info: object | None = None  # MediaInfo


@dataclass
class FrameSet:
    """Per frame (rows): its item, time, teacher probabilities and compact network inputs."""

    items: list[Item]
    classes: list[str]
    item: np.ndarray  # (rows,) item index
    times: np.ndarray  # (rows,)
    teacher: np.ndarray  # (rows, classes) probabilities (item-level teachers: the item's, per frame)
    test: np.ndarray  # (items,) bool: held-out
    labels: np.ndarray  # (items,) class index of the hard label, -1 when none
    inputs: dict[str, np.ndarray] = field(default_factory=dict)  # prep key -> (rows, S, S, 3) uint8
    texts: list[str] | None = None  # text tasks: one row per item
    timing: list[np.ndarray] = field(default_factory=list)  # decoded frames of one shape, for timing
    skipped: list[str] = field(default_factory=list)
    source: str = ""
    sampling: Sampling | None = None

    @property
    def test_rows(self) -> np.ndarray:
        return self.test[self.item]

    @property
    def train_rows(self) -> np.ndarray:
        return ~self.test[self.item]

    def row_labels(self) -> np.ndarray:
        return self.labels[self.item]

    def network_inputs(self, prep: ImagePreprocess | None, rows: np.ndarray):
        """What a network reads for ``rows`` (bool mask or indices): texts, or compact frames at ``prep``."""
        if self.texts is not None:
            index = np.flatnonzero(rows) if rows.dtype == bool else rows
            return [self.texts[i] for i in index]
        return self.inputs[prep_key(prep)][rows]  # type: ignore[arg-type]


def prep_key(prep: ImagePreprocess) -> str:
    return json.dumps(prep.to_dict(), sort_keys=True)


# --------------------------------------------------------------------------- reading


def read_items(source: Path, *, task: str, limits: Limits | None = None,
               card_labels: dict[str, str] | None = None, label_field: str | None = None) -> tuple[list[Item], list[str]]:
    """(items, problems) of a data source, deduplicated by content digest, for one task:
    ``media`` (images and videos: image networks), ``image`` or ``video`` (a pipeline's input
    kind only) or ``text``."""
    from ..media import probe

    limits = limits or Limits()
    source = Path(source)
    rows, problems = _rows(source, label_field)
    items: list[Item] = []
    seen: set[str] = set()
    for where, path, text, label in rows:
        if text is not None:
            if task != "text" or not text.strip():
                continue
            item = Item(where, "text", text_digest(text), text=text, label=label)
        else:
            if task == "text":
                continue
            if path is None or not path.is_file():
                problems.append(f"{where}: missing file {path}")
                continue
            try:
                info = probe(path, limits)
            except MediaError as exc:
                problems.append(f"{where}: unreadable media: {exc.message}")
                continue
            if task in {"image", "video"} and info.kind != task:
                continue
            item = Item(where, info.kind, info.id, path=str(path), label=label, info=info)
        if item.digest in seen:
            continue
        seen.add(item.digest)
        if card_labels and item.label is None and item.digest in card_labels:
            item = Item(item.where, item.kind, item.digest, item.path, item.text, card_labels[item.digest], item.info)
        items.append(item)
    return items, problems


def _rows(source: Path, label_field: str | None = None) -> tuple[list[tuple[str, Path | None, str | None, str | None]], list[str]]:
    from ..synth.dataset import is_synth_dir, synth_rows

    if is_synth_dir(source):
        return [(where, path, None, label) for where, path, label in synth_rows(source, label_field)], []
    if label_field:
        raise DataError(f"--label-field {label_field!r} applies to a `factorline synth` folder (labels.jsonl + synth.json); "
                        f"{source} is not one", path="--label-field")
    if source.is_dir():
        rows = []
        for path in sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith(".")):
            rel = path.relative_to(source)
            label = rel.parts[0] if len(rel.parts) > 1 else None
            ext = path.suffix.lower()
            if ext in TEXT_EXTENSIONS:
                rows.append((str(rel), None, path.read_text(encoding="utf-8", errors="replace").strip(), label))
            elif ext in MEDIA_EXTENSIONS:
                rows.append((str(rel), path, None, label))
        return rows, []
    if not source.is_file():
        raise DataError(f"no data at {source}: expected a folder of images/videos, a .csv/.jsonl manifest "
                        "(path or text column, optional label), a .txt list of paths or a media file", path=str(source))
    suffix = source.suffix.lower()
    if suffix == ".csv":
        with source.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            if not {"path", "text"} & set(header):
                raise DataError(f"{source}:1: expected a header with a 'path' or 'text' column (and optionally "
                                f"'label'), found {header}", path=str(source))
            return [_record_row(dict(r), f"{source.name}:{reader.line_num}", source.parent) for r in reader], []
    if suffix == ".jsonl":  # a bad line is a problem to report, the others still count
        rows, problems = [], []
        for where, record in json_lines(source, lambda where, exc: problems.append(f"{where}: not JSON: {exc}")):
            if not isinstance(record, dict):
                problems.append(f"{where}: expected an object with path or text")
                continue
            rows.append(_record_row(record, where, source.parent))
        return rows, problems
    if suffix == ".json":  # a Label Studio export: the model factory's reader
        from ..train.data import read_rows

        _, found, bad = read_rows(source)
        return [(r.where, r.path, r.text, r.label) for r in found], [str(b) for b in bad]
    if suffix == ".txt":
        lines = [ln.strip() for ln in source.read_text(encoding="utf-8").splitlines()]
        kept = [(i, ln) for i, ln in enumerate(lines, 1) if ln and not ln.startswith("#")]
        return [(f"{source.name}:{i}", source.parent / ln, None, None) for i, ln in kept], []
    if suffix in MEDIA_EXTENSIONS:
        return [(source.name, source, None, None)], []
    raise DataError(f"{source}: unknown data format {suffix!r}; expected a folder, .csv, .jsonl, .json, .txt or a media file",
                    path=str(source))


def _record_row(record: dict, where: str, base: Path) -> tuple[str, Path | None, str | None, str | None]:
    label = record.get("label")
    label = str(label).strip() if label not in (None, "") else None
    if isinstance(record.get("text"), str) and record["text"].strip():
        return where, None, record["text"], label
    path = record.get("path")
    return where, (base / str(path).strip()) if path else None, None, label


# --------------------------------------------------------------------------- frames


def decoded(items: list[Item], sampling: Sampling, limits: Limits, problems: list[str]) -> Iterator[tuple[int, FrameBatch]]:
    """(item index, sampled frames) of every media item; decode failures become problems."""
    from ..media import decode_frames

    for index, item in enumerate(items):
        try:
            batch = decode_frames(item.path, item.info, sampling, limits)  # type: ignore[arg-type]
        except MediaError as exc:
            problems.append(f"{item.where}: unreadable media: {exc.message}")
            continue
        yield index, batch


def progress_bar(enabled: bool):
    from ..train.features import _progress

    return _progress(enabled)


def split_items(digests: list[str], classes_of_items: np.ndarray, test_size: float, seed: int,
                recorded: dict[str, str] | None = None) -> np.ndarray:
    """(items,) bool held-out mask: recorded sides kept, the rest drawn stratified and seeded in digest order."""
    from sklearn.model_selection import train_test_split

    recorded = recorded or {}
    test = np.zeros(len(digests), bool)
    free = []
    for i, d in enumerate(digests):
        side = recorded.get(d)
        if side is not None:
            test[i] = side == "test"
        else:
            free.append(i)
    if len(free) < 2:
        return test
    order = sorted(free, key=lambda i: digests[i])
    y = classes_of_items[order]
    n_test = max(1, round(test_size * len(order)))
    counts = np.bincount(y) if len(y) else np.zeros(0)
    counts = counts[counts > 0]
    stratify = y if len(counts) > 1 and counts.min() >= 2 and n_test >= len(counts) and len(order) - n_test >= len(counts) else None
    _, held = train_test_split(np.asarray(order), test_size=n_test, stratify=stratify, random_state=seed)
    test[held] = True
    return test


def item_mean(values: np.ndarray, item: np.ndarray, n_items: int) -> np.ndarray:
    """(n_items, C): the mean of each item's rows (zeros for items without rows)."""
    out = np.zeros((n_items, values.shape[1]))
    np.add.at(out, item, values)
    counts = np.bincount(item, minlength=n_items).astype(np.float64)
    return out / np.maximum(counts, 1)[:, None]


def collect(items: list[Item], sampling: Sampling, limits: Limits, preps: list[ImagePreprocess],
            frame_values: Callable[[int, Item, FrameBatch], np.ndarray | list], *, progress: bool = False,
            label: str = "sampling frames") -> tuple[list[int], list[float], list, dict[str, list[np.ndarray]],
                                                     list[np.ndarray], list[str]]:
    """Decode every item once: (row items, row times, row teacher values, prep key -> uint8 inputs,
    timing frames, problems). ``frame_values(index, item, batch)`` gives one value per frame."""
    problems: list[str] = []
    rows_item: list[int] = []
    rows_t: list[float] = []
    values: list = []
    inputs: dict[str, list[np.ndarray]] = {prep_key(p): [] for p in preps}
    timing: list[np.ndarray] = []
    shapes: dict[tuple, int] = {}
    with progress_bar(progress) as bar:
        task = bar.add_task(label, total=len(items))
        for index, batch in decoded(items, sampling, limits, problems):
            got = frame_values(index, items[index], batch)
            values.extend(list(got))
            rows_item += [index] * len(batch)
            rows_t += [float(t) for t in batch.times]
            for prep in preps:
                inputs[prep_key(prep)].append(prep.resized(list(batch.images)))
            shape = batch.images.shape[1:]
            shapes[shape] = shapes.get(shape, 0) + 1
            if len(timing) < TIMING_FRAMES * 2:
                timing.extend(batch.images[: max(1, TIMING_FRAMES // 8)])
            bar.advance(task)
    if timing:  # keep frames of the most common shape only (operators take a stacked batch)
        common = max(shapes, key=shapes.get)  # type: ignore[arg-type]
        timing = [f for f in timing if f.shape == common][:TIMING_FRAMES]
    return rows_item, rows_t, values, inputs, timing, problems
