"""Trained models as operators: ``learned@1`` on frames and ``text_classifier@1`` on text.

Both take ``model``: a store reference (``name``, ``name@N``, a version folder; store at
``$FACTORLINE_MODELS`` or ``./models``) or a built-in. When a pipeline is compiled, a store
name is checked (it must exist and be of the right task) and pinned to ``name@N``, so the
step's cache key and the pipeline fingerprint change when a new version is trained.

A store reference may also name a compressed model from ``factorline compress`` (a distilled
student, a pruned network, an ONNX fp32 or int8 export): it runs whole, on onnxruntime with
the preprocessing recorded in the ONNX file's metadata (or on torch), through the same
embedding cache and aggregation (see :mod:`factorline.models.compressed`).

- ``learned@1`` (default ``builtin:imagenet``: EfficientNet-Lite0's own ImageNet-1k
  classifier) embeds every sampled frame with the model's backbone, applies the head, and
  aggregates per-class frame probabilities into item probabilities (``mean`` or ``max``).
- ``text_classifier@1`` (default ``builtin:zeroshot``: MiniLM similarity to "This text is
  about <label>." for the ``labels`` parameter) scores each non-empty line of its text input
  (a string, e.g. ``subs.text``, or subtitle ``lines`` with their times) and aggregates them.

Fields: ``label`` (the item's class: for a binary model the positive class when ``score``
reaches the model's calibrated threshold, else the other; otherwise the most probable
class), ``score`` (binary: the positive-class probability; otherwise the label's),
``classes`` and ``scores`` (item probability per class, in the model's class order; models
with more than ``top_k`` classes report their ``top_k`` most probable, best first), and
``frame_scores`` / ``line_scores`` (per frame or line, the probability of ``label``'s side).
Evidence: the ``max_evidence`` frames (``t``) or lines (``text``) that scored highest.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator
from pydantic import Field as P

from ..contract.items import FrameBatch, MediaInfo
from ..contract.operator import Output, Input, operator
from ..contract.registry import resource
from ..contract.errors import FactorlineError, OperatorError
from ..contract.kinds import Kind
from ..models.hub import BUILTIN_IMAGENET, BUILTIN_ZEROSHOT, LoadedModel, ModelHub, model_task
from ..models.store import ModelStore

MAX_LINES = 512  # lines of one text scored at most (a subtitle track is far below)
DEFAULT_TOPICS = ["advertising", "news", "sports", "music", "politics", "cooking", "video games"]


@resource("models")
def _models_resource() -> ModelHub:
    return ModelHub()


def pin_model(ref: str, task: str) -> str:
    """Validate a model reference for ``task`` and pin store names to ``name@N``."""
    try:
        pinned, found = model_task(ref)
    except FactorlineError as exc:
        raise ValueError(exc.message) from exc
    if found != task:
        op = "learned" if found == "image" else "text_classifier"
        raise ValueError(f"model {ref!r} classifies {found}s; expected {'an image' if task == 'image' else 'a text'} model (use op {op} for it)")
    return pinned


def model_classes(ref: str) -> tuple[str, ...] | None:
    """The classes a (pinned, validated) model reference predicts: ImageNet's 1000 names for
    builtin:imagenet, the card's classes for a stored model; None where the card does not
    say (then no rule is checked against them). Read for validation only."""
    if ref == BUILTIN_IMAGENET:
        from ..models._imagenet_labels import IMAGENET_LABELS

        return IMAGENET_LABELS
    classes = (ModelStore().load(ref).card.get("head") or {}).get("classes")
    return tuple(str(c) for c in classes) if isinstance(classes, list) and classes else None


def label_vocabulary(classes: tuple[str, ...] | None, *extra: str) -> dict[str, tuple[str, ...]]:
    """The ``label`` field's values for validation: the model's classes (and ``extra``)."""
    return {} if classes is None else {"label": (*extra, *classes)}


# --------------------------------------------------------------------------- pure functions


def item_scores(proba: np.ndarray, how: str) -> np.ndarray:
    """Per-class item probabilities from (N, C) per-frame/line ones."""
    if len(proba) == 0:
        return np.zeros(proba.shape[1])
    return proba.max(axis=0) if how == "max" else proba.mean(axis=0)


def decide(item: np.ndarray, model: LoadedModel) -> tuple[int, int, float]:
    """(label index, index whose probability is the score, score)."""
    classes = model.classes
    if len(classes) == 2 and model.positive in classes:
        pos = classes.index(model.positive)
        score = float(item[pos])
        threshold = 0.5 if model.threshold is None else model.threshold
        return (pos if score >= threshold else 1 - pos), pos, score
    best = int(np.argmax(item))
    return best, best, float(item[best])


def factor(proba: np.ndarray, model: LoadedModel, how: str, top_k: int) -> dict:
    """The fields shared by both operators (without the per-frame/line list and evidence)."""
    classes = model.classes
    if len(proba) == 0:
        shown = classes if len(classes) <= top_k else []
        return {"label": "", "score": 0.0, "classes": list(shown), "scores": [0.0] * len(shown)}
    item = item_scores(proba, how)
    label, scored, score = decide(item, model)
    order = list(range(len(classes))) if len(classes) <= top_k else list(np.argsort(-item, kind="stable")[:top_k])
    return {"label": classes[label], "score": round(score, 6), "classes": [classes[i] for i in order],
            "scores": [round(float(item[i]), 6) for i in order], "_scored": scored}


def top_rows(values: np.ndarray, limit: int) -> list[int]:
    """Indices of the ``limit`` highest values, in their original order."""
    if len(values) == 0 or limit <= 0:
        return []
    best = np.argsort(-values, kind="stable")[:limit]
    return sorted(int(i) for i in best)


# --------------------------------------------------------------------------- learned@1


class LearnedParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = P(BUILTIN_IMAGENET, title="Model",
                   description="A trained or compressed image model from the store (name or name@version) or a model "
                   "folder; builtin:imagenet is EfficientNet-Lite0's ImageNet-1k classifier.")
    aggregate: Literal["mean", "max"] = P("mean", title="Aggregate",
                                          description="How frame probabilities become item probabilities: mean or max per class.")
    top_k: int = P(5, ge=1, le=1000, title="Top classes",
                   description="Models with more classes than this report only their top_k most probable.")
    max_evidence: int = P(5, ge=0, le=64, title="Evidence frames", description="Highest-scoring frames kept as evidence.")

    @field_validator("model")
    @classmethod
    def _pin(cls, value: str) -> str:
        return pin_model(value, "image")


@operator(
    name="learned",
    limits=(
        "As good as the data its head was trained on; frames are classified one by one and aggregated over time.",
    ),
    version=1,
    title="Trained image model",
    group="learned",
    params=LearnedParams,
    resources=("models",),
    vocabulary=lambda params: label_vocabulary(model_classes(params.model)),
    fields={
        "label": Output("str", "the item's class"),
        "score": Output("float", "binary model: positive-class probability; else the label's probability (0..1)"),
        "classes": Output("list[str]", "classes of `scores` (model order, or the top_k best first)"),
        "scores": Output("list[float]", "item probability of each class in `classes`"),
        "frame_scores": Output("list[float]", "per sampled frame, the probability behind `score`"),
    },
)
def learned(inputs: dict, params: LearnedParams, *, item: MediaInfo, resources: dict) -> dict:
    """A head trained with ``factorline train`` (or the built-in ImageNet classifier) on the sampled frames.

    Evidence frames carry their time, the frame's own most probable class and its score.
    """
    frames: FrameBatch = inputs["frames"]
    hub: ModelHub = resources["models"]
    model = hub.model(params.model)
    if model.task != "image":
        raise OperatorError(f"model {model.ref} classifies {model.task}s; learned needs an image model", path="params.model")
    proba = model.head.predict_proba(hub.frame_embeddings(model.backbone, frames, item.id)) if len(frames) else np.zeros((0, len(model.classes)))
    out = factor(proba, model, params.aggregate, params.top_k)
    scored = out.pop("_scored", 0)
    per_frame = proba[:, scored] if len(proba) else np.zeros(0)
    times = np.asarray(frames.times, dtype=np.float64)
    evidence = [{"t": round(float(times[i]), 3), "text": model.classes[int(np.argmax(proba[i]))],
                 "score": round(float(per_frame[i]), 4)} for i in top_rows(per_frame, params.max_evidence)]
    return {**out, "frame_scores": [round(float(v), 6) for v in per_frame], "evidence": evidence}


# --------------------------------------------------------------------------- text_classifier@1


class TextClassifierParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = P(BUILTIN_ZEROSHOT, title="Model",
                   description="A trained or compressed text model from the store (name or name@version) or a model folder; "
                   "builtin:zeroshot compares each line with 'This text is about <label>.' for the labels below.")
    labels: list[str] = P(default_factory=lambda: list(DEFAULT_TOPICS), min_length=2, max_length=64, title="Zero-shot labels",
                          description="Labels of builtin:zeroshot (ignored by trained models, which have their own classes).")
    aggregate: Literal["mean", "max"] = P("mean", title="Aggregate",
                                          description="How line probabilities become item probabilities: mean or max per class.")
    top_k: int = P(10, ge=1, le=1000, title="Top classes",
                   description="Models with more classes than this report only their top_k most probable.")
    max_evidence: int = P(5, ge=0, le=64, title="Evidence lines", description="Highest-scoring lines kept as evidence.")

    @field_validator("model")
    @classmethod
    def _pin(cls, value: str) -> str:
        return pin_model(value, "text")


def text_lines(value: object) -> tuple[list[str], list[float | None]]:
    """(lines, start times) of a text input: a string (split on newlines) or subtitle lines."""
    if isinstance(value, list):
        pairs = [(str(v.get("text", "")).strip(), v.get("start_s")) for v in value if isinstance(v, dict)]
    else:
        pairs = [(line.strip(), None) for line in str(value or "").splitlines()]
    pairs = [p for p in pairs if p[0]][:MAX_LINES]
    return [p[0] for p in pairs], [p[1] for p in pairs]


@operator(
    name="text_classifier",
    limits=(
        "The zero-shot default (MiniLM similarity to label names) is not calibrated; train a head for a real decision.",
    ),
    version=1,
    title="Text classifier",
    group="learned",
    params=TextClassifierParams,
    inputs={"text": Input(Kind.TEXT, "the text to classify, e.g. subs.text or subs.lines")},
    resources=("models",),
    vocabulary=lambda params: label_vocabulary(
        tuple(params.labels) if params.model == BUILTIN_ZEROSHOT else model_classes(params.model), ""),
    fields={
        "label": Output("str", "the text's class ('' when there is no text)"),
        "score": Output("float", "binary model: positive-class probability; else the label's probability (0..1)"),
        "classes": Output("list[str]", "classes of `scores` (model order, or the top_k best first)"),
        "scores": Output("list[float]", "item probability of each class in `classes`"),
        "line_scores": Output("list[float]", "per non-empty line, the probability behind `score`"),
    },
)
def text_classifier(inputs: dict, params: TextClassifierParams, *, item: MediaInfo, resources: dict) -> dict:
    """A text head trained with ``factorline train`` (or zero-shot MiniLM topics) on a text field.

    Evidence lines carry their text, their score and, for subtitle lines, their start time.
    """
    hub: ModelHub = resources["models"]
    model = hub.zeroshot(list(params.labels)) if params.model == BUILTIN_ZEROSHOT else hub.model(params.model)
    if model.task != "text":
        raise OperatorError(f"model {model.ref} classifies {model.task}s; text_classifier needs a text model", path="params.model")
    lines, starts = text_lines(inputs.get("text"))
    proba = model.head.predict_proba(hub.cache.texts(model.backbone, lines)) if lines else np.zeros((0, len(model.classes)))
    out = factor(proba, model, params.aggregate, params.top_k)
    scored = out.pop("_scored", 0)
    per_line = proba[:, scored] if len(proba) else np.zeros(0)
    evidence = []
    for i in top_rows(per_line, params.max_evidence):
        record = {"text": lines[i][:200], "score": round(float(per_line[i]), 4)}
        if starts[i] is not None:
            record["t"] = round(float(starts[i]), 3)
        evidence.append(record)
    return {**out, "line_scores": [round(float(v), 6) for v in per_line], "evidence": evidence}
