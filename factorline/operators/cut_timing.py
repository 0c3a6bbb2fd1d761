"""Cut timing from the decoder's previews (every decoded frame, thumbnail size).

``shot_cuts`` finds cuts between sampled frames (:func:`~factorline.operators.cuts.detect_cuts`);
the sampled frames alone place a cut only somewhere between two samples and never see a cut
after the last sample. When the batch carries a :class:`~factorline.core.items.Preview`
(videos decoded by :mod:`factorline.media.decode`), two pure steps use it:

- :func:`refine_cut_times`: within each detected pair's interval, the cut is the consecutive
  preview pair with the largest colour-histogram distance, and its time is the first frame
  of the new shot (the frame-exact convention of PySceneDetect and ffmpeg's scdet).
- :func:`tail_pair` and :func:`strongest_step`: after the last sample, a cut is the one
  preview step whose distance clears the cut threshold and ``adaptive_ratio`` times the
  median of the other steps (the shot's own frame-to-frame change, far smaller at the full
  frame rate than between samples a second apart), while the last sample and the last frame
  also differ by the threshold and do not correlate as a pan. A fade-out or camera move
  spreads its change over many small steps and is not called a cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cuts import colour_histograms, histogram_distances

_EPS = 1e-6


@dataclass(frozen=True)
class PreviewTrack:
    """A preview's times (M,) and thumbnails (M, h, w, 3), bars cropped. Distances between
    consecutive previews are computed only for the stretches asked (a few per item)."""

    times: np.ndarray
    thumbs: np.ndarray

    def steps(self, first: int, last: int) -> np.ndarray:
        """Histogram distances (last - first,) of consecutive previews first..last."""
        return histogram_distances(colour_histograms(self.thumbs[first : last + 1]))


def crop_fraction(thumbs: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    """Thumbnails cropped to ``box`` (y0, y1, x0, x1 in a frame of ``size`` (H, W) pixels),
    rounded inwards; unchanged when less than 2 x 2 pixels would be left."""
    y0, y1, x0, x1 = box
    big_h, big_w = size
    h, w = thumbs.shape[1:3]
    ty0, tx0 = int(np.ceil(y0 * h / big_h)), int(np.ceil(x0 * w / big_w))
    ty1, tx1 = int(y1 * h // big_h), int(x1 * w // big_w)
    if ty1 - ty0 < 2 or tx1 - tx0 < 2:
        return thumbs
    return thumbs[:, ty0:ty1, tx0:tx1]


def refine_cut_times(pairs: np.ndarray, sample_times: np.ndarray, track: PreviewTrack) -> list[float]:
    """For each cut pair (i, i+1) of the samples, the time of the first preview frame of the
    new shot; the samples' midpoint where no preview frame lies between them."""
    t = np.asarray(sample_times, np.float64)
    out = []
    for i in pairs:
        step = _step_between(track, t[i], t[i + 1])
        out.append(float(track.times[step + 1]) if step is not None else float((t[i] + t[i + 1]) / 2))
    return out


def tail_pair(sample_times: np.ndarray, track: PreviewTrack) -> tuple[int, int] | None:
    """Preview indices (first, last) of the stretch from the last sample to the last decoded
    frame, or None when no preview frame lies after the last sample."""
    last = float(np.asarray(sample_times)[-1])
    first = int(np.searchsorted(track.times, last - _EPS))
    end = len(track.times) - 1
    if first >= end:
        return None
    return first, end


def strongest_step(track: PreviewTrack, first: int, last: int) -> tuple[int, float, float]:
    """The consecutive preview step between ``first`` and ``last`` with the largest distance:
    (its index, its distance, the median distance of the other steps: the shot's own change)."""
    steps = track.steps(first, last)
    at = int(np.argmax(steps))
    others = np.delete(steps, at)
    return first + at, float(steps[at]), float(np.median(others)) if others.size else 0.0


def _step_between(track: PreviewTrack, start: float, stop: float) -> int | None:
    """Index of the strongest preview step from ``start`` to ``stop`` (seconds), if any."""
    a = int(np.searchsorted(track.times, start - _EPS))
    b = int(np.searchsorted(track.times, stop + _EPS, side="right")) - 1
    return strongest_step(track, a, b)[0] if b - a >= 1 else None
