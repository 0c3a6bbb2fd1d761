"""Zero-shot prompt factors: ``prompts@1`` scores sampled frames against named prompt sets
with an image-text backbone (:mod:`factorline.models.imagetext`), no training needed.

    z: {op: prompts, params: {backbone: "hf:/models/clip-vit-b32",
                              labels: {flag: ["a national flag", "国旗"], weapon: ["a gun", "a knife"]}}}

Each label's prompts are embedded and averaged (a prompt ensemble); every frame gets a
probability per label: softmax over the labels and the ``background`` prompts for CLIP-like
models (the background soaks up frames that show none of the labels), a sigmoid per label
for SigLIP, or, with a ``calibration`` file from ``factorline prompts calibrate``, the fitted
``sigmoid(a * cosine + b)`` per label. Frame probabilities are aggregated over time like every
factor (``max`` by default: a flag seen once is a flag), and a label is ``present`` when its
item score reaches the threshold (the calibrated one per label, else ``threshold``).

Fields: ``label`` (the best present label, "" when none), ``score`` (the best label's item
score), ``labels`` / ``scores`` (every label, in parameter order), ``present``, and
``frame_scores`` (per frame, the best label's probability). Evidence: the frames where the
best label scored highest, with the label and its score.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from pydantic import Field as P

from ..contract.errors import FactorlineError
from ..contract.items import FrameBatch, MediaInfo
from ..contract.operator import Field, operator
from ..models.imagetext import BRIDGE, ImageTextModel, check_spec, frame_probabilities, get_imagetext, label_vectors
from .aggregate import DESCRIPTIONS, ScoreAggregatorName, aggregate
from .learned import top_rows

DEFAULT_LABELS = {
    "flag": ["a national flag", "a flag waving on a pole", "国旗"],
    "weapon": ["a gun", "a rifle", "a knife"],
    "animal": ["an animal", "a pet cat or dog", "a wild animal"],
    "vehicle": ["a car", "a bicycle", "a vehicle on a road"],
}
DEFAULT_BACKGROUND = ["a photo", "an everyday scene", "a person"]
MAX_LABELS, MAX_PROMPTS = 64, 32


class PromptParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backbone: str = P(BRIDGE, title="Image-text backbone",
                      description="hf:<local folder> of a CLIP, SigLIP or Chinese-CLIP model (no hub at run time), or "
                      f"{BRIDGE} (offline default from shipped weights: ImageNet classes bridged to MiniLM text).")
    labels: dict[str, list[str]] = P(default_factory=lambda: {k: list(v) for k, v in DEFAULT_LABELS.items()},
                                     title="Labels", description="Label name -> prompts describing it (any language the "
                                     "model reads); a label's prompts are averaged into one ensemble.")
    background: list[str] = P(default_factory=lambda: list(DEFAULT_BACKGROUND), max_length=MAX_PROMPTS, title="Background prompts",
                              description="Prompts for frames showing none of the labels: they take part in the softmax "
                              "but are never reported (ignored by sigmoid models and calibrated labels).")
    aggregate: ScoreAggregatorName = P("max", title="Aggregate", description="How frame probabilities become the item score "
                                       "per label: " + "; ".join(f"{k}: {DESCRIPTIONS[k]}" for k in ("mean", "median", "max", "min", "share_above")))
    threshold: float = P(0.5, ge=0.0, le=1.0, title="Threshold", description="A label is present when its item score "
                         "reaches this (calibrated labels use their fitted threshold); share_above counts frames above it.")
    calibration: str = P("", title="Calibration file", description="JSON written by `factorline prompts calibrate` for this "
                         "backbone and these labels (pinned to its sha256 when the pipeline compiles); empty: uncalibrated.")
    max_evidence: int = P(5, ge=0, le=64, title="Evidence frames", description="Highest-scoring frames kept as evidence.")

    @field_validator("backbone")
    @classmethod
    def _backbone(cls, value: str) -> str:
        try:
            return check_spec(value)
        except FactorlineError as exc:
            raise ValueError(exc.message) from exc

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if not value or len(value) > MAX_LABELS:
            raise ValueError(f"expected 1 to {MAX_LABELS} labels, found {len(value)}; e.g. {{flag: ['a national flag']}}")
        for name, prompts in value.items():
            if not name.strip():
                raise ValueError("a label name is empty; name it, e.g. flag")
            if not prompts or len(prompts) > MAX_PROMPTS or not any(p.strip() for p in prompts):
                raise ValueError(f"label {name!r}: expected 1 to {MAX_PROMPTS} non-empty prompts, found {prompts!r}")
        return value

    @model_validator(mode="after")
    def _calibration(self) -> PromptParams:
        if not self.calibration:
            return self
        from ..train.prompts import load_calibration

        path = self.calibration.split("@sha256:")[0]
        try:
            doc, digest = load_calibration(path)
        except FactorlineError as exc:
            raise ValueError(exc.message) from exc
        if doc.get("backbone") != self.backbone:
            raise ValueError(f"calibration {path} was fitted for backbone {doc.get('backbone')!r}, found {self.backbone!r} here; "
                             "recalibrate with this backbone or use the same one")
        if doc.get("labels") != self.labels:
            raise ValueError(f"calibration {path} was fitted for labels {sorted(doc.get('labels') or {})} with their prompts; "
                             f"these labels or prompts differ ({sorted(self.labels)}): recalibrate after changing prompts")
        self.calibration = f"{path}@{digest}"
        return self


# --------------------------------------------------------------------------- pure functions


def label_probabilities(cosines: np.ndarray, model: ImageTextModel, background: int, calibration: dict | None,
                        names: list[str]) -> np.ndarray:
    """(N, L) frame probabilities from (N, L + background) cosines."""
    if calibration is not None:
        per = calibration["per_label"]
        a = np.array([per[n]["a"] for n in names], np.float64)
        b = np.array([per[n]["b"] for n in names], np.float64)
        return 1.0 / (1.0 + np.exp(-(a * cosines[:, : len(names)] + b)))
    if model.loss == "sigmoid":
        return frame_probabilities(cosines[:, : len(names)], model)
    return frame_probabilities(cosines, model, extra=background)


def item_factor(proba: np.ndarray, times: np.ndarray, names: list[str], how: str, thresholds: list[float],
                share_threshold: float, max_evidence: int) -> dict:
    """The operator's fields from (N, L) frame probabilities."""
    if len(proba) == 0:
        return {"label": "", "score": 0.0, "labels": list(names), "scores": [0.0] * len(names), "present": [],
                "frame_scores": [], "evidence": []}
    scores = [aggregate(how, proba[:, j], threshold=share_threshold) for j in range(len(names))]
    present = [n for n, s, t in zip(names, scores, thresholds) if s >= t]
    best = int(np.argmax(np.asarray(scores) - np.asarray(thresholds)))  # the label furthest above its own threshold
    per_frame = proba[:, best]
    evidence = [{"t": round(float(times[i]), 3), "text": names[best], "score": round(float(per_frame[i]), 4)}
                for i in top_rows(per_frame, max_evidence)]
    return {"label": names[best] if names[best] in present else "", "score": round(float(scores[best]), 6),
            "labels": list(names), "scores": [round(float(s), 6) for s in scores], "present": present,
            "frame_scores": [round(float(v), 6) for v in per_frame], "evidence": evidence}


def frame_cosines(model: ImageTextModel, features: np.ndarray, labels: dict[str, list[str]], background: list[str]) -> np.ndarray:
    """(N, L + B) cosines of the frames with each label's ensemble, then each background prompt."""
    texts = label_vectors(model, labels)
    if background:
        texts = np.concatenate([texts, label_vectors(model, {f"_bg{i}": [p] for i, p in enumerate(background)})])
    return model.image_vectors(features) @ texts.T


@operator(
    name="prompts",
    version=1,
    title="Zero-shot prompts",
    group="learned",
    params=PromptParams,
    resources=("models",),
    limits=(
        ("Knows only what its image-text model learned; the offline default bridges ImageNet classes to text and misses "
         "concepts ImageNet lacks (flags, logos, text). Point it at a local CLIP/SigLIP folder for real use."),
        ("Uncalibrated scores are relative to the other labels and the background prompts; calibrate with "
         "`factorline prompts calibrate` before using a threshold as a decision."),
        "An hf: folder is named by path: replacing its weights in place does not change the step's cache key.",
    ),
    fields={
        "label": Field("str", "the present label scoring furthest above its threshold ('' when none is present)"),
        "score": Field("float", "that label's item score (0..1)"),
        "labels": Field("list[str]", "every label, in parameter order"),
        "scores": Field("list[float]", "item score of each label in `labels` (0..1)"),
        "present": Field("list[str]", "labels whose item score reaches their threshold"),
        "frame_scores": Field("list[float]", "per sampled frame, the probability of the best label"),
    },
)
def prompts(inputs: dict, params: PromptParams, *, item: MediaInfo, resources: dict) -> dict:
    """Scores sampled frames against named prompt sets with an image-text model (CLIP, SigLIP), zero-shot.

    Evidence frames carry their time, the best label and its frame probability.
    """
    frames: FrameBatch = inputs["frames"]
    model = get_imagetext(params.backbone)
    names = list(params.labels)
    calibration = None
    if params.calibration:
        from ..train.prompts import load_calibration

        calibration = load_calibration(params.calibration.split("@sha256:")[0])[0]
    thresholds = [calibration["per_label"][n]["threshold"] if calibration else params.threshold for n in names]
    if len(frames) == 0:
        return item_factor(np.zeros((0, len(names))), np.zeros(0), names, params.aggregate, thresholds, params.threshold, 0)
    features = resources["models"].frame_embeddings(model.image, frames, item.id)
    background = [] if calibration or model.loss == "sigmoid" else list(params.background)
    cosines = frame_cosines(model, features, params.labels, background)
    proba = label_probabilities(cosines, model, len(background), calibration, names)
    return item_factor(proba, np.asarray(frames.times, np.float64), names, params.aggregate, thresholds,
                       params.threshold, params.max_evidence)
