"""Pure frame transforms that plant a known effect: the labeled sample set is built from these.

Every function takes and returns RGB uint8 arrays (H, W, 3) and never mutates its input, so a
benchmark can call them with other parameters (several blur sigmas, bar sizes, logo boxes) and
derive exact ground truth from the same arguments. Sizes are ``(width, height)`` like Pillow;
boxes are ``[x, y, w, h]`` in pixels like the factor fields in DESIGN.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from factorline.contract.errors import ResourceError

Size = tuple[int, int]  # (width, height)
Color = tuple[int, int, int]


def _check_frame(frame: np.ndarray) -> None:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"frame must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")


def resize(frame: np.ndarray, size: Size) -> np.ndarray:
    """Resample to exactly ``size`` (aspect not kept); bicubic, like most upload pipelines."""
    _check_frame(frame)
    width, height = size
    if (frame.shape[1], frame.shape[0]) == (width, height):
        return frame.copy()
    return np.asarray(Image.fromarray(frame).resize((width, height), Image.Resampling.BICUBIC))


def cover(frame: np.ndarray, size: Size) -> np.ndarray:
    """Centre-crop to the aspect of ``size`` and resize, so the result has no bars of its own."""
    _check_frame(frame)
    width, height = size
    src_h, src_w = frame.shape[:2]
    if src_w * height > width * src_h:  # source is wider: crop the sides
        crop_w = max(1, round(src_h * width / height))
        x0 = (src_w - crop_w) // 2
        frame = frame[:, x0 : x0 + crop_w]
    else:  # source is taller: crop top and bottom
        crop_h = max(1, round(src_w * height / width))
        y0 = (src_h - crop_h) // 2
        frame = frame[y0 : y0 + crop_h]
    return resize(np.ascontiguousarray(frame), size)


def _boxed(frame: np.ndarray, size: Size, top: int, left: int, color: Color) -> np.ndarray:
    width, height = size
    content = (width - 2 * left, height - 2 * top)
    if content[0] <= 0 or content[1] <= 0 or top < 0 or left < 0:
        raise ValueError(f"bars of top={top}, left={left} px leave no content in a {width}x{height} frame")
    canvas = np.empty((height, width, 3), dtype=np.uint8)
    canvas[:] = np.asarray(color, dtype=np.uint8)
    canvas[top : height - top, left : width - left] = cover(frame, content)
    return canvas


def letterbox(frame: np.ndarray, size: Size, bar: int, *, color: Color = (0, 0, 0)) -> np.ndarray:
    """Fill ``size`` with the frame between two horizontal bars of ``bar`` px (top and bottom)."""
    return _boxed(frame, size, top=bar, left=0, color=color)


def pillarbox(frame: np.ndarray, size: Size, bar: int, *, color: Color = (0, 0, 0)) -> np.ndarray:
    """Fill ``size`` with the frame between two vertical bars of ``bar`` px (left and right)."""
    return _boxed(frame, size, top=0, left=bar, color=color)


def windowbox(frame: np.ndarray, size: Size, top: int, left: int, *, color: Color = (0, 0, 0)) -> np.ndarray:
    """Fill ``size`` with the frame inside bars on all four sides (``top`` px above and below,
    ``left`` px left and right): a letterboxed picture pillarboxed again."""
    return _boxed(frame, size, top=top, left=left, color=color)


def border_area_ratio(size: Size, top: int = 0, bottom: int = 0, left: int = 0, right: int = 0) -> float:
    """Share of the frame covered by bars, the ``black_border.area_ratio`` field."""
    width, height = size
    content = (width - left - right) * (height - top - bottom)
    return round(1.0 - content / float(width * height), 4)


def gaussian_blur(frame: np.ndarray, sigma: float) -> np.ndarray:
    """Blur each channel with a Gaussian of ``sigma`` px; sigma 0 returns an unchanged copy."""
    _check_frame(frame)
    if sigma < 0:
        raise ValueError(f"blur sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return frame.copy()
    # sigma 0 on the channel axis: colours must not bleed into each other.
    blurred = ndimage.gaussian_filter(frame.astype(np.float32), sigma=(sigma, sigma, 0), mode="nearest")
    return np.clip(np.rint(blurred), 0, 255).astype(np.uint8)


def side_bars(width: int, content_width: int) -> tuple[int, int]:
    """(left, right) bar widths when ``content_width`` px are centred in ``width`` px."""
    if not 0 < content_width <= width:
        raise ValueError(f"content width {content_width} does not fit in {width} px")
    left = (width - content_width) // 2
    return left, width - content_width - left


def blurred_pillarbox(
    frame: np.ndarray, size: Size, content_width: int, *, sigma: float = 16.0, dim: float = 0.8
) -> np.ndarray:
    """The re-posted vertical video look: a centred crop over a blurred, enlarged copy of itself.

    The background is blurred at 1/8 scale and enlarged again, which matches a full-size blur
    of ``sigma`` px for a fraction of the cost; ``dim`` darkens it slightly as apps do, but it
    stays far from black so a detector must tell "blurred" fill from "black" fill.
    """
    left, _ = side_bars(size[0], content_width)
    return blurred_bars(frame, size, top=0, left=left, sigma=sigma, dim=dim)


def blurred_bars(
    frame: np.ndarray, size: Size, *, top: int = 0, left: int = 0, sigma: float = 16.0, dim: float = 0.8
) -> np.ndarray:
    """The frame centred inside ``top``/``left`` px bars filled with a blurred, dimmed, enlarged
    copy of itself (letterbox, pillarbox or windowbox; see :func:`blurred_pillarbox`)."""
    width, height = size
    content = (width - 2 * left, height - 2 * top)
    if content[0] <= 0 or content[1] <= 0 or top < 0 or left < 0:
        raise ValueError(f"bars of top={top}, left={left} px leave no content in a {width}x{height} frame")
    canvas = blurred(frame, size, sigma=sigma, dim=dim)
    canvas[top : height - top, left : width - left] = cover(frame, content)
    return canvas


def blurred(frame: np.ndarray, size: Size, *, sigma: float = 16.0, dim: float = 0.8) -> np.ndarray:
    """The frame covered to ``size``, blurred by ``sigma`` px and dimmed by ``dim``; the blur runs
    at 1/8 scale and is enlarged again (a full-size blur of ``sigma`` px for a fraction of the cost)."""
    width, height = size
    small = cover(frame, (max(1, width // 8), max(1, height // 8)))
    background = resize(gaussian_blur(small, sigma / 8.0), size).astype(np.float32) * dim
    return np.clip(background, 0, 255).astype(np.uint8)


def levels(frame: np.ndarray, gain: float | Sequence[float], offset: float | Sequence[float] = 0.0) -> np.ndarray:
    """``clip(frame * gain + offset)`` per channel through a lookup table (fades, flashes, darkening,
    colour matching): a scalar or one value per RGB channel each."""
    _check_frame(frame)
    gains = np.broadcast_to(np.asarray(gain, np.float32), (3,))
    offsets = np.broadcast_to(np.asarray(offset, np.float32), (3,))
    ramp = np.arange(256, dtype=np.float32)
    luts = np.clip(np.rint(ramp[None, :] * gains[:, None] + offsets[:, None]), 0, 255).astype(np.uint8)
    if np.all(luts == luts[0]):
        return np.take(luts[0], frame)
    out = np.empty_like(frame)
    for c in range(3):
        out[..., c] = luts[c][frame[..., c]]
    return out


def load_font(path: str | Path, size: int, *, index: int = 0) -> ImageFont.FreeTypeFont:
    """A TrueType/OpenType font (``index`` picks a face in a .ttc collection)."""
    path = Path(path)
    if not path.is_file():
        raise ResourceError(f"font file not found: {path} (install fonts-dejavu-core / fonts-noto-cjk)")
    try:
        return ImageFont.truetype(str(path), size, index=index)
    except OSError as exc:
        raise ResourceError(f"cannot load font {path} (face {index}): {exc}", cause=exc) from exc


def subtitle_box(
    size: Size, text: str, font: ImageFont.FreeTypeFont, *, margin: float = 0.08, stroke: int = 2
) -> list[int]:
    """Where :func:`draw_subtitle` puts ``text``: [x, y, w, h] of its inked box, outline included."""
    width, height = size
    left, top, right, bottom = font.getbbox(text, stroke_width=stroke)
    text_w, text_h = right - left, bottom - top
    if text_w > width - 8:
        raise ValueError(f"subtitle {text!r} is {text_w} px wide; the frame is only {width} px")
    x = (width - text_w) // 2
    y = height - round(margin * height) - text_h
    return [int(x), int(y), int(text_w), int(text_h)]


def draw_subtitle(
    frame: np.ndarray,
    text: str,
    font: ImageFont.FreeTypeFont,
    *,
    margin: float = 0.08,
    stroke: int = 2,
    fill: Color = (255, 255, 255),
    outline: Color = (0, 0, 0),
) -> np.ndarray:
    """Burn one centred subtitle line into the bottom band (white text, black outline)."""
    _check_frame(frame)
    x, y, _, _ = subtitle_box((frame.shape[1], frame.shape[0]), text, font, margin=margin, stroke=stroke)
    left, top, _, _ = font.getbbox(text, stroke_width=stroke)
    image = Image.fromarray(frame)
    # getbbox offsets are relative to the draw origin, so subtract them to land on the box.
    ImageDraw.Draw(image).text(
        (x - left, y - top), text, font=font, fill=fill, stroke_width=stroke, stroke_fill=outline
    )
    return np.asarray(image)


def make_logo(
    size: Size,
    text: str,
    font: ImageFont.FreeTypeFont,
    *,
    color: Color = (230, 120, 20),
    text_color: Color = (255, 255, 255),
) -> np.ndarray:
    """An RGBA badge (rounded rectangle + letters) filling ``size``, so its box is its extent."""
    width, height = size
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, width - 1, height - 1), radius=min(width, height) // 5, fill=color + (255,))
    draw.text((width / 2, height / 2), text, font=font, fill=text_color + (255,), anchor="mm")
    return np.asarray(image)


def overlay_logo(frame: np.ndarray, logo: np.ndarray, box: Sequence[int], opacity: float = 0.7) -> np.ndarray:
    """Alpha-blend an RGBA ``logo`` of exactly the box's size at ``box`` = [x, y, w, h]."""
    _check_frame(frame)
    x, y, w, h = (int(v) for v in box)
    if logo.ndim != 3 or logo.shape[2] != 4 or logo.shape[:2] != (h, w):
        raise ValueError(f"logo must be ({h}, {w}, 4) RGBA for box {list(box)}, got {logo.shape}")
    if x < 0 or y < 0 or x + w > frame.shape[1] or y + h > frame.shape[0]:
        raise ValueError(f"logo box {list(box)} is outside the {frame.shape[1]}x{frame.shape[0]} frame")
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"logo opacity must be in [0, 1], got {opacity}")
    out = frame.copy()
    alpha = logo[..., 3:4].astype(np.float32) / 255.0 * opacity
    region = out[y : y + h, x : x + w].astype(np.float32)
    blended = region * (1.0 - alpha) + logo[..., :3].astype(np.float32) * alpha
    out[y : y + h, x : x + w] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return out
