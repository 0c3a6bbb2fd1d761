"""Tiny colour thumbnails of every decoded frame, read straight from the decoder's planes.

Sampling at 1 fps still decodes every frame in between (they are what the codec predicts
from); converting them to RGB is what costs (swscale: ~3 ms for a 720p frame even to a
64 px thumbnail). Picking a strided grid out of the Y, U and V planes and converting those
few pixels in numpy costs microseconds, so temporal operators get (nearly) the full frame
rate at thumbnail size for free: :class:`~factorline.core.items.Preview`.
"""

from __future__ import annotations

import numpy as np

from factorline.core.items import Preview

PREVIEW_WIDTH = 64  # about this many pixels across, like the temporal operators' thumbnails
MAX_PREVIEW_FRAMES = 4096  # ~28 MB at 64 x 36; longer videos keep evenly spaced frames

# 8-bit planar YUV, read directly; anything else (RGB, 10-bit, NV12) goes through swscale.
_PLANAR = {"yuv420p": False, "yuv422p": False, "yuv444p": False, "yuvj420p": True, "yuvj422p": True, "yuvj444p": True}

# BT.601 YUV -> RGB: (gain of Y, offset of Y, [V->R, U->G, V->G, U->B]) for limited and full range
# (the limited-range chroma coefficients already include its 224-level span).
_LIMITED = (255.0 / 219.0, 16.0, (1.596, -0.392, -0.813, 2.017))
_FULL = (1.0, 0.0, (1.402, -0.344, -0.714, 1.772))


class PreviewCollector:
    """Keeps a thumbnail of each decoded frame at least ``min_step_s`` after the last one kept."""

    def __init__(self, duration_s: float | None, rotation: int = 0):
        self.min_step_s = (duration_s / MAX_PREVIEW_FRAMES) if duration_s and duration_s > 0 else 0.0
        self.rotation = rotation
        self.times: list[float] = []
        self.thumbs: list[np.ndarray] = []

    def add(self, frame, t: float) -> None:
        if len(self.times) >= MAX_PREVIEW_FRAMES:
            return
        if self.times and t < self.times[-1] + self.min_step_s - 1e-9:
            return  # also drops the repeats a seek back can replay
        thumb = frame_thumbnail(frame)
        if self.rotation:
            thumb = np.ascontiguousarray(np.rot90(thumb, k=-(self.rotation // 90)))
        if self.thumbs and thumb.shape != self.thumbs[-1].shape:
            return  # a mid-stream size change: keep the first size, previews stay stackable
        self.times.append(t)
        self.thumbs.append(thumb)

    def result(self) -> Preview | None:
        if not self.thumbs:
            return None
        return Preview(np.asarray(self.times, np.float64), np.stack(self.thumbs))


def frame_thumbnail(frame, width: int = PREVIEW_WIDTH) -> np.ndarray:
    """(h, w, 3) uint8 RGB of about ``width`` px across, from a PyAV VideoFrame in coded orientation."""
    step = max(1, frame.width // width)
    full_range = _PLANAR.get(frame.format.name)
    if full_range is None:
        h = max(1, frame.height // step)
        return frame.to_ndarray(width=max(1, frame.width // step), height=h, format="rgb24")
    rows = np.arange(step // 2, frame.height, step)
    cols = np.arange(step // 2, frame.width, step)
    y = _plane(frame.planes[0])[np.ix_(rows, cols)]
    cu = _plane(frame.planes[1])
    sy, sx = -(-frame.height // cu.shape[0]), -(-frame.width // cu.shape[1])  # chroma subsampling
    chroma = np.ix_(np.minimum(rows // sy, cu.shape[0] - 1), np.minimum(cols // sx, cu.shape[1] - 1))
    u, v = cu[chroma], _plane(frame.planes[2])[chroma]
    return yuv_to_rgb(y, u, v, full_range=full_range)


def yuv_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, *, full_range: bool) -> np.ndarray:
    """BT.601 conversion of equally shaped uint8 Y, U, V arrays to (..., 3) uint8 RGB."""
    gain, offset, (vr, ug, vg, ub) = _FULL if full_range else _LIMITED
    yy = (y.astype(np.float32) - offset) * gain
    uu, vv = u.astype(np.float32) - 128.0, v.astype(np.float32) - 128.0
    rgb = np.stack([yy + vr * vv, yy + ug * uu + vg * vv, yy + ub * uu], axis=-1)
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def _plane(plane) -> np.ndarray:
    """A decoder plane as a (height, width) uint8 view (rows are ``line_size`` apart)."""
    buffer = np.frombuffer(plane, np.uint8)
    return buffer.reshape(-1, plane.line_size)[: plane.height, : plane.width]
