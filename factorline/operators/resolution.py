"""Resolution operators: is the picture really as sharp as its pixel count says?

``upscaled@2`` estimates the *native* resolution of frames from their spatial spectrum. A
picture upscaled by a factor r from a smaller original has (almost) no energy above the
original's Nyquist frequency, 0.5 / r cycles per pixel; a native picture's spectrum goes on
falling slowly up to 0.5. How the estimate is made (the pure functions carry the details):

1. **Detailed patches.** The picture inside the bars (:func:`~factorline.operators.layout.detect_bars`)
   is cut into 64 x 64 patches. Each patch's 1-D power spectrum along the columns (vertical
   frequencies, for the height) or the rows (for the width) is the mean over its 64 lines
   (Hann window, line mean removed). Only the :data:`TOP_SHARE` most detailed patches count
   (flat sky and walls only hold codec noise), each normalised to unit energy; at most
   :data:`MAX_FRAMES` frames, evenly spread, are used.
2. **Expected fall-off.** Natural pictures have power-law spectra: in decibels against
   log-frequency, a straight line. The line is fitted over the low band :data:`FIT_BAND`
   (0.03-0.08 cycles/px), where every picture of interest is still native.
3. **Cutoff.** The cutoff is the first frequency above the fit band where the (3-bin smoothed)
   spectrum falls ``drop_db`` (:data:`DROP_DB`, 8 dB) under the extrapolated line. Upscalers
   roll off gradually (bicubic and bilinear reach zero only at 1 / r), and the 8 dB point
   lies about 10 % under the original's Nyquist frequency:
   ``ratio = CALIBRATION * 0.5 / cutoff`` with :data:`CALIBRATION` 0.9, at analysis resolution.
   Measured on Big Buck Bunny frames reduced to 360p (bicubic, area, box or Lanczos) and
   upscaled 3x to 1080p (bicubic, bilinear or Lanczos; lossless or x264 crf 23): 2.74-3.23;
   the sample set's 144p carphone clip upscaled 3x: 3.0; 2x upscales: 2.25-2.35.
4. **Native or not.** Compression and soft optics also bend the spectrum down near 0.5: a
   native 720p Big Buck Bunny frame reads 1.7, bikes 1.2-1.3, photos 1.0. Estimates under
   :data:`NATIVE_RATIO` (1.9) count as native (``ratio`` 1.0, ``native_height`` the source
   height).

Accuracy and limits:

- The estimate is at **analysis resolution**. Frames sampled with ``max_side`` 1280 show a
  1080p source at 720p: a native picture or one upscaled from 720p or 900p looks native
  there, and only originals under about 720 / 1.9 = 380 lines (source ratio >= 2.85) are
  recognised; a 360p -> 1080p upscale analysed at 720p reads about 3.4-3.7 (the AREA
  reduction softens it further). ``native_height`` is therefore never above the analysis
  height unless it is the source height itself. Sample with ``max_side`` >= the source size
  to judge 720p -> 1080p upscales.
- It measures *effective* resolution: blur (defocus, heavy denoising, strong compression)
  lowers it like upscaling does, and the estimate compounds the original's own softness
  (Big Buck Bunny's soft 720p upscaled 1.5x reads 2.3). ``clarity@1`` tells blur apart.
- Ratios above about 5 put the cutoff inside the fit band and are underestimated;
  pixel-repeat (nearest-neighbour) upscales keep sharp steps and read as native.
- Frames without detail (flat, black) are skipped; with none left the picture is native.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict
from pydantic import Field as P

from ..contract.items import FrameBatch, MediaInfo
from ..contract.operator import Output, operator
from .layout import detect_bars

SEGMENT = 64  # patch side and FFT length (px)
TOP_SHARE = 0.25  # share of the most detailed patches used
MAX_FRAMES = 16  # frames used at most (evenly spread): spectra of more frames add little
MAX_PATCHES = 600  # candidate patches per frame at most (a strided grid on huge frames)
FIT_BAND = (0.03, 0.08)  # cycles/px where the power law is fitted
DROP_DB = 8.0  # the cutoff is where the spectrum falls this far under the power law
# The 8 dB point of an upscaler's roll-off lies a little below the original's Nyquist
# frequency: ratio = CALIBRATION * 0.5 / cutoff (fitted on the table in the module docstring).
CALIBRATION = 0.9
NATIVE_RATIO = 1.9  # estimates under this are native
SMOOTH_BINS = 3
FLAT_STD = 2.0  # frames (and patches) with a luma std under this hold no detail
MIN_PATCH_ENERGY = 4.0  # mean power per bin (levels^2) under which a patch is flat


class UpscaledParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    drop_db: float = P(
        DROP_DB,
        ge=3.0,
        le=30.0,
        title="Cutoff drop",
        description="The cutoff is the first frequency where the spectrum of detailed patches falls this many dB "
        "under the power law fitted at low frequencies (the calibration assumes 8).",
    )
    native_ratio: float = P(
        NATIVE_RATIO,
        ge=1.0,
        le=8.0,
        title="Native below",
        description="Estimated ratios (at analysis resolution) under this count as native: ratio 1.0 and "
        "native_height = source height.",
    )


# --------------------------------------------------------------------------- pure functions


def patch_spectrum(
    luma: np.ndarray, axis: int, *, segment: int = SEGMENT, top_share: float = TOP_SHARE
) -> np.ndarray | None:
    """Mean normalised power spectrum (segment // 2 + 1,) along ``axis`` (1: vertical
    frequencies, 2: horizontal) of the most detailed ``segment``-px patches of (N, H, W)
    frames; None when no patch has detail."""
    x = luma if axis == 1 else np.swapaxes(luma, 1, 2)  # lines run along axis 1 now
    h, w = x.shape[1:]
    ph, pw = h // segment, w // segment
    if ph == 0 or pw == 0:
        return None
    sy = max(1, math.ceil(math.sqrt(ph * pw / MAX_PATCHES)))
    rows, cols = np.arange(0, ph, sy), np.arange(0, pw, sy)
    window = np.hanning(segment).astype(np.float32)
    spectra, energies = [], []
    for frame in x:
        grid = frame[: ph * segment, : pw * segment].reshape(ph, segment, pw, segment)[rows][:, :, cols]
        lines = np.ascontiguousarray(grid.transpose(0, 2, 3, 1), dtype=np.float32)  # (py, px, line, sample)
        lines -= lines.mean(axis=-1, keepdims=True)
        power = np.abs(np.fft.rfft(lines * window, axis=-1)) ** 2 / float((window**2).sum())
        patch = power.mean(axis=2).reshape(-1, segment // 2 + 1)
        spectra.append(patch)
        energies.append(patch[:, 1:].mean(axis=1))
    spectra_all = np.concatenate(spectra)
    energy = np.concatenate(energies)
    detailed = np.flatnonzero(energy >= MIN_PATCH_ENERGY)
    if detailed.size == 0:
        return None
    keep = detailed[np.argsort(-energy[detailed], kind="stable")[: max(1, round(top_share * detailed.size))]]
    normalised = spectra_all[keep] / spectra_all[keep, 1:].sum(axis=1, keepdims=True)
    return normalised.mean(axis=0)


def cutoff_frequency(
    spectrum: np.ndarray, *, fit_band: tuple[float, float] = FIT_BAND, drop_db: float = DROP_DB
) -> float:
    """First frequency (cycles/px) above ``fit_band`` where the smoothed spectrum (dB) falls
    ``drop_db`` under the power law fitted in the band (linear interpolation between bins);
    0.5 (Nyquist) when it never does."""
    p = np.asarray(spectrum, np.float64)
    length = (len(p) - 1) * 2
    f = np.arange(len(p)) / float(length)
    s = 10.0 * np.log10(np.maximum(p, 1e-12))
    pad = SMOOTH_BINS // 2
    s = np.convolve(np.pad(s, pad, mode="edge"), np.ones(SMOOTH_BINS) / SMOOTH_BINS, mode="valid")
    band = (f >= fit_band[0]) & (f <= fit_band[1])
    if band.sum() < 2:
        return 0.5
    logf = np.log2(np.maximum(f, 1e-9))
    slope, offset = np.polyfit(logf[band], s[band], 1)
    residual = s - (slope * logf + offset)
    below = np.flatnonzero((residual < -drop_db) & (f > fit_band[1]))
    if below.size == 0:
        return 0.5
    i = int(below[0])
    r0, r1 = residual[i - 1], residual[i]
    t = (-drop_db - r0) / (r1 - r0) if r1 != r0 else 0.0
    return float((i - 1 + t) / length)


def frames_for_spectrum(luma: np.ndarray, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """Indices of up to ``max_frames`` frames with detail (luma std >= FLAT_STD), evenly spread."""
    n = len(luma)
    if n == 0:
        return np.zeros(0, int)
    stds = np.array([float(frame[::4, ::4].std()) for frame in luma])
    idx = np.flatnonzero(stds >= FLAT_STD)
    if idx.size > max_frames:
        idx = idx[np.unique(np.linspace(0, idx.size - 1, max_frames).round().astype(int))]
    return idx


def native_ratio(
    luma: np.ndarray,
    *,
    axis: int = 1,
    drop_db: float = DROP_DB,
    native_below: float = NATIVE_RATIO,
) -> tuple[float, float]:
    """(ratio, raw) along ``axis`` of (N, H, W) content luma at its own resolution: ``raw``
    is 0.5 / cutoff, ``ratio`` is 1.0 when ``raw`` is under ``native_below`` (or there is no
    detail), else ``raw``."""
    idx = frames_for_spectrum(luma)
    if idx.size == 0:
        return 1.0, 1.0
    spectrum = patch_spectrum(luma[idx], axis)
    if spectrum is None:
        return 1.0, 1.0
    cutoff = cutoff_frequency(spectrum, drop_db=drop_db)
    raw = 1.0 if cutoff >= 0.5 else max(1.0, CALIBRATION * 0.5 / max(cutoff, 1e-6))
    return (raw if raw >= native_below else 1.0), raw


def content(luma: np.ndarray) -> np.ndarray:
    """The frames inside their black or blurred bars (``luma`` itself when none)."""
    h, w = luma.shape[1:]
    bars = detect_bars(luma)
    y0, y1, x0, x1 = bars.content_box(h, w)
    margin = 2
    y0, x0 = y0 + (margin if bars.top else 0), x0 + (margin if bars.left else 0)
    y1, x1 = y1 - (margin if bars.bottom else 0), x1 - (margin if bars.right else 0)
    if y1 - y0 < SEGMENT or x1 - x0 < SEGMENT:
        return luma
    return luma[:, y0:y1, x0:x1]


def estimate(
    luma: np.ndarray,
    *,
    scale: float = 1.0,
    source_height: int | None = None,
    source_width: int | None = None,
    drop_db: float = DROP_DB,
    native_below: float = NATIVE_RATIO,
) -> dict:
    """Native height/width in source px and the source/native ratios of (N, H, W) analysis
    luma, ``scale`` source px per analysis px (see the module docstring for the caps)."""
    n, h, w = luma.shape
    source_height = source_height or round(h * scale)
    source_width = source_width or round(w * scale)
    inner = content(luma) if n and h >= SEGMENT and w >= SEGMENT else luma
    rv, raw_v = native_ratio(inner, axis=1, drop_db=drop_db, native_below=native_below)
    rh, raw_h = native_ratio(inner, axis=2, drop_db=drop_db, native_below=native_below)
    # Lines the picture really resolves over its full height: the analysis height over the
    # measured ratio (so never more than the analysis height), or the source height if native.
    native_h = source_height if rv == 1.0 else min(source_height, max(1, round(h / rv)))
    native_w = source_width if rh == 1.0 else min(source_width, max(1, round(w / rh)))
    ratio = source_height / native_h if native_h else 1.0
    return {
        "native_height": int(native_h),
        "native_width": int(native_w),
        "ratio": round(float(ratio), 3),
        "raw_vertical": round(float(raw_v), 3),
        "raw_horizontal": round(float(raw_h), 3),
    }


def coded_luma(frames: FrameBatch, item: MediaInfo) -> tuple[np.ndarray, int, int, bool]:
    """(luma (N, H, W), source height, source width, quarter_turn) of a frame batch turned
    back to its coded orientation when a rotation tag turned it a quarter."""
    gray, height, width = frames.gray, frames.source_height, frames.source_width
    quarter_turn = item.rotation in (90, 270)
    if quarter_turn:
        gray = np.ascontiguousarray(np.rot90(gray, k=item.rotation // 90, axes=(1, 2)))
        height, width = width, height
    return gray, height, width, quarter_turn


def coded_estimate(frames: FrameBatch, item: MediaInfo, coded: tuple | None = None, **options) -> dict:
    """:func:`estimate` of a frame batch judged as it is coded, sizes reported in display
    orientation like the item's width and height. A rotation tag must not change the verdict:
    the spectrum along the coded rows is what the upscaler and the encoder shaped. ``coded``:
    :func:`coded_luma` of the batch when the caller has it already."""
    gray, height, width, quarter_turn = coded or coded_luma(frames, item)
    out = estimate(gray, scale=float(frames.scale) or 1.0, source_height=height, source_width=width, **options)
    if quarter_turn:
        out["native_height"], out["native_width"] = out["native_width"], out["native_height"]
    return out


# --------------------------------------------------------------------------- operator


@operator(
    name="upscaled",
    limits=(
        "Reads the spatial spectrum: graphics or flat content with little fine detail look upscaled, and blur (defocus, denoising, heavy compression) lowers the estimate like upscaling does.",
        "Judged at analysis resolution: a 1080p source sampled at max_side 1280 can only be shown to come from under about 380 lines.",
    ),
    version=2,
    title="Upscaled",
    group="quality",
    params=UpscaledParams,
    fields={
        "native_height": Output("int", "estimated native height (the source height when native)", unit="px"),
        "ratio": Output("float", "coded height / native coded height (rotation tags do not change it); 1.0 when native"),
        "native_width": Output("int", "estimated native width (the source width when native)", unit="px"),
    },
)
def upscaled(inputs: dict, params: UpscaledParams, *, item: MediaInfo, resources: dict) -> dict:
    """Native resolution from the spatial spectrum: an upscaled picture has no energy above its
    original's Nyquist frequency.

    Estimated at analysis resolution (a 1080p source sampled at 720p can only be shown to
    come from under about 410 lines); blur lowers the estimate like upscaling does.
    """
    frames: FrameBatch = inputs["frames"]
    out = coded_estimate(frames, item, drop_db=params.drop_db, native_below=params.native_ratio)
    evidence = []
    if len(frames):
        t = float(np.asarray(frames.times, np.float64)[0])
        evidence.append(
            {
                "t": round(t, 3),
                "score": out["raw_vertical"],
                "text": f"cutoff ratio at analysis resolution: vertical {out['raw_vertical']}, "
                f"horizontal {out['raw_horizontal']} (native under {params.native_ratio})",
            }
        )
    return {
        "native_height": out["native_height"],
        "ratio": out["ratio"],
        "native_width": out["native_width"],
        "evidence": evidence,
    }
