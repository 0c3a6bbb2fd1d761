"""Copy detection: ``copy_of@1`` matches an item against a reference library (a vector index
from ``factorline index build``) and says which item it copies, where in time, and how the
picture was changed (crop box, bars added, scale, mirror, speed). See
:mod:`factorline.vectors.copies` for the method.

    copy: {op: copy_of, params: {reference: /data/library.index, min_score: 0.85}}

``reference`` names the index folder; when the pipeline compiles it is pinned to the index's
digest (``folder@sha256:...``), so the step's cache key and the pipeline fingerprint change
when the library is rebuilt, and a run refuses an index that changed after compiling. An empty
``reference`` means no library: nothing is a copy (``library_items`` 0 says so).

Frames are embedded with the library's own backbone (the embedding cache is shared with other
steps on that backbone); the mirror image of every frame is embedded too.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator
from pydantic import Field as P

from ..contract.errors import FactorlineError, MediaError, OperatorError
from ..contract.items import FrameBatch, MediaInfo
from ..contract.operator import Field, operator
from .learned import top_rows

_INDEXES: dict[str, object] = {}
_FRAMES: OrderedDict[str, tuple] = OrderedDict()  # source path -> decoded frames (LRU, a few items)
_LOCK = threading.Lock()


class CopyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str = P("", title="Reference library", description="Folder of a vector index built by `factorline index "
                       "build` over the originals (pinned to its digest when the pipeline compiles); empty: no library.")
    min_score: float = P(0.55, ge=0.0, le=1.0, title="Frame match score", description="Cosine from which a frame may match "
                         "a library frame (the library backbone's embeddings, bars cut off first).")
    sure_score: float = P(0.8, ge=0.0, le=1.0, title="Sure match score", description="Mean frame cosine from which a "
                          "match needs no geometric check; between min_score and this, the best frame must also register "
                          "on its source frame (ORB keypoints under one similarity transform).")
    min_share: float = P(0.3, ge=0.0, le=1.0, title="Matched share", description="Share of the item's sampled frames that "
                         "must match one library item for the item to be its copy.")
    transform: bool = P(True, title="Estimate the transform", description="Register the best frame on its source (ORB + "
                        "RANSAC) for crop box and scale, and detect bars added.")
    max_evidence: int = P(5, ge=0, le=64, title="Evidence frames", description="Best-matching frames kept as evidence.")

    @field_validator("reference")
    @classmethod
    def _pin(cls, value: str) -> str:
        if not value:
            return value
        from ..vectors.index import VectorIndex

        folder = value.split("@sha256:")[0]
        try:
            return f"{folder}@{VectorIndex.open(folder).meta['digest']}"
        except FactorlineError as exc:
            raise ValueError(exc.message) from exc


def library(reference: str):
    """The pinned index, loaded once per process; refused when its files changed since pinning."""
    from ..vectors.index import VectorIndex

    with _LOCK:
        if reference not in _INDEXES:
            folder, _, digest = reference.partition("@")
            index = VectorIndex.open(folder)
            if index.meta["digest"] != digest:
                raise OperatorError(f"reference index {folder} changed since the pipeline compiled (expected {digest}, found "
                                    f"{index.meta['digest']}); validate or run the pipeline again to pin the new library",
                                    path="params.reference")
            _INDEXES[reference] = index
        return _INDEXES[reference]


def source_frames(index, row: int) -> tuple[np.ndarray, np.ndarray]:
    """(images, times) of a library item sampled as the index sampled it (a small LRU)."""
    from ..contract.items import Limits
    from ..media import decode_frames, probe
    from ..vectors.query import index_sampling

    path = index.items[row]["path"]
    with _LOCK:
        if path in _FRAMES:
            _FRAMES.move_to_end(path)
            return _FRAMES[path]
    info = probe(path, Limits())
    batch = decode_frames(path, info, index_sampling(index), Limits())
    with _LOCK:
        _FRAMES[path] = (batch.images, np.asarray(batch.times, np.float64))
        while len(_FRAMES) > 4:
            _FRAMES.popitem(last=False)
    return _FRAMES[path]


def query_bars(frames: FrameBatch) -> tuple[list[int], tuple[int, int, int, int]]:
    """Bars added to the copy ([top, bottom, left, right] in source px) and its picture box in analysis px."""
    from .layout import detect_bars

    luma = frames.images.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])
    bars = detect_bars(luma)
    h, w = frames.images.shape[1:3]
    scale = frames.scale or 1.0
    return [round(b * scale) for b in (bars.top, bars.bottom, bars.left, bars.right)], bars.content_box(h, w)


def picture_change(index, match, pictures: np.ndarray, frames: FrameBatch) -> dict:
    """Crop box (source px) and scale of the best matched picture (bars cut off) against its
    source frame; ``verified``: the two share enough keypoints under one similarity transform."""
    from ..vectors.copies import crop_of, register_counted

    item = index.items[match.row]
    unknown = {"crop_box": [], "scale": None, "verified": False,
               "source_size": (item.get("width") or 0, item.get("height") or 0)}
    try:
        images, source_times = source_frames(index, match.row)
    except (MediaError, OSError):
        return unknown
    matrix, source, picture, frame, mirrored = None, images[0], pictures[0], 0, None
    for frame, row in match.ranked(3):  # the best matched frames in turn: a fade or a flat frame has no keypoints
        source = images[int(np.argmin(np.abs(source_times - index.frame_time(row))))]
        picture = pictures[frame]
        if picture.shape[0] < source.shape[0]:  # small copies: keypoints found at the source's scale
            import cv2

            picture = cv2.resize(picture, (round(picture.shape[1] * source.shape[0] / picture.shape[0]), source.shape[0]),
                                 interpolation=cv2.INTER_CUBIC)
        if min(picture.shape[:2]) < 16:
            continue
        fits = [register_counted(view, source) for view in (picture, np.ascontiguousarray(picture[:, ::-1]))]
        if any(fits):  # the view with more inliers says whether the copy is mirrored
            mirrored = bool(fits[1] and (not fits[0] or fits[1][1] > fits[0][1]))
            matrix = fits[int(mirrored)][0]
            picture = picture[:, ::-1] if mirrored else picture
            break
    sw, sh = item.get("width") or source.shape[1], item.get("height") or source.shape[0]
    factor = sw / source.shape[1]  # source px per source-analysis px
    if matrix is None:
        return {**unknown, "source_size": (sw, sh)}
    upscaled = picture.shape[0] / pictures[frame].shape[0]  # picture px per analysis px of the copy
    crop, scale = crop_of(matrix, (0, picture.shape[0], 0, picture.shape[1]), (source.shape[1], source.shape[0]))
    if not 0.1 <= scale <= 10.0:  # a degenerate fit is no verification
        return {**unknown, "source_size": (sw, sh)}
    return {"crop_box": [round(v * factor) for v in crop], "scale": round(scale / upscaled * (frames.scale or 1.0) / factor, 3),
            "verified": True, "source_size": (sw, sh), "mirrored": mirrored}


NOT_A_COPY = {"is_copy": False, "source": "", "source_id": "", "score": 0.0, "matched_share": 0.0, "segments": [],
              "source_segments": [], "speed": 1.0, "mirrored": False, "bars": [], "crop_box": [], "scale": 1.0,
              "transforms": [], "evidence": []}


@operator(
    name="copy_of",
    version=1,
    title="Copy of a library item",
    group="learned",
    params=CopyParams,
    resources=("models",),
    limits=(
        ("Finds copies of what the library holds, at the library's sampling: a copy shorter than one sampled frame "
         "interval of the source may be missed; speed is estimated from sampled frame times (coarse below ~4 frames)."),
        ("The crop box needs texture (ORB keypoints): flat or very dark pictures leave it empty; logo or text overlays "
         "are tolerated, not reported."),
        "Frame embeddings of the library backbone decide the match: two different shots of the same scene can match.",
    ),
    fields={
        "is_copy": Field("bool", "one library item matches at least min_share of the sampled frames (at min_score; below "
                         "sure_score the best frame must also register on the source)"),
        "source": Field("str", "file name of the library item copied ('' when none)"),
        "source_id": Field("str", "sha256 id of that library item"),
        "score": Field("float", "mean frame cosine with the best library item over matched frames (0..1; also when "
                       "it is not confirmed as a copy)"),
        "matched_share": Field("float", "share of sampled frames matched to the source (0..1)"),
        "segments": Field("segments", "time ranges of this item that copy the source"),
        "source_segments": Field("segments", "the source's time ranges they copy"),
        "speed": Field("float", "source seconds per second of this item (1.0: same speed)"),
        "mirrored": Field("bool", "the copy is mirrored left-right"),
        "bars": Field("list[int]", "bars added [top, bottom, left, right] in source px ([] when no copy)"),
        "crop_box": Field("list[int]", "the source region shown [x, y, w, h] in the source's px ([] unknown)"),
        "scale": Field("float", "copy px per source px of the picture"),
        "transforms": Field("list[str]", "changes found: crop, bars, scale, mirror, speed"),
    },
)
def copy_of(inputs: dict, params: CopyParams, *, item: MediaInfo, resources: dict) -> dict:
    """Finds which item of a reference library this item copies, where, and how it was changed.

    Evidence frames carry their time, the source file name and the frame cosine.
    """
    from ..vectors.copies import align, align_grid, best_source, is_static, transforms_found
    from ..vectors.index import normalized
    from ..vectors.query import embedder_for

    frames: FrameBatch = inputs["frames"]
    if not params.reference or len(frames) == 0:
        return dict(NOT_A_COPY)
    index = library(params.reference)
    embedder = embedder_for(index)
    bars, (y0, y1, x0, x1) = query_bars(frames)
    if any(bars):  # compare the picture without the bars someone added
        pictures = np.ascontiguousarray(frames.images[:, y0:y1, x0:x1])
        features = embedder.image.embed(pictures)
    else:
        pictures = frames.images
        features = resources["models"].frame_embeddings(embedder.image, frames, item.id)
    plain = normalized(embedder.to_space(features))
    flipped = normalized(embedder.to_space(embedder.image.embed(np.ascontiguousarray(pictures[:, :, ::-1]))))
    match = best_source(index, plain, flipped, params.min_score)
    if match is None:
        return dict(NOT_A_COPY)
    times = np.asarray(frames.times, np.float64)
    source = index.items[match.row]
    source_vectors = index.frame_vectors(match.row)
    sims = np.where(match.mirrored[:, None], flipped, plain) @ source_vectors.T
    speed, offset = align_grid(sims, times, np.asarray(source["times"], np.float64), static=is_static(source_vectors))
    segments, source_segments = align(times, match.frames, speed, offset)
    score = float(np.nanmean(match.scores))
    change = picture_change(index, match, pictures, frames) if params.transform or score < params.sure_score else \
        {"crop_box": [], "scale": None, "verified": False, "source_size": (0, 0)}
    share = float(match.frames.mean())
    is_copy = share >= params.min_share and (score >= params.sure_score or change["verified"])
    if not is_copy:
        return {**NOT_A_COPY, "score": round(score, 4), "matched_share": round(share, 4)}
    mirrored = change.get("mirrored")  # geometry decides where the picture registered; else the embeddings' vote
    mirrored = bool(match.mirrored.sum() * 2 > match.frames.sum()) if mirrored is None else mirrored
    name = source["path"].replace("\\", "/").rsplit("/", 1)[-1]
    scores = np.nan_to_num(match.scores, nan=0.0)
    crop_box = change["crop_box"] if params.transform else []
    scale = change["scale"] if params.transform else None
    return {
        "is_copy": True, "source": name, "source_id": source["id"], "score": round(score, 4), "matched_share": round(share, 4),
        "segments": segments, "source_segments": source_segments, "speed": round(speed, 3), "mirrored": mirrored,
        "bars": bars, "crop_box": crop_box, "scale": 1.0 if scale is None else scale,
        "transforms": transforms_found(mirrored=mirrored, bars=bars, crop=crop_box, source_size=change["source_size"],
                                       scale=scale, speed=speed),
        "evidence": [{"t": round(float(times[i]), 3), "text": name, "score": round(float(scores[i]), 4)}
                     for i in top_rows(scores, params.max_evidence) if scores[i] > 0],
    }
