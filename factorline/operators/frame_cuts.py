"""Hard cuts on every decoded frame (the decoder's previews), frame-exact (pure functions).

At 1 sampled frame per second, two samples of one shot can differ more than two shots do: a
car crosses a static camera, a dark room cuts to another dark room. Between *consecutive
decoded frames* the picture barely moves within a shot and changes all at once at a cut, so
``shot_cuts@4`` judges every decoded frame's thumbnail (:class:`~factorline.contract.items.Preview`,
64 px wide, read from the decoder's planes for free) in the manner of PySceneDetect's
AdaptiveDetector:

1. **Change.** Each step's change is the mean absolute difference of the two thumbnails in
   hue (on the circle), saturation and value, in 0-255 levels: a per-pixel measure, so it
   sees structure (what is where), not only colour histograms, and two shots of one palette
   still differ.
2. **Adaptive.** A step is a cut when its change is at least ``min_change`` and at least
   ``ratio`` times the mean change of its neighbours (``window`` moving steps on each side):
   camera motion raises every step alike, a cut is a spike. Held frames (animation drawn on
   twos or threes, telecine and frame-rate duplicates: a change under :data:`HELD_CHANGE`, in
   runs of at most :data:`MAX_HELD_RUN` steps) carry no motion and are skipped when the
   neighbours are picked, so that every other step of zero does not halve the baseline of a
   moving cartoon; a longer run of repeats is a still picture and counts as no motion.
3. **Exposure.** A spike between two pictures that are the same picture up to brightness and
   contrast (the Pearson correlation of their luma thumbnails at least
   :data:`SAME_PICTURE_CORR`) is a change of exposure or light (a cloud, auto exposure, a lamp),
   not a cut. Measured on the real development clips: true cuts correlate at most 0.22 across
   the cut, exposure jumps of a static camera at least 0.94.
4. **Flashes.** A spike whose picture comes back within :data:`FLASH_FRAMES` frames (or whose
   new picture was there :data:`FLASH_FRAMES` frames before: the end of a flash) is a flash,
   not a cut.
5. **Dips through black.** A fast fade out to black and in to another shot has no spike (every
   step is small) but is a shot change: a run of near-black frames (mean luma at most
   :data:`DIP_LUMA`) no longer than :data:`MAX_DIP_S`, between pictures (half a second before
   and after it) that differ by at least ``min_change``, is a cut at its middle frame.
6. **Shot length.** A cut needs more than :data:`FLASH_FRAMES` decoded frames of each shot:
   with fewer (a codec's first frames, a last frame cut to black) a flash cannot be told from
   a shot change.
7. **Gaps.** Steps across a stretch the decoder skipped (seeking over a long gap, or past the
   preview cap) are not judged here: :func:`covered` tells the caller which stretches were.
"""

from __future__ import annotations

import numpy as np

from .cuts import rgb_to_hsv
from .temporal import LUMA, covered, runs

# A dip through black: frames at most this mean luma, for at most this long, between pictures.
DIP_LUMA = 16.0
MAX_DIP_S = 1.0
DIP_CONTEXT_S = 0.5
# Neighbouring steps on each side whose mean change is a step's baseline.
WINDOW = 2
# A step changing less than this (0-255 levels) repeats a frame: left out of the baselines.
HELD_CHANGE = 1.0
# Repeats in runs of at most this many steps are drawn on twos or threes; longer ones are a still.
MAX_HELD_RUN = 2
# Two pictures whose luma thumbnails correlate at least this much are one picture, re-exposed.
SAME_PICTURE_CORR = 0.9
# A picture coming back within this many frames after a spike makes the spike a flash.
FLASH_FRAMES = 3


def frame_changes(thumbs: np.ndarray) -> np.ndarray:
    """Mean |HSV difference| (M-1,) in 0-255 levels between consecutive (M, h, w, 3) RGB thumbnails."""
    if len(thumbs) < 2:
        return np.zeros(0)
    out = np.empty(len(thumbs) - 1)
    for start in range(0, len(out), 512):  # bounded memory on long previews
        stop = min(len(out), start + 512)
        hsv = rgb_to_hsv(thumbs[start : stop + 1])
        out[start:stop] = _pair_change(hsv[:-1], hsv[1:])
    return out


def _pair_change(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.abs(a - b)
    d[..., 0] = np.minimum(d[..., 0], 1.0 - d[..., 0])  # hue is an angle
    return d.reshape(len(d), -1).mean(axis=1) * 255.0


def neighbour_mean(values: np.ndarray, window: int = WINDOW, held: float | None = None, reach: int = 4) -> np.ndarray:
    """Mean of each value's ``window`` nearest neighbours on each side (itself left out),
    looked for within ``reach * window`` steps; 0 where there are none.

    With ``held``, steps at most ``held`` in runs of at most :data:`MAX_HELD_RUN` (a frame
    repeated on twos or threes) are skipped; longer runs are a still picture and count.
    """
    values = np.asarray(values, np.float64)
    m = len(values)
    if m < 2:
        return np.zeros(m)
    moving = np.ones(m, bool)
    if held is not None:
        for first, last in runs(values <= held):
            if last - first + 1 <= MAX_HELD_RUN:
                moving[first : last + 1] = False
    out = np.zeros(m)
    offsets = np.arange(1, reach * window + 1)
    for side in (-1, 1):  # the nearest moving steps on each side, at most `window` of them
        idx = np.arange(m)[:, None] + side * offsets[None, :]
        valid = (idx >= 0) & (idx < m)
        valid &= moving[np.clip(idx, 0, m - 1)]
        taken = valid & (np.cumsum(valid, axis=1) <= window)
        out += np.where(taken, values[np.clip(idx, 0, m - 1)], 0.0).sum(axis=1)
        if side < 0:
            count = taken.sum(axis=1)
        else:
            count = count + taken.sum(axis=1)
    return out / np.maximum(count, 1)


def same_picture(thumbs: np.ndarray, step: int, corr: float = SAME_PICTURE_CORR) -> bool:
    """Whether thumbnails ``step`` and ``step + 1`` show one picture up to brightness and
    contrast: their luma correlates at least ``corr`` (flat pictures never do)."""
    a, b = (thumbs[step : step + 2].astype(np.float64) @ LUMA).reshape(2, -1)
    if a.std() < 1.0 or b.std() < 1.0:  # a flat picture has no structure to compare
        return False
    return float(np.corrcoef(a, b)[0, 1]) >= corr


def is_flash(thumbs: np.ndarray, step: int, min_change: float, frames: int = FLASH_FRAMES) -> bool:
    """Whether the change at ``step`` (between thumbnails ``step`` and ``step + 1``) belongs to a
    flash: the picture before it comes back within ``frames`` frames, or the picture after it
    was already there within ``frames`` frames before (the end of the flash)."""
    lo, hi = max(0, step - frames), min(len(thumbs), step + 2 + frames)
    hsv = rgb_to_hsv(thumbs[lo:hi])
    at = step - lo
    before, after = hsv[at : at + 1], hsv[at + 1 : at + 2]
    later, earlier = hsv[at + 2 :], hsv[:at]

    def seen(frame: np.ndarray, others: np.ndarray) -> bool:
        return bool(len(others)) and bool((_pair_change(np.repeat(frame, len(others), axis=0), others) < min_change).any())

    return seen(before, later) or seen(after, earlier)


def detect_frame_cuts(
    thumbs: np.ndarray,
    times: np.ndarray,
    *,
    min_change: float = 15.0,
    ratio: float = 3.0,
    window: int = WINDOW,
    min_gap_s: float = 0.5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cuts on consecutive thumbnails: (step indices (K,), their changes (K,), covered (M-1,)).

    A cut at step ``i`` lies between thumbnails ``i`` and ``i+1``; its time is ``times[i+1]``,
    the first frame of the new shot. Steps across skipped stretches are never cuts here.
    Cuts closer than ``min_gap_s`` are thinned, strongest first.
    """
    times = np.asarray(times, np.float64)
    change = frame_changes(thumbs)
    ok = covered(times)
    if change.size == 0:
        return np.zeros(0, int), np.zeros(0), ok
    # Steps across gaps are left out of the baselines too: their change is not a frame's.
    judged = np.where(ok, change, np.nan)
    base = neighbour_mean(np.nan_to_num(judged, nan=np.nanmedian(judged) if ok.any() else 0.0), window, held=HELD_CHANGE)
    candidate = ok & (change >= min_change) & (change >= ratio * base)
    idx = np.flatnonzero(candidate)
    if idx.size:
        idx = np.asarray([i for i in idx if not is_flash(thumbs, i, min_change) and not same_picture(thumbs, i)], int)
    dips, dip_changes = dip_cuts(thumbs, times, ok, min_change=min_change)
    change = change.copy()
    change[dips] = np.maximum(change[dips], dip_changes)
    idx = np.union1d(idx, dips).astype(int)
    # A cut needs a few frames of each shot: with fewer, a flash or a codec's first frames
    # cannot be told from a shot change.
    idx = idx[(idx + 1 > FLASH_FRAMES) & (len(times) - (idx + 1) > FLASH_FRAMES)]
    if idx.size and min_gap_s > 0:
        t = times[idx + 1]
        kept: list[int] = []
        for j in sorted(range(idx.size), key=lambda j: (-change[idx[j]], idx[j])):
            if all(abs(t[j] - t[k]) >= min_gap_s for k in kept):
                kept.append(j)
        idx = np.sort(idx[kept])
    return idx, change[idx], ok


def dip_cuts(thumbs: np.ndarray, times: np.ndarray, ok: np.ndarray, *, min_change: float,
             max_dip_s: float = MAX_DIP_S, context_s: float = DIP_CONTEXT_S) -> tuple[np.ndarray, np.ndarray]:
    """Cuts through short dips to black: (step indices (K,), change between the pictures around each).

    A step index ``i`` puts the cut at ``times[i + 1]``, the dip's middle frame. Dips touching
    either end of the item, or crossing a skipped stretch, are not cuts (a fade in or out).
    """
    times = np.asarray(times, np.float64)
    if len(thumbs) < 3:
        return np.zeros(0, int), np.zeros(0)
    luma = (thumbs.astype(np.float32) @ LUMA).reshape(len(thumbs), -1).mean(axis=1)
    dark = luma <= DIP_LUMA
    steps, changes = [], []
    for first, last in runs(dark):
        if first == 0 or last == len(thumbs) - 1 or times[last] - times[first] > max_dip_s:
            continue
        if not ok[max(first - 1, 0) : last + 1].all():
            continue
        before = int(np.searchsorted(times, times[first] - context_s))
        after = min(int(np.searchsorted(times, times[last] + context_s)), len(times) - 1)
        if dark[before] or dark[after]:
            continue
        change = float(frame_changes(thumbs[[before, after]])[0])
        if change >= min_change:
            middle = (first + last) // 2
            steps.append(max(middle - 1, 0))
            changes.append(change)
    return np.asarray(steps, int), np.asarray(changes, float)
