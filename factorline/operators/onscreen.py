"""All on-screen text, classified: ``onscreen_text@2``.

``subtitles@5`` (:mod:`.text`) reads the bottom band and keeps the subtitle lines; this operator
reads the whole frame and reports every text line with the class the text-line classifier
(:mod:`.text_lines`, trained on readings of the whole frame and of the band) gives it:
subtitle, title_card, lower_third, scene_text, watermark or other.

1. **Reading.** The whole frame (band 1.0), downscaled to at most ``max_width`` px wide, goes
   through the ``ocr`` resource; a frame whose thumbnail is unchanged reuses the last reading
   (:func:`~.text.read_bands`, the same skip as subtitles).
2. **Blocks.** One frame can show several texts (a title and a watermark), so its boxes are
   split into blocks (:func:`text_blocks`): rows (:func:`~.text.group_rows`) are cut where two
   boxes are more than :data:`ROW_GAP` row heights apart, and rows that overlap horizontally
   and are at most :data:`STACK_GAP` row heights apart vertically form one block (a two-row
   lower third, a title with its subtitle). Each block is one reading
   (:func:`~.text.band_reading`: text, box in source px, rows, ink contrast).
3. **Places.** Blocks are followed across frames by where they are (:func:`assign_places`): a
   block continues the place whose last box overlaps it most (at least :data:`MIN_PLACE_OVERLAP`),
   else it opens a new place. Each place is tracked into lines like the subtitle band
   (:func:`~.text.track_lines`), so a subtitle track that changes every few seconds stays one
   place with many lines, as the classifier saw it in training (one drawn text per item).
4. **Classes.** Each place's lines get :func:`~.text_lines.line_features` and the classifier's
   full probability vector (:meth:`~.text_lines.LineClassifier.proba`); a line's ``label`` is
   the most likely class and ``confidence`` its probability. A line counts for its class's
   fields only when ``confidence >= min_confidence``; every line stays in ``lines``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict
from pydantic import Field as P

from ..contract.errors import ResourceError
from ..contract.items import FrameBatch, MediaInfo
from ..contract.operator import Output, operator
from ._ocr import OcrBox
from .text import (
    CHANGE_THRESHOLD,
    MAX_WIDTH,
    MERGE_SIMILARITY,
    MIN_CHARS,
    MIN_SCORE,
    BandCrop,
    FrameText,
    band_reading,
    group_rows,
    line_span,
    read_bands,
    track_lines,
)

# The classifier's classes this operator reports (text_lines.json must hold all of them).
CLASSES = ("subtitle", "title_card", "lower_third", "scene_text", "watermark", "other")
# class -> (its bool field, its text field)
CLASS_FIELDS = {
    "title_card": ("has_title_card", "title_text"),
    "lower_third": ("has_lower_third", "lower_third_text"),
    "scene_text": ("has_scene_text", "scene_text"),
    "watermark": ("has_watermark", "watermark_text"),
}
# Boxes of one row more than this many row heights apart are separate texts.
ROW_GAP = 2.0
# Rows at most this many row heights apart vertically (and overlapping horizontally) are one block.
STACK_GAP = 1.0
# A block continues a place when their boxes overlap by at least this (x share * y share).
MIN_PLACE_OVERLAP = 0.25


class OnscreenTextParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    band: ClassVar[float] = 1.0  # read_bands reads the whole frame

    min_score: float = MIN_SCORE
    max_width: int = MAX_WIDTH
    change_threshold: float = CHANGE_THRESHOLD
    min_chars: int = MIN_CHARS
    merge_similarity: float = MERGE_SIMILARITY
    min_confidence: float = P(
        0.4,
        ge=0.0,
        le=1.0,
        title="Minimum class probability",
        description="A line counts for its class's fields (has_watermark, watermark_text, ...) only when the "
        "classifier gives that class at least this probability; every line stays in lines with its label "
        "and confidence (0: the most likely class always counts).",
    )
    max_ocr_frames: int = P(
        16,
        ge=1,
        le=10_000,
        title="OCR frames at most",
        description="Whole-frame OCR runs on at most this many sampled frames per item (the frames whose "
        "picture changed, evenly spread when more did); the others repeat the last reading. A text-dense "
        "screen takes seconds per frame: this bounds an item's cost, at the price of coarser line times.",
    )


def _extent(boxes: Sequence[OcrBox]) -> tuple[float, float, float, float, float]:
    """(x0, y0, x1, y1, tallest box height) of some boxes."""
    return (min(b.x0 for b in boxes), min(b.y0 for b in boxes), max(b.x1 for b in boxes),
            max(b.y1 for b in boxes), max(b.height for b in boxes))


def row_segments(boxes: Sequence[OcrBox]) -> list[list[OcrBox]]:
    """Text rows (:func:`~.text.group_rows`) cut where a gap exceeds :data:`ROW_GAP` row heights."""
    out: list[list[OcrBox]] = []
    for row in group_rows(boxes):
        current = [row[0]]
        for box in row[1:]:
            x1, height = max(b.x1 for b in current), max(max(b.height for b in current), box.height)
            if box.x0 - x1 > ROW_GAP * max(height, 1.0):
                out.append(current)
                current = []
            current.append(box)
        out.append(current)
    return out


def _stacked(a: tuple, b: tuple) -> bool:
    """Whether two row extents are one block: overlapping in x, close in y."""
    overlap_x = min(a[2], b[2]) - max(a[0], b[0])
    gap_y = max(a[1], b[1]) - min(a[3], b[3])
    return overlap_x > 0 and gap_y <= STACK_GAP * max(a[4], b[4], 1.0)


def text_blocks(boxes: Sequence[OcrBox]) -> list[list[OcrBox]]:
    """A frame's boxes split into text blocks (pure), top to bottom then left to right."""
    segments = row_segments(boxes) if boxes else []
    extents = [_extent(s) for s in segments]
    parent = list(range(len(segments)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(segments)):
        for j in range(i + 1, len(segments)):
            if _stacked(extents[i], extents[j]):
                parent[root(j)] = root(i)
    groups: dict[int, list[OcrBox]] = {}
    for i, segment in enumerate(segments):
        groups.setdefault(root(i), []).extend(segment)
    return sorted(groups.values(), key=lambda g: (_extent(g)[1], _extent(g)[0]))


def block_readings(boxes: Sequence[OcrBox], crop: BandCrop, params, frames: FrameBatch) -> list[FrameText]:
    """One frame's readings, one per text block (a ``read`` for :func:`~.text.read_bands`)."""
    kept = [b for b in boxes if b.score >= params.min_score and b.text.strip()]
    readings = (band_reading(block, crop, params, frames) for block in text_blocks(kept))
    return [r for r in readings if r is not None]


def place_overlap(a: Sequence[int], b: Sequence[int]) -> float:
    """How much two boxes [x, y, w, h] share a place: x overlap / narrower width times y overlap
    / lower height (1.0: one inside the other; 0.0: apart)."""
    ix = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    iy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    return float(ix / max(1, min(a[2], b[2])) * iy / max(1, min(a[3], b[3])))


def assign_places(frame_blocks: Sequence[Sequence[FrameText]]) -> list[list[FrameText | None]]:
    """Per place, its reading in each frame (None where it shows nothing), in order of appearance.

    Larger blocks pick first; a block continues the not yet taken place whose last box overlaps
    it most (:func:`place_overlap` >= :data:`MIN_PLACE_OVERLAP`), else it opens a new place.
    """
    n = len(frame_blocks)
    places: list[list[FrameText | None]] = []
    last: list[Sequence[int]] = []
    for i, blocks in enumerate(frame_blocks):
        taken: set[int] = set()
        for block in sorted(blocks, key=lambda r: -r.box[2] * r.box[3]):
            scores = [(place_overlap(box, block.box), k) for k, box in enumerate(last) if k not in taken]
            score, k = max(scores, default=(0.0, -1))
            if score < MIN_PLACE_OVERLAP:
                places.append([None] * n)
                last.append(block.box)
                k = len(places) - 1
            places[k][i], last[k] = block, block.box
            taken.add(k)
    return places


def check_classes(classifier) -> list[int]:
    """The column of each of :data:`CLASSES` in the classifier's output, or a ResourceError."""
    missing = [c for c in CLASSES if c not in classifier.classes]
    if missing:
        raise ResourceError(f"onscreen_text: the text line classifier has no class {', '.join(map(repr, missing))}; "
                            f"it must give {', '.join(CLASSES)} (retrain with benchmarks/train_text_lines.py)")
    return [classifier.classes.index(c) for c in CLASSES]


def onscreen_factor(
    frame_blocks: Sequence[Sequence[FrameText]],
    times: Sequence[float],
    classifier,
    *,
    size: tuple[int, int],
    duration_s: float | None = None,
    min_similarity: float = 0.7,
    min_confidence: float = 0.5,
) -> dict:
    """The ``onscreen_text`` fields and evidence from per-frame block readings (pure).

    ``classifier`` is a :class:`~.text_lines.LineClassifier` holding :data:`CLASSES`; ``size``
    the source (width, height) the boxes are in, ``duration_s`` the item's.
    """
    from .text_lines import line_features

    columns = check_classes(classifier)
    found = []
    for place in assign_places(frame_blocks):
        lines = track_lines(place, min_similarity=min_similarity)
        if not lines:
            continue
        proba = classifier.proba(line_features(lines, place, times, size, duration_s))[:, columns]
        for line, p in zip(lines, proba):
            best = place[line.best]
            start, end = line_span(times, line.first, line.last)
            k = int(np.argmax(p))
            found.append({"start_s": round(start, 3), "end_s": round(end, 3), "text": line.text, "label": CLASSES[k],
                          "confidence": round(float(p[k]), 4), "box": list(best.box),  # type: ignore[union-attr]
                          "t": round(float(times[line.best]), 3)})
    found.sort(key=lambda ln: (ln["start_s"], ln["box"][1], ln["box"][0]))
    counted = [ln for ln in found if ln["confidence"] >= min_confidence]
    texts = {cls: list(dict.fromkeys(ln["text"] for ln in counted if ln["label"] == cls)) for cls in CLASS_FIELDS}
    return {
        "has_text": bool(found),
        "lines": [{k: v for k, v in ln.items() if k != "t"} for ln in found],
        **{flag: bool(texts[cls]) for cls, (flag, _) in CLASS_FIELDS.items()},
        **{field: "\n".join(texts[cls]) for cls, (_, field) in CLASS_FIELDS.items()},
        "subtitle_lines": sum(ln["label"] == "subtitle" for ln in counted),
        "evidence": [{"t": ln["t"], "box": ln["box"], "text": f"{ln['label']}: {ln['text']}", "score": ln["confidence"]}
                     for ln in found],
    }


@operator(
    name="onscreen_text",
    version=2,
    title="On-screen text, classified",
    group="text",
    params=OnscreenTextParams,
    resources=("ocr", "text_line_classifier"),
    limits=(
        "Classes come from the small layout-and-timing classifier behind subtitles@5, trained on synthetic clips with one drawn text each (subtitles, title cards, lower thirds, scene text, watermarks), rendered documents, number signs and digit-only counters, and a few real negatives: real graphics styles it never saw (tickers, scoreboards, animated titles, captions set mid-frame) can get the wrong class, and it reads no meaning (a sign saying 'www.example.com' is scene text if it sits in the scene).",
        "Full-frame OCR costs several times the subtitle band per sampled frame (unchanged frames are skipped) and seconds on a text-dense screen: at most max_ocr_frames frames (16) are read per item, so on a longer item that keeps changing, lines are timed to the frames read and a short text between them can be missed.",
        "Texts that touch or stack closely (a caption over a sign, a watermark beside a lower third) are read as one block and get one class; text that moves across the frame (credits, tickers) opens a new place per position.",
        "On a single image there is no timing, so the class rests on position, size and rows alone; faint, tiny, rotated or stylised text (translucent watermarks, handwriting) is often missed by OCR at analysis resolution.",
        "OCR reads Chinese and Latin script only: other scripts (Cyrillic, Arabic, ...) come out as garbled Latin, so their text fields cannot be matched and their lines are often classed other.",
    ),
    fields={
        "has_text": Output("bool", "whether any text line was read anywhere in the frame"),
        "lines": Output("labeled_lines", "every line: start_s, end_s (s), text, label (its class), confidence (that "
                       "class's probability) and box [x, y, w, h] in source px on its best frame"),
        "has_title_card": Output("bool", "a line classed title_card"),
        "has_lower_third": Output("bool", "a line classed lower_third (name / role captions)"),
        "has_scene_text": Output("bool", "a line classed scene_text (signs, screens, paper in the picture)"),
        "has_watermark": Output("bool", "a line classed watermark"),
        "title_text": Output("str", "the distinct title card lines, in time order, one per line"),
        "lower_third_text": Output("str", "the distinct lower third lines, in time order, one per line"),
        "scene_text": Output("str", "the distinct scene text lines, in time order, one per line"),
        "watermark_text": Output("str", "the distinct watermark lines, in time order, one per line"),
        "subtitle_lines": Output("int", "lines classed subtitle (the subtitles operator reports their text and times)"),
    },
)
def onscreen_text(inputs: dict, params: OnscreenTextParams, *, item: MediaInfo, resources: dict) -> dict:
    """Every text on screen read by OCR (PP-OCRv4) on the whole frame, each line classed as subtitle,
    title card, lower third, scene text, watermark or other.

    Evidence gives, per line, the time and box (source px) of its best frame, its class and text,
    and the class probability as score.
    """
    frames: FrameBatch = inputs["frames"]
    blocks = read_bands(frames, resources["ocr"], params, read=block_readings, max_reads=params.max_ocr_frames)
    return onscreen_factor(blocks, np.asarray(frames.times), resources["text_line_classifier"],
                           size=(frames.source_width, frames.source_height), duration_s=item.duration_s,
                           min_similarity=params.merge_similarity, min_confidence=params.min_confidence)
