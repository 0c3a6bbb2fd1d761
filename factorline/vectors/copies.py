"""Pure functions behind ``copy_of``: which library item a query copies, where in time, and how
its picture was changed.

1. **Source** (:func:`best_source`): every query frame (and its mirror image) is searched in
   the library's frame index; the item matched by the most query frames at ``min_score`` wins
   (ties: the higher mean score). A frame counts as mirrored when its mirror image matches
   the source clearly better than itself.
2. **Time** (:func:`align_grid`): the speed and offset mapping query time to source time are
   the ones under which the query frames agree best with the source frames they land on (a
   grid search: robust where a short clip's frames all look alike); matched frames form
   ``segments``, mapped into the source's time by the same line (:func:`align`).
3. **Picture** (:func:`register`): bars come from the query's own frames (the black-border
   detector); the picture inside them is registered on the source frame with ORB keypoints and
   a RANSAC similarity transform (OpenCV), which gives the source region the copy shows (the
   crop box) and the scale. Too few inliers: the crop is unknown (``crop_box`` empty).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MIRROR_MARGIN = 0.02  # a mirrored frame's mirror image must match this much better
MIN_INLIERS = 12


@dataclass
class SourceMatch:
    row: int  # the source item's row in the index
    frames: np.ndarray  # (Q,) bool: query frames matched to the source
    scores: np.ndarray  # (Q,) best cosine with the source's frames (NaN where unmatched)
    mirrored: np.ndarray  # (Q,) bool: the frame's mirror image matched better
    best_frame: int  # the query frame matched best
    best_source_row: int  # the source frame row it matched
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (Q,) best source frame row per query frame

    def ranked(self, limit: int = 3) -> list[tuple[int, int]]:
        """(query frame, source frame row) of the best matched frames, best first."""
        order = np.argsort(-np.nan_to_num(self.scores, nan=-1.0), kind="stable")
        return [(int(i), int(self.rows[i])) for i in order[:limit] if self.frames[i]]


def _item_scores(sims: np.ndarray, rows: np.ndarray, items: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per library item among the hits: (best score per query frame, -1 where none; its frame row)."""
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for item in np.unique(items[items >= 0]):
        masked = np.where(items == item, sims, -np.inf)
        pick = masked.argmax(axis=1)
        best = masked[np.arange(len(sims)), pick]
        out[int(item)] = (np.where(np.isfinite(best), best, -1.0), np.where(np.isfinite(best), rows[np.arange(len(sims)), pick], -1))
    return out


def best_source(index, plain: np.ndarray, flipped: np.ndarray | None, min_score: float, k: int = 32) -> SourceMatch | None:
    """The library item most query frames match (plain or mirrored), or None when none does."""
    if len(plain) == 0 or index.frame_index.ntotal == 0:
        return None
    views = [plain] + ([flipped] if flipped is not None and len(flipped) else [])
    per_view = [_item_scores(*index.search_frames(vectors, k)) for vectors in views]
    missing = (np.full(len(plain), -1.0), np.full(len(plain), -1))
    best: tuple | None = None
    for item in sorted(set().union(*[set(v) for v in per_view])):
        plain_s = per_view[0].get(item, missing)
        flip_s = per_view[1].get(item, missing) if len(per_view) > 1 else None
        mirrored = flip_s[0] > plain_s[0] + MIRROR_MARGIN if flip_s is not None else np.zeros(len(plain), bool)
        score = np.where(mirrored, flip_s[0], plain_s[0]) if flip_s is not None else plain_s[0]
        rows = np.where(mirrored, flip_s[1], plain_s[1]) if flip_s is not None else plain_s[1]
        matched = score >= min_score
        key = (int(matched.sum()), float(score[matched].mean()) if matched.any() else float(score.max()))
        if best is None or key > best[0]:
            best = (key, item, score, matched, mirrored, rows)
    if best is None or best[0][0] == 0:
        return None
    _, item, score, matched, mirrored, rows = best
    top = int(np.argmax(np.where(matched, score, -np.inf)))
    return SourceMatch(item, matched, np.where(matched, score, np.nan), mirrored & matched, top, int(rows[top]),
                       np.asarray(rows, np.int64))


def runs(times: np.ndarray, matched: np.ndarray, step: float) -> list[tuple[float, float]]:
    """(start, end) of runs of consecutive matched frames; each frame lasts ``step``."""
    out: list[tuple[float, float]] = []
    start = None
    for i, hit in enumerate(matched):
        if hit and start is None:
            start = i
        if start is not None and (not hit or i == len(matched) - 1):
            last = i if hit else i - 1
            out.append((float(times[start]), float(times[last]) + step))
            start = None
    return out


def align_grid(sims: np.ndarray, query_t: np.ndarray, source_t: np.ndarray, static: bool = False) -> tuple[float, float]:
    """(speed, offset) with source time = offset + speed * query time that maximises the summed
    similarity of each query frame with the source at its mapped time (linear between the
    source's sampled frames; speeds 0.5 to
    2.0 by 0.05, offsets by a quarter of the source's frame step; ties go to the speed nearest 1).
    ``static``: the source is a held still, so time says nothing: (1.0, 0.0)."""
    query_t, source_t = np.asarray(query_t, np.float64), np.asarray(source_t, np.float64)
    if static or len(query_t) < 2 or len(source_t) < 2:
        return 1.0, 0.0
    step = float(np.median(np.diff(source_t)))
    best = (-np.inf, 1.0, 0.0)
    for speed in np.round(np.arange(0.5, 2.0001, 0.05), 3):
        span = speed * query_t
        for offset in np.arange(source_t[0] - span[-1], source_t[-1] - span[0] + step / 4, step / 4):
            mapped = offset + span
            valid = (mapped >= source_t[0] - step / 2) & (mapped <= source_t[-1] + step / 2)
            if valid.sum() < 2:
                continue
            rows = np.flatnonzero(valid)
            score = sum(float(np.interp(mapped[i], source_t, sims[i])) for i in rows) - 1e-3 * abs(np.log(speed))
            if score > best[0] + 1e-9:
                best = (score, float(speed), float(offset))
    return best[1], best[2]


def align(times: np.ndarray, matched: np.ndarray, speed: float, offset: float) -> tuple[list[dict], list[dict]]:
    """(query segments, source segments) of matched frames, mapped by source = offset + speed * t."""
    times = np.asarray(times, np.float64)
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    query = [{"start_s": round(a, 3), "end_s": round(b, 3)} for a, b in runs(times, matched, step)]
    source = [{"start_s": round(max(0.0, offset + speed * q["start_s"]), 3), "end_s": round(max(0.0, offset + speed * q["end_s"]), 3)}
              for q in query]
    return query, source


def register(query: np.ndarray, source: np.ndarray) -> np.ndarray | None:
    """2x3 similarity transform taking ``query`` pixel coordinates to ``source`` ones (ORB + RANSAC), or None."""
    found = register_counted(query, source)
    return None if found is None else found[0]


def register_counted(query: np.ndarray, source: np.ndarray) -> tuple[np.ndarray, int] | None:
    """:func:`register` with its RANSAC inlier count (ORB is not mirror-invariant: comparing the
    counts of a picture and of its mirror image tells whether the copy is mirrored)."""
    import cv2

    def gray(image: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)

    orb = cv2.ORB_create(nfeatures=1500, fastThreshold=10)
    kq, dq = orb.detectAndCompute(gray(query), None)
    ks, ds = orb.detectAndCompute(gray(source), None)
    if dq is None or ds is None or len(kq) < MIN_INLIERS or len(ks) < MIN_INLIERS:
        return None
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(dq, ds, k=2)
    good = [m[0] for m in pairs if len(m) == 2 and m[0].distance < 0.8 * m[1].distance]
    if len(good) < MIN_INLIERS:
        return None
    src = np.float32([kq[m.queryIdx].pt for m in good])
    dst = np.float32([ks[m.trainIdx].pt for m in good])
    matrix, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=4.0, maxIters=4000,
                                                  confidence=0.995)
    if matrix is None or inliers is None or int(inliers.sum()) < MIN_INLIERS:
        return None
    return matrix, int(inliers.sum())


def crop_of(matrix: np.ndarray, box: tuple[int, int, int, int], source_size: tuple[int, int]) -> tuple[list[float], float]:
    """Source region ``[x, y, w, h]`` (source pixels, clipped) that query ``box`` (y0, y1, x0, x1)
    maps to, and the scale (query px per source px)."""
    y0, y1, x0, x1 = box
    corners = np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]], np.float64)
    mapped = corners @ np.asarray(matrix, np.float64).T
    w, h = source_size
    left, top = np.clip(mapped[:, 0].min(), 0, w), np.clip(mapped[:, 1].min(), 0, h)
    right, bottom = np.clip(mapped[:, 0].max(), 0, w), np.clip(mapped[:, 1].max(), 0, h)
    scale = float(1.0 / max(1e-9, np.sqrt(abs(np.linalg.det(np.asarray(matrix)[:, :2])))))
    return [float(left), float(top), float(right - left), float(bottom - top)], scale


def transforms_found(*, mirrored: bool, bars: list[int], crop: list[float], source_size: tuple[int, int], scale: float | None,
                     speed: float) -> list[str]:
    """Names of the changes found, in a fixed order: crop, bars, scale, mirror, speed."""
    out = []
    if crop and crop[2] * crop[3] < 0.95 * source_size[0] * source_size[1]:
        out.append("crop")
    if any(b > 0 for b in bars):
        out.append("bars")
    if scale is not None and abs(scale - 1.0) > 0.05:
        out.append("scale")
    if mirrored:
        out.append("mirror")
    if abs(speed - 1.0) > 0.08:
        out.append("speed")
    return out


def is_static(vectors: np.ndarray, level: float = 0.98) -> bool:
    """Whether every pair of an item's frame vectors is at least ``level`` alike (a held still)."""
    return len(vectors) < 2 or float((vectors @ vectors.T).min()) >= level
