"""Pure drawing helpers: text and graphics rendered once per sample into RGBA layers, whose
inked boxes are known, then blended onto frames with ``transforms.overlay_logo``.

A :class:`Layer` is an RGBA patch plus the boxes ``[x, y, w, h]`` (relative to the patch) of
every text it holds; placing it at ``(x, y)`` on a frame shifts those boxes by the same amount,
which is how each sample's ``onscreen_text`` boxes are exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from factorline.samples import transforms as tf

Color = tuple[int, int, int]


@dataclass(frozen=True)
class Style:
    """How a line of text is drawn: fill, outline (stroke px), drop shadow, background box."""

    fill: Color = (255, 255, 255)
    stroke: int = 0
    outline: Color = (0, 0, 0)
    shadow: int = 0  # drop shadow offset in px (0: none)
    box: Color | None = None  # background box colour
    box_alpha: int = 180
    pad: int = 0  # box padding in px

    def to_dict(self) -> dict:
        return {"fill": list(self.fill), "stroke": self.stroke, "outline": list(self.outline), "shadow": self.shadow,
                "box": list(self.box) if self.box else None, "box_alpha": self.box_alpha, "pad": self.pad}


@dataclass
class Layer:
    rgba: np.ndarray  # (h, w, 4) uint8
    boxes: list[list[int]] = field(default_factory=list)  # text ink boxes, patch coordinates

    @property
    def size(self) -> tuple[int, int]:
        return self.rgba.shape[1], self.rgba.shape[0]

    def placed(self, x: int, y: int) -> list[list[int]]:
        return [[bx + x, by + y, bw, bh] for bx, by, bw, bh in self.boxes]


def draw_line(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, font: ImageFont.FreeTypeFont,
              style: Style) -> list[int]:
    """Draw ``text`` with its ink box's top-left at ``xy``; return that box [x, y, w, h]."""
    left, top, right, bottom = font.getbbox(text, stroke_width=style.stroke)
    x, y = xy
    origin = (x - left, y - top)
    if style.box is not None:
        draw.rectangle((x - style.pad, y - style.pad, x + right - left + style.pad - 1, y + bottom - top + style.pad - 1),
                       fill=style.box + (style.box_alpha,))
    if style.shadow:
        draw.text((origin[0] + style.shadow, origin[1] + style.shadow), text, font=font, fill=(0, 0, 0, 160),
                  stroke_width=style.stroke, stroke_fill=(0, 0, 0, 160))
    draw.text(origin, text, font=font, fill=style.fill + (255,), stroke_width=style.stroke,
              stroke_fill=style.outline + (255,))
    return [int(x), int(y), int(right - left), int(bottom - top)]


def text_size(text: str, font: ImageFont.FreeTypeFont, style: Style) -> tuple[int, int]:
    left, top, right, bottom = font.getbbox(text, stroke_width=style.stroke)
    return int(right - left), int(bottom - top)


def text_block(lines: Sequence[tuple[str, ImageFont.FreeTypeFont]], style: Style, *, gap: int, align: str = "center") -> Layer:
    """Lines stacked top to bottom ``gap`` px apart (each with its own font), centred or left-aligned."""
    sizes = [text_size(text, font, style) for text, font in lines]
    margin = style.pad + style.shadow + 1
    width = max(w for w, _ in sizes) + 2 * margin
    height = sum(h for _, h in sizes) + gap * (len(lines) - 1) + 2 * margin
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    boxes, y = [], margin
    for (text, font), (w, h) in zip(lines, sizes):
        x = (width - w) // 2 if align == "center" else margin
        boxes.append(draw_line(draw, (x, y), text, font, style))
        y += h + gap
    return Layer(np.asarray(image), boxes)


def alpha_box(rgba: np.ndarray) -> list[int] | None:
    """[x, y, w, h] of the pixels with alpha > 0, or None when the patch is empty."""
    ys, xs = np.nonzero(rgba[..., 3])
    if len(xs) == 0:
        return None
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]


def rotated(layer: Layer, degrees: float) -> Layer:
    """The layer rotated about its centre (canvas grown to fit); text boxes become the rotated boxes' extents."""
    image = Image.fromarray(layer.rgba)
    out = image.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True)
    w0, h0 = image.size
    w1, h1 = out.size
    theta = np.deg2rad(degrees)
    rot = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
    boxes = [_extent(_corners(box) - [w0 / 2, h0 / 2], rot, (w1 / 2, h1 / 2), (w1, h1)) for box in layer.boxes]
    return Layer(np.asarray(out), boxes)


def _corners(box: Sequence[int]) -> np.ndarray:
    x, y, w, h = box
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float64)


def _extent(points: np.ndarray, matrix: np.ndarray, shift: tuple[float, float], size: tuple[int, int]) -> list[int]:
    moved = points @ matrix.T + np.asarray(shift)
    x0, y0 = np.clip(np.floor(moved.min(axis=0)), 0, None)
    x1, y1 = np.minimum(np.ceil(moved.max(axis=0)), size)
    return [int(x0), int(y0), int(x1 - x0), int(y1 - y0)]


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """3x3 matrix mapping the 4 ``src`` points onto the 4 ``dst`` points."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    h = np.linalg.solve(np.asarray(rows, np.float64), np.asarray(rhs, np.float64))
    return np.append(h, 1.0).reshape(3, 3)


def warped(layer: Layer, dst: np.ndarray, size: tuple[int, int]) -> Layer:
    """The layer's corners moved to the quad ``dst`` (4x2, clockwise from top-left) on a canvas of
    ``size``: a sign, screen or sheet of paper seen at an angle. Boxes: extents of the moved boxes."""
    w, h = layer.size
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    forward = homography(src, dst)
    inverse = np.linalg.inv(forward)  # PIL maps output pixels back to input pixels
    coeffs = (inverse / inverse[2, 2]).ravel()[:8]
    out = Image.fromarray(layer.rgba).transform(size, Image.Transform.PERSPECTIVE, tuple(coeffs),
                                                resample=Image.Resampling.BICUBIC)
    boxes = []
    for box in layer.boxes:
        pts = np.c_[_corners(box), np.ones(4)] @ forward.T
        boxes.append(_extent(pts[:, :2] / pts[:, 2:], np.eye(2), (0.0, 0.0), size))
    return Layer(np.asarray(out), boxes)


def trimmed(layer: Layer) -> tuple[Layer, int, int]:
    """The layer cropped to its non-transparent pixels, with the (x, y) it was cut at."""
    box = alpha_box(layer.rgba)
    if box is None:
        raise ValueError("nothing drawn in the layer")
    x, y, w, h = box
    boxes = [[bx - x, by - y, bw, bh] for bx, by, bw, bh in layer.boxes]
    return Layer(np.ascontiguousarray(layer.rgba[y : y + h, x : x + w]), boxes), x, y


def softened(layer: Layer, radius: float) -> Layer:
    """The layer blurred by ``radius`` px (out-of-focus scene text)."""
    if radius <= 0:
        return layer
    image = Image.fromarray(layer.rgba).filter(ImageFilter.GaussianBlur(radius))
    return Layer(np.asarray(image), layer.boxes)


def place(frame: np.ndarray, layer: Layer, x: int, y: int, opacity: float = 1.0) -> np.ndarray:
    """Blend the layer at (x, y) (it must lie inside the frame)."""
    w, h = layer.size
    return tf.overlay_logo(frame, layer.rgba, [x, y, w, h], opacity)
