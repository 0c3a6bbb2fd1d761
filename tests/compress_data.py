"""Tiny data sets for the compression tests: real files, made in a temporary folder.

``bars_set``: small pictures of smooth coloured noise, half of them letterboxed with black
bars, so ``op:black_border.fill`` (a real operator, fast on small frames) says ``black`` for
one half and ``none`` for the other, and a tiny student can learn it in a few epochs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from factorline.compress import Options

FAST = dict(size=32, epochs=12, bench_runs=1, tolerance=100.0, calibration=16, seed=0)


def picture(rng: np.random.Generator, width: int = 96, height: int = 64) -> np.ndarray:
    noise = rng.random((height // 4, width // 4, 3))
    smooth = ndimage.zoom(noise, (4, 4, 1), order=1)
    return (40 + 200 * smooth).clip(0, 255).astype(np.uint8)


def bars_set(root: Path, count: int = 40, seed: int = 0, label: bool = False) -> Path:
    """``count`` PNGs, every second one letterboxed (12 px black bars); ``label``: in
    ``black/`` and ``none/`` subfolders (hard labels named like the teacher's classes)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image = picture(rng)
        barred = i % 2 == 1
        if barred:
            image[:12] = 0
            image[-12:] = 0
        folder = root / ("black" if barred else "none") if label else root
        folder.mkdir(exist_ok=True)
        Image.fromarray(image).save(folder / f"p{i:03d}.png")
    return root


def fast(**over) -> Options:
    return Options(**{**FAST, **over})
