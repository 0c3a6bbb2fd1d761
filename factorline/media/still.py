"""Still images as one analysis frame: EXIF orientation, JPEG draft decoding, deep samples."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from factorline.contract.errors import CorruptMediaError
from factorline.contract.items import FrameBatch, Limits, MediaInfo, Sampling
from factorline.media.probe import exif_orientation, open_image

# EXIF orientation -> Pillow transpose that brings the stored image to display orientation.
_EXIF_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def image_batch(path: Path, info: MediaInfo, sampling: Sampling, limits: Limits) -> FrameBatch:
    """A still image as one frame at t=0, downscaled while decoding where the codec allows."""
    with open_image(path, limits) as image:
        if image is None:
            raise CorruptMediaError(f"{path}: probed as an image but Pillow no longer recognises it")
        orientation = exif_orientation(image)
        side = sampling.max_side
        image.draft("RGB", (side, side))  # JPEG: decode at 1/2, 1/4, 1/8 scale directly
        rgb = to_rgb8(image)
        rgb.thumbnail((side, side), Image.Resampling.BILINEAR, reducing_gap=2.0)
        if orientation in _EXIF_TRANSPOSE:
            rgb = rgb.transpose(_EXIF_TRANSPOSE[orientation])
        array = np.asarray(rgb, dtype=np.uint8)
    scale = max(info.width, info.height) / max(array.shape[0], array.shape[1])
    return FrameBatch(array[None], np.zeros(1), info.width, info.height, float(scale))


# Pillow modes holding more than 8 bits per sample: its convert("RGB") clips them at 255.
_DEEP_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def to_rgb8(image: Image.Image) -> Image.Image:
    """An 8-bit RGB picture of any Pillow image. Samples deeper than 8 bits (16-bit PNG, 32-bit
    integer or float TIFF) are scaled by their range, not clipped: a value is divided by the
    smallest full scale it fits (1.0 for floats in 0..1, 255, 65535 or 2^32 - 1), so the same
    picture at 8, 16 or 32 bits gives the same pixels (to a level) and the same factors."""
    if image.mode not in _DEEP_MODES:
        return image.convert("RGB")
    values = np.asarray(image, dtype=np.float64)
    finite = values[np.isfinite(values)]
    top = float(finite.max()) if finite.size else 0.0
    low = float(finite.min()) if finite.size else 0.0
    full = next(f for f in (1.0, 255.0, 65535.0, 4294967295.0, float("inf")) if top <= f)
    if image.mode != "F" and full == 1.0:
        full = 255.0  # integer samples of 0 and 1 are dark 8-bit levels, not a 0..1 scale
    if math.isinf(full):  # floats beyond every scale: stretch what is there
        full, values = max(top - low, 1e-12), values - low
    gray = np.clip(np.nan_to_num(values) * (255.0 / full), 0, 255).round().astype(np.uint8)
    return Image.fromarray(np.repeat(gray[..., None], 3, axis=2), "RGB")
