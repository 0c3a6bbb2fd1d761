"""Burned-in subtitles read by OCR.

``subtitles@5`` reads the bottom band of each sampled frame with PP-OCRv4 (resource ``ocr``,
see :mod:`factorline.operators._ocr`), then turns per-frame readings into subtitle lines:

1. **Band.** Only the bottom ``band`` share of the frame is read (subtitles live there; the
   full frame costs 3-5x more and brings in scene text), downscaled to at most ``max_width``
   px wide (:func:`crop_band`).
2. **Skip unchanged bands.** A 64 px wide grayscale thumbnail of the band is compared with
   the one of the last band that was actually OCR'd; when the mean absolute difference is
   under ``change_threshold`` (luma levels) and no thumbnail cell moved by more than
   :data:`CELL_CHANGE_FACTOR` times that, the previous reading is reused without OCR
   (:func:`band_unchanged`). Static shots and slides cost one OCR call per change.
3. **Reading of a frame.** Boxes scoring under ``min_score`` are dropped; the rest are grouped
   into rows (vertical overlap), sorted left to right and joined (no space between two CJK
   characters, one space otherwise); a reading with fewer than ``min_chars`` letters/digits
   is no subtitle (:func:`frame_reading`). Its box is the union of its boxes, mapped back to
   source pixels (:func:`box_to_source`).
4. **Lines.** Consecutive readings whose normalised texts have an edit-distance similarity of
   at least ``merge_similarity`` are one line (OCR jitter such as "slowly." / "slowIy" does
   not split a line); one frame without text inside a line is bridged (:data:`MAX_GAP`). A
   line's text is the fullest reading that covers the most of its frames' readings (OCR
   drops a word in some frames more often than it adds one; see :func:`line_text`), its score the mean OCR score of its frames,
   ``start_s`` the time of its first frame and ``end_s`` the time of the frame after its last
   one (or the last one plus the sampling step). See :func:`track_lines`.

5. **Which lines are subtitles** (new in version 2). Not all text low in the frame is subtitles
   (a document on a screen, a street number, a sign, a lower third, a watermark): each line's
   layout and timing features (:func:`~.text_lines.line_features`: position, size, rows, glyph
   height, letters vs digits, duration, how often the item's lines change, box jitter, ink
   contrast) go through a small trained classifier (``text_lines.json``, multinomial logistic
   regression trained by ``benchmarks/train_text_lines.py``); lines under ``threshold``
   subtitle probability are left out and counted in ``rejected``. ``classify=false`` keeps
   every line (version 1's behaviour).

6. **Second reading** (new in version 5). Step 1 reads the band downscaled to ``max_width``
   (960 px, 3/4 of a 1280 px analysis frame), so small subtitles of HD sources lose pixels. Each
   kept line is read again (:func:`refine_lines`): on its best frame, each of its rows is cropped
   from the analysis frame at full resolution (padded by :data:`REFINE_PAD` of its height),
   upscaled with a cubic filter to the recogniser's 48 px input height, and recognised alone (no
   detection; ``engine.recognize``). The second text replaces a row's first one when it scores at
   least as high as the first and at least ``min_score``, drops no letter or digit, and is a
   correction of it (similarity at least :data:`MIN_REFINE_SIMILARITY`; :func:`accept_rereading`). At most
   :data:`MAX_REFINE_LINES` lines per item, the lowest-scored first; ``refine=false`` (or an
   engine without ``recognize``) reads once, as version 4 did.

``coverage`` is the share of sampled frames that carry a kept subtitle line's reading (a time
share at the sampling rate); ``text`` is the distinct line texts joined by newlines, in time order.

``text_policy@1`` lives in :mod:`factorline.operators.policy`; ``onscreen_text@2``, which reads the
whole frame with :func:`read_bands` and classifies every line, in :mod:`factorline.operators.onscreen`.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict
from pydantic import Field as P

from ..contract.items import FrameBatch, MediaInfo
from ..contract.operator import Output, operator
from ._ocr import OcrBox

# --------------------------------------------------------------------------- subtitles

# Width of the grayscale thumbnail compared between bands (cells of ~10x10 px at 640 px).
THUMB_WIDTH = 64
# A band is unchanged only if no thumbnail cell moved by more than this many times the
# mean threshold: a short subtitle appearing on a static shot changes few cells a lot.
CELL_CHANGE_FACTOR = 8.0
# Boxes are one row when they overlap vertically by this share of the smaller height.
ROW_OVERLAP = 0.5
# Frames without a reading that may be bridged inside one line (an OCR miss).
MAX_GAP = 1
# Texts are compared on at most this many normalised characters (bounds edit-distance cost).
MAX_COMPARE_CHARS = 400
# A fuller reading covers a shorter one when, beyond the missing characters, they differ by at
# most this share of the fuller one's characters (OCR jitter such as "l" / "I").
COVER_TOLERANCE = 0.1


# Parameters shared by every operator that reads text with :func:`read_bands` (``onscreen_text``
# declares the same fields from these).
MIN_SCORE = P(
    0.6,
    ge=0.0,
    le=1.0,
    title="Minimum OCR confidence",
    description="Recognised text boxes scoring under this (0..1) are ignored.",
)
MAX_WIDTH = P(
    960,
    ge=160,
    le=4096,
    title="OCR width",
    description="The band (the whole frame for onscreen_text) is downscaled to at most this many pixels wide "
    "before OCR (smaller is faster; text under about 14 px high starts to be missed).",
)
CHANGE_THRESHOLD = P(
    2.0,
    ge=0.0,
    le=255.0,
    title="Change threshold",
    description="A band whose small grayscale thumbnail differs from the last OCR'd band by "
    "less than this mean absolute difference (luma levels 0-255) reuses that reading "
    "instead of running OCR again; 0 runs OCR on every frame.",
)
MIN_CHARS = P(
    2,
    ge=1,
    le=100,
    title="Minimum characters",
    description="A frame's reading (one text block, for onscreen_text) with fewer letters or digits than this "
    "is ignored.",
)
MERGE_SIMILARITY = P(
    0.7,
    ge=0.0,
    le=1.0,
    title="Merge similarity",
    description="Readings of consecutive frames whose texts are at least this similar "
    "(1 - normalised edit distance) belong to the same line.",
)


class SubtitlesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    band: float = P(
        0.3,
        gt=0.0,
        le=1.0,
        title="Subtitle band",
        description="Height of the band read for subtitles, as a share of the frame height "
        "measured from the bottom (0.3 = the bottom 30 %; 1.0 = the whole frame).",
    )
    min_score: float = MIN_SCORE
    max_width: int = MAX_WIDTH
    change_threshold: float = CHANGE_THRESHOLD
    min_chars: int = MIN_CHARS
    merge_similarity: float = MERGE_SIMILARITY
    classify: bool = P(
        True,
        title="Classify lines",
        description="Keep only the lines that the trained text-line classifier calls subtitles "
        "(layout, size, rows, timing; see text_lines.py); off: any text read in the band is a "
        "subtitle (as in subtitles@1).",
    )
    threshold: float = P(
        0.5,
        ge=0.0,
        le=1.0,
        title="Subtitle probability",
        description="With classify on, a line is a subtitle when the classifier gives it at least "
        "this probability (lower finds more subtitles and more false ones).",
    )
    refine: bool = P(
        True,
        title="Second reading",
        description="Read each kept subtitle line again, row by row, by recognition alone on its crop "
        "from the analysis frame at full analysis resolution (not downscaled to the OCR width), "
        "upscaled to the recogniser's 48 px input height; the second text replaces the first when it "
        "scores at least as high (and at least the minimum OCR confidence), has no fewer letters and "
        "digits, and is a correction of it, not another text. At most 16 lines per item, the "
        "lowest-scored first. Off: lines are read once (as in subtitles@4).",
    )


@dataclass(frozen=True)
class BandCrop:
    """The band handed to OCR: ``pixels`` (RGB), the band's first analysis row ``y0`` and the
    analysis px per crop px along x (``fx``) and y (``fy``)."""

    pixels: np.ndarray
    y0: int
    fx: float
    fy: float


@dataclass(frozen=True)
class Reading:
    """What OCR read in one frame's band: text, mean score, box (x0, y0, x1, y1) in crop px and
    the number of text rows."""

    text: str
    score: float
    box: tuple[float, float, float, float]
    rows: int = 1
    row_texts: tuple[str, ...] = ()
    row_boxes: tuple[tuple[float, float, float, float], ...] = ()  # each row's box, crop px (x0, y0, x1, y1)
    row_scores: tuple[float, ...] = ()  # each row's mean score (weighted by characters)


@dataclass(frozen=True)
class FrameText:
    """A frame's subtitle reading with its box [x, y, w, h] in source px, its text rows and the
    ink contrast of its boxes (luma p90 - p10, 0..1; see :func:`reading_contrast`)."""

    text: str
    score: float
    box: list[int]
    rows: int = 1
    contrast: float = 0.0
    row_texts: tuple[str, ...] = ()  # the text of each row, top to bottom (empty: one row, ``text``)
    row_boxes: tuple[tuple[int, int, int, int], ...] = ()  # each row's [x, y, w, h] in source px (empty: unknown)
    row_scores: tuple[float, ...] = ()  # each row's OCR score (empty: unknown)


@dataclass(frozen=True)
class Line:
    """A subtitle line: frames ``first``..``last`` (indices), its text and mean score, and
    ``best``, the frame whose reading is given as evidence."""

    first: int
    last: int
    text: str
    score: float
    best: int


def band_top(height: int, band: float) -> int:
    """First row of the bottom ``band`` share of a frame ``height`` rows high (at least 1 row)."""
    rows = min(height, max(1, round(band * height)))
    return height - rows


def crop_band(image: np.ndarray, band: float, max_width: int) -> BandCrop:
    """The bottom ``band`` of an (H, W, 3) frame, area-downscaled to at most ``max_width`` wide."""
    import cv2

    h, w = image.shape[:2]
    y0 = band_top(h, band)
    crop = image[y0:]
    if w > max_width:
        new_h = max(1, round(crop.shape[0] * max_width / w))
        crop = cv2.resize(np.ascontiguousarray(crop), (max_width, new_h), interpolation=cv2.INTER_AREA)
    else:
        crop = np.ascontiguousarray(crop)
    return BandCrop(crop, y0, w / crop.shape[1], (h - y0) / crop.shape[0])


def band_thumbnail(pixels: np.ndarray) -> np.ndarray:
    """A :data:`THUMB_WIDTH` px wide float32 luma thumbnail (area average) of an RGB band."""
    import cv2

    gray = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    size = (THUMB_WIDTH, max(4, round(h * THUMB_WIDTH / w)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA).astype(np.float32)


def band_unchanged(previous: np.ndarray | None, current: np.ndarray, threshold: float) -> bool:
    """Whether a band's thumbnail is nearly identical to the last OCR'd one: mean absolute
    difference under ``threshold`` and no cell over ``CELL_CHANGE_FACTOR * threshold``."""
    if previous is None or previous.shape != current.shape or threshold <= 0:
        return False
    diff = np.abs(previous - current)
    return bool(diff.mean() < threshold and diff.max() < CELL_CHANGE_FACTOR * threshold)


def box_to_source(
    box: tuple[float, float, float, float], crop: BandCrop, scale: float, width: int, height: int
) -> list[int]:
    """A box (x0, y0, x1, y1) in crop px -> [x, y, w, h] in source px, clipped to the frame."""
    x0, y0, x1, y1 = box
    sx0 = min(max(x0 * crop.fx * scale, 0.0), width)
    sx1 = min(max(x1 * crop.fx * scale, 0.0), width)
    sy0 = min(max((crop.y0 + y0 * crop.fy) * scale, 0.0), height)
    sy1 = min(max((crop.y0 + y1 * crop.fy) * scale, 0.0), height)
    x, y = round(sx0), round(sy0)
    return [int(x), int(y), int(round(sx1) - x), int(round(sy1) - y)]


def is_wide(ch: str) -> bool:
    """CJK ideographs, kana, hangul and full-width forms: scripts written without spaces."""
    return unicodedata.east_asian_width(ch) in ("W", "F")


def join_text(left: str, right: str) -> str:
    """Join two pieces of one line: no space between two wide (CJK) characters."""
    if not left:
        return right
    if not right:
        return left
    return left + right if is_wide(left[-1]) and is_wide(right[0]) else f"{left} {right}"


def group_rows(boxes: Sequence[OcrBox]) -> list[list[OcrBox]]:
    """Boxes grouped into text rows (top to bottom), each row sorted left to right."""
    rows: list[list[OcrBox]] = []
    for box in sorted(boxes, key=lambda b: (b.cy, b.x0)):
        for row in rows:
            top, bottom = min(b.y0 for b in row), max(b.y1 for b in row)
            overlap = min(bottom, box.y1) - max(top, box.y0)
            if overlap >= ROW_OVERLAP * min(bottom - top, box.height):
                row.append(box)
                break
        else:
            rows.append([box])
    return [sorted(row, key=lambda b: b.x0) for row in rows]


def normalize_for_compare(text: str) -> str:
    """NFKC, case-folded, letters/digits only: what subtitle comparisons look at."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if ch.isalnum())[:MAX_COMPARE_CHARS]


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions) between two strings."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def similarity(a: str, b: str) -> float:
    """1 - edit distance / longer length, on :func:`normalize_for_compare` forms (1.0: same)."""
    na, nb = normalize_for_compare(a), normalize_for_compare(b)
    if not na and not nb:
        return 1.0
    return 1.0 - levenshtein(na, nb) / max(len(na), len(nb))


def frame_reading(boxes: Sequence[OcrBox], *, min_score: float, min_chars: int) -> Reading | None:
    """One frame's subtitle reading from its OCR boxes, or None when there is none."""
    kept = [b for b in boxes if b.score >= min_score and b.text.strip()]
    if not kept:
        return None
    text = ""
    rows = group_rows(kept)
    row_texts = []
    for row in rows:
        row_text = ""
        for box in row:
            row_text = join_text(row_text, box.text.strip())
        row_texts.append(row_text)
        text = join_text(text, row_text)
    if len(normalize_for_compare(text)) < min_chars:
        return None
    return Reading(text, _mean_score(kept), _union(kept), len(rows), tuple(row_texts),
                   tuple(_union(row) for row in rows), tuple(_mean_score(row) for row in rows))


def _mean_score(boxes: Sequence[OcrBox]) -> float:
    """Mean score of boxes weighted by their characters."""
    weights = np.array([max(1, len(b.text.strip())) for b in boxes], dtype=np.float64)
    return float(np.average([b.score for b in boxes], weights=weights))


def _union(boxes: Sequence[OcrBox]) -> tuple[float, float, float, float]:
    return (min(b.x0 for b in boxes), min(b.y0 for b in boxes), max(b.x1 for b in boxes), max(b.y1 for b in boxes))


def reading_contrast(gray: np.ndarray, boxes: Sequence[OcrBox], min_score: float) -> float:
    """Ink contrast of a frame's reading: the mean of :func:`~.text_lines.box_contrast` over the
    boxes kept by :func:`frame_reading`, weighted by their characters (0.0 without boxes)."""
    from .text_lines import box_contrast

    kept = [b for b in boxes if b.score >= min_score and b.text.strip()]
    if not kept:
        return 0.0
    weights = [max(1, len(b.text.strip())) for b in kept]
    values = [box_contrast(gray, (b.x0, b.y0, b.x1, b.y1)) for b in kept]
    return float(np.average(values, weights=weights))


def covers(full: str, part: str) -> bool:
    """Whether ``part`` reads like ``full`` with some characters missing: on normalised forms,
    the edit distance exceeds the length difference by at most :data:`COVER_TOLERANCE` of
    ``full``'s length (at least 1 edit), so only deletions plus a little OCR jitter separate them."""
    nf, np_ = normalize_for_compare(full), normalize_for_compare(part)
    slack = levenshtein(nf, np_) - max(0, len(nf) - len(np_))
    return slack <= max(1, int(COVER_TOLERANCE * len(nf)))


def line_text(readings: Sequence[FrameText]) -> str:
    """The text of one subtitle line from its frames' readings (pure).

    OCR tends to *drop* pieces (a short word at the end, a faint punctuation mark) in some
    frames more than it invents them, so the most frequent reading is not always the best:
    every distinct reading is credited with the frames whose reading it covers
    (:func:`covers`); among those covering the most frames, the fullest ones (normalised length
    within 1 character of the longest) are kept, so a reading that adds a word wins while a
    single stray character does not, and among these the most frequent wins (ties: higher mean
    score, then earlier).
    """
    if not readings:
        return ""
    counts = Counter(r.text for r in readings)
    distinct = list(counts)
    covered = {t: sum(counts[o] for o in distinct if o == t or covers(t, o)) for t in distinct}
    most = max(covered.values())
    pool = [t for t in distinct if covered[t] == most]
    longest = max(len(normalize_for_compare(t)) for t in pool)
    pool = [t for t in pool if len(normalize_for_compare(t)) >= longest - 1]

    def rank(text: str) -> tuple:
        frames = [i for i, r in enumerate(readings) if r.text == text]
        return (counts[text], float(np.mean([readings[i].score for i in frames])), -frames[0])

    return max(pool, key=rank)


def track_lines(
    readings: Sequence[FrameText | None], *, min_similarity: float = 0.7, max_gap: int = MAX_GAP
) -> list[Line]:
    """Subtitle lines from per-frame readings (None: no subtitle in that frame).

    A reading joins the open line when it follows the line's last reading with at most
    ``max_gap`` empty frames between and its text is at least ``min_similarity`` similar to
    that last reading; otherwise it opens a new line. A line's text is chosen by
    :func:`line_text` (the fullest reading the others agree with), its score the mean of its
    frames'.
    """
    lines: list[Line] = []
    members: list[int] = []

    def close() -> None:
        if not members:
            return
        text = line_text([readings[i] for i in members])  # type: ignore[misc]
        same = [i for i in members if readings[i].text == text]  # type: ignore[union-attr]
        best = max(same, key=lambda i: (readings[i].score, -i))  # type: ignore[union-attr]
        score = float(np.mean([readings[i].score for i in members]))  # type: ignore[union-attr]
        lines.append(Line(members[0], members[-1], text, score, best))
        members.clear()

    for i, reading in enumerate(readings):
        if reading is None:
            continue
        if members:
            last = readings[members[-1]]
            gap = i - members[-1] - 1
            if gap > max_gap or similarity(last.text, reading.text) < min_similarity:  # type: ignore[union-attr]
                close()
        members.append(i)
    close()
    return lines


def line_span(times: Sequence[float], first: int, last: int) -> tuple[float, float]:
    """(start_s, end_s) of frames first..last: end is the next frame's time, or the last
    frame's time plus the median sampling step (0 for a single frame)."""
    t = np.asarray(times, dtype=np.float64)
    if last + 1 < len(t):
        return float(t[first]), float(t[last + 1])
    step = float(np.median(np.diff(t))) if len(t) > 1 else 0.0
    return float(t[first]), float(t[last] + step)


def coverage(readings: Sequence[FrameText | None]) -> float:
    """Share of sampled frames with a subtitle reading (0.0 for no frames)."""
    if not readings:
        return 0.0
    return round(sum(r is not None for r in readings) / len(readings), 4)


def band_reading(boxes: Sequence[OcrBox], crop: BandCrop, params: Any, frames: FrameBatch) -> FrameText | None:
    """One frame's reading of its band: every box :func:`frame_reading` keeps, as one text whose
    box is mapped to source px, with its ink contrast (None when nothing is read)."""
    import cv2

    found = frame_reading(boxes, min_score=params.min_score, min_chars=params.min_chars)
    if found is None:
        return None
    scale = float(frames.scale) or 1.0
    box = box_to_source(found.box, crop, scale, frames.source_width, frames.source_height)
    gray = cv2.cvtColor(crop.pixels, cv2.COLOR_RGB2GRAY)
    contrast = round(reading_contrast(gray, boxes, params.min_score), 4)
    row_boxes = tuple(
        tuple(box_to_source(b, crop, scale, frames.source_width, frames.source_height)) for b in found.row_boxes
    )
    return FrameText(found.text, found.score, box, found.rows, contrast, found.row_texts, row_boxes,  # type: ignore[arg-type]
                     tuple(round(v, 4) for v in found.row_scores))


def read_bands(frames: FrameBatch, engine: Any, params: Any, read: Any = band_reading, max_reads: int = 0) -> list:
    """Per-frame readings: crop the band, skip unchanged bands, OCR, turn the boxes into a reading.

    ``engine`` is any callable ``(rgb crop) -> list[OcrBox]`` (the ``ocr`` resource); ``params``
    carries ``band``, ``max_width``, ``change_threshold``, ``min_score`` and ``min_chars``;
    ``read(boxes, crop, params, frames)`` makes a frame's reading (default :func:`band_reading`:
    one :class:`FrameText` or None). An unchanged band repeats the last OCR'd frame's reading.
    ``max_reads`` (0: no limit) caps the OCR calls: when more bands changed, that many of them,
    evenly spread, are read and the others repeat the last reading (OCR of a text-dense screen
    costs seconds per frame: a long screen recording must not cost minutes).
    """
    readings: list = []
    last_reading: Any = None
    chosen = frames_to_read(frames, params, max_reads)
    for i, image in enumerate(frames.images):
        if i in chosen:
            crop = crop_band(image, params.band, params.max_width)
            last_reading = read(engine(crop.pixels), crop, params, frames)
        readings.append(last_reading)
    return readings


def frames_to_read(frames: FrameBatch, params: Any, max_reads: int = 0) -> set[int]:
    """The frames :func:`read_bands` OCRs: every frame whose band changed against the last one
    kept, or ``max_reads`` of them evenly spread when more did (0: no limit)."""
    changed: list[int] = []
    last: np.ndarray | None = None
    for i, image in enumerate(frames.images):
        thumb = band_thumbnail(crop_band(image, params.band, params.max_width).pixels)
        if not band_unchanged(last, thumb, params.change_threshold):
            changed.append(i)
            last = thumb
    if not max_reads or len(changed) <= max_reads:
        return set(changed)
    picks = np.unique(np.linspace(0, len(changed) - 1, max_reads).round().astype(int))
    return {changed[k] for k in picks.tolist()}


def subtitle_factor(
    readings: Sequence[FrameText | None], times: Sequence[float], min_similarity: float, **line_options: Any
) -> dict:
    """The ``subtitles`` fields and evidence from per-frame readings (pure): :func:`kept_lines`
    (``line_options``: its ``classifier``, ``threshold``, ``size``, ``duration_s``) then
    :func:`subtitle_fields`; the operator runs :func:`refine_lines` between the two.
    Without a classifier every line is a subtitle.
    """
    lines, rejected, confidence = kept_lines(readings, times, min_similarity, **line_options)
    return subtitle_fields(lines, readings, times, rejected, confidence)


def kept_lines(
    readings: Sequence[FrameText | None],
    times: Sequence[float],
    min_similarity: float,
    *,
    classifier: Any = None,
    threshold: float = 0.5,
    size: tuple[int, int] | None = None,
    duration_s: float | None = None,
) -> tuple[list[Line], int, float]:
    """The tracked lines a ``classifier`` calls subtitles (all of them without one), how many it
    rejected and its highest subtitle probability (1.0 without one; 0.0 without lines) (pure).
    Lines under ``threshold`` are left out; ``size`` is the source (width, height) the readings'
    boxes are in (needed with a classifier), ``duration_s`` the item's."""
    lines = track_lines(readings, min_similarity=min_similarity)
    rejected = 0
    confidence = 1.0 if lines else 0.0
    if classifier is not None and lines:
        from .text_lines import line_features

        if size is None:
            raise ValueError("subtitle_factor: a classifier needs the frame size the boxes are in")
        proba = classifier.subtitle_proba(line_features(lines, readings, times, size, duration_s))
        confidence = float(proba.max())
        keep = proba >= threshold
        rejected = int((~keep).sum())
        lines = [line for line, ok in zip(lines, keep) if ok]
    return lines, rejected, confidence


def subtitle_fields(
    lines: Sequence[Line], readings: Sequence[FrameText | None], times: Sequence[float], rejected: int, confidence: float
) -> dict:
    """The ``subtitles`` fields and evidence of the kept ``lines`` (pure)."""
    out_lines, evidence, distinct, scripts = [], [], [], []
    shown: set[int] = set()
    for line in lines:
        start, end = line_span(times, line.first, line.last)
        best = readings[line.best]
        # Rows are lines as a person reads them: a two-row subtitle or a bilingual pair is two
        # lines (classified together, as one caption, above).
        for row in reading_rows(best, line.text):  # type: ignore[arg-type]
            out_lines.append({"start_s": round(start, 3), "end_s": round(end, 3), "text": row,
                              "score": round(line.score, 4)})
            if row not in distinct:
                distinct.append(row)
            for script in text_scripts(row):
                if script not in scripts:
                    scripts.append(script)
        evidence.append({"t": round(float(times[line.best]), 3), "box": list(best.box),  # type: ignore[union-attr]
                         "text": line.text, "score": round(best.score, 4)})  # type: ignore[union-attr]
        shown.update(i for i in range(line.first, line.last + 1) if readings[i] is not None)
    return {
        "has_subtitles": bool(lines),
        "coverage": round(len(shown) / len(readings), 4) if readings else 0.0,
        "text": "\n".join(distinct),
        "lines": out_lines,
        "scripts": scripts,
        "rejected": rejected,
        "confidence": round(confidence, 4),
        "evidence": evidence,
    }


# --------------------------------------------------------------------------- second reading

# Lines re-read per item at most, the lowest-scored first (each row costs one recognition call).
MAX_REFINE_LINES = 16
# Padding around a row's box before it is re-read, as a share of the row's height (at least 2
# analysis px): the detector's boxes are already unclipped, so a little is enough (0.08 read
# better than 0.15, 0.2 and 0.3 on benchmarks/subtitle_refine.py's lines, other seeds).
REFINE_PAD = 0.08
# The recogniser's input height (PP-OCRv4: 48 px). A lower crop is upscaled to it with a cubic
# filter (at most MAX_UPSCALE times) rather than left to the recogniser's own linear resize; a
# taller one is not touched. (The gain is the analysis resolution, not the filter: cubic,
# Lanczos and no upscale at all read about the same.)
REC_HEIGHT = 48
MAX_UPSCALE = 4.0
# A second reading less similar than this to the first is another text (the crop caught
# something else), not a correction of the first one.
MIN_REFINE_SIMILARITY = 0.5


def accept_rereading(first: str, first_score: float, second: str, second_score: float, min_score: float) -> bool:
    """Whether a row's second reading replaces its first (pure): it scores at least as high as
    the first (``second_score >= first_score``) and at least ``min_score``, has no fewer letters
    and digits than the first (OCR drops characters more often than it invents them: a shorter
    second reading is more likely a slip than a fix), and is a correction of the first rather
    than another text (:func:`similarity` at least :data:`MIN_REFINE_SIMILARITY`)."""
    if not normalize_for_compare(second):
        return False
    if second_score < first_score or second_score < min_score:
        return False
    if len(normalize_for_compare(second)) < len(normalize_for_compare(first)):
        return False  # a dropped character (OCR drops more often than it invents; see line_text)
    return similarity(first, second) >= MIN_REFINE_SIMILARITY


def row_crop_box(box: Sequence[int], scale: float, width: int, height: int) -> tuple[int, int, int, int]:
    """A row's ``[x, y, w, h]`` box in source px -> ``(x0, y0, x1, y1)`` in the px of a ``width`` x
    ``height`` analysis frame (``scale``: source px per analysis px), padded on every side by
    :data:`REFINE_PAD` of its height (at least 2 px) and clipped to the frame."""
    x, y, w, h = (float(v) for v in box)
    s = float(scale) or 1.0
    x0, y0, x1, y1 = x / s, y / s, (x + w) / s, (y + h) / s
    pad = max(2.0, REFINE_PAD * (y1 - y0))
    return (max(0, math.floor(x0 - pad)), max(0, math.floor(y0 - pad)),
            min(width, math.ceil(x1 + pad)), min(height, math.ceil(y1 + pad)))


def upscale_for_rec(crop: np.ndarray) -> np.ndarray:
    """A row crop upscaled (cubic) to :data:`REC_HEIGHT` px high, at most :data:`MAX_UPSCALE`
    times, aspect kept; a crop already that high is returned as is (never downscaled)."""
    import cv2

    h, w = crop.shape[:2]
    factor = min(MAX_UPSCALE, REC_HEIGHT / h) if h else 1.0
    crop = np.ascontiguousarray(crop)
    if factor <= 1.0:
        return crop
    return cv2.resize(crop, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_CUBIC)


def reread(reading: FrameText, image: np.ndarray, scale: float, recognize: Any, min_score: float) -> FrameText | None:
    """The second reading of one frame's reading, row by row, on ``image`` (the analysis frame;
    ``scale``: source px per analysis px): each row's crop (:func:`row_crop_box`,
    :func:`upscale_for_rec`) goes to ``recognize(rgb) -> Recognition`` (or a ``(text, score)``
    pair), and a row takes the new text when :func:`accept_rereading` says so. Returns the
    reading with the new texts, rows and scores (its score: the rows' mean weighted by
    characters), or None when no row changed. A reading of several rows without row boxes is
    not re-read (it could not be split back into its rows)."""
    rows = tuple(reading.row_texts) or (reading.text,)
    boxes = tuple(reading.row_boxes) or ((tuple(reading.box),) if len(rows) == 1 else ())
    if len(boxes) != len(rows):
        return None
    scores = tuple(reading.row_scores) if len(reading.row_scores) == len(rows) else (reading.score,) * len(rows)
    height, width = image.shape[:2]
    new_rows, new_scores, changed = [], [], False
    for text, box, score in zip(rows, boxes, scores):
        x0, y0, x1, y1 = row_crop_box(box, scale, width, height)
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            got = recognize(upscale_for_rec(image[y0:y1, x0:x1]))
            second, second_score = (got.text, got.score) if hasattr(got, "text") else got
            second = str(second).strip()
            if accept_rereading(text, score, second, float(second_score), min_score):
                changed |= second != text
                text, score = second, float(second_score)
        new_rows.append(text)
        new_scores.append(score)
    if not changed:
        return None
    joined = ""
    for row in new_rows:
        joined = join_text(joined, row)
    weights = [max(1, len(r)) for r in new_rows]
    return replace(reading, text=joined, score=round(float(np.average(new_scores, weights=weights)), 4),
                   row_texts=tuple(new_rows) if reading.row_texts else (),
                   row_scores=tuple(round(v, 4) for v in new_scores))


def refine_lines(
    lines: Sequence[Line],
    readings: Sequence[FrameText | None],
    frames: FrameBatch,
    engine: Any,
    *,
    min_score: float,
    max_lines: int = MAX_REFINE_LINES,
) -> tuple[list[Line], list[FrameText | None]]:
    """The second reading of subtitle lines at full analysis resolution.

    The first reading OCRs the band downscaled to ``max_width`` (960 px: 3/4 of a 1280 px
    analysis frame); here each line's best frame (:attr:`Line.best`) is cropped around each of
    its rows at the analysis frame's own resolution and read again by ``engine.recognize``
    (:func:`reread`). At most ``max_lines`` lines are re-read, the lowest-scored first. Returns
    new lists: a re-read line carries its new text, and its best frame's reading the new text,
    rows and score (evidence shows them; a line's ``score`` stays the mean of its frames' first
    readings). An engine without ``recognize`` (a plain callable) leaves everything as it is.
    """
    out_lines, out_readings = list(lines), list(readings)
    recognize = getattr(engine, "recognize", None)
    if recognize is None or not out_lines or max_lines <= 0:
        return out_lines, out_readings
    order = sorted(range(len(out_lines)), key=lambda k: (out_lines[k].score, k))[:max_lines]
    for k in order:
        line = out_lines[k]
        first = out_readings[line.best]
        if first is None:
            continue
        second = reread(first, frames.images[line.best], frames.scale, recognize, min_score)
        if second is not None:
            out_readings[line.best] = second
            out_lines[k] = replace(line, text=second.text)
    return out_lines, out_readings


# Unicode script of a character, by the first word of its Unicode name (Latin, Cyrillic, Greek,
# Arabic, Hebrew, Thai, Devanagari, Hangul...); CJK ideographs are "Han", kana "Kana".
_SCRIPT_ALIASES = {"CJK": "Han", "HIRAGANA": "Kana", "KATAKANA": "Kana", "FULLWIDTH": "Latin"}


def char_script(ch: str) -> str | None:
    """The script of a letter (None for digits, punctuation, spaces and unnamed characters)."""
    if not ch.isalpha():
        return None
    name = unicodedata.name(ch, "")
    if not name:
        return None
    first = name.split()[0]
    return _SCRIPT_ALIASES.get(first, first.capitalize())


def text_scripts(text: str) -> list[str]:
    """Scripts of a text's letters, most used first (e.g. ["Han"], ["Latin", "Cyrillic"])."""
    counts = Counter(s for s in map(char_script, unicodedata.normalize("NFKC", text)) if s)
    return [s for s, _ in counts.most_common()]


def reading_rows(reading: FrameText, text: str) -> list[str]:
    """The rows of a line as a person reads them: the row texts of its best reading when it
    has several and they make up the line's text, else the text itself."""
    rows = [r for r in reading.row_texts if r.strip()]
    if len(rows) >= 2 and reading.text == text:
        return rows
    return [text]


@operator(
    name="subtitles",
    limits=(
        "Which text is a subtitle is decided per line by a small classifier trained on synthetic clips (subtitles, title cards, lower thirds, scene text, watermarks), rendered documents, number signs and digit-only counters (clocks, timestamps, scores, prices, calendar rows), and real negatives only: centred one- or two-row captions that change (ad captions, karaoke, quotes) are still called subtitles, and unusual subtitle styles (tiny, left-aligned, scrolling) may be rejected.",
        "A sign, screen or document sharing a frame's band with a subtitle is read into the same line and can make the classifier reject it.",
        "Stacked rows are classified together as one caption and reported as one line each; scripts are named by Unicode script (Han, Latin, Cyrillic...), not by language (Chinese and Japanese kanji are both Han).",
        "Stylised or small fonts give OCR slips: burned into real 1080p frames, subtitle letters 14 px high (cap height) are read about 93 % right, 22 px and more 98-100 % (benchmarks/subtitle_refine.py). Each kept line is read a second time on its crop at full analysis resolution (frames are at most 1280 px: a 1080p source is read at 2/3 of its pixels), for at most 16 lines per item; the second reading replaces the first only when it scores at least as high.",
    ),
    version=5,
    title="Burned-in subtitles",
    group="text",
    params=SubtitlesParams,
    resources=("ocr", "text_line_classifier"),
    fields={
        "has_subtitles": Output("bool", "whether any subtitle line was read"),
        "coverage": Output("float", "share of sampled frames showing subtitle text (0..1)"),
        "text": Output("str", "the distinct subtitle lines, in time order, one per line"),
        "lines": Output("lines", "subtitle lines as read, one per row (a two-row or bilingual caption is two lines with the same times), with start_s, end_s (s), text and mean OCR score"),
        "scripts": Output("list[str]", "Unicode scripts of the subtitle text, most used first (Han, Latin, Cyrillic...): two for a bilingual pair"),
        "rejected": Output("int", "text lines read in the band that the classifier says are not subtitles"),
        "confidence": Output("float", "the highest subtitle probability (0..1) the line classifier gave a text line read in "
                            "the band, whatever has_subtitles says (has_subtitles: at least `threshold`); 0 when no "
                            "text was read, 1 for any line with classify: false"),
    },
)
def subtitles(inputs: dict, params: SubtitlesParams, *, item: MediaInfo, resources: dict) -> dict:
    """Burned-in subtitles read by OCR (PP-OCRv4, Chinese and Latin) in the bottom band.

    Lines are tracked over the sampled frames (similar readings merge, so OCR jitter does not
    split a line); evidence gives, per line, the time, box in source px, text and score.
    """
    frames: FrameBatch = inputs["frames"]
    engine = resources["ocr"]
    readings = read_bands(frames, engine, params)
    classifier = resources["text_line_classifier"] if params.classify else None
    times = np.asarray(frames.times)
    lines, rejected, confidence = kept_lines(readings, times, params.merge_similarity, classifier=classifier,
                                             threshold=params.threshold,
                                             size=(frames.source_width, frames.source_height),
                                             duration_s=item.duration_s)
    if params.refine:
        lines, readings = refine_lines(lines, readings, frames, engine, min_score=params.min_score)
    return subtitle_fields(lines, readings, times, rejected, confidence)
