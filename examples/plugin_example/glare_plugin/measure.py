"""The math of the glare operator: pure functions on numpy arrays, tested on their own."""

from __future__ import annotations

import numpy as np


def glare_ratios(images: np.ndarray, level: int) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N,) share of pixels whose darkest channel is at least ``level``
    (all three channels blown out, so a saturated red is not glare)."""
    if len(images) == 0:
        return np.zeros(0, np.float64)
    return (images.min(axis=-1) >= level).reshape(len(images), -1).mean(axis=1)
