"""Aesthetics: an explainable 0..1 score made of measurable parts.

``aesthetics@1`` measures every sampled frame (:mod:`._aesthetic_features`: exposure and dynamic
range, contrast, colourfulness, colour cast, saturation, noise, sharpness, subject placement,
horizon tilt, clutter) and, on videos, how unsteady the camera is (``shake``, from the
thumbnails of every decoded frame). Each part is a declared field. The parts are turned into
:data:`HEAD_FEATURES` (terms a linear model can weigh, :func:`head_features`: an exposure error
is the distance of the brightness from mid-grey, a tilt counts as much as the picture has
straight lines, virtues are capped at "enough") and combined by a small linear head, each
weight held to the sign :data:`DIRECTIONS` gives its term (a fault can only lower the score)::

    score = 1 / (1 + exp(-(bias + sum_i w_i * (f_i - mean_i) / scale_i)))

whose numbers live in ``aesthetics.json`` beside this module (plain JSON, no pickle), written by
``benchmarks/train_aesthetics.py`` (through the library fit of ``factorline train --task aesthetics``,
:mod:`factorline.train.aesthetics`) from pairs of real photos and sample-clip frames, each next to
a copy degraded in exposure, contrast, colour, tilt, clutter, noise, blur or steadiness (the
weights rank the pairs; the bias and scale are then fitted so that the score reads as the
probability that a picture looks like an undegraded original). The item's parts are the median
over frames; ``weakest`` names the part that pulls the item score down the most, so a low score
always says why. Evidence: the best- and the worst-looking frame.

The ``head`` parameter swaps in a head trained on your own pairs (``factorline train PAIRS.jsonl
--name NAME --task aesthetics``, stored in the model store; pinned to ``NAME@N`` when a pipeline
is compiled, so the cache key changes with each new version).

A head records the :data:`FEATURE_SET` it was trained on (a head without one is set 1); a head
made for other feature code is refused.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator
from pydantic import Field as P

from ..contract.errors import FactorlineError, ResourceError
from ..contract.items import FrameBatch, MediaInfo
from ..contract.operator import Field, operator
from ..contract.registry import resource
from . import _aesthetic_features as af

HEAD_PATH = Path(__file__).with_name("aesthetics.json")
TRAIN_COMMAND = ".venv/bin/python benchmarks/train_aesthetics.py"
TASK = "aesthetics"  # the card task of heads that `factorline train PAIRS.jsonl --task aesthetics` stores
STORED_HEAD_FILE = "head.json"  # a stored head's file: the same JSON as aesthetics.json
HEAD_FEATURES = ("exposure_error", "clipped", "black_level", "white_gap", "contrast", "colourfulness", "colour_cast",
                 "saturation_clipped", "noise", "sharpness", "placement", "tilt", "clutter", "shake")
# Which way each head feature may move the score: +1 more is better, -1 more is worse. The head
# is fitted under these signs, so no part can be rewarded for what its name says is a fault.
DIRECTIONS = {"exposure_error": -1, "clipped": -1, "black_level": -1, "white_gap": -1, "contrast": 1, "colourfulness": 1,
              "colour_cast": -1, "saturation_clipped": -1, "noise": -1, "sharpness": 1,
              "placement": -1, "tilt": -1, "clutter": -1, "shake": -1}
BLACK_ENOUGH, WHITE_ENOUGH = 0.08, 0.9  # black and white levels that count as full range (no fault within)
MID_GREY = 0.45  # brightness of a well exposed picture (median of the training originals is close)
# Sharpness and contrast count up to these levels: beyond them more is not better (pasted clutter
# adds both), while blur and flatness still read below them.
ENOUGH_SHARPNESS = 0.75
ENOUGH_CONTRAST = 0.2
MAX_TILT = 20.0  # degrees; a dominant orientation further off is more likely the subject's own diagonal
LINES_ENOUGH = 0.3  # tilt_confidence from which a tilt counts fully (below, in proportion)
MAX_COLOURFULNESS = 60.0  # colourfulness counts up to here (more is over-saturation's sign, judged by its clipping)
FEATURE_SET = 1  # version of head_features(): bump it with any change there; a head records the one it was trained on


def head_features(m: dict[str, float | None]) -> np.ndarray:
    """The head's input (:data:`HEAD_FEATURES`) from measures (per frame or per item).

    Faults count only past what a good picture has: black above :data:`BLACK_ENOUGH`, white
    under :data:`WHITE_ENOUGH`; virtues only up to enough: contrast, sharpness and colourfulness
    are capped. A tilt counts in proportion to the picture's straight lines (full from
    :data:`LINES_ENOUGH`); a missing ``shake`` counts as steady.
    """
    shake = m.get("shake")
    tilt = min(abs(m["tilt"]), MAX_TILT) / MAX_TILT * min(1.0, m["tilt_confidence"] / LINES_ENOUGH)
    return np.array([
        abs(m["brightness"] - MID_GREY),
        m["clipped"],
        max(0.0, m["black_level"] - BLACK_ENOUGH),
        max(0.0, WHITE_ENOUGH - m["white_level"]),
        min(m["contrast"], ENOUGH_CONTRAST),
        min(m["colourfulness"], MAX_COLOURFULNESS) / 100.0,
        m["colour_cast"] / 100.0,
        m["saturation_clipped"],
        m["noise"] / 10.0,
        min(m["sharpness"], ENOUGH_SHARPNESS),
        m["placement"],
        tilt,
        m["clutter"],
        0.0 if shake is None else shake / 10.0,
    ], dtype=np.float64)


@dataclass(frozen=True)
class Head:
    """The trained linear head: standardisation, weights and the calibrated bias."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    trained: dict

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Each feature's term w_i * (x_i - mean_i) / scale_i, (..., F)."""
        return self.weights * (np.asarray(x, dtype=np.float64) - self.mean) / self.scale

    def score(self, x: np.ndarray) -> np.ndarray:
        z = self.bias + self.contributions(x).sum(axis=-1)
        return 1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0)))

    def to_json(self) -> dict:
        return {"features": list(self.features), "mean": [round(float(v), 8) for v in self.mean],
                "scale": [round(float(v), 8) for v in self.scale], "weights": [round(float(v), 8) for v in self.weights],
                "bias": round(float(self.bias), 8), "feature_set": FEATURE_SET, "trained": self.trained}


def parse_head(data: object, where: str = str(HEAD_PATH)) -> Head:
    """A :class:`Head` from its JSON object; a malformed one raises ResourceError saying how to fix it."""
    fix = f"regenerate it with {TRAIN_COMMAND}"
    if not isinstance(data, dict):
        raise ResourceError(f"aesthetics head {where}: expected a JSON object, found {type(data).__name__}; {fix}", path=where)
    if data.get("feature_set", 1) != FEATURE_SET:
        raise ResourceError(f"aesthetics head {where}: trained for feature set {data.get('feature_set', 1)}, this code "
                            f"computes feature set {FEATURE_SET}; {fix} "
                            "or train a stored head again with `factorline train PAIRS.jsonl --task aesthetics`", path=where)
    if tuple(data.get("features") or ()) != HEAD_FEATURES:
        raise ResourceError(f"aesthetics head {where}: expected features {list(HEAD_FEATURES)}, found "
                            f"{data.get('features')!r:.200}; it was trained for other code, {fix}", path=where)
    try:
        arrays = [np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale", "weights")]
        bias = float(data["bias"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ResourceError(f"aesthetics head {where}: missing or non-numeric mean/scale/weights/bias ({exc}); {fix}",
                            path=where) from exc
    n = len(HEAD_FEATURES)
    if any(a.shape != (n,) or not np.isfinite(a).all() for a in arrays) or not math.isfinite(bias) or (arrays[1] <= 0).any():
        raise ResourceError(f"aesthetics head {where}: expected {n} finite numbers in each of mean, scale (> 0) and "
                            f"weights, found shapes {[a.shape for a in arrays]}; {fix}", path=where)
    return Head(HEAD_FEATURES, arrays[0], arrays[1], arrays[2], bias, dict(data.get("trained") or {}))


def load_head(path: str | Path = HEAD_PATH) -> Head:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ResourceError(f"aesthetics head {path} is missing; train it with {TRAIN_COMMAND}", path=str(path)) from exc
    except (OSError, ValueError) as exc:
        raise ResourceError(f"aesthetics head {path} is not readable JSON ({exc}); regenerate it with {TRAIN_COMMAND}",
                            path=str(path)) from exc
    return parse_head(data, str(path))


def load_stored_head(ref: str) -> Head:
    """The head of a model-store reference (``name``, ``name@N`` or a version folder) written by
    ``factorline train PAIRS.jsonl --task aesthetics``; every file is checked against the card's
    checksums first. A model of another task raises ResourceError."""
    from ..models.store import ModelStore

    store = ModelStore()
    folder = store.resolve(ref)
    key = str(folder.resolve())
    head = _STORED.get(key)
    if head is None:
        stored = store.load(ref)
        if stored.card.get("task") != TASK:
            raise ResourceError(f"model {ref!r} is a {stored.card.get('task')!r} model; expected an aesthetics head "
                                f"(trained with `factorline train PAIRS.jsonl --task aesthetics`)", path=ref)
        file = stored.path / stored.card["head"]["file"]
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ResourceError(f"aesthetics head of {ref!r} is not readable JSON ({exc})", path=ref) from exc
        head = _STORED[key] = parse_head(data, ref)
    return head


_STORED: dict[str, Head] = {}  # version folders are never rewritten: a loaded head stays valid


def pin_head(ref: str) -> str:
    """A stored head's reference pinned to ``name@N`` (a folder stays a folder), after loading it,
    so a pipeline naming a missing or foreign model fails validation, and the cache key (which
    holds the parameters) changes with every new version."""
    from ..models.store import ModelStore

    try:
        pinned = ModelStore().pin(ref)
        load_stored_head(pinned)
    except FactorlineError as exc:
        raise ValueError(exc.message) from exc
    return pinned


@resource("aesthetics_head", description="the aesthetics@1 linear head (aesthetics.json)", files=(str(HEAD_PATH),))
def _head_resource() -> Head:
    return load_head()


def item_measures(frames: list[dict[str, float]], shake: float | None) -> dict[str, float | None]:
    """The item's measures: the median of each per-frame measure, and ``shake``."""
    out: dict[str, float | None] = {k: float(np.median([f[k] for f in frames])) for k in af.MEASURES}
    out["shake"] = shake
    return out


def item_shake(frames: FrameBatch, kind: str) -> float | None:
    """Shake from the thumbnails of every decoded frame (videos), else from the sampled frames
    when they are close enough; 0.0 for a still, None when a video gives too little to tell."""
    if kind == "image":
        return 0.0
    preview = frames.preview
    if preview is not None and len(preview) >= 3:
        return af.shake(preview.thumbs, np.asarray(preview.times))
    if len(frames) >= 3:
        thumbs = np.stack([af.working_rgb(img, 48).clip(0, 255).astype(np.uint8) for img in frames.images])
        return af.shake(thumbs, np.asarray(frames.times))
    return None


def measure(frames: FrameBatch, kind: str, working_height: int = 256) -> tuple[list[dict[str, float]], float | None, dict]:
    """(per-frame measures, shake, item measures) of an item's sampled frames: what the head
    scores, the same in the operator and in training (``factorline train --task aesthetics``)."""
    per_frame = [af.frame_measures(img, working_height) for img in frames.images]
    shake = item_shake(frames, kind)
    return per_frame, shake, item_measures(per_frame, shake)


def weakest(head: Head, x: np.ndarray) -> str:
    """The head feature whose term lowers the score the most (its most negative contribution)."""
    return head.features[int(np.argmin(head.contributions(x)))]


# --------------------------------------------------------------------------- operator


class AestheticsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    working_height: int = P(256, ge=32, le=2160, title="Working height",
                            description="Frames are area-averaged so that their shorter side has this many px before "
                            "measuring (smaller frames are not upscaled); the head was trained at 256.")
    head: str | None = P(None, title="Head",
                         description="A trained aesthetics head from the model store (name, name@version or a version "
                         "folder), made by `factorline train PAIRS.jsonl --task aesthetics`; default: the shipped head "
                         "(aesthetics.json). A store name is pinned to name@version, so new versions never reuse old "
                         "cached outputs.")

    @field_validator("head")
    @classmethod
    def _pin(cls, value: str | None) -> str | None:
        return None if value in (None, "") else pin_head(value)


FIELDS = {
    "score": Field("float", "how good the picture looks, 0..1 (the trained head over the parts below)"),
    "frame_scores": Field("list[float]", "the score of every sampled frame, in order"),
    "weakest": Field("str", "the part that lowers the score the most", values=HEAD_FEATURES),
    "brightness": Field("float", "mean luma, 0 black to 1 white"),
    "clipped": Field("float", "share of pixels crushed to black or blown to white", unit="ratio"),
    "black_level": Field("float", "1st luma percentile, 0..1 (high: washed out, no black)"),
    "white_level": Field("float", "99th luma percentile, 0..1 (low: dull or dark, no white)"),
    "dynamic_range": Field("float", "1st to 99th luma percentile, 0..1"),
    "contrast": Field("float", "RMS contrast: luma standard deviation, 0..1"),
    "colourfulness": Field("float", "Hasler-Suesstrunk colourfulness (0 grey, ~30 moderate, 60+ very colourful)"),
    "colour_cast": Field("float", "mean opponent-colour length of the darkest and brightest 5 % of pixels, 0..255"),
    "saturation": Field("float", "mean HSV saturation, 0..1"),
    "saturation_clipped": Field("float", "share of coloured pixels with a channel pinned at 0 or 255", unit="ratio"),
    "noise": Field("float", "white-noise standard deviation", unit="luma levels"),
    "sharpness": Field("float", "clarity score of the frames, 0..1"),
    "subject_x": Field("float", "saliency centroid, 0 left to 1 right"),
    "subject_y": Field("float", "saliency centroid, 0 top to 1 bottom"),
    "placement": Field("float", "distance of the subject to the nearest thirds crossing or the centre (share of the diagonal)"),
    "tilt": Field("float", "dominant line orientation from the nearest axis, counter-clockwise positive", unit="degrees"),
    "tilt_confidence": Field("float", "how much of the picture is straight lines, 0..1 (tilt means little near 0)"),
    "clutter": Field("float", "share of the picture's grid cells busy with edges", unit="ratio"),
    "shake": Field("float", "unsteady camera motion, % of the width per frame (0 on stills; none when too few frames)"),
}


@operator(
    name="aesthetics",
    version=1,
    title="Aesthetics",
    group="quality",
    params=AestheticsParams,
    resources=("aesthetics_head",),
    fields=FIELDS,
    limits=(
        ("The head ranks a picture against degraded copies of itself (exposure, contrast, colour, tilt, clutter, noise, "
         "blur, shake): it is not a judge of taste, content or style, and scores of different pictures compare less well."),
        "Tilt needs straight lines (read tilt_confidence); the subject is the saliency centroid, which a busy background moves.",
    ),
)
def aesthetics(inputs: dict, params: AestheticsParams, *, item: MediaInfo, resources: dict) -> dict:
    """How good the picture looks (0..1) from measured parts: exposure, contrast, colour, noise,
    sharpness, composition (placement, tilt, clutter) and, on videos, shake.

    Every part is a field; ``weakest`` says which part lowers the score most. Evidence: the
    best- and worst-looking sampled frames.
    """
    frames: FrameBatch = inputs["frames"]
    head: Head = resources["aesthetics_head"] if params.head is None else load_stored_head(params.head)
    if len(frames) == 0:
        return {**{k: None for k in FIELDS}, "frame_scores": [], "evidence": []}
    per_frame, shake, measures = measure(frames, item.kind, params.working_height)
    x = head_features(measures)
    frame_scores = head.score(np.stack([head_features({**m, "shake": shake}) for m in per_frame]))
    times = np.asarray(frames.times, dtype=np.float64)
    best, worst = int(np.argmax(frame_scores)), int(np.argmin(frame_scores))
    evidence = [{"t": round(float(times[best]), 3), "score": round(float(frame_scores[best]), 4), "text": "best-looking frame"}]
    if worst != best:
        why = weakest(head, head_features({**per_frame[worst], "shake": shake}))
        evidence.append({"t": round(float(times[worst]), 3), "score": round(float(frame_scores[worst]), 4),
                         "text": f"worst-looking frame (weakest: {why})"})
    out = {k: (None if v is None else round(float(v), 4)) for k, v in measures.items()}
    return {"score": round(float(head.score(x)), 4), "frame_scores": [round(float(s), 4) for s in frame_scores],
            "weakest": weakest(head, x), **out, "evidence": evidence}
