"""Burned-in subtitles read by OCR.

``subtitles@4`` reads the bottom band of each sampled frame with PP-OCRv4 (resource ``ocr``,
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

``coverage`` is the share of sampled frames that carry a kept subtitle line's reading (a time
share at the sampling rate); ``text`` is the distinct line texts joined by newlines, in time order.

``text_policy@1`` lives in :mod:`factorline.operators.policy`; ``onscreen_text@2``, which reads the
whole frame with :func:`read_bands` and classifies every line, in :mod:`factorline.operators.onscreen`.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
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
    weights = np.array([max(1, len(b.text.strip())) for b in kept], dtype=np.float64)
    score = float(np.average([b.score for b in kept], weights=weights))
    box = (min(b.x0 for b in kept), min(b.y0 for b in kept), max(b.x1 for b in kept), max(b.y1 for b in kept))
    return Reading(text, score, box, len(rows), tuple(row_texts))


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
    return FrameText(found.text, found.score, box, found.rows, contrast, found.row_texts)


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
    readings: Sequence[FrameText | None],
    times: Sequence[float],
    min_similarity: float,
    *,
    classifier: Any = None,
    threshold: float = 0.5,
    size: tuple[int, int] | None = None,
    duration_s: float | None = None,
) -> dict:
    """The ``subtitles`` fields and evidence from per-frame readings (pure).

    With a ``classifier`` (:class:`~.text_lines.LineClassifier`), lines whose subtitle
    probability is under ``threshold`` are left out of every field and counted in ``rejected``;
    ``size`` is the source (width, height) the readings' boxes are in, ``duration_s`` the item's.
    Without one every line is a subtitle.
    """
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
        "Stylised or small fonts give OCR slips; lines are read once at analysis resolution.",
    ),
    version=4,
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
    readings = read_bands(frames, resources["ocr"], params)
    classifier = resources["text_line_classifier"] if params.classify else None
    return subtitle_factor(readings, np.asarray(frames.times), params.merge_similarity, classifier=classifier,
                           threshold=params.threshold, size=(frames.source_width, frames.source_height),
                           duration_s=item.duration_s)
