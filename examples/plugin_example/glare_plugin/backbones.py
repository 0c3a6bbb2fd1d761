"""The ``mean-colour`` backbone: each frame as its mean R, G, B in 0..1 (3-d, numpy only).

A real plugin would load an ONNX or torch model here; the loader runs once, on first use."""

from __future__ import annotations

import numpy as np

from factorline.sdk import Backbone


def mean_colour() -> Backbone:
    """Mean R, G, B of each frame in 0..1 (3-d; an example backbone)."""

    def run(batch: list[np.ndarray]) -> np.ndarray:
        return np.asarray([np.asarray(x, np.float32).reshape(-1, 3).mean(axis=0) / 255.0 for x in batch], np.float32)

    return Backbone(id="mean-colour", modality="image", dim=3, revision="glare-plugin-0.1.0", runtime="numpy", run=run)
