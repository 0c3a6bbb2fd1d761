"""People operators: nudity and faces, from one shared NudeNet detector.

NudeNet's detector (``320n.onnx`` in the ``nudenet`` wheel, a YOLOv8-n of 18 body-part
classes) runs once per sampled frame; ``nsfw@1`` reads its exposed-body-part classes and
``faces@1`` its two face classes. Both name the resource ``"nudenet"``, so one ONNX session
serves both, and the detections of a frame batch are kept on the batch, so a pipeline with
both operators runs the model once per frame.

nudenet is an optional extra (its wheel's LICENSE file is AGPL-3.0 although its metadata
says MIT): only the resource loader looks for it, and a missing install raises a
:class:`~factorline.contract.errors.ResourceError` saying ``pip install 'factorline[nsfw]'``. Only
the model file is taken from the wheel (its Python code is never imported): pre- and
post-processing are re-implemented here, batched and vectorised, and match
``NudeDetector.detect`` fed RGB (see the tests; nudenet 3.4 swaps the channels of the
BGR arrays it expects before the model sees them, NudeNet issue #203, so the model is
given RGB here as in nudenet before 3.4):

1. **Letterbox.** A frame is scaled so that its longer side is :data:`INPUT_SIZE` px
   (bilinear, as nudenet's ``cv2.dnn.blobFromImage``) and placed in the top-left corner of
   a black 320x320 square; RGB in 0..1.
2. **Decode.** Of the model's 2100 candidate boxes, those whose best class scores at least
   :data:`CANDIDATE_SCORE` are kept, mapped back to frame pixels and clipped to the frame;
   class-agnostic non-maximum suppression (score > :data:`NMS_SCORE`, IoU
   :data:`NMS_IOU`) leaves the detections.

Boxes in the outputs are ``[x, y, w, h]`` in source pixels (analysis px times the batch's
``scale``).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict
from pydantic import Field as P

from ..contract.errors import ResourceError
from ..contract.items import FrameBatch, MediaInfo
from ..contract.operator import Output, operator
from ..contract.registry import resource
from .aggregate import DESCRIPTIONS, ScoreAggregatorName, aggregate

INSTALL_HINT = "pip install 'factorline[nsfw]'"

# The detector's classes, in the order of its output channels (nudenet 3.4's list).
NudeClass = Literal[
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
]
# The same names as a tuple: the order of the detector's output channels (nudenet 3.4).
LABELS: tuple[str, ...] = get_args(NudeClass)

# Classes that make a frame explicit by default: the exposed classes except faces, feet,
# armpits and belly, and except the male chest (a bare-chested man at a beach or in sport is
# not explicit under most policies; add MALE_BREAST_EXPOSED through the ``classes`` parameter).
EXPLICIT_CLASSES: tuple[str, ...] = (
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "BUTTOCKS_EXPOSED",
    "ANUS_EXPOSED",
)
FACE_CLASSES: tuple[str, ...] = ("FACE_FEMALE", "FACE_MALE")

INPUT_SIZE = 320  # the model's input side (320n.onnx)
CANDIDATE_SCORE = 0.2  # candidates whose best class scores under this are dropped (nudenet's)
NMS_SCORE = 0.25  # non-maximum suppression keeps scores above this (nudenet's)
NMS_IOU = 0.45
BATCH_SIZE = 8  # frames per model call
MAX_THREADS = 4  # onnxruntime threads per call (the detector is small)
MAX_EVIDENCE = 8
_CACHE_KEY = "_nudenet_detections"


@dataclass(frozen=True)
class Detection:
    """One detected body part or face; ``box`` is [x, y, w, h] in analysis pixels."""

    label: str
    score: float
    box: tuple[float, float, float, float]


# --------------------------------------------------------------------------- pure functions


def letterbox(image: np.ndarray, size: int = INPUT_SIZE) -> tuple[np.ndarray, float]:
    """(3, size, size) float32 RGB 0..1 model input of an (H, W, 3) uint8 RGB frame, and the
    frame px per input px. The frame's longer side is scaled to ``size`` and it sits in the
    top-left corner of a black square, as nudenet pads before resizing."""
    import cv2

    h, w = image.shape[:2]
    side = max(h, w)
    nh, nw = max(1, round(h * size / side)), max(1, round(w * size / side))
    resized = cv2.resize(np.ascontiguousarray(image), (nw, nh), interpolation=cv2.INTER_LINEAR)
    out = np.zeros((3, size, size), np.float32)
    out[:, :nh, :nw] = resized.transpose(2, 0, 1) * np.float32(1.0 / 255.0)
    return out, side / float(size)


def decode(
    output: np.ndarray,
    ratio: float,
    width: int,
    height: int,
    *,
    labels: tuple[str, ...] = LABELS,
    candidate_score: float = CANDIDATE_SCORE,
    nms_score: float = NMS_SCORE,
    nms_iou: float = NMS_IOU,
) -> list[Detection]:
    """Detections of one frame from the model's (4 + classes, anchors) output.

    ``ratio`` is frame px per input px; boxes are clipped to the ``width`` x ``height`` frame
    and sorted by descending score.
    """
    import cv2

    out = np.asarray(output, dtype=np.float32)
    scores_all = out[4:]
    cls = np.argmax(scores_all, axis=0)
    score = scores_all[cls, np.arange(out.shape[1])]
    keep = np.flatnonzero(score >= candidate_score)
    if keep.size == 0:
        return []
    cx, cy, bw, bh = (out[k, keep].astype(np.float64) * ratio for k in range(4))
    x0 = np.clip(cx - bw / 2, 0, width)
    y0 = np.clip(cy - bh / 2, 0, height)
    x1 = np.clip(cx + bw / 2, 0, width)
    y1 = np.clip(cy + bh / 2, 0, height)
    boxes = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)
    picked = cv2.dnn.NMSBoxes(boxes.tolist(), score[keep].astype(float).tolist(), nms_score, nms_iou)
    picked = np.asarray(picked, dtype=int).reshape(-1)
    dets = [
        Detection(labels[int(cls[keep[i]])], float(score[keep[i]]), tuple(float(v) for v in boxes[i]))  # type: ignore
        for i in picked
    ]
    return sorted(dets, key=lambda d: (-d.score, d.label, d.box))


Classes = tuple[str, ...] | list[str]


def class_scores(detections: list[list[Detection]], classes: Classes, min_score: float = 0.0) -> np.ndarray:
    """(N,) per frame, the highest score of a detection of one of ``classes`` (0 when none)."""
    wanted = set(classes)
    return np.array(
        [max((d.score for d in ds if d.label in wanted and d.score >= min_score), default=0.0) for ds in detections],
        dtype=np.float64,
    )


def class_counts(detections: list[list[Detection]], classes: Classes, min_score: float) -> np.ndarray:
    """(N,) per frame, how many detections of ``classes`` score at least ``min_score``."""
    wanted = set(classes)
    return np.array([sum(d.label in wanted and d.score >= min_score for d in dets) for dets in detections], dtype=int)


def evidence_records(
    detections: list[list[Detection]],
    times: np.ndarray,
    classes: Classes,
    min_score: float,
    scale: float,
    limit: int = MAX_EVIDENCE,
) -> list[dict]:
    """Up to ``limit`` highest-scoring detections of ``classes`` as evidence, in time order:
    ``{t, box (source px), text (class), score}``. At most one per frame and class comes first,
    so the evidence spreads over frames before it repeats one."""
    wanted = set(classes)
    found = [
        (d.score, i, d) for i, dets in enumerate(detections) for d in dets if d.label in wanted and d.score >= min_score
    ]
    found.sort(key=lambda f: (-f[0], f[1], f[2].label, f[2].box))
    firsts, rest, seen = [], [], set()
    for f in found:
        key = (f[1], f[2].label)
        (rest if key in seen else firsts).append(f)
        seen.add(key)
    chosen = sorted((firsts + rest)[:limit], key=lambda f: (f[1], -f[0]))
    return [
        {
            "t": round(float(times[i]), 3),
            "box": [round(v * scale, 1) for v in d.box],
            "text": d.label,
            "score": round(d.score, 4),
        }
        for _, i, d in chosen
    ]


# --------------------------------------------------------------------------- model


class NudeNetModel:
    """The NudeNet detector on onnxruntime: batched letterbox, one call, vectorised decode."""

    def __init__(self, session, labels: tuple[str, ...] = LABELS, path: str = ""):
        self.session = session
        self.labels = labels
        self.path = path
        self.input_name = session.get_inputs()[0].name

    def detect(self, images: np.ndarray | list[np.ndarray], batch_size: int = BATCH_SIZE) -> list[list[Detection]]:
        """Detections of each (H, W, 3) uint8 RGB frame (boxes in that frame's pixels)."""
        results: list[list[Detection]] = []
        for i in range(0, len(images), batch_size):
            chunk = images[i : i + batch_size]
            prepared = [letterbox(img) for img in chunk]
            blob = np.stack([p[0] for p in prepared])
            output = self.session.run(None, {self.input_name: blob})[0]
            for img, (_, ratio), out in zip(chunk, prepared, output):
                results.append(decode(out, ratio, img.shape[1], img.shape[0], labels=self.labels))
        return results


def _threads() -> int:
    """onnxruntime intra-op threads: the CPUs this process may use, at most :data:`MAX_THREADS`."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_THREADS, cores))


def load_nudenet() -> NudeNetModel:
    """Open the detector shipped in the optional ``nudenet`` wheel.

    Only the wheel's model file is used: the package is located, not imported (none of its
    code runs, and a broken install of its dependencies does not matter).
    """
    try:
        spec = importlib.util.find_spec("nudenet")
    except (ImportError, ValueError) as exc:
        spec, cause = None, exc
    else:
        cause = None
    if spec is None or not spec.submodule_search_locations:
        raise ResourceError(
            f"nsfw and faces need the optional NudeNet detector: {INSTALL_HINT}", path="nudenet", cause=cause
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "320n.onnx"
    if not path.is_file():
        raise ResourceError(
            f"the installed nudenet has no 320n.onnx model; reinstall it: {INSTALL_HINT}", path="nudenet"
        )
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = _threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    return NudeNetModel(session, LABELS, str(path))


@resource("nudenet")
def _nudenet_resource() -> NudeNetModel:
    return load_nudenet()


def frame_detections(frames: FrameBatch, model: NudeNetModel) -> list[list[Detection]]:
    """Detections of every frame of the batch, computed once per batch and model (so ``nsfw``
    and ``faces`` on the same item share one pass)."""
    return frames.memo((_CACHE_KEY, id(model)), lambda: model.detect(frames.images))


# --------------------------------------------------------------------------- operators


class NsfwParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    aggregate: ScoreAggregatorName = P(
        "max",
        title="Aggregate",
        description="How per-frame scores (the highest explicit-class confidence of a frame) become the item "
        "score: " + "; ".join(f"{k}: {DESCRIPTIONS[k]}" for k in ("mean", "median", "max", "min", "share_above"))
        + " (min_score)",
    )
    min_score: float = P(
        0.5,
        ge=0.0,
        le=1.0,
        title="Minimum score",
        description="A detection counts for labels and evidence (and for share_above) from this confidence on.",
    )
    classes: list[NudeClass] = P(
        default_factory=lambda: list(EXPLICIT_CLASSES),
        min_length=1,
        title="Explicit classes",
        description="NudeNet classes that count as explicit (default: exposed genitalia, female breasts, "
        "buttocks and anus).",
    )


@operator(
    name="nsfw",
    limits=(
        "NudeNet's detector as shipped (optional extra, AGPL-3.0 licence file); not measured here on labelled explicit real media.",
    ),
    version=1,
    title="Nudity (NSFW)",
    group="people",
    params=NsfwParams,
    resources=("nudenet",),
    fields={
        "score": Output("float", "item score (0..1) of the highest explicit-class confidence per frame, aggregated"),
        "labels": Output("list[str]", "explicit classes seen at min_score or more, most confident first"),
    },
)
def nsfw(inputs: dict, params: NsfwParams, *, item: MediaInfo, resources: dict) -> dict:
    """Exposed body parts found by the NudeNet detector on the sampled frames.

    Needs the optional extra ``factorline[nsfw]``. Evidence boxes are in source pixels and
    carry the class name and its confidence.
    """
    frames: FrameBatch = inputs["frames"]
    dets = frame_detections(frames, resources["nudenet"])
    classes = tuple(params.classes)
    per_frame = class_scores(dets, classes)
    score = aggregate(params.aggregate, per_frame, threshold=params.min_score) if len(per_frame) else 0.0
    best: dict[str, float] = {}
    for frame_dets in dets:
        for d in frame_dets:
            if d.label in classes and d.score >= params.min_score:
                best[d.label] = max(best.get(d.label, 0.0), d.score)
    labels = sorted(best, key=lambda k: (-best[k], k))
    evidence = evidence_records(dets, np.asarray(frames.times), classes, params.min_score, float(frames.scale) or 1.0)
    return {"score": round(float(score), 4), "labels": labels, "evidence": evidence}


class FacesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_score: float = P(
        0.4,
        ge=0.0,
        le=1.0,
        title="Minimum score",
        description="A face counts from this detector confidence on.",
    )


@operator(
    name="faces",
    limits=(
        "NudeNet's face classes: small, profile and occluded faces are missed; counts are per sampled frame.",
    ),
    version=1,
    title="Faces",
    group="people",
    params=FacesParams,
    resources=("nudenet",),
    fields={
        "max_faces": Output("int", "most faces seen in one frame"),
        "face_ratio": Output("float", "share of sampled frames with at least one face (0..1)"),
    },
)
def faces(inputs: dict, params: FacesParams, *, item: MediaInfo, resources: dict) -> dict:
    """Faces (female and male face classes of the NudeNet detector) on the sampled frames.

    Needs the optional extra ``factorline[nsfw]``. Evidence boxes are in source pixels.
    """
    frames: FrameBatch = inputs["frames"]
    dets = frame_detections(frames, resources["nudenet"])
    counts = class_counts(dets, FACE_CLASSES, params.min_score)
    return {
        "max_faces": int(counts.max()) if counts.size else 0,
        "face_ratio": round(float(np.count_nonzero(counts) / counts.size), 4) if counts.size else 0.0,
        "evidence": evidence_records(
            dets, np.asarray(frames.times), FACE_CLASSES, params.min_score, float(frames.scale) or 1.0
        ),
    }
