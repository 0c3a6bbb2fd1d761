"""Pure audio helpers for the sample set: resample, place a voice in a track, find where it speaks.

Speech ground truth is measured on the synthetic voice alone (before any background is mixed
in), so it is exact about where the voice is, whatever the soundtrack underneath does.
"""

from __future__ import annotations

import numpy as np


def resample(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Linear-interpolation resampling; enough for speech, whose energy sits far below Nyquist."""
    samples = np.asarray(samples, dtype=np.float32)
    if src_rate <= 0 or dst_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {src_rate} -> {dst_rate}")
    if src_rate == dst_rate or len(samples) == 0:
        return samples.copy()
    count = int(round(len(samples) * dst_rate / src_rate))
    src_times = np.arange(len(samples), dtype=np.float64) / src_rate
    dst_times = np.arange(count, dtype=np.float64) / dst_rate
    return np.interp(dst_times, src_times, samples).astype(np.float32)


def place(track_s: float, rate: int, clips: list[tuple[float, np.ndarray]]) -> np.ndarray:
    """A silent track of ``track_s`` seconds with each (start_s, samples) clip added in."""
    track = np.zeros(int(round(track_s * rate)), dtype=np.float32)
    for start_s, clip in clips:
        start = int(round(start_s * rate))
        if start < 0 or start + len(clip) > len(track):
            raise ValueError(f"a {len(clip) / rate:.2f} s clip at {start_s:.2f} s overruns a {track_s:.2f} s track")
        track[start : start + len(clip)] += clip
    return track


def active_segments(
    samples: np.ndarray,
    rate: int,
    *,
    frame_s: float = 0.02,
    threshold_db: float = -35.0,
    min_gap_s: float = 0.3,
) -> list[dict]:
    """Spans where a clean voice signal is audible: [{start_s, end_s}], times rounded to 10 ms.

    A 20 ms frame is active when its RMS is within ``threshold_db`` of the loudest frame;
    pauses shorter than ``min_gap_s`` (between words) are bridged, as a listener would.
    """
    samples = np.asarray(samples, dtype=np.float32)
    hop = max(1, int(round(frame_s * rate)))
    count = len(samples) // hop
    if count == 0:
        return []
    rms = np.sqrt(np.mean(samples[: count * hop].reshape(count, hop) ** 2, axis=1)) + 1e-12
    if rms.max() < 1e-6:  # digital silence: a relative threshold would call rounding noise speech
        return []
    active = 20.0 * np.log10(rms / rms.max()) > threshold_db
    spans: list[list[int]] = []
    for index in np.flatnonzero(active):
        if spans and (index - spans[-1][1]) * frame_s < min_gap_s:
            spans[-1][1] = index + 1
        else:
            spans.append([index, index + 1])
    return [{"start_s": round(float(a * hop / rate), 2), "end_s": round(float(b * hop / rate), 2)} for a, b in spans]


def speech_ratio(segments: list[dict], duration_s: float) -> float:
    """Share of the item's duration covered by speech segments (the ``speech_ratio`` field)."""
    if duration_s <= 0:
        return 0.0
    spoken = sum(seg["end_s"] - seg["start_s"] for seg in segments)
    return round(min(1.0, spoken / duration_s), 4)

