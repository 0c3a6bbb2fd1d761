"""The measurable parts of ``aesthetics@1``: pure numpy/scipy functions, no I/O.

Every function takes RGB uint8 frames (or luma) and returns plain numbers, so each part can be
tested and explained on its own. A frame is first area-averaged to a working size (shorter side
``working`` px, never upscaled); frames smaller than :data:`MIN_SIDE` px are enlarged by pixel
repetition so that tiny input never breaks a filter.

Per frame (:func:`frame_measures`):

- **exposure**: ``brightness`` (mean luma 0..1), ``clipped`` (share of pixels crushed to black
  <= 8 or blown to white >= 247), ``black_level`` and ``white_level`` (1st and 99th luma
  percentiles, 0..1) and ``dynamic_range`` (their difference);
- **contrast**: RMS contrast, the luma standard deviation (0..1);
- **colour**: ``colourfulness`` (Hasler and Suesstrunk 2003, M = sigma_rgyb + 0.3 mu_rgyb on
  0..255 opponent channels; about 0 grey, 30 moderate, 60+ very colourful), ``colour_cast``
  (the mean opponent-colour length of the darkest and brightest 5 % of pixels, 0..255: shadows
  and highlights of a balanced picture are near neutral), ``saturation`` (mean HSV saturation
  0..1) and ``saturation_clipped`` (share of coloured pixels with a channel pinned at 0 or 255:
  over-saturated or shifted colour);
- **noise**: white-noise std in luma levels at working size, so a 4K copy and a 360p copy of
  one picture read alike (:func:`~factorline.operators.quality.noise_sigma`);
- **sharpness**: the clarity score of :mod:`~factorline.operators.quality` (0..1);
- **composition**: the subject as the centroid of a spectral-residual saliency map (Hou and
  Zhang 2007) on a 64 px copy (``subject_x``, ``subject_y`` 0..1), ``placement`` (its distance to
  the nearest power point: the four rule-of-thirds crossings or the centre, share of the frame
  diagonal), ``tilt`` (signed degrees, -45..45, of the dominant edge orientation from the
  nearest axis, the 4-theta circular mean of gradient orientations weighted by squared magnitude;
  positive when the picture's lines turn counter-clockwise as displayed) with ``tilt_confidence``
  (0..1, the resultant length: near 0 for pictures without straight lines) and ``clutter`` (share
  of grid cells busy with edges, :func:`edge_coverage`: gradient over :data:`EDGE_LEVEL` levels per
  px after a light blur).

Per video (:func:`shake`): global motion between consecutive thumbnails (phase correlation with a
sub-pixel peak) and the part of it that is not smooth: the RMS of each step's velocity minus the
median of its neighbours, in percent of the frame width per frame.
"""

from __future__ import annotations

import numpy as np

from .quality import area_resize, clarity_scores, noise_sigma

MIN_SIDE = 8  # frames smaller than this are enlarged by pixel repetition
SALIENCY_SIDE = 64  # spectral-residual saliency works on a copy about this wide
EDGE_LEVEL = 25.0  # luma levels per px over which a working pixel is on an edge (clutter)
CELLS = 16  # clutter grid: cells of 1/CELLS of the shorter side
CELL_EDGES = 0.05  # a cell with more than this share of edge pixels is busy
DARK, BRIGHT = 8.0, 247.0  # luma at or under / at or over which a pixel is clipped
POWER_POINTS = ((1 / 3, 1 / 3), (2 / 3, 1 / 3), (1 / 3, 2 / 3), (2 / 3, 2 / 3), (0.5, 0.5))
MAX_STEP_S = 0.25  # consecutive thumbnails further apart than this are not compared (shake)
MIN_PEAK = 0.08  # phase-correlation peaks under this are not motion (a cut, a flat frame)

MEASURES = ("brightness", "clipped", "black_level", "white_level", "dynamic_range", "contrast", "colourfulness", "colour_cast", "saturation",
            "saturation_clipped", "noise", "sharpness", "subject_x", "subject_y", "placement", "tilt",
            "tilt_confidence", "clutter")


def luma_of(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma (..., H, W) float32 of RGB (..., H, W, 3)."""
    rgb = rgb.astype(np.float32, copy=False)
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def enlarge_tiny(image: np.ndarray) -> np.ndarray:
    """A frame with both sides at least :data:`MIN_SIDE` px (pixel repetition), else as is."""
    h, w = image.shape[:2]
    if h >= MIN_SIDE and w >= MIN_SIDE:
        return image
    ry, rx = -(-MIN_SIDE // max(h, 1)), -(-MIN_SIDE // max(w, 1))
    return np.repeat(np.repeat(image, ry, axis=0), rx, axis=1)


def working_rgb(image: np.ndarray, working: int = 256) -> np.ndarray:
    """(h, w, 3) float32 0..255 copy whose shorter side is ``working`` px (area average; a
    smaller frame keeps its size)."""
    image = enlarge_tiny(image)
    h, w = image.shape[:2]
    factor = working / float(min(h, w))
    planes = np.ascontiguousarray(image.transpose(2, 0, 1)).astype(np.float32)
    if factor < 1.0:
        planes = area_resize(planes, max(MIN_SIDE, round(h * factor)), max(MIN_SIDE, round(w * factor)))
    return planes.transpose(1, 2, 0)


def exposure(luma: np.ndarray) -> tuple[float, float, float, float]:
    """(brightness 0..1, clipped share, black level, white level) of a luma frame 0..255: the
    levels are the 1st and 99th luma percentiles, 0..1 (a dull or dark picture has no white, a
    washed-out or bright one no black)."""
    lo, hi = np.percentile(luma, [1.0, 99.0])
    clipped = float(np.mean((luma <= DARK) | (luma >= BRIGHT)))
    return float(luma.mean() / 255.0), clipped, float(lo / 255.0), float(hi / 255.0)


def colour(rgb: np.ndarray, luma: np.ndarray) -> tuple[float, float, float, float]:
    """(colourfulness, colour cast, mean saturation, clipped colour share) of float RGB 0..255.

    The cast is the mean opponent-colour length of the darkest and the brightest 5 % of pixels
    (shadows and highlights are near neutral in a balanced picture, whatever its subject); the
    clipped colour share counts pixels with one channel pinned near 0 or 255 (within the clipping
    levels :data:`DARK` / :data:`BRIGHT`, so grain does not unpin it) and another not
    (over-saturated or colour-shifted past the range; pure black and white are not counted).
    """
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rg, yb = r - g, 0.5 * (r + g) - b
    m = float(np.hypot(rg.std(), yb.std())) + 0.3 * float(np.hypot(rg.mean(), yb.mean()))
    lo, hi = np.percentile(luma, [5.0, 95.0])
    ends = (luma <= lo) | (luma >= hi)
    cast = float(np.hypot(rg[ends].mean(), yb[ends].mean())) if ends.any() else 0.0
    top, bottom = rgb.max(axis=-1), rgb.min(axis=-1)
    sat = np.where(top > 0, (top - bottom) / np.maximum(top, 1e-6), 0.0)
    pinned = ((rgb <= DARK) | (rgb >= BRIGHT)).any(axis=-1) & (top - bottom > 40.0)
    return m, cast, float(sat.mean()), float(pinned.mean())


def _scharr(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Derivatives (gy, gx) in levels per px (Scharr kernels, normalised; reflected borders)."""
    from scipy import ndimage  # lazily: scipy.ndimage costs ~1 s of every command's start

    smooth = np.array([3.0, 10.0, 3.0]) / 16.0
    diff = np.array([-1.0, 0.0, 1.0]) / 2.0
    gx = ndimage.correlate1d(ndimage.correlate1d(x, smooth, axis=0, mode="reflect"), diff, axis=1, mode="reflect")
    gy = ndimage.correlate1d(ndimage.correlate1d(x, smooth, axis=1, mode="reflect"), diff, axis=0, mode="reflect")
    return gy, gx


def edge_coverage(edges: np.ndarray) -> float:
    """Share of grid cells (about 1/:data:`CELLS` of the shorter side each) where more than
    :data:`CELL_EDGES` of the pixels are on an edge: clutter is edges spread over the whole
    picture, where a clean composition keeps them on its subject."""
    h, w = edges.shape
    k = max(2, min(h, w) // CELLS)
    if h < k or w < k:
        return float(edges.mean() > CELL_EDGES)
    cells = edges[: h // k * k, : w // k * k].reshape(h // k, k, w // k, k).mean(axis=(1, 3))
    return float(np.mean(cells > CELL_EDGES))


def tilt_and_clutter(luma: np.ndarray) -> tuple[float, float, float]:
    """(tilt degrees, tilt confidence 0..1, clutter share) of a working-size luma frame."""
    from scipy import ndimage  # lazily: scipy.ndimage costs ~1 s of every command's start

    x = ndimage.gaussian_filter(luma.astype(np.float64), 1.0, mode="reflect")
    gy, gx = _scharr(x)
    if min(x.shape) > 6:  # the filters' reflected border is not measured
        gy, gx = gy[3:-3, 3:-3], gx[3:-3, 3:-3]
    mag2 = gx * gx + gy * gy
    clutter = edge_coverage(mag2 > EDGE_LEVEL**2)
    total = float(mag2.sum())
    if total <= 1e-9:
        return 0.0, 0.0, clutter
    z = np.sum(mag2 * np.exp(4j * np.arctan2(gy, gx))) / total
    # Image rows grow downwards, so an angle measured with y down turns the other way on screen.
    return float(-np.degrees(np.angle(z)) / 4.0), float(abs(z)), clutter


def saliency_centroid(luma: np.ndarray) -> tuple[float, float]:
    """(x, y) 0..1 centroid of the spectral-residual saliency of a luma frame (centre when flat)."""
    from scipy import ndimage  # lazily: scipy.ndimage costs ~1 s of every command's start

    h, w = luma.shape
    factor = min(1.0, SALIENCY_SIDE / float(max(h, w)))
    small = luma if factor >= 1.0 else area_resize(luma[None].astype(np.float32), max(4, round(h * factor)),
                                                     max(4, round(w * factor)))[0]
    spectrum = np.fft.fft2(small.astype(np.float64))
    log_amp = np.log(np.abs(spectrum) + 1e-6)
    residual = log_amp - ndimage.uniform_filter(log_amp, 3, mode="wrap")
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    sal = ndimage.gaussian_filter(sal, max(1.0, 0.04 * max(sal.shape)), mode="nearest")
    sal = np.maximum(sal - np.median(sal), 0.0)  # the background's level does not pull the centroid
    mass = float(sal.sum())
    if not np.isfinite(mass) or mass <= 1e-12 or float(np.ptp(small)) < 1.0:
        return 0.5, 0.5
    ys, xs = np.mgrid[0 : sal.shape[0], 0 : sal.shape[1]]
    return float(((xs + 0.5) * sal).sum() / mass / sal.shape[1]), float(((ys + 0.5) * sal).sum() / mass / sal.shape[0])


def placement(x: float, y: float, width: int, height: int) -> float:
    """Distance of (x, y) (0..1) to the nearest power point, as a share of the frame diagonal."""
    diag = float(np.hypot(width, height)) or 1.0
    return float(min(np.hypot((x - px) * width, (y - py) * height) for px, py in POWER_POINTS) / diag)


def frame_measures(image: np.ndarray, working: int = 256) -> dict[str, float]:
    """Every per-frame measure (:data:`MEASURES`) of one (H, W, 3) uint8 RGB frame."""
    image = enlarge_tiny(image)
    rgb = working_rgb(image, working)
    luma = luma_of(rgb)
    brightness, clipped, black, white = exposure(luma)
    m, cast, sat, sat_clipped = colour(rgb, luma)
    full_luma = luma_of(image)[None]
    sharp, flat = clarity_scores(full_luma, working_height=working)
    sx, sy = saliency_centroid(luma)
    tilt, confidence, clutter = tilt_and_clutter(luma)
    return {"brightness": brightness, "clipped": clipped, "black_level": black, "white_level": white,
            "dynamic_range": white - black, "contrast": float(luma.std() / 255.0),
            "colourfulness": m, "colour_cast": cast, "saturation": sat, "saturation_clipped": sat_clipped,
            "noise": float(noise_sigma(luma[None])[0]), "sharpness": 0.0 if flat[0] else float(sharp[0]),
            "subject_x": sx, "subject_y": sy, "placement": placement(sx, sy, luma.shape[1], luma.shape[0]),
            "tilt": tilt, "tilt_confidence": confidence, "clutter": clutter}


def frame_shifts(thumbs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Global motion (M-1, 2) as (dx, dy) in shares of the thumbnail's width and height between
    consecutive (M, h, w) luma thumbnails, and each step's phase-correlation peak (M-1,)."""
    m, h, w = thumbs.shape
    if m < 2 or h < 4 or w < 4:
        return np.zeros((0, 2)), np.zeros(0)
    window = np.outer(np.hanning(h), np.hanning(w))
    x = thumbs.astype(np.float64)
    x = (x - x.mean(axis=(1, 2), keepdims=True)) * window
    spectra = np.fft.fft2(x)
    cross = spectra[1:] * np.conj(spectra[:-1])
    cross /= np.maximum(np.abs(cross), 1e-9)
    corr = np.fft.ifft2(cross).real
    flat_idx = corr.reshape(m - 1, -1).argmax(axis=1)
    py, px = np.unravel_index(flat_idx, (h, w))
    peaks = corr.reshape(m - 1, -1).max(axis=1)
    shifts = np.zeros((m - 1, 2))
    for i in range(m - 1):
        c = corr[i]
        for axis, (pos, size) in enumerate(((px[i], w), (py[i], h))):
            before = c[py[i], (pos - 1) % size] if axis == 0 else c[(pos - 1) % size, px[i]]
            after = c[py[i], (pos + 1) % size] if axis == 0 else c[(pos + 1) % size, px[i]]
            denom = before - 2.0 * peaks[i] + after
            sub = 0.5 * (before - after) / denom if abs(denom) > 1e-12 else 0.0
            shift = ((pos + 0.5 * size) % size) - 0.5 * size + float(np.clip(sub, -0.5, 0.5))
            shifts[i, axis] = shift / size
    return shifts, peaks


def shake(thumbs: np.ndarray, times: np.ndarray) -> float | None:
    """Unsteadiness of (M, h, w, 3) uint8 thumbnails taken at ``times``: RMS of each step's motion
    minus the median motion of its five neighbours, in percent of the width per frame. None when
    fewer than four consecutive steps (at most :data:`MAX_STEP_S` apart, not a cut) are usable."""
    from scipy import ndimage  # lazily: scipy.ndimage costs ~1 s of every command's start

    if len(thumbs) < 3:
        return None
    shifts, peaks = frame_shifts(luma_of(thumbs))
    gaps = np.diff(np.asarray(times, dtype=np.float64))
    ok = (gaps > 0) & (gaps <= MAX_STEP_S) & (peaks >= MIN_PEAK)
    if int(ok.sum()) < 4:
        return None
    v = np.where(ok[:, None], shifts, np.nan)
    smooth = np.stack([ndimage.generic_filter(v[:, k], np.nanmedian, size=5, mode="nearest") for k in range(2)], axis=1)
    resid = (v - smooth)[ok]
    resid = resid[np.isfinite(resid).all(axis=1)]
    if len(resid) < 4:
        return None
    return float(100.0 * np.sqrt(np.mean(np.sum(resid * resid, axis=1))))
