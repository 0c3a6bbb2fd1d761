"""Temporal operators: what happens between sampled frames (static spans, black frames).

They work on the sampled frames the pipeline decoded once (``sampling.fps``, 1 fps by
default). ``shot_cuts`` lives in :mod:`.shot_cuts` (detection in :mod:`.cuts`, frame-exact
timing in :mod:`.frame_cuts`); it shares this module's thumbnails.

- ``slideshow@2`` tells slide decks and photo slideshows from ordinary video by their long
  static spans, the number of distinct pictures and (optionally) the amount of text; its
  ``confidence`` is a logistic (Platt) calibration of the score (and of the static ratio of
  a still video) fitted on synth ``slideshow`` clips (``slideshow_calibration.json`` next to
  this module, written by ``benchmarks/train_slideshow.py``).
- ``black_frames@3`` measures which frames are black, bars left out: runs timed on every decoded frame.

1. **Thumbnails.** Every frame is reduced to a colour thumbnail about
   :data:`THUMB_WIDTH` (64) px wide by block means over a strided grid (one 8K frame costs
   as little as a 720p one). Compression noise and small motion are averaged away.
2. **Static pairs.** Two consecutive frames are *static* when their thumbnails differ by
   less than ``static_diff`` luma levels on average (a still picture re-encoded by H.264
   differs by 0.0-0.2; the slowest Big Buck Bunny shot by 3 levels in half a second).

Time spans (``segments``) follow the convention of :func:`~factorline.operators.aggregate.longest_run`:
a sampled frame stands for the interval up to the next sampled frame, the last frame for
the median sampling step (capped at the item's duration). A span is therefore exact to
one sampling step at each end.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict
from pydantic import Field as P

from ..contract.errors import ResourceError
from ..contract.items import FrameBatch, MediaInfo
from ..contract.kinds import Kind
from ..contract.operator import Input, Output, operator
from ..contract.registry import resource
from .layout import DARK_TOLERANCE as DARK_LINE
from .layout import detect_bars, frame_chunks, stable_extent

# Thumbnails are about this wide (block means): cheap, and blind to noise and fine motion.
THUMB_WIDTH = 64
# Each thumbnail block averages about SAMPLES x SAMPLES pixels of a strided grid.
THUMB_SAMPLES = 8
# Two static runs show different pictures when their thumbnails differ by this (luma levels).
DISTINCT_LUMA = 6.0
# slideshow: a single static picture (a still video) weighs this much of a slideshow.
STILL_FACTOR = 0.4
MAX_EVIDENCE = 8

LUMA = np.array([0.299, 0.587, 0.114], np.float32)


# --------------------------------------------------------------------------- params


class SlideshowParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    static_diff: float = P(
        1.0,
        gt=0.0,
        le=64.0,
        title="Static difference",
        description="Two consecutive sampled frames are static when their 64-px thumbnails differ by less "
        "than this many luma levels (0-255) on average.",
    )
    min_static_s: float = P(
        1.0,
        ge=0.0,
        le=3600.0,
        title="Minimum static span",
        description="A run of static frames counts as a still picture when it spans at least this many "
        "seconds (and at least two sampled frames).",
    )
    min_score: float = P(
        0.5,
        ge=0.0,
        le=1.0,
        title="Slideshow score",
        description="The item is a slideshow when its score reaches this.",
    )
    text_weight: float = P(
        0.3,
        ge=0.0,
        le=1.0,
        title="Text weight",
        description="How much the wired text (subtitles, OCR) can add to the score; text alone never makes a "
        "slideshow while this is under min_score.",
    )
    text_full_chars: int = P(
        80,
        ge=1,
        le=100_000,
        title="Text amount",
        description="Number of non-space characters of wired text that gives the full text weight.",
    )


# ffmpeg blackdetect's pixel threshold (pix_th 0.10 of the luma range: Y <= 16 + 0.1 * 219 in
# limited range) in the full-range luma operators see: 0.1 * 255. A fade counts from the frame
# blackdetect counts it from.
BLACK_LEVEL = 25
# A run of one or two frames (encoder padding before the first picture, a one-frame flash of
# black) is not a black segment a viewer sees; the real-media benchmark runs blackdetect with
# the same floor (d=0.1).
MIN_BLACK_S = 0.1


class BlackFramesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    threshold: int = P(
        BLACK_LEVEL,
        ge=0,
        le=255,
        title="Black level",
        description="Luma (0-255, full range) at or under which a pixel counts as black (25: ffmpeg "
        "blackdetect's default of 10 % of the luma range).",
    )
    min_pixel_share: float = P(
        0.98,
        gt=0.0,
        le=1.0,
        title="Black share",
        description="A frame is black when at least this share of its picture (bars left out) is black.",
    )
    min_duration_s: float = P(
        MIN_BLACK_S,
        ge=0.0,
        le=60.0,
        title="Shortest run",
        description="Runs of black frames shorter than this are not segments (0: every run, even one frame).",
    )


# --------------------------------------------------------------------------- pure functions

# A preview step longer than this many times the median step spans frames the decoder skipped.
GAP_FACTOR = 2.5


def thumbnails(images: np.ndarray, width: int = THUMB_WIDTH) -> np.ndarray:
    """Colour thumbnails (N, h, w, 3) float32 (0-255) of (N, H, W, 3) uint8 frames.

    Frames are reduced by an integer factor k (w = W // k, about ``width``): each output
    pixel is the mean of a k x k block sampled on a grid of about
    :data:`THUMB_SAMPLES` x :data:`THUMB_SAMPLES` pixels, so the cost does not grow with
    the frame size. Frames narrower than ``2 * width`` are kept as they are.
    """
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"frames must be (N, H, W, 3), got {images.shape}")
    n, h, w, _ = images.shape
    k = max(1, min(w // max(width, 1), h))  # very wide, very short frames keep one row
    stride = max(1, k // THUMB_SAMPLES)
    view = images[:, ::stride, ::stride]
    kk = max(1, min(k // stride, view.shape[1], view.shape[2]))
    hh, ww = view.shape[1] // kk, view.shape[2] // kk
    out = np.empty((n, hh, ww, 3), np.float32)
    for sl in frame_chunks(n, hh * ww * kk * kk):
        # Two integer sums (rows of a block, then its columns): no float copy of the frames.
        rows = view[sl, : hh * kk, : ww * kk].reshape(-1, hh, kk, ww * kk * 3).sum(axis=2, dtype=np.uint32)
        out[sl] = rows.reshape(-1, hh, ww, kk, 3).sum(axis=3) * np.float32(1.0 / (kk * kk))
    return out


def batch_thumbnails(frames: FrameBatch) -> np.ndarray:
    """:func:`thumbnails` of a batch, computed once and kept on it (like ``frames.gray``), so
    the operators of one pipeline share them."""
    return frames.memo("thumbnails", lambda: thumbnails(frames.images))


def luma_differences(thumbs: np.ndarray) -> np.ndarray:
    """Mean absolute luma difference (N-1,) between consecutive thumbnails (0-255 levels)."""
    if len(thumbs) < 2:
        return np.zeros(0)
    y = thumbs @ LUMA
    return np.abs(np.diff(y, axis=0)).mean(axis=(1, 2)).astype(np.float64)


def frame_ends(times: np.ndarray, duration: float | None = None) -> np.ndarray:
    """End (N,) of the interval each sampled frame stands for: the next frame's time; for the
    last frame, its time plus the median step (0 for one frame), capped at ``duration``."""
    t = np.asarray(times, np.float64).reshape(-1)
    if t.size == 0:
        return t
    steps = np.diff(t)
    last = t[-1] + (float(np.median(steps)) if steps.size else 0.0)
    if duration is not None and duration > t[-1]:
        last = min(last, float(duration))
    return np.append(t[1:], max(last, t[-1]))


def covered(times: np.ndarray) -> np.ndarray:
    """(M-1,) bool: steps between consecutive previews with no decoded frame skipped."""
    t = np.asarray(times, np.float64)
    if len(t) < 2:
        return np.zeros(0, bool)
    steps = np.diff(t)
    typical = float(np.median(steps))
    return steps <= GAP_FACTOR * max(typical, 1e-6)


def crop_fraction(thumbs: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    """Thumbnails cropped to ``box`` (y0, y1, x0, x1 in a frame of ``size`` (H, W) pixels),
    rounded inwards; unchanged when less than 2 x 2 pixels would be left."""
    y0, y1, x0, x1 = box
    big_h, big_w = size
    h, w = thumbs.shape[1:3]
    ty0, tx0 = int(np.ceil(y0 * h / big_h)), int(np.ceil(x0 * w / big_w))
    ty1, tx1 = int(y1 * h // big_h), int(x1 * w // big_w)
    if ty1 - ty0 < 2 or tx1 - tx0 < 2:
        return thumbs
    return thumbs[:, ty0:ty1, tx0:tx1]


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) indices, inclusive, of each run of True values."""
    m = np.asarray(mask, bool).astype(np.int8)
    if m.size == 0:
        return []
    edges = np.diff(np.concatenate([[0], m, [0]]))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1) - 1
    return list(zip(starts.tolist(), stops.tolist()))


def segments_of(spans: list[tuple[int, int]], times: np.ndarray, ends: np.ndarray) -> list[dict]:
    """``{start_s, end_s}`` of frame spans (first, last), rounded to milliseconds."""
    return [{"start_s": round(float(times[a]), 3), "end_s": round(float(ends[b]), 3)} for a, b in spans]


@dataclass(frozen=True)
class Stillness:
    """Static structure of sampled frames."""

    static_pairs: np.ndarray  # (N-1,) bool
    spans: list[tuple[int, int]]  # qualifying static runs of frames (first, last)
    pictures: int  # distinct pictures among the spans
    static_ratio: float  # share of frames inside the spans


def stillness(
    thumbs: np.ndarray, times: np.ndarray, *, static_diff: float = 1.0, min_static_s: float = 1.0
) -> Stillness:
    """Static spans of (N, h, w, 3) thumbnails: runs of at least two frames, each differing
    from the next by less than ``static_diff`` luma levels, spanning at least
    ``min_static_s`` seconds; and how many distinct pictures they show."""
    times = np.asarray(times, np.float64)
    n = len(thumbs)
    diffs = luma_differences(thumbs)
    static = diffs < static_diff
    spans = [(a, b + 1) for a, b in runs(static) if times[b + 1] - times[a] >= min_static_s - 1e-9]
    pictures = 0
    if spans:
        y = thumbs @ LUMA
        means = [y[a : b + 1].mean(axis=0) for a, b in spans]
        pictures = 1 + sum(float(np.abs(means[i] - means[i - 1]).mean()) > DISTINCT_LUMA for i in range(1, len(means)))
    covered = sum(b - a + 1 for a, b in spans)
    return Stillness(static, spans, pictures, covered / n if n else 0.0)


def text_amount(text: object) -> int:
    """Non-space characters of a wired text input (a string, or a list of strings/lines)."""
    if text is None:
        return 0
    if isinstance(text, str):
        return sum(1 for ch in text if not ch.isspace())
    if isinstance(text, (list, tuple)):
        total = 0
        for entry in text:
            total += text_amount(entry.get("text", "") if isinstance(entry, dict) else entry)
        return total
    return 0


def slideshow_score(
    static_ratio: float, pictures: int, text_chars: int = 0, *, text_weight: float = 0.3, text_full_chars: int = 80
) -> float:
    """0..1: ``base = static_ratio * picture_factor`` (0 without a still picture,
    :data:`STILL_FACTOR` for one, 1 for two or more), then text adds
    ``text_weight * min(1, text_chars / text_full_chars) * (1 - base)``."""
    factor = 0.0 if pictures <= 0 else (STILL_FACTOR if pictures == 1 else 1.0)
    base = float(static_ratio) * factor
    text = min(1.0, text_chars / float(max(text_full_chars, 1)))
    return float(min(1.0, base + text_weight * text * (1.0 - base)))


def strict_bars(luma: np.ndarray, *, threshold: float = 24, min_frame_share: float = 0.8) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) runs of dark lines (at most 2 % of pixels over ``threshold``)
    from each edge, reached by ``min_frame_share`` of the frames that are not dark everywhere.

    Unlike :func:`~factorline.operators.layout.detect_bars` it never bridges mostly-dark
    lines, so a dark scene inside a letterbox keeps its own rows (that function reads such a
    scene as text inside one big bar and reports no bars at all). Bars that would leave less
    than a third of the frame's height (width) are dropped: a moon in a night sky is not a
    picture inside bars.
    """
    h, w = luma.shape[1:]
    bright = luma > threshold
    row_share = np.count_nonzero(bright, axis=2) / float(w)
    col_share = np.count_nonzero(bright, axis=1) / float(h)
    informative = (row_share > DARK_LINE).any(axis=1)
    if not informative.any():
        return 0, 0, 0, 0

    def run_from_start(share: np.ndarray) -> np.ndarray:
        dark = share <= DARK_LINE
        return np.where(dark.all(axis=1), share.shape[1], np.argmin(dark, axis=1))

    top = stable_extent(run_from_start(row_share[informative]), min_frame_share)
    bottom = stable_extent(run_from_start(row_share[informative, ::-1]), min_frame_share)
    left = stable_extent(run_from_start(col_share[informative]), min_frame_share)
    right = stable_extent(run_from_start(col_share[informative, ::-1]), min_frame_share)
    # A picture smaller than a third of the frame is a bright object on black, not a letterbox.
    if h - top - bottom < h / 3.0:
        top = bottom = 0
    if w - left - right < w / 3.0:
        left = right = 0
    return top, bottom, left, right


def picture_box(luma: np.ndarray, *, bar_threshold: float = 24) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of the picture inside the black bars of (N, H, W) luma frames: bars from
    :func:`~factorline.operators.layout.detect_bars`, or :func:`strict_bars` when it finds none
    (a dark scene inside a letterbox)."""
    h, w = luma.shape[1:]
    bars = detect_bars(luma, threshold=bar_threshold, detect_blurred=False)
    if bars.any:
        return bars.content_box(h, w)
    top, bottom, left, right = strict_bars(luma, threshold=bar_threshold)
    return top, h - bottom, left, w - right


def black_shares(luma: np.ndarray, *, threshold: float = 32, bar_threshold: float = 24,
                 box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Share (N,) of each frame's picture at or under ``threshold``; black bars (``box``, the
    picture inside them; found over all frames by :func:`picture_box` when not given) are left
    out, so a letterboxed frame is judged on its picture only."""
    if luma.ndim == 2:
        luma = luma[None]
    n, h, w = luma.shape
    if n == 0 or h == 0 or w == 0:
        return np.zeros(n)
    y0, y1, x0, x1 = box if box is not None else picture_box(luma, bar_threshold=bar_threshold)
    content = luma[:, y0:y1, x0:x1]
    if content.size == 0:
        content = luma
    area = content.shape[1] * content.shape[2]
    out = np.zeros(n)
    for sl in frame_chunks(n, area):
        out[sl] = np.count_nonzero(content[sl] <= threshold, axis=(1, 2)) / float(area)
    return out


# --------------------------------------------------------------------------- slideshow calibration

CALIBRATION_PATH = Path(__file__).with_name("slideshow_calibration.json")
CALIBRATION_FORMAT = "factorline.slideshow_calibration/1"
CALIBRATION_INPUTS = ("score", "still_ratio")


def calibration_inputs(score, static_ratio, pictures) -> dict[str, np.ndarray]:
    """What the calibration may read (scalars or arrays): the ``score``, and ``still_ratio``, the
    static ratio when the static spans show one picture only (a still video, whose score of 0.4
    would otherwise read like a slideshow missed at 1 fps), else 0."""
    score, static_ratio, pictures = np.broadcast_arrays(np.asarray(score, np.float64),
                                                        np.asarray(static_ratio, np.float64), np.asarray(pictures))
    return {"score": score, "still_ratio": np.where(pictures == 1, static_ratio, 0.0)}


@dataclass(frozen=True)
class SlideshowCalibration:
    """Platt scaling of the slideshow score: ``P(slideshow) = sigmoid(sum(w_k * input_k) + bias)``
    over ``inputs`` (:data:`CALIBRATION_INPUTS`, ``score`` first, its weight positive, so the
    confidence rises with the score). ``doc`` is the whole JSON (provenance, metrics)."""

    inputs: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    doc: dict

    @classmethod
    def from_dict(cls, doc: object) -> SlideshowCalibration:
        if not isinstance(doc, dict):
            raise TypeError(f"expected a JSON object, found {type(doc).__name__}")
        if doc.get("format") != CALIBRATION_FORMAT:
            raise ValueError(f"format {doc.get('format')!r}, expected {CALIBRATION_FORMAT!r}")
        platt = doc.get("platt")
        if not isinstance(platt, dict):
            raise TypeError("platt must be an object with inputs, weights and bias")
        inputs, weights, bias = platt.get("inputs"), platt.get("weights"), platt.get("bias")
        if (not isinstance(inputs, list) or not inputs or inputs[0] != "score" or len(set(inputs)) != len(inputs)
                or any(i not in CALIBRATION_INPUTS for i in inputs)):
            raise ValueError(f"platt.inputs must start with 'score' and name distinct inputs among "
                             f"{', '.join(CALIBRATION_INPUTS)}, found {inputs!r}")
        numbers = [*weights, bias] if isinstance(weights, list) else [None]
        if len(numbers) != len(inputs) + 1 or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in numbers):
            raise ValueError(f"platt.weights must be {len(inputs)} finite numbers (one per input) and platt.bias one, "
                             f"found {weights!r} and {bias!r}")
        if weights[0] <= 0:
            raise ValueError(f"the weight of the score must be positive (the confidence rises with the score), found {weights[0]}")
        return cls(tuple(inputs), tuple(float(w) for w in weights), float(bias), doc)

    def probability(self, score: float | np.ndarray, static_ratio: float | np.ndarray = 0.0,
                    pictures: int | np.ndarray = 0) -> float | np.ndarray:
        """The calibrated P(slideshow) of a score (and the stillness it came from)."""
        values = calibration_inputs(score, static_ratio, pictures)
        z = self.bias + sum(w * values[name] for name, w in zip(self.inputs, self.weights))
        p = 1.0 / (1.0 + np.exp(-z))
        return float(p) if np.ndim(p) == 0 else p


@lru_cache(maxsize=4)
def load_calibration(path: str | None = None) -> SlideshowCalibration:
    """The calibration stored at ``path`` (default: ``slideshow_calibration.json`` next to this module)."""
    target = Path(path) if path else CALIBRATION_PATH
    try:
        return SlideshowCalibration.from_dict(json.loads(target.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise ResourceError(f"slideshow calibration: cannot read {target}: {exc}; rebuild it with "
                            f"benchmarks/train_slideshow.py", cause=exc) from exc


@resource("slideshow_calibration", description="the Platt calibration of slideshow@2's score (slideshow_calibration.json)",
          files=(str(CALIBRATION_PATH),))
def _calibration_resource() -> SlideshowCalibration:
    """Its file is in the cache key of the slideshow operator: a recalibration never serves
    confidences computed with the old constants."""
    return load_calibration()


# --------------------------------------------------------------------------- operators


@operator(
    name="slideshow",
    limits=(
        "Static spans, distinct pictures and text drive the score: a film shot of a computer screen or static nature footage with a watermark can be called a slideshow.",
        "At 1 fps a slide must stay about 2 s to be seen as still: decks of short slides, and photos under a slow pan or zoom (Ken Burns), look like motion and score low.",
        "The confidence is the score (and a still video's static ratio) calibrated on synthetic clips, about half of them slideshows and none with wired text: on real collections, where slideshows are rarer, it is a ranking more than a frequency; several still pictures over a third of the item read as a deck whose slides went by fast (a filmed talk cutting to its slides got 0.71), and a still video full of wired text stays low although is_slideshow says yes.",
    ),
    version=2,
    title="Slideshow",
    group="temporal",
    params=SlideshowParams,
    resources=("slideshow_calibration",),
    inputs={
        "frames": Input(Kind.FRAMES, "sampled frames of the item"),
        "text": Input(
            Kind.TEXT, "text seen or heard in the item (subtitles, OCR); more text, more slide-like", optional=True
        ),
    },
    fields={
        "is_slideshow": Output("bool", "whether the item is a slide deck or photo slideshow"),
        "score": Output("float", "how slideshow-like the item is, 0..1"),
        "confidence": Output(
            "float", "calibrated probability (0..1) that the item is a slide deck or photo slideshow, whatever is_slideshow says"
        ),
        "static_ratio": Output("float", "share of sampled frames inside static spans (still pictures), 0..1"),
        "pictures": Output("int", "number of distinct still pictures"),
        "segments": Output("segments", "the static spans"),
    },
)
def slideshow(inputs: dict, params: SlideshowParams, *, item: MediaInfo, resources: dict) -> dict:
    """Slide decks and photo slideshows: long static spans showing several distinct pictures.

    ``score = static_ratio * f`` where f is 0 without a still picture, 0.4 for a single one
    (a still video) and 1 for two or more; wired text adds up to ``text_weight``. A single
    image has no static span and is never a slideshow; a video of one still picture is not
    one either unless enough text is wired; pictures with hard cuts between them are.
    Pictures must stay at least ``min_static_s`` and two sampled frames to be seen: at 1 fps,
    slides shorter than 2 s may be missed, and pans/zooms over photos (Ken Burns) are motion.
    ``confidence`` is the score (and, for one still picture, its static ratio) through the Platt
    calibration of ``slideshow_calibration.json`` (resource ``slideshow_calibration``), whatever
    ``min_score`` says: a still video scores 0.4 but is rarely a slideshow.
    """
    frames: FrameBatch = inputs["frames"]
    calibration: SlideshowCalibration = resources.get("slideshow_calibration") or load_calibration()
    times = np.asarray(frames.times, np.float64)
    thumbs = batch_thumbnails(frames)
    still = stillness(thumbs, times, static_diff=params.static_diff, min_static_s=params.min_static_s)
    chars = text_amount(inputs.get("text"))
    score = slideshow_score(
        still.static_ratio,
        still.pictures,
        chars,
        text_weight=params.text_weight,
        text_full_chars=params.text_full_chars,
    )
    ends = frame_ends(times, item.duration_s)
    segments = segments_of(still.spans, times, ends)
    evidence = [
        {"t": s["start_s"], "score": round(s["end_s"] - s["start_s"], 3), "text": "static span (s)"}
        for s in segments[:MAX_EVIDENCE]
    ]
    return {
        "is_slideshow": bool(score >= params.min_score),
        "score": round(score, 4),
        "confidence": round(calibration.probability(score, still.static_ratio, still.pictures), 4),
        "static_ratio": round(float(still.static_ratio), 4),
        "pictures": int(still.pictures),
        "segments": segments,
        "evidence": evidence,
    }


@operator(
    name="black_frames",
    limits=(
        "A frame is black when 98 % of its picture is at or under luma 25 (blackdetect's default level): a fade counts from the frame where it gets that dark, a very dark scene (a night sky) can count too.",
        "Runs shorter than min_duration_s (0.1 s) are left out, so one or two black frames at a start or a one-frame flash of black are not segments (ratio still counts sampled black frames).",
        "Judged on 64-px thumbnails of every decoded frame: a small bright object (a few px) in a black frame is averaged away.",
        "Where the decoder skipped stretches (no preview covers the item) segments are timed on the sampled frames, up to one sampling step off.",
    ),
    version=3,
    title="Black frames",
    group="temporal",
    params=BlackFramesParams,
    fields={
        "ratio": Output("float", "share of sampled frames that are black, 0..1"),
        "segments": Output("segments", "runs of black frames: start at the first black frame, end at the first frame after"),
        "longest_s": Output("float", "duration of the longest run of black frames", unit="s"),
    },
)
def black_frames(inputs: dict, params: BlackFramesParams, *, item: MediaInfo, resources: dict) -> dict:
    """Black frames and their runs, frame-exact; bars are left out, so a letterbox is not black.

    A frame is black when at least ``min_pixel_share`` of its picture is at or under
    ``threshold``. Runs are found on every decoded frame's thumbnail (the decoder's previews)
    like ffmpeg's blackdetect: a run starts at its first black frame and ends at the first
    frame after it. Without previews covering the item, runs are spans of sampled frames.
    """
    frames: FrameBatch = inputs["frames"]
    times = np.asarray(frames.times, np.float64)
    gray = frames.gray
    box = picture_box(gray) if gray.size else None
    shares = black_shares(gray, threshold=params.threshold, box=box)
    black = shares >= params.min_pixel_share
    preview = frames.preview
    if box is not None and preview is not None and len(preview) >= 2 and covered(preview.times).all():
        ptimes = np.asarray(preview.times, np.float64)
        pluma = crop_fraction(preview.thumbs, box, gray.shape[1:3]).astype(np.float32) @ LUMA
        pshares = np.count_nonzero(pluma <= params.threshold, axis=(1, 2)) / float(pluma.shape[1] * pluma.shape[2])
        spans, span_times, span_ends, span_shares = (runs(pshares >= params.min_pixel_share), ptimes,
                                                     frame_ends(ptimes, item.duration_s), pshares)
    else:
        spans, span_times, span_ends, span_shares = runs(black), times, frame_ends(times, item.duration_s), shares
    if item.kind == "video":  # a still image has no duration: its one frame is its run
        ends = np.asarray(span_ends, np.float64)
        spans = [(a, b) for a, b in spans if ends[b] - span_times[a] >= params.min_duration_s - 1e-9]
    segments = segments_of(spans, span_times, span_ends)
    longest = max((s["end_s"] - s["start_s"] for s in segments), default=0.0)
    return {
        "ratio": round(float(black.mean()) if black.size else 0.0, 4),
        "segments": segments,
        "longest_s": round(float(longest), 3),
        "evidence": [
            {"t": round(float(span_times[a]), 3), "score": round(float(span_shares[a]), 4)} for a, _ in spans[:MAX_EVIDENCE]
        ],
    }
