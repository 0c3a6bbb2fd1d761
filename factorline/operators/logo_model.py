"""Logos and watermarks on a single frame, by appearance: a tiny CNN over the four corners.

``logo`` (:mod:`factorline.operators.overlay`) finds a static overlay by the persistence of
its edges where the picture moves; a still, a static shot or a slideshow of a few slides gives
persistence nothing to work with. There this model answers instead, from what each corner
looks like:

1. **Corner crops.** Each frame's four corners are cut as squares of :data:`CROP_SHARE` of the
   frame's shorter side, flipped so that the frame's corner is the crop's top-left (a top-right
   logo looks like a mirrored top-left one: one model for the four corners) and reduced to
   :data:`INPUT` x :data:`INPUT` px (box filter) (:func:`corner_crops`).
2. **The networks** (:class:`LogoModel`, an ensemble of :class:`Member` networks trained from
   different seeds, their logits averaged: one network's answer on real content unlike the
   training data varies from seed to seed): five 3x3 convolutions with ReLU (batch norm folded
   into them), three of stride 2, down to a 10 x 10 grid of 64 features; a 1x1 *cell head*
   says which cells the overlay covers, a *corner head* (mean and max of the features, linear)
   whether the corner holds an overlay at all. Pure numpy at run time (one matrix product per
   layer over the nine shifted views), weights in ``logo_model.json`` next to this module
   (float32, base64, sha256 checked), trained with torch on CPU by ``benchmarks/train_logo.py``
   on ``factorline synth`` stills (logos and corner text watermarks, opaque to 20 %
   translucent, over real footage; scene text, subtitles, lower thirds, title cards, bars,
   signs near corners and real footage as negatives). The JSON records the data digests,
   seeds, counts, calibration metrics, the threshold and how it was chosen.
3. **Over frames** (:func:`score_frames`): the corner and cell logits are averaged over the
   frames given; the item's logit is its best corner's, turned into a probability by Platt
   scaling fitted on a calibration seed (``calibration.appearance``: ``sigmoid(a * logit +
   b)``), checked with a reliability table on a held-out seed.
4. **The box**: the connected cells (mean cell probability >= :data:`CELL_LEVEL`) around the
   best corner's strongest cell, mapped back to source px; without such a cell, the corner's
   crop itself.

Everything here is pure numpy (PIL for the box-filter reduction); no I/O except
:func:`load_model`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from ..contract.errors import ResourceError
from ..contract.registry import resource

MODEL_PATH = Path(__file__).with_name("logo_model.json")
MODEL_FORMAT = "factorline.logo_model/1"
CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")
# Side of each corner's square crop, as a share of the frame's shorter side: a logo of 18 % of
# a 16:9 frame's width, 32 px in from its edges, fits (the synth engine's largest).
CROP_SHARE = 0.42
INPUT = 80
# A cell belongs to the overlay's box when its mean probability reaches this.
CELL_LEVEL = 0.5
# Frames smaller than this (shorter side, px) are not judged.
MIN_SIDE = 32
# Crops run through the network in chunks of this many (bounds the im2col-free buffers).
CHUNK = 64


def crop_side(width: int, height: int, share: float = CROP_SHARE) -> int:
    """Side in px of each corner's square crop of a ``width`` x ``height`` frame."""
    return max(1, round(share * min(width, height)))


def corner_region(corner: str, width: int, height: int, share: float = CROP_SHARE) -> list[int]:
    """The crop of ``corner`` as [x, y, w, h] in the frame's px."""
    s = crop_side(width, height, share)
    x = 0 if corner.endswith("left") else width - s
    y = 0 if corner.startswith("top") else height - s
    return [x, y, s, s]


def corner_crops(images: np.ndarray, share: float = CROP_SHARE, size: int = INPUT) -> np.ndarray:
    """(N, 4, size, size, 3) uint8 corner crops of (N, H, W, 3) uint8 frames, in
    :data:`CORNERS` order, each flipped so that the frame's corner is its top-left."""
    n, h, w = images.shape[:3]
    s = crop_side(w, h, share)
    out = np.empty((n, 4, size, size, 3), np.uint8)
    for i in range(n):
        for c, corner in enumerate(CORNERS):
            x, y, _, _ = corner_region(corner, w, h, share)
            crop = images[i, y : y + s, x : x + s]
            if corner.endswith("right"):
                crop = crop[:, ::-1]
            if corner.startswith("bottom"):
                crop = crop[::-1]
            out[i, c] = np.asarray(
                Image.fromarray(np.ascontiguousarray(crop)).resize((size, size), Image.Resampling.BOX)
            )
    return out


def conv3x3(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int) -> np.ndarray:
    """3x3 convolution, padding 1, of NHWC ``x`` by ``w`` (3, 3, Cin, Cout) plus ``b``, then ReLU
    (torch's ``Conv2d(padding=1)`` with the same stride): the nine shifted views side by side,
    one matrix product."""
    m, h, wd, c = x.shape
    ho, wo = (h - 1) // stride + 1, (wd - 1) // stride + 1
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    cols = np.concatenate(
        [
            xp[:, dy : dy + stride * (ho - 1) + 1 : stride, dx : dx + stride * (wo - 1) + 1 : stride]
            for dy in range(3)
            for dx in range(3)
        ],
        axis=3,
    )
    out = cols.reshape(-1, 9 * c) @ w.reshape(9 * c, -1)
    out += b
    return np.maximum(out, 0.0, out=out).reshape(m, ho, wo, -1)


def _array(entry: dict) -> np.ndarray:
    raw = base64.b64decode(entry["data"])
    if "sha256:" + hashlib.sha256(raw).hexdigest() != entry["sha256"]:
        raise ValueError(f"weights {entry.get('name', '?')}: sha256 does not match")
    return np.frombuffer(raw, np.float32).reshape(entry["shape"]).copy()


def encode_array(name: str, value: np.ndarray) -> dict:
    """A float32 array as the JSON entry :func:`_array` reads (training side)."""
    raw = np.ascontiguousarray(value, np.float32).tobytes()
    return {
        "name": name,
        "shape": list(value.shape),
        "sha256": "sha256:" + hashlib.sha256(raw).hexdigest(),
        "data": base64.b64encode(raw).decode("ascii"),
    }


@dataclass(frozen=True)
class CornerScores:
    """The appearance model's answer for a set of frames of one item."""

    logits: np.ndarray  # (4,) mean corner logit over the frames, CORNERS order
    frame_logits: np.ndarray  # (N, 4) per frame
    cells: np.ndarray  # (4, G, G) mean cell probabilities (crop-canonical orientation)
    best: int  # index of the best corner
    probability: float  # calibrated P(overlay) of the item (its best corner)
    box: list[int]  # source px of the best corner's overlay (cells) or its crop


@dataclass(frozen=True)
class Member:
    """One network of the ensemble: conv layers (w (3, 3, Cin, Cout), b, stride), cell head
    (w (C, 1), b) and corner head (w (2C, 1), b)."""

    layers: list
    cell: tuple[np.ndarray, np.ndarray]
    head: tuple[np.ndarray, np.ndarray]

    @classmethod
    def from_dict(cls, doc: dict) -> Member:
        weights = {e["name"]: _array(e) for e in doc["weights"]}
        layers = [(weights[f"conv{i}.w"], weights[f"conv{i}.b"], int(s)) for i, s in enumerate(doc["strides"])]
        return cls(layers, (weights["cell.w"], weights["cell.b"]), (weights["head.w"], weights["head.b"]))

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        for w, b, stride in self.layers:
            x = conv3x3(x, w, b, stride)
        cells = (x @ self.cell[0] + self.cell[1])[..., 0]
        pooled = np.concatenate([x.mean(axis=(1, 2)), x.max(axis=(1, 2))], axis=1)
        return (pooled @ self.head[0] + self.head[1])[:, 0], cells


class LogoModel:
    """The ensemble of corner networks (their logits averaged) and the Platt calibration of the
    item logit."""

    def __init__(self, doc: dict):
        if doc.get("format") != MODEL_FORMAT:
            raise ValueError(f"format {doc.get('format')!r}, expected {MODEL_FORMAT!r}")
        self.members = [Member.from_dict(m) for m in doc["members"]]
        self.mean = np.float32(doc["input"]["mean"])
        self.scale = np.float32(doc["input"]["scale"])
        cal = doc["calibration"]["appearance"]
        self.platt = (float(cal["a"]), float(cal["b"]))
        self.threshold = float(doc["threshold"])
        self.doc = doc

    def forward(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(corner logits (M,), cell logits (M, G, G)) of (M, S, S, 3) uint8 crops, each the mean
        over the members."""
        logits, cells = [], []
        for start in range(0, len(crops), CHUNK):
            x = (crops[start : start + CHUNK].astype(np.float32) - self.mean) * self.scale
            outs = [member.forward(x) for member in self.members]
            logits.append(np.mean([o[0] for o in outs], axis=0))
            cells.append(np.mean([o[1] for o in outs], axis=0))
        if not logits:
            return np.zeros(0, np.float32), np.zeros((0, 1, 1), np.float32)
        return np.concatenate(logits), np.concatenate(cells)

    def calibrated(self, logit: float | np.ndarray) -> float | np.ndarray:
        a, b = self.platt
        return 1.0 / (1.0 + np.exp(-(a * np.asarray(logit, np.float64) + b)))


@lru_cache(maxsize=4)
def load_model(path: str | None = None) -> LogoModel:
    """The model stored at ``path`` (default: ``logo_model.json`` next to this module)."""
    target = Path(path) if path else MODEL_PATH
    try:
        return LogoModel(json.loads(target.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ResourceError(f"logo appearance model: cannot read {target}: {exc}", cause=exc) from exc


@resource("logo_model", description="the logo appearance model behind logo (logo_model.json)",
          files=(str(MODEL_PATH),))
def _model_resource() -> LogoModel:
    """Its weights file is in the cache key of the logo operator: retrained weights never serve
    results computed with the old ones."""
    return load_model()


def cell_box(cells: np.ndarray, corner: str, side: int, width: int, height: int) -> list[int] | None:
    """Frame px box [x, y, w, h] of the connected cells (probability >= :data:`CELL_LEVEL`)
    around the strongest cell of a (G, G) map in crop-canonical orientation, or None."""
    from scipy import ndimage as ndi  # lazily: scipy.ndimage costs ~1 s of every command's start

    g = cells.shape[0]
    on = cells >= CELL_LEVEL
    if not on.any():
        return None
    labels, _ = ndi.label(on, structure=np.ones((3, 3), bool))
    peak = np.unravel_index(np.argmax(np.where(on, cells, -1.0)), cells.shape)
    ys, xs = np.nonzero(labels == labels[peak])
    k = side / g  # crop px per cell
    x0, x1 = xs.min() * k, (xs.max() + 1) * k
    y0, y1 = ys.min() * k, (ys.max() + 1) * k
    if corner.endswith("right"):
        x0, x1 = width - x1, width - x0
    if corner.startswith("bottom"):
        y0, y1 = height - y1, height - y0
    x0, y0 = max(0, round(x0)), max(0, round(y0))
    return [x0, y0, min(width, round(x1)) - x0, min(height, round(y1)) - y0]


def score_frames(
    images: np.ndarray,
    model: LogoModel | None = None,
    *,
    scale: float = 1.0,
    source_size: tuple[int, int] | None = None,
) -> CornerScores | None:
    """The appearance answer for (N, H, W, 3) uint8 frames of one item (logits averaged over
    the frames), box in source px (``scale`` source px per analysis px); None when the frames
    are too small to judge."""
    n, h, w = images.shape[:3]
    if n == 0 or min(h, w) < MIN_SIDE:
        return None
    model = model or load_model()
    crops = corner_crops(images).reshape(n * 4, INPUT, INPUT, 3)
    logits, cells = model.forward(crops)
    frame_logits = logits.reshape(n, 4)
    mean_logits = frame_logits.mean(axis=0)
    mean_cells = (1.0 / (1.0 + np.exp(-cells.astype(np.float64)))).reshape(n, 4, *cells.shape[1:]).mean(axis=0)
    best = int(np.argmax(mean_logits))
    corner = CORNERS[best]
    box = cell_box(mean_cells[best], corner, crop_side(w, h), w, h) or corner_region(corner, w, h)
    width, height = source_size or (round(w * scale), round(h * scale))
    fx, fy = width / w, height / h
    sbox = [round(box[0] * fx), round(box[1] * fy), round(box[2] * fx), round(box[3] * fy)]
    prob = float(model.calibrated(float(mean_logits[best])))
    return CornerScores(mean_logits, frame_logits, mean_cells, best, prob, sbox)


# Frames the appearance model looks at per item (evenly spread): its answer is a mean.
MAX_FRAMES = 8


def appearance_frames(n: int, limit: int = MAX_FRAMES) -> np.ndarray:
    """Indices of at most ``limit`` frames evenly spread over ``n``."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(int))


def persistence_confidence(model: LogoModel, found: bool, scores: CornerScores | None) -> float:
    """Calibrated P(overlay) on the persistence path (``calibration.persistence`` of the JSON):
    when persistence found a logo, its measured precision on synth clips (Laplace-smoothed); when
    it found none, Platt scaling of the best corner's appearance logit fitted on the synth clips
    it found none in (translucent logos it misses still look like logos)."""
    cal = model.doc["calibration"]["persistence"]
    if found:
        return float(cal["found"])
    if scores is None:
        return float(cal["not_found_rate"])
    z = cal["not_found"]["a"] * float(scores.logits.max()) + cal["not_found"]["b"]
    return float(1.0 / (1.0 + np.exp(-z)))


# With logo's sure_appearance on: on a moving picture where persistence found no logo, the
# appearance model decides only when it is sure of one corner in most frames: a mean calibrated probability of at least
# SURE_LEVEL and SURE_SHARE of the scored frames at the model's threshold on their own.
# Persistence misses translucent logos over busy footage and short clips; the appearance
# model sees them (benchmarks/logo_motion.py), but it also took static scenery of two real
# held-out static-camera clips for logos (benchmarks/real_media.py): hence opt-in.
SURE_LEVEL = 0.95
SURE_SHARE = 0.75


def sure_on_motion(scores: CornerScores | None, model: LogoModel) -> bool:
    """Whether the appearance answer is strong enough to decide on a moving picture:
    ``scores.probability >= SURE_LEVEL`` and at least ``SURE_SHARE`` of its frames pass the
    model's threshold in the best corner."""
    if scores is None or scores.probability < SURE_LEVEL:
        return False
    probs = np.asarray(model.calibrated(scores.frame_logits[:, scores.best]))
    return bool(float((probs >= model.threshold).mean()) >= SURE_SHARE)


def appearance_answer(scores: CornerScores, model: LogoModel, times: np.ndarray, max_evidence: int = 5) -> dict:
    """``logo``'s fields (and evidence) from the appearance model's answer for an item whose
    frames ``scores`` judged at ``times``: ``has_logo`` when the calibrated confidence reaches the
    model's threshold; ``persistence`` is the share of those frames that pass it on their own."""
    probs = [float(model.calibrated(v)) for v in scores.frame_logits[:, scores.best]]
    has_logo = scores.probability >= model.threshold
    shown = [i for i, p in enumerate(probs) if p >= model.threshold]
    evidence: list[dict] = []
    if has_logo:
        idx = shown if shown else [int(np.argmax(probs))]
        if len(idx) > max_evidence:
            idx = [idx[j] for j in np.unique(np.linspace(0, len(idx) - 1, max_evidence).round().astype(int))]
        box = [float(v) for v in scores.box]
        evidence = [{"t": round(float(times[i]), 3), "box": box, "score": round(probs[i], 4)} for i in idx]
    return {
        "has_logo": bool(has_logo),
        "box": scores.box if has_logo else [],
        "persistence": round(len(shown) / max(len(probs), 1), 4) if has_logo else 0.0,
        "corner": CORNERS[scores.best] if has_logo else "",
        "confidence": round(scores.probability, 4),
        "method": "appearance",
        "evidence": evidence,
    }
