"""Frames at chosen timestamps (evidence times), small, for reports and galleries.

``decode_frames`` samples on a regular grid; a report needs the frames at the times the
factors point to. This reuses decode's sampler (seek across long gaps, first frame at or after
each target, display orientation), so a thumbnail at ``t`` is the frame the operators saw at
``t``. One open and one pass per item, whatever the number of timestamps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from factorline.contract.errors import CorruptMediaError
from factorline.contract.items import Limits, MediaInfo, Sampling
from factorline.media.decode import _analysis_size, _rotate, _Sampler, decode_frames
from factorline.media.probe import open_container, probe, video_stream

DEFAULT_MAX_SIDE = 224
DEFAULT_TIMEOUT_S = 60.0
_TIME_TOLERANCE = 1e-3  # stored evidence times are rounded to ms


@dataclass
class Grabbed:
    """Frames of one item: ``frames[t]`` is the RGB picture shown at requested time ``t``
    (max side <= the requested size); ``shown_at[t]`` the frame's own timestamp."""

    info: MediaInfo
    frames: dict[float, np.ndarray] = field(default_factory=dict)
    shown_at: dict[float, float] = field(default_factory=dict)


def grab_frames(
    path: str | Path,
    times: list[float],
    *,
    max_side: int = DEFAULT_MAX_SIDE,
    limits: Limits | None = None,
    digest: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Grabbed:
    """Decode the frames shown at ``times`` (seconds on the item's clock), downscaled.

    ``digest``: the item id when known, so the file is not hashed again. A time past the end
    gets the last frame when it is close, else no frame. Raises MediaError like ``probe``.
    """
    path, limits = Path(path), limits or Limits()
    deadline = time.monotonic() + timeout_s
    info = probe(path, limits, digest=digest or "sha256:unknown")
    wanted = sorted({round(float(t), 3) for t in times if np.isfinite(t) and t >= 0})
    if not wanted:
        return Grabbed(info)
    if info.kind == "image":  # a still has one frame, shown at every time
        image = decode_frames(path, info, Sampling(max_side=max_side), limits, deadline).images[0]
        return Grabbed(info, {t: image for t in wanted}, {t: 0.0 for t in wanted})
    with open_container(path, limits) as container:
        stream = video_stream(container, path)
        stream.thread_type = "AUTO"  # as decode_frames: frame threads decode sequential runs faster
        sampler = _Sampler(container, stream, path, deadline)
        shown, images = sampler.run(wanted, _analysis_size(stream, max_side))
    if not images:
        raise CorruptMediaError(f"{path}: no frame could be decoded{sampler.first_error_text()}")
    return _assign(info, wanted, shown, [_rotate(i, info.rotation) for i in images])


def _assign(info: MediaInfo, wanted: list[float], shown: list[float], images: list[np.ndarray]) -> Grabbed:
    """Map each requested time to the first returned frame at or after it.

    The sampler returns one frame per run of targets it covers, so several wanted times can
    share a frame; a time past the last frame takes the last frame only when the sampler
    handed it out as that time's stand-in (it does so when the gap is small).
    """
    out = Grabbed(info)
    j = 0
    for t in wanted:
        while j < len(shown) and shown[j] + _TIME_TOLERANCE < t:
            j += 1
        if j < len(shown):
            out.frames[t], out.shown_at[t] = images[j], shown[j]
        elif shown and t - shown[-1] < 0.5:
            out.frames[t], out.shown_at[t] = images[-1], shown[-1]
    return out
