"""What kind of on-screen text a tracked line is: features and a small trained classifier.

``subtitles@5`` (:mod:`factorline.operators.text`) reads text over time; not all of it is
subtitles. Real subtitles are one or two centred rows of a consistent size that change every
few seconds; a document on a screen has many rows, a sign persists for the whole shot, a street
number is digits only. :func:`line_features` turns each tracked line (the per-frame readings it
merged carry their boxes, row counts and ink contrast) into :data:`FEATURES`, normalised by the
frame size and the item's duration; :class:`LineClassifier` is a multinomial logistic
regression over them (weights in ``text_lines.json`` next to this module, trained by
``benchmarks/train_text_lines.py`` on ``factorline synth`` clips, rendered documents / number
signs, digit-only counters and real negatives; the JSON records its data digests, seeds and
held-out metrics). ``digits_only`` marks text with digits and no letter at all (a clock, score,
price or number sign) as a step, which a linear model cannot draw from the letter / digit shares
alone: digit-only counters that change like subtitles are told apart by it, not only by layout
and timing weights that lettered signs and lower thirds share.

Everything here is pure numpy: no OCR, no I/O except :func:`load_classifier`.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..contract.errors import ResourceError
from ..contract.registry import resource

if TYPE_CHECKING:
    from .text import FrameText, Line

MODEL_PATH = Path(__file__).with_name("text_lines.json")
MODEL_FORMAT = "factorline.text_lines/1"
# A frame whose reading has at least this many text rows shows a document / screen of text.
DOC_ROWS = 3
# A line spanning at least this share of the sampled frames persists for the whole item.
WHOLE_ITEM = 0.9
# Rows per reading are counted up to this: subtitles hold 1-2 rows, a reading of 4 or more is
# a block of text whatever its count, and a linear model must not extrapolate 11 rows.
MAX_ROWS = 4
# Lines per minute are counted over at least this many seconds: a 2-s item showing 3 lines
# does not change text 90 times a minute.
RATE_MIN_S = 10.0
# Standardised features are clipped to +-this many standard deviations of the training data,
# so an item unlike any seen in training cannot push a class by a linear extrapolation.
Z_CLIP = 3.0

FEATURES = (
    "cx_offset",      # |box centre x / width - 0.5| (0: centred)
    "cy",             # box centre y / height (1: bottom)
    "height",         # box height / frame height (median over the line's frames)
    "width",          # box width / frame width
    "rows",           # text rows per reading (mean, each counted up to MAX_ROWS)
    "row_height",     # box height / rows / frame height: glyph size
    "log_aspect",     # log(box width / box height)
    "log_chars",      # log(1 + letters and digits in the line's text)
    "letters",        # share of letters among the text's non-space characters
    "digits",         # share of digits among them
    "digits_only",    # 1 when the text has digits and no letters (a clock, score, price, number sign)
    "log_frames",     # log(1 + sampled frames the line spans)
    "log_seconds",    # log(1 + the line's duration in s)
    "time_share",     # the line's duration / the item's duration
    "log_lines",      # log(1 + distinct lines the item has)
    "log_rate",       # log(1 + lines per minute over max(duration, RATE_MIN_S)): subtitles change
    "whole_item",     # 1 when the line spans >= WHOLE_ITEM of the sampled frames
    "jitter",         # std of the box centre across frames / frame height
    "size_change",    # std / mean of the box height across frames
    "doc_share",      # share of the item's frames whose reading has >= DOC_ROWS rows
    "contrast",       # ink contrast of the boxes (luma p90 - p10, 0..1)
    "score",          # mean OCR score
)


def box_contrast(gray: np.ndarray, box: Sequence[float]) -> float:
    """Luma spread (p90 - p10, 0..1) inside a box (x0, y0, x1, y1) of a grayscale image:
    high for crisp or outlined glyphs, low for faint or low-contrast text (0 for an empty box)."""
    h, w = gray.shape[:2]
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(w, math.ceil(box[2])), min(h, math.ceil(box[3]))
    if x1 <= x0 or y1 <= y0:
        return 0.0
    lo, hi = np.percentile(gray[y0:y1, x0:x1], (10, 90))
    return float(hi - lo) / 255.0


def char_shares(text: str) -> tuple[float, float]:
    """(letters, digits) as shares of the non-space characters of ``text`` (NFKC)."""
    chars = [ch for ch in unicodedata.normalize("NFKC", text) if not ch.isspace()]
    if not chars:
        return 0.0, 0.0
    letters = sum(ch.isalpha() for ch in chars)
    digits = sum(ch.isdigit() for ch in chars)
    return letters / len(chars), digits / len(chars)


def item_duration(times: Sequence[float], duration_s: float | None) -> float:
    """The item's duration in s: the given one, else the sampled span plus one step (>= 1 s)."""
    t = np.asarray(times, dtype=np.float64)
    if duration_s and duration_s > 0:
        return float(duration_s)
    if len(t) > 1:
        return max(1.0, float(t[-1] - t[0] + np.median(np.diff(t))))
    return 1.0


def line_features(
    lines: Sequence[Line],
    readings: Sequence[FrameText | None],
    times: Sequence[float],
    size: tuple[int, int],
    duration_s: float | None = None,
) -> np.ndarray:
    """An (n_lines, len(FEATURES)) float64 matrix for the tracked ``lines`` of one item.

    ``readings`` are the per-frame readings the lines were tracked from (boxes [x, y, w, h] in
    source px), ``times`` the sampled frames' times, ``size`` the source (width, height).
    """
    from .text import line_span, normalize_for_compare  # text.py imports this module lazily

    width, height = max(1, size[0]), max(1, size[1])
    n_frames = max(1, len(readings))
    duration = item_duration(times, duration_s)
    doc_share = sum(r is not None and r.rows >= DOC_ROWS for r in readings) / n_frames
    log_lines = math.log1p(len(lines))
    log_rate = math.log1p(len(lines) * 60.0 / max(duration, RATE_MIN_S))
    out = np.zeros((len(lines), len(FEATURES)), dtype=np.float64)
    for k, line in enumerate(lines):
        frames = [r for r in readings[line.first : line.last + 1] if r is not None]
        boxes = np.array([r.box for r in frames], dtype=np.float64).reshape(-1, 4)
        boxes[:, 2:] = np.maximum(boxes[:, 2:], 1.0)
        cx = (boxes[:, 0] + boxes[:, 2] / 2) / width
        cy = (boxes[:, 1] + boxes[:, 3] / 2) / height
        bw, bh = np.median(boxes[:, 2]), np.median(boxes[:, 3])
        rows = float(np.mean([min(MAX_ROWS, max(1, r.rows)) for r in frames]))
        letters, digits = char_shares(line.text)
        start, end = line_span(times, line.first, line.last)
        span_frames = line.last - line.first + 1
        jitter = float(np.hypot(np.std(cx * width), np.std(cy * height)) / height) if len(frames) > 1 else 0.0
        size_change = float(np.std(boxes[:, 3]) / max(1.0, np.mean(boxes[:, 3]))) if len(frames) > 1 else 0.0
        out[k] = (
            abs(float(np.median(cx)) - 0.5),
            float(np.median(cy)),
            bh / height,
            bw / width,
            rows,
            bh / rows / height,
            math.log(bw / bh),
            math.log1p(len(normalize_for_compare(line.text))),
            letters,
            digits,
            float(digits > 0 and letters == 0),
            math.log1p(span_frames),
            math.log1p(max(0.0, end - start)),
            min(1.0, max(0.0, end - start) / duration),
            log_lines,
            log_rate,
            float(span_frames >= WHOLE_ITEM * n_frames),
            jitter,
            size_change,
            doc_share,
            float(np.mean([r.contrast for r in frames])),
            float(np.mean([r.score for r in frames])),
        )
    return out


@dataclass(frozen=True)
class LineClassifier:
    """Multinomial logistic regression over standardised :data:`FEATURES`.

    ``classes`` name the outputs (``subtitle`` among them); ``mean`` / ``scale`` standardise
    the features, clipped to +-``meta["z_clip"]`` when the model records one (:data:`Z_CLIP`
    in training); ``coef`` is (classes, features), ``intercept`` (classes,).
    """

    features: tuple[str, ...]
    classes: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    meta: dict

    @classmethod
    def from_dict(cls, doc: dict) -> LineClassifier:
        if doc.get("format") != MODEL_FORMAT:
            raise ResourceError(f"text line classifier: format must be {MODEL_FORMAT!r}, got {doc.get('format')!r}")
        features = tuple(doc["features"])
        if features != FEATURES:
            raise ResourceError(f"text line classifier: its features {list(features)} are not this version's "
                                f"{list(FEATURES)}; retrain with benchmarks/train_text_lines.py")
        classes = tuple(doc["classes"])
        if "subtitle" not in classes:
            raise ResourceError("text line classifier: no 'subtitle' class")
        n, c = len(features), len(classes)
        mean, scale = np.asarray(doc["mean"], np.float64), np.asarray(doc["scale"], np.float64)
        coef, intercept = np.asarray(doc["coef"], np.float64), np.asarray(doc["intercept"], np.float64)
        if mean.shape != (n,) or scale.shape != (n,) or coef.shape != (c, n) or intercept.shape != (c,):
            raise ResourceError("text line classifier: weight shapes do not match its features and classes")
        meta = {k: v for k, v in doc.items() if k not in ("features", "classes", "mean", "scale", "coef", "intercept")}
        return cls(features, classes, mean, np.where(scale > 0, scale, 1.0), coef, intercept, meta)

    def to_dict(self) -> dict:
        return {"format": MODEL_FORMAT, **{k: v for k, v in self.meta.items() if k != "format"},
                "features": list(self.features), "classes": list(self.classes),
                "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "intercept": self.intercept.tolist()}

    def proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities, (n, classes), for an (n, features) matrix."""
        x = np.asarray(x, dtype=np.float64).reshape(-1, len(self.features))
        z = (x - self.mean) / self.scale
        if self.meta.get("z_clip"):
            z = np.clip(z, -float(self.meta["z_clip"]), float(self.meta["z_clip"]))
        logits = z @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def subtitle_proba(self, x: np.ndarray) -> np.ndarray:
        """P(subtitle) per row."""
        return self.proba(x)[:, self.classes.index("subtitle")]

    def label(self, x: np.ndarray) -> list[str]:
        """The most likely class per row."""
        return [self.classes[i] for i in self.proba(x).argmax(axis=1)]


@lru_cache(maxsize=4)
def load_classifier(path: str | None = None) -> LineClassifier:
    """The classifier stored at ``path`` (default: ``text_lines.json`` next to this module)."""
    target = Path(path) if path else MODEL_PATH
    try:
        doc = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ResourceError(f"text line classifier: cannot read {target}", cause=exc) from exc
    return LineClassifier.from_dict(doc)


@resource("text_line_classifier", description="the text-line classifier behind subtitles and onscreen_text "
          "(text_lines.json)", files=(str(MODEL_PATH),))
def _classifier_resource() -> LineClassifier:
    """Its weights file is in the cache key of every operator using it: a retrained classifier
    never serves results computed with the old one."""
    return load_classifier()
