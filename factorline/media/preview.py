"""Tiny colour thumbnails of every decoded frame, read straight from the decoder's planes.

Sampling at 1 fps still decodes every frame in between (they are what the codec predicts
from); converting them to RGB is what costs (swscale: ~3 ms for a 720p frame even to a
64 px thumbnail). Picking a strided grid out of the Y, U and V planes and converting those
few pixels in numpy costs microseconds, so temporal operators get (nearly) the full frame
rate at thumbnail size for free: :class:`~factorline.contract.items.Preview`.
"""

from __future__ import annotations

import numpy as np

from factorline.contract.items import Preview

PREVIEW_WIDTH = 64  # about this many pixels across, like the temporal operators' thumbnails
MAX_PREVIEW_FRAMES = 4096  # ~28 MB at 64 x 36; longer videos keep evenly spaced frames

# 8-bit planar YUV, read directly; anything else (RGB, 10-bit, NV12) goes through swscale.
_PLANAR = {"yuv420p": False, "yuv422p": False, "yuv444p": False, "yuvj420p": True, "yuvj422p": True, "yuvj444p": True}

# BT.601 YUV -> RGB: (gain of Y, offset of Y, [V->R, U->G, V->G, U->B]) for limited and full range
# (the limited-range chroma coefficients already include its 224-level span).
_LIMITED = (255.0 / 219.0, 16.0, (1.596, -0.392, -0.813, 2.017))
_FULL = (1.0, 0.0, (1.402, -0.344, -0.714, 1.772))


class PreviewCollector:
    """Keeps a thumbnail of each decoded frame at least ``min_step_s`` after the last one kept.

    Thumbnails are kept as picked (YUV, or RGB for other pixel formats) and converted to RGB
    in one vectorized pass at the end: per frame, only a strided slice is copied.
    """

    def __init__(self, duration_s: float | None, rotation: int = 0):
        self.min_step_s = (duration_s / MAX_PREVIEW_FRAMES) if duration_s and duration_s > 0 else 0.0
        self.rotation = rotation
        self.times: list[float] = []
        self.picks: list[np.ndarray] = []
        self.modes: list[str] = []  # "rgb", "yuv" (limited range) or "yuvj" (full range)

    def add(self, frame, t: float) -> None:
        if len(self.times) >= MAX_PREVIEW_FRAMES:
            return
        if self.times and t < self.times[-1] + self.min_step_s - 1e-9:
            return  # also drops the repeats a seek back can replay
        pick, mode = frame_pick(frame)
        if self.picks and pick.shape != self.picks[-1].shape:
            return  # a mid-stream size change: keep the first size, previews stay stackable
        self.times.append(t)
        self.picks.append(pick)
        self.modes.append(mode)

    def result(self) -> Preview | None:
        if not self.picks:
            return None
        thumbs = np.stack(self.picks)
        modes = np.asarray(self.modes)
        for mode in ("yuv", "yuvj"):
            sel = modes == mode
            if sel.any():
                yuv = thumbs[sel]
                thumbs[sel] = yuv_to_rgb(yuv[..., 0], yuv[..., 1], yuv[..., 2], full_range=mode == "yuvj")
        if self.rotation:
            thumbs = np.ascontiguousarray(np.rot90(thumbs, k=-(self.rotation // 90), axes=(1, 2)))
        return Preview(np.asarray(self.times, np.float64), thumbs)


def frame_pick(frame, width: int = PREVIEW_WIDTH) -> tuple[np.ndarray, str]:
    """A strided grid of about ``width`` px across: (h, w, 3) uint8 Y, U, V and "yuv"/"yuvj"
    for 8-bit planar YUV, else RGB through swscale and "rgb"."""
    step = max(1, frame.width // width)
    full_range = _PLANAR.get(frame.format.name)
    if full_range is None:
        h = max(1, frame.height // step)
        return frame.to_ndarray(width=max(1, frame.width // step), height=h, format="rgb24"), "rgb"
    y = _plane(frame.planes[0])[step // 2 :: step, step // 2 :: step]
    cu, cv = _plane(frame.planes[1]), _plane(frame.planes[2])
    sy, sx = -(-frame.height // cu.shape[0]), -(-frame.width // cu.shape[1])  # chroma subsampling
    if step % sy == 0 and step % sx == 0:  # the usual case: chroma on a grid of its own
        rows, cols = slice((step // 2) // sy, None, step // sy), slice((step // 2) // sx, None, step // sx)
    else:
        rows = np.minimum(np.arange(step // 2, frame.height, step) // sy, cu.shape[0] - 1)[:, None]
        cols = np.minimum(np.arange(step // 2, frame.width, step) // sx, cu.shape[1] - 1)[None, :]
    h, w = y.shape
    u, v = cu[rows, cols][:h, :w], cv[rows, cols][:h, :w]
    return np.stack([y, u, v], axis=-1), "yuvj" if full_range else "yuv"


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
