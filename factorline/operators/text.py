"""Text operators: burned-in subtitles read by OCR, and a keyword/regex policy over any text.

``subtitles@1`` reads the bottom band of each sampled frame with PP-OCRv4 (resource ``ocr``,
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
   line's text is its most frequent reading, its score the mean OCR score of its frames,
   ``start_s`` the time of its first frame and ``end_s`` the time of the frame after its last
   one (or the last one plus the sampling step). See :func:`track_lines`.

``coverage`` is the share of sampled frames that carry a subtitle reading (a time share at
the sampling rate); ``text`` is the distinct line texts joined by newlines, in time order.

``text_policy@1`` matches configured terms and regular expressions against a text (usually
wired from ``subtitles.text``). Text and terms are NFKC-normalised (full-width forms fold to
ASCII), case-folded unless ``case_sensitive``, and whitespace is collapsed. Regexes are
checked when the parameters are validated: at most :data:`MAX_PATTERNS` of at most
:data:`MAX_PATTERN_CHARS` characters; nested quantifiers, back-references, quantified
alternations whose branches can start alike, and patterns whose worst-case backtracking
factor is over :data:`MAX_STEPS` (``a.*b.*c``) are refused with a message saying why
(:func:`pattern_problem`). They are then run over windows of
:data:`WINDOW_CHARS` characters that overlap by :data:`MAX_MATCH_CHARS` (so any match up to
that length is found) of a text capped at :data:`MAX_TEXT_CHARS`, which bounds the cost of
the polynomial backtracking that even a plain ``\\w+\\d`` shows on a long hostile text.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator
from pydantic import Field as P

from ..core.items import FrameBatch, MediaInfo
from ..core.operator import Field, Input, operator
from ..errors import OperatorError
from ..kinds import Kind
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
    min_score: float = P(
        0.6,
        ge=0.0,
        le=1.0,
        title="Minimum OCR confidence",
        description="Recognised text boxes scoring under this (0..1) are ignored.",
    )
    max_width: int = P(
        960,
        ge=160,
        le=4096,
        title="OCR width",
        description="The band is downscaled to at most this many pixels wide before OCR "
        "(smaller is faster; text under about 14 px high starts to be missed).",
    )
    change_threshold: float = P(
        2.0,
        ge=0.0,
        le=255.0,
        title="Change threshold",
        description="A band whose small grayscale thumbnail differs from the last OCR'd band by "
        "less than this mean absolute difference (luma levels 0-255) reuses that reading "
        "instead of running OCR again; 0 runs OCR on every frame.",
    )
    min_chars: int = P(
        2,
        ge=1,
        le=100,
        title="Minimum characters",
        description="A frame's reading with fewer letters or digits than this is not a subtitle.",
    )
    merge_similarity: float = P(
        0.7,
        ge=0.0,
        le=1.0,
        title="Merge similarity",
        description="Readings of consecutive frames whose texts are at least this similar "
        "(1 - normalised edit distance) belong to the same subtitle line.",
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
    """What OCR read in one frame's band: text, mean score and box (x0, y0, x1, y1) in crop px."""

    text: str
    score: float
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class FrameText:
    """A frame's subtitle reading with its box [x, y, w, h] in source px."""

    text: str
    score: float
    box: list[int]


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
    for row in group_rows(kept):
        row_text = ""
        for box in row:
            row_text = join_text(row_text, box.text.strip())
        text = join_text(text, row_text)
    if len(normalize_for_compare(text)) < min_chars:
        return None
    weights = np.array([max(1, len(b.text.strip())) for b in kept], dtype=np.float64)
    score = float(np.average([b.score for b in kept], weights=weights))
    box = (min(b.x0 for b in kept), min(b.y0 for b in kept), max(b.x1 for b in kept), max(b.y1 for b in kept))
    return Reading(text, score, box)


def track_lines(
    readings: Sequence[FrameText | None], *, min_similarity: float = 0.7, max_gap: int = MAX_GAP
) -> list[Line]:
    """Subtitle lines from per-frame readings (None: no subtitle in that frame).

    A reading joins the open line when it follows the line's last reading with at most
    ``max_gap`` empty frames between and its text is at least ``min_similarity`` similar to
    that last reading; otherwise it opens a new line. A line's text is its most frequent
    reading (ties: higher mean score, then earlier), its score the mean of its frames'.
    """
    lines: list[Line] = []
    members: list[int] = []

    def close() -> None:
        if not members:
            return
        texts = Counter(readings[i].text for i in members)  # type: ignore[union-attr]

        def rank(text: str) -> tuple:
            frames = [i for i in members if readings[i].text == text]  # type: ignore[union-attr]
            return (texts[text], float(np.mean([readings[i].score for i in frames])), -frames[0])  # type: ignore[union-attr]

        text = max(texts, key=rank)
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


def read_bands(frames: FrameBatch, engine: Any, params: SubtitlesParams) -> list[FrameText | None]:
    """Per-frame subtitle readings: crop, skip unchanged bands, OCR, map boxes to source px.

    ``engine`` is any callable ``(rgb crop) -> list[OcrBox]`` (the ``ocr`` resource).
    """
    scale = float(frames.scale) or 1.0
    readings: list[FrameText | None] = []
    last_thumb: np.ndarray | None = None
    last_reading: FrameText | None = None
    for image in frames.images:
        crop = crop_band(image, params.band, params.max_width)
        thumb = band_thumbnail(crop.pixels)
        if not band_unchanged(last_thumb, thumb, params.change_threshold):
            found = frame_reading(engine(crop.pixels), min_score=params.min_score, min_chars=params.min_chars)
            last_reading = None
            if found is not None:
                box = box_to_source(found.box, crop, scale, frames.source_width, frames.source_height)
                last_reading = FrameText(found.text, found.score, box)
            last_thumb = thumb
        readings.append(last_reading)
    return readings


def subtitle_factor(readings: Sequence[FrameText | None], times: Sequence[float], min_similarity: float) -> dict:
    """The ``subtitles`` fields and evidence from per-frame readings (pure)."""
    lines = track_lines(readings, min_similarity=min_similarity)
    out_lines, evidence, distinct = [], [], []
    for line in lines:
        start, end = line_span(times, line.first, line.last)
        out_lines.append({"start_s": round(start, 3), "end_s": round(end, 3), "text": line.text,
                          "score": round(line.score, 4)})
        best = readings[line.best]
        evidence.append({"t": round(float(times[line.best]), 3), "box": list(best.box),  # type: ignore[union-attr]
                         "text": line.text, "score": round(best.score, 4)})  # type: ignore[union-attr]
        if line.text not in distinct:
            distinct.append(line.text)
    return {
        "has_subtitles": bool(lines),
        "coverage": coverage(readings),
        "text": "\n".join(distinct),
        "lines": out_lines,
        "evidence": evidence,
    }


@operator(
    name="subtitles",
    version=1,
    title="Burned-in subtitles",
    group="text",
    params=SubtitlesParams,
    resources=("ocr",),
    fields={
        "has_subtitles": Field("bool", "whether any subtitle line was read"),
        "coverage": Field("float", "share of sampled frames showing subtitle text (0..1)"),
        "text": Field("str", "the distinct subtitle lines, in time order, one per line"),
        "lines": Field("lines", "subtitle lines with start_s, end_s (s), text and mean OCR score"),
    },
)
def subtitles(inputs: dict, params: SubtitlesParams, *, item: MediaInfo, resources: dict) -> dict:
    """Burned-in subtitles read by OCR (PP-OCRv4, Chinese and Latin) in the bottom band.

    Lines are tracked over the sampled frames (similar readings merge, so OCR jitter does not
    split a line); evidence gives, per line, the time, box in source px, text and score.
    """
    frames: FrameBatch = inputs["frames"]
    readings = read_bands(frames, resources["ocr"], params)
    return subtitle_factor(readings, np.asarray(frames.times), params.merge_similarity)


# --------------------------------------------------------------------------- text policy

MAX_TERMS = 1000
MAX_PATTERNS = 20
MAX_PATTERN_CHARS = 200
MAX_TERM_CHARS = 200
# Matched text is cut to this many characters (after normalisation).
MAX_TEXT_CHARS = 100_000
# Regexes run over windows of this many characters that overlap by MAX_MATCH_CHARS: any
# match up to MAX_MATCH_CHARS long is found, and backtracking never sees more than a window.
WINDOW_CHARS = 400
MAX_MATCH_CHARS = 100
# Worst-case matching steps allowed per start position (see backtrack_steps): \w+\d takes
# about 2 windows, [a-z]+[0-9]+[a-z]+z about 4, a.*b.*c about a window squared.
MAX_STEPS = 5 * WINDOW_CHARS
# Wall-clock budget for all patterns on one text; past it the item fails (fail closed).
MATCH_BUDGET_S = 10.0
# Evidence: snippets per matched term/pattern, and in all.
EVIDENCE_PER_MATCH = 3
MAX_EVIDENCE = 20

_SPACES = re.compile(r"\s+")
# Characters on which two single-character classes are compared (disjoint or not): ASCII,
# Latin, Greek, Cyrillic, then a sparse sample of the rest of the basic plane (CJK included).
_SAMPLE_CHARS = "".join(chr(i) for i in [*range(0x530), *range(0x530, 0x10000, 7)] if not 0xD800 <= i < 0xE000)
_CATEGORY_REGEX = {
    "CATEGORY_DIGIT": r"\d", "CATEGORY_NOT_DIGIT": r"\D", "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S", "CATEGORY_WORD": r"\w", "CATEGORY_NOT_WORD": r"\W",
    "CATEGORY_LINEBREAK": r"\n", "CATEGORY_NOT_LINEBREAK": r"[^\n]",
}


def normalize_text(text: str, *, case_sensitive: bool = False) -> str:
    """NFKC (full-width forms fold to ASCII), case-folded unless ``case_sensitive``,
    whitespace runs collapsed to one space, stripped."""
    text = unicodedata.normalize("NFKC", text)
    if not case_sensitive:
        text = text.casefold()
    return _SPACES.sub(" ", text).strip()


def _sre():
    from re import _constants, _parser  # type: ignore[attr-defined]

    return _constants, _parser


def _cases(ch: str) -> set[str]:
    """A character with its one-character lower and upper case forms."""
    return {v for v in (ch, ch.lower(), ch.upper()) if len(v) == 1}


def _char_set(node: tuple) -> frozenset[str] | None:
    """The sample characters a single-character regex node matches (either case), or None
    when the node is not a single character (a group, a repeat, an anchor, ...)."""
    c, _ = _sre()
    op, av = node
    if op == c.LITERAL:
        return frozenset(_cases(chr(av)))
    if op == c.NOT_LITERAL:
        return frozenset(_SAMPLE_CHARS) - _cases(chr(av))
    if op == c.ANY:
        return frozenset(_SAMPLE_CHARS) - {"\n"}
    if op == c.IN:
        negate = bool(av) and av[0][0] == c.NEGATE
        chars: set[str] = set()
        for item_op, item_av in av[1:] if negate else av:
            if item_op == c.LITERAL:
                chars |= _cases(chr(item_av))
            elif item_op == c.RANGE:
                lo, hi = item_av
                chars |= {ch for ch in _SAMPLE_CHARS if any(lo <= ord(v) <= hi for v in _cases(ch))}
            elif item_op == c.CATEGORY:
                rx = re.compile(_CATEGORY_REGEX.get(str(item_av), r"[\s\S]"))
                chars |= {ch for ch in _SAMPLE_CHARS if rx.fullmatch(ch)}
            else:
                return None
        return frozenset(_SAMPLE_CHARS) - chars if negate else frozenset(chars)
    return None


def _first_char_set(items: list, start: int, follow: frozenset[str] | None = None) -> frozenset[str] | None:
    """Characters the rest of a sequence (from ``start``) must begin with, when known;
    ``follow`` is what comes after the sequence."""
    c, _ = _sre()
    if start >= len(items):
        return follow
    op, av = items[start]
    single = _char_set((op, av))
    if single is not None:
        return single
    if op in _repeat_ops() and av[0] >= 1:
        return _char_set(tuple(av[2][0])) if len(av[2]) == 1 else None
    if op == c.SUBPATTERN:
        return _first_char_set(list(av[-1]), 0, _first_char_set(items, start + 1, follow))
    return None


def _repeat_ops() -> tuple:
    c, _ = _sre()
    return tuple(getattr(c, n) for n in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") if hasattr(c, n))


def _first_literals(items: list) -> int | None:
    """The literal code a parsed sequence must start with, or None when not a plain literal."""
    c, _ = _sre()
    if not items:
        return None
    op, av = items[0]
    if op == c.LITERAL:
        return av
    if op == c.SUBPATTERN:
        return _first_literals(list(av[-1]))
    return None


def pattern_problem(pattern: str) -> str | None:
    """Why a regex is refused, or None when it is accepted.

    Refused: over :data:`MAX_PATTERN_CHARS` characters, invalid, matching the empty string,
    back-references, nested quantifiers (a variable repeat inside a repeat: ``(a+)+``,
    ``(a?a?)+``), a repeated alternation whose branches can start with the same character
    (``(a|ab)+``), and a worst-case cost over :data:`MAX_STEPS` steps per start position
    (:func:`backtrack_steps`): ``\\w+\\d`` and ``a.*b`` scan their window about twice, but
    ``a.*b.*c`` or ``(\\w+)(\\d+)x`` scan it once for every place the first repeat can stop.
    """
    c, parser = _sre()
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"is {len(pattern)} characters long; at most {MAX_PATTERN_CHARS} are allowed"
    try:
        compiled = re.compile(pattern)
        parsed = parser.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        return f"is not a valid regular expression: {exc}"
    repeats = _repeat_ops()

    def walk(items: list, repeated: bool) -> str | None:
        for op, av in items:
            problem = None
            if op in repeats:
                low, high, body = av
                body = list(body)
                if repeated and high != low:
                    return "has nested quantifiers (a repeat inside a repeat, like (a+)+), which can take exponential time"
                if high > 1 and any(o == c.BRANCH for o, _ in _flatten(body)):
                    branches = [list(b) for o, a in _flatten(body) if o == c.BRANCH for b in a[1]]
                    firsts = [_first_literals(b) for b in branches]
                    firsts = [None if f is None else chr(f).casefold() for f in firsts]
                    if None in firsts or len(set(firsts)) < len(firsts):
                        return ("repeats an alternation whose branches can start alike (like (a|ab)+), "
                                "which can take exponential time")
                problem = walk(body, repeated or high > 1)
            elif op in (c.GROUPREF, c.GROUPREF_EXISTS):
                return "uses a back-reference, which can take exponential time"
            else:
                for child in _children(op, av):
                    problem = problem or walk(child, repeated)
            if problem:
                return problem
        return None

    problem = walk(list(parsed), False)
    if problem:
        return problem
    if compiled.fullmatch("") is not None:
        return "matches the empty string, so it would match every text"
    steps = backtrack_steps(list(parsed))
    if parsed and _is_start_anchor(parsed[0]) and not compiled.flags & re.MULTILINE:
        steps /= WINDOW_CHARS  # tried at the text's start only, not at every position of a window
    if steps > MAX_STEPS:
        return (
            f"can backtrack too much (about {steps:.0f} steps per position in the worst case, at most "
            f"{MAX_STEPS}): a repeat like .* or \\w+ gives characters back to another repeat after it; "
            "bound them (e.g. .{0,20}) or follow each repeat with a character it cannot match"
        )
    return None


def backtrack_steps(items: list, rest: float = 1.0, follow: frozenset[str] | None = None, tail: bool = True) -> float:
    """Worst-case matching steps of a parsed regex sequence from one start position.

    Walking back from the end, with ``rest`` the cost of what follows: a single character or
    anchor adds 1; a repeat of reach ``r`` (its upper bound, at most a window; 1 for
    whitespace, which is collapsed) scans ``r`` characters and then tries the rest at every
    place it can stop: ``r + ways * rest``. It can stop in one way when nothing but end
    anchors follows it, or when it is one character class and the next character cannot be
    one of its characters (``\\d+\\.``); otherwise in ``r - min + 1`` ways. A group costs its
    content followed by the rest, an alternation the sum of its branches, a lookaround its
    content plus the rest.
    """
    c, _ = _sre()
    repeats = _repeat_ops()
    cost = rest
    for i in reversed(range(len(items))):
        op, av = items[i]
        after = _first_char_set(items, i + 1, follow)
        at_tail = tail and all(_is_end_anchor(n) for n in items[i + 1 :])
        if op in repeats:
            low, high, parsed_body = av
            body = list(parsed_body)
            # Iterations are bounded by the window: a body at least k characters wide fits W/k times.
            width = parsed_body.getwidth()[0] if hasattr(parsed_body, "getwidth") else 1
            reach = min(high, WINDOW_CHARS // max(1, width))
            chars = _char_set(tuple(body[0])) if len(body) == 1 else None
            if chars is not None:
                if chars and all(ch.isspace() for ch in chars):
                    reach = min(reach, 1)  # whitespace runs are collapsed to one space
                scan = float(reach)
                one_way = at_tail or (after is not None and not (chars & after))
            else:
                scan = reach * backtrack_steps(body, 1.0, None, False)
                one_way = at_tail
            ways = 1 if one_way else max(1, reach - min(low, reach) + 1)
            cost = scan + ways * cost
        elif op == c.SUBPATTERN:
            cost = backtrack_steps(list(av[-1]), cost, after, at_tail)
        elif op == c.BRANCH:
            cost = sum(backtrack_steps(list(b), cost, after, at_tail) for b in av[1])
        elif op in (c.ASSERT, c.ASSERT_NOT):
            cost = backtrack_steps(list(av[1]), 1.0, None, True) + cost
        elif getattr(c, "ATOMIC_GROUP", None) is not None and op == c.ATOMIC_GROUP:
            cost = backtrack_steps(list(av), 1.0, None, True) + cost
        else:
            cost = 1 + cost
    return cost


def _is_start_anchor(node: tuple) -> bool:
    c, _ = _sre()
    return node[0] == c.AT and node[1] in (c.AT_BEGINNING, c.AT_BEGINNING_STRING)


def _is_end_anchor(node: tuple) -> bool:
    c, _ = _sre()
    return node[0] == c.AT and node[1] in (c.AT_END, c.AT_END_STRING)


def _children(op, av) -> list[list]:
    """Nested parsed sequences of one regex node (groups, alternatives, lookarounds)."""
    c, _ = _sre()
    if op == c.SUBPATTERN:
        return [list(av[-1])]
    if op == c.BRANCH:
        return [list(b) for b in av[1]]
    if op in (c.ASSERT, c.ASSERT_NOT):
        return [list(av[1])]
    if getattr(c, "ATOMIC_GROUP", None) is not None and op == c.ATOMIC_GROUP:
        return [list(av)]
    return []


def _flatten(items: list) -> list:
    """The nodes of a parsed sequence, looking through plain groups (not into repeats)."""
    c, _ = _sre()
    out = []
    for op, av in items:
        out.append((op, av))
        if op == c.SUBPATTERN:
            out.extend(_flatten(list(av[-1])))
    return out


class TextPolicyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    terms: list[str] = P(
        default_factory=list,
        max_length=MAX_TERMS,
        title="Terms",
        description="Keywords or phrases to look for; normalised like the text (full-width "
        f"forms folded, case-folded unless case sensitive). At most {MAX_TERMS}, each at most "
        f"{MAX_TERM_CHARS} characters.",
    )
    patterns: list[str] = P(
        default_factory=list,
        max_length=MAX_PATTERNS,
        title="Patterns",
        description=f"Python regular expressions (at most {MAX_PATTERNS}, each at most "
        f"{MAX_PATTERN_CHARS} characters) searched in the normalised text; nested quantifiers, "
        "back-references and other patterns that can backtrack catastrophically are refused. "
        f"A match may be at most {MAX_MATCH_CHARS} characters long.",
    )
    case_sensitive: bool = P(
        False,
        title="Case sensitive",
        description="Match upper and lower case exactly (by default both are case-folded).",
    )
    whole_words: bool = P(
        True,
        title="Whole words",
        description="A term that starts or ends with a letter or digit of a spaced script "
        "(Latin, Cyrillic, ...) only matches where no such letter or digit touches it, so "
        "'ass' does not match 'class'; CJK terms always match inside text.",
    )

    @field_validator("terms")
    @classmethod
    def _check_terms(cls, terms: list[str]) -> list[str]:
        for i, term in enumerate(terms):
            if len(term) > MAX_TERM_CHARS:
                raise ValueError(f"term {i} is {len(term)} characters long; at most {MAX_TERM_CHARS} are allowed")
            if not normalize_text(term):
                raise ValueError(f"term {i} is empty once whitespace is removed")
        return terms

    @field_validator("patterns")
    @classmethod
    def _check_patterns(cls, patterns: list[str]) -> list[str]:
        for i, pattern in enumerate(patterns):
            if not pattern:
                raise ValueError(f"pattern {i} is empty")
            problem = pattern_problem(unicodedata.normalize("NFKC", pattern))
            if problem:
                raise ValueError(f"pattern {i} {pattern[:60]!r} {problem}")
        return patterns


def is_spaced_word_char(ch: str) -> bool:
    """A letter or digit of a script that separates words with spaces (not CJK)."""
    return ch.isalnum() and not is_wide(ch)


def find_term(text: str, term: str, *, whole_words: bool, limit: int) -> list[tuple[int, int]]:
    """Up to ``limit`` (start, end) spans of ``term`` in ``text`` (both already normalised)."""
    spans: list[tuple[int, int]] = []
    check_left = whole_words and is_spaced_word_char(term[0])
    check_right = whole_words and is_spaced_word_char(term[-1])
    start = text.find(term)
    while start >= 0 and len(spans) < limit:
        end = start + len(term)
        left_ok = not check_left or start == 0 or not is_spaced_word_char(text[start - 1])
        right_ok = not check_right or end == len(text) or not is_spaced_word_char(text[end])
        if left_ok and right_ok:
            spans.append((start, end))
        start = text.find(term, start + 1)
    return spans


def find_pattern(
    text: str, regex: re.Pattern, *, limit: int, deadline: float | None = None
) -> list[tuple[int, int]]:
    """Up to ``limit`` (start, end) spans of ``regex`` in ``text``, searched window by window.

    Windows are :data:`WINDOW_CHARS` long and overlap by :data:`MAX_MATCH_CHARS`, so a match
    up to that long lies wholly in one window. ``^``, ``\\b`` and lookbehinds see the real
    text before a window; a match that ends at a window's cut (where ``$`` or ``\\b`` would
    see a false end) is only taken from the next window. Raises :class:`OperatorError` past
    ``deadline`` (``time.monotonic()``).
    """
    spans: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    step = WINDOW_CHARS - MAX_MATCH_CHARS
    pos = 0
    while True:
        endpos = min(len(text), pos + WINDOW_CHARS)
        final = endpos == len(text)
        for match in regex.finditer(text, pos, endpos):
            span = match.span()
            if span[1] == endpos and not final:
                continue
            if span in seen or span[1] - span[0] > MAX_MATCH_CHARS:
                continue
            seen.add(span)
            spans.append(span)
            if len(spans) >= limit:
                return spans
        if final:
            return spans
        if deadline is not None and time.monotonic() > deadline:
            raise OperatorError(f"regex {regex.pattern[:60]!r} ran past its {MATCH_BUDGET_S:.0f} s budget")
        pos += step


def text_of(value: Any) -> str:
    """The text of a TEXT-kind input: a string, or subtitle lines [{text, ...}] / strings."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return "\n".join(v.get("text", "") if isinstance(v, dict) else str(v) for v in value)
    return str(value)


def match_policy(text: str, params: TextPolicyParams) -> dict:
    """The ``text_policy`` fields for one text (pure apart from the regex time budget)."""
    raw = text[: 4 * MAX_TEXT_CHARS]  # NFKC can lengthen text; cut generously first
    shown = normalize_text(raw, case_sensitive=True)[:MAX_TEXT_CHARS]
    folded = shown if params.case_sensitive else normalize_text(shown)[:MAX_TEXT_CHARS]
    # Snippets are shown in the text's own case when case folding kept every position.
    source = shown if len(shown) == len(folded) else folded
    matched: list[str] = []
    evidence: list[dict] = []

    def found(name: str, spans: list[tuple[int, int]]) -> None:
        if spans and name not in matched:
            matched.append(name)
            for start, end in spans:
                if len(evidence) < MAX_EVIDENCE:
                    evidence.append({"text": source[start:end]})

    if folded:
        for term in params.terms:
            needle = normalize_text(term, case_sensitive=params.case_sensitive)
            found(term, find_term(folded, needle, whole_words=params.whole_words, limit=EVIDENCE_PER_MATCH))
        deadline = time.monotonic() + MATCH_BUDGET_S
        flags = 0 if params.case_sensitive else re.IGNORECASE
        for pattern in params.patterns:
            regex = re.compile(unicodedata.normalize("NFKC", pattern), flags)
            found(pattern, find_pattern(folded, regex, limit=EVIDENCE_PER_MATCH, deadline=deadline))
    return {"matched": bool(matched), "terms": matched, "evidence": evidence}


@operator(
    name="text_policy",
    version=1,
    title="Text policy",
    group="text",
    params=TextPolicyParams,
    inputs={"text": Input(Kind.TEXT, "the text to check, e.g. subs.text")},
    fields={
        "matched": Field("bool", "whether any configured term or pattern matched"),
        "terms": Field("list[str]", "the configured terms and patterns that matched, as written"),
    },
)
def text_policy(inputs: dict, params: TextPolicyParams, *, item: MediaInfo, resources: dict) -> dict:
    """Configured keywords and regular expressions found in a text (e.g. the subtitles).

    Text and terms are NFKC-normalised (full-width forms fold), case-folded and
    whitespace-collapsed; regexes are checked for catastrophic backtracking when the
    parameters are validated. Evidence lists the matched snippets.
    """
    return match_policy(text_of(inputs.get("text")), params)
