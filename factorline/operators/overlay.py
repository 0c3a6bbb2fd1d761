"""Overlay operators: graphics laid over the picture (station logos, watermarks).

``logo@4`` has two paths (:func:`persistence_path` picks one per item, the ``method`` field says
which): where the picture moves (at least ``min_frames`` distinct frames, or persistence found a
logo) the persistence of edges below decides, as in ``logo@2``, and the appearance model only
sets the calibrated ``confidence`` (with ``sure_appearance`` on, it decides where persistence
finds none and it is sure of one corner in most frames: :func:`~.logo_model.sure_on_motion`); on stills, static shots and slideshows of a few slides,
where persistence has nothing to work with, the corners' appearance answers
(:mod:`.logo_model`: a tiny CNN over the four corner crops, logits averaged over up to 8 evenly
spread frames, Platt-calibrated; ``has_logo`` when the confidence reaches the model's threshold,
the box from the cells it marks). ``confidence`` is P(an overlay in a corner) either way.

How the persistence path decides, in short (the pure functions below carry the details):

1. **Distinct frames, or the picture's own change.** A frame is kept when at least
   :data:`MIN_CHANGED_SHARE` of its 64-px thumbnail changed by more than :data:`CHANGE_LEVEL`
   luma levels against the last kept one. With fewer than ``min_frames`` kept frames (a static
   shot), every sampled frame is used instead, and a shape then only counts where the picture
   around it changes (step 4, ``moving``): persistence is judged against the picture's own
   temporal variation. Copies of one picture (a still, a slide) never make a logo.
2. **Persistent edges.** On the kept frames (block means bring them under 1280 px wide), the
   colour edge strength and orientation come from the structure tensor of the R, G and B
   central differences (Di Zenzo): it sees a coloured badge's outline even where the picture
   behind it has the same luma. A pixel is an *edge* where the strength reaches
   :data:`EDGE_LEVEL`, and *static* when it is an edge in at least ``min_persistence`` of
   the kept frames with the same orientation (coherence of the doubled angle >=
   :data:`MIN_COHERENCE`). Each pixel's temporal change (standard deviation of its grey
   level over the kept frames) is measured too.
3. **Bars and picture edges are left out.** Black or blurred bars
   (:func:`~factorline.operators.layout.detect_bars`) and a margin of :data:`BAR_MARGIN` px
   inside their edge are removed first (a bar's edge is the most persistent edge there is), and
   :data:`EDGE_MARGIN` px along the picture's own edges (encoders leave static lines there).
4. **A compact graphic in a corner.** Static pixels (specks removed) are grouped by a
   :data:`GROUP_PX` px dilation. For each group the trace records every reason it is not a
   logo (``detect_logo(trace=[])``). A group is a candidate when:
   its centre lies in one corner region (``corner_share`` of the picture's width and height)
   and its box stays in that quarter; its longer side is at least :data:`MIN_SIDE_SHARE` and
   its shorter side :data:`MIN_THICK_SHARE` of the picture height (a small text logo is a
   thin strip: 9 px at 288 px), with :data:`MIN_PIXELS` static pixels; it is inset from the
   picture's edges by :data:`MIN_INSET_SHARE` (and more than :data:`EDGE_MARGIN` px), unless
   the picture around it moves (at least :data:`MIN_MOVING` of the ring of :data:`RING_PX` px
   around its filled outline changes by :data:`CHANGE_LEVEL` levels: static scenery cannot
   then explain it) and the frames are distinct; it does not sit in busy texture (texture
   surrounds and fills a shape, a logo is clean inside or around: the smaller of the mean edge
   persistence of the non-static pixels among its strokes and of its ring is at most
   :data:`MAX_BUSY`); and it looks like a graphic: its outline encloses most of its box
   (solidity >= :data:`MIN_SOLIDITY`) and it is either made of mostly horizontal/vertical
   strokes (:data:`MIN_AXIS_SHARE`: text, boxes) or closed (solidity >=
   :data:`CLOSED_SOLIDITY`: an emblem). In a static shot the ring must move as well.
   When no shape passes, a second strict pass (edges in every distinct frame, coherence
   :data:`STRICT_COHERENCE`) tries to part a logo from texture the first pass merged with it.
5. **The box** is the widest candidate (a badge's outline encloses its letters), merged with
   the static groups inside or overlapping it, shrunk by the 1 px reach of the central
   differences and converted to source px. ``persistence`` is the share of *all* sampled
   frames in which at least :data:`PRESENT_SHARE` of the logo's static pixels are edges.
6. **A logo for part of the item** (:func:`detect_logo_in_parts`). When the whole item gives
   none and it has at least 2 x :data:`PART_MIN_DISTINCT` distinct frames, steps 2-5 run on the
   halves and then the thirds of its distinct frames (:func:`part_windows`), at the strict
   level only; a find counts when it shows on at least :data:`PART_MIN_DISTINCT` frames and on
   under :data:`MAX_OUTSIDE_SHARE` of the frames outside its part (what shows all along was the
   whole item's to judge). Measured in ``benchmarks/logo_parts.py`` (logos composited for 30-60 %
   of real development clips, against the whole-item pass alone).

logo@1 -> logo@2 (causes found on real clips and ``factorline synth --kind logo``): a small
text logo flush with the frame's top edge (SIEMENS, 352x288) failed the inset, the 4 %-of-height
floor on *both* sides and the busy test (its dense letters); logos taller than the 25 % corner
region (large synthetic badges) were never in a corner; a static 1 px column at the frame
edge merged with logos next to it; a static shot never kept enough distinct frames.
Measured in ``benchmarks/logo_eval.py`` (synth seed 7 held out, shared and own real sets).

logo@2 -> logo@3: stills, static shots and slideshows of a few slides got "no logo" whatever
they showed; now the appearance model answers there (``method: appearance``), and every answer
carries a calibrated ``confidence``. Measured in ``benchmarks/logo_eval.py`` next to the
persistence-only baseline (held-out synth seeds 301-303 stills and static videos, seed 7 clips).

logo@3 -> logo@4: the appearance model judges the picture inside the bars (a 20-px letterbox's
edge in a bottom corner looked like a logo to it). New param ``sure_appearance`` (off by
default): on a moving picture where persistence finds no logo, the appearance model decides
when it is sure of one corner in most frames (:func:`~.logo_model.sure_on_motion`: mean
calibrated probability >= 0.95 and 75 % of the scored frames over the model's threshold). On
logos composited over whole real development clips (``benchmarks/logo_motion.py``) it raises
recall on moving pictures from 78/112 to 97/112 without a false positive, but those clips were
among the model's training negatives and the logos come from the logo maker it was trained on:
on the real held-out clips (``benchmarks/real_media.py``) it called two static-camera clips
(a CCTV street, a webcam talk) logos. So it is opt-in; the confidence stays the persistence
path's calibration (Platt scaling of the appearance logit on synth clips persistence found
nothing in).

Limits of the persistence path: a still picture (or a static shot where nothing around the logo
moves) gives it no evidence (the appearance path answers instead). Translucent logos (under
about 40 %) over busy or dark content, and thin outline marks whose ring breaks in some frames,
are missed. A logo over
static, textured background can merge with it and be missed or mis-boxed; a static object of
the scene with a logo's shape (a framed sign in a corner of a static shot) is taken for one;
a logo that moves is not a static overlay, and one shown in fewer than ``min_persistence``
of the frames is found only through a half or a third of them (step 6); centre watermarks are not looked for. Box accuracy is about 1 working px (2 source
px at 1280 px analysis width), less for a logo flush with the frame edge (EDGE_MARGIN).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from pydantic import BaseModel, ConfigDict
from pydantic import Field as P

from ..contract.items import FrameBatch, MediaInfo
from ..contract.operator import Output, operator
from .layout import Bars, detect_bars
from .logo_model import (
    CORNERS,
    CornerScores,
    LogoModel,
    appearance_answer,
    appearance_frames,
    persistence_confidence,
    score_frames,
    sure_on_motion,
)
from .temporal import LUMA, batch_thumbnails, thumbnails

# A frame is distinct from the last kept one when this share of its 64-px thumbnail's pixels
# changed by more than CHANGE_LEVEL luma levels (the picture moved or changed).
CHANGE_LEVEL = 8.0
MIN_CHANGED_SHARE = 0.04
# Edges are measured on frames reduced below this width (block means).
WORK_WIDTH = 640
# Colour gradient (central difference, levels over 2 px) from which a pixel is an edge.
EDGE_LEVEL = 25.0
# Orientation coherence (0..1) a static edge keeps over the frames where it is an edge.
MIN_COHERENCE = 0.9
# ...in the strict second pass, where edges must be present in every distinct frame.
STRICT_COHERENCE = 0.95
# Pixels removed around bar edges (working px).
BAR_MARGIN = 3
# Pixels left out along the picture's own edges (working px): encoders and scalers leave
# static lines and dark columns there (a 1 px line is no bar, and no logo either).
EDGE_MARGIN = 2
# Static components smaller than this (8-connected pixels) are specks, dropped before grouping.
MIN_SPECK = 4
# Static pixels closer than about twice this (working px) are grouped into one shape.
GROUP_PX = 2
# A logo candidate is at least this share of the picture height, in both directions, and
# has at least MIN_PIXELS static pixels.
MIN_SIDE_SHARE = 0.04
MIN_PIXELS = 40
MIN_THICK_SHARE = 0.025
RING_PX = 3
MIN_MOVING = 0.5
# A logo is inset from the picture's edges by at least this share of its width (height).
MIN_INSET_SHARE = 0.01
# Mean persistence of the non-static pixels around a shape's strokes above which the shape
# sits in busy texture (edges everywhere most of the time) and is not judged.
MAX_BUSY = 0.6
# Shape tests (see the module docstring).
MIN_SOLIDITY = 0.65
CLOSED_SOLIDITY = 0.85
MIN_AXIS_SHARE = 0.5
# cos(2 theta) above this: the edge is within about 18 degrees of horizontal or vertical.
AXIS_COS = 0.8
# A frame shows the logo when this share of its static pixels are edges in it.
PRESENT_SHARE = 0.5
# A logo shown for part of the item is looked for in halves and thirds of its distinct frames,
# each holding at least this many (fewer prove too little against slow camera moves).
PART_MIN_DISTINCT = 6
# ...and must be missing from more than half of the frames outside that part.
MAX_OUTSIDE_SHARE = 0.5
MAX_EVIDENCE = 5


class LogoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    corner_share: float = P(
        0.25,
        gt=0.0,
        le=0.5,
        title="Corner size",
        description="Size of each corner region searched for a logo, as a share of the picture's width and height.",
    )
    min_persistence: float = P(
        0.8,
        gt=0.0,
        le=1.0,
        title="Persistence",
        description="Share of the distinct sampled frames in which an edge must be present, at the same place "
        "and orientation, to belong to a logo.",
    )
    min_frames: int = P(
        4,
        ge=2,
        le=10_000,
        title="Minimum frames",
        description="Distinct sampled frames (near-duplicates counted once) needed to judge persistence; with "
        "fewer there is no logo.",
    )
    sure_appearance: bool = P(
        False,
        title="Appearance on moving pictures",
        description="Where the picture moves and persistence finds no logo, let the appearance model decide when "
        "it is sure of one corner in most frames: more translucent logos over busy footage and logos in short "
        "clips are found, but static scenery of real footage the model never saw can be taken for a logo "
        "(2 of 23 real held-out clips, both from static cameras). Off (default): persistence alone decides "
        "moving pictures and the model only sets the confidence.",
    )


# --------------------------------------------------------------------------- pure functions


def distinct_frames(
    thumbs: np.ndarray, *, level: float = CHANGE_LEVEL, min_share: float = MIN_CHANGED_SHARE
) -> np.ndarray:
    """Indices of the frames that changed against the last kept one: at least ``min_share``
    of their thumbnail pixels differ by more than ``level`` luma levels (the first frame is
    always kept). Noise and compression flicker of a static picture stay under the level."""
    n = len(thumbs)
    if n == 0:
        return np.zeros(0, int)
    y = thumbs @ LUMA
    kept = [0]
    for i in range(1, n):  # sequential by nature, over 64-px thumbnails: cheap
        if float(np.mean(np.abs(y[i] - y[kept[-1]]) > level)) >= min_share:
            kept.append(i)
    return np.asarray(kept)


def colour_structure(planes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Colour edge strength and orientation of (3, N, H, W) channel planes (Di Zenzo).

    Central differences of the three channels are summed into the structure tensor
    (J11, J22, J12); returns its largest eigenvalue (the squared edge strength, a grey step
    of s levels gives 3 s^2 / ... over 2 px) and cos/sin of the doubled edge angle, each
    (N, H-2, W-2) float32. Unlike luma, it sees the edge between two colours of equal
    brightness; the doubled angle makes dark-to-light and light-to-dark edges alike.
    """
    j11 = j22 = j12 = None
    for plane in planes:
        gx = plane[:, 1:-1, 2:] - plane[:, 1:-1, :-2]
        gy = plane[:, 2:, 1:-1] - plane[:, :-2, 1:-1]
        if j11 is None:
            j11, j22, j12 = gx * gx, gy * gy, gx * gy
        else:
            j11 += gx * gx
            j22 += gy * gy
            j12 += gx * gy
    d = j11 - j22
    r = np.sqrt(d * d + 4.0 * j12 * j12)
    strength2 = 0.5 * (j11 + j22 + r)
    safe = np.where(r > 0, r, 1.0)
    return strength2, d / safe, 2.0 * j12 / safe


def edge_persistence(
    strength2: np.ndarray, cos2: np.ndarray, sin2: np.ndarray, edge_level: float = EDGE_LEVEL
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel over the N frames of (N, ...) edge maps: the share of frames where it is an
    edge (strength >= ``edge_level``), the coherence (0..1) of its orientation over those
    frames (length of the mean doubled-angle unit vector) and that mean's cos(2 theta)."""
    edge = strength2 >= edge_level * edge_level
    count = edge.sum(axis=0)
    mean_cos = np.where(edge, cos2, 0.0).sum(axis=0) / np.maximum(count, 1)
    mean_sin = np.where(edge, sin2, 0.0).sum(axis=0) / np.maximum(count, 1)
    persistence = count / float(max(len(strength2), 1))
    return persistence, np.hypot(mean_cos, mean_sin), mean_cos


@dataclass(frozen=True)
class Candidate:
    """A logo candidate in working px: box (x, y, w, h) of image pixels and its shape."""

    box: tuple[int, int, int, int]
    pixels: int
    solidity: float
    axis_share: float
    corner: str
    mask: np.ndarray = field(repr=False)  # static pixels of the logo, gradient grid
    group: int = 0


def corner_of(box: tuple[int, int, int, int], content: tuple[int, int, int, int], share: float) -> str:
    """Which corner of ``content`` (y0, y1, x0, x1) holds ``box`` ('' if none): its centre lies
    in that corner region (``share`` of the width and height) and the box stays in that quarter
    of the picture (a large badge may reach past the corner region, not past the middle)."""
    x, y, w, h = box
    y0, y1, x0, x1 = content
    ch, cw = (y1 - y0) * share, (x1 - x0) * share
    my, mx = (y0 + y1) / 2, (x0 + x1) / 2
    cy, cx = y + h / 2, x + w / 2
    vertical = "top" if cy <= y0 + ch and y + h <= my else ("bottom" if cy >= y1 - ch and y >= my else "")
    horizontal = "left" if cx <= x0 + cw and x + w <= mx else ("right" if cx >= x1 - cw and x >= mx else "")
    return f"{vertical}_{horizontal}" if vertical and horizontal else ""


def find_logo(
    static: np.ndarray,
    axis_cos: np.ndarray,
    persistence: np.ndarray,
    content: tuple[int, int, int, int],
    *,
    corner_share: float = 0.25,
    change: np.ndarray | None = None,
    need_moving: bool = False,
    trace: list | None = None,
) -> Candidate | None:
    """The most logo-like group of ``static`` pixels (gradient grid, (h-2, w-2)) within a
    corner of ``content`` (y0, y1, x0, x1 in image px), or None.

    ``axis_cos`` is the mean cos(2 theta) of each pixel's edges (near +-1: horizontal or
    vertical) and ``persistence`` each pixel's edge persistence. Boxes are in image px
    (gradient index + 1). ``trace``, when a list, receives every shape judged in a corner
    (box, pixels, busy, solidity, axis share) for diagnostics.
    """
    from scipy import ndimage as ndi  # lazily: scipy.ndimage costs ~1 s of every command's start

    if not static.any():
        return None
    y0, y1, x0, x1 = content
    eight = np.ones((3, 3), bool)
    labels, count = ndi.label(static, structure=eight)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    static = static & (sizes >= MIN_SPECK)[labels]
    grouped, _ = ndi.label(ndi.binary_dilation(static, structure=eight, iterations=GROUP_PX), structure=eight)
    min_side = max(3, math.ceil(MIN_SIDE_SHARE * (y1 - y0)))
    min_thick = max(3, math.ceil(MIN_THICK_SHARE * (y1 - y0)))
    inner = np.zeros(static.shape, bool)
    inner[max(0, y0 - 1) : y1 - 1, max(0, x0 - 1) : x1 - 1] = True
    # Inset from the picture's edge, beyond the EDGE_MARGIN left out along it.
    inset_x = max(EDGE_MARGIN + 2, math.ceil(MIN_INSET_SHARE * (x1 - x0)))
    inset_y = max(EDGE_MARGIN + 2, math.ceil(MIN_INSET_SHARE * (y1 - y0)))
    best: Candidate | None = None
    for index, sl in enumerate(ndi.find_objects(grouped), 1):
        if sl is None:
            continue
        group = grouped[sl] == index
        own = group & static[sl]
        pixels = int(own.sum())
        if pixels < 10:
            continue
        ys, xs = np.nonzero(own)
        gy0, gx0 = sl[0].start + ys.min(), sl[1].start + xs.min()
        box = (int(gx0 + 1), int(gy0 + 1), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
        corner = corner_of(box, content, corner_share)
        # Around a logo's strokes the edges come and go (a moving picture) or are absent
        # (a flat badge, a still sky); in busy texture every pixel is an edge most of the time.
        around = group & ~static[sl]
        busy = float(persistence[sl][around].mean()) if around.any() else 0.0
        filled = ndi.binary_fill_holes(group)
        solidity = float(filled.mean())
        # The ring just outside the shape: what the picture does around it.
        pad = RING_PX + 1
        ry0, rx0 = max(0, sl[0].start - pad), max(0, sl[1].start - pad)
        big = np.zeros((sl[0].stop + pad - ry0, sl[1].stop + pad - rx0), bool)
        big[sl[0].start - ry0 : sl[0].stop - ry0, sl[1].start - rx0 : sl[1].stop - rx0] = filled
        win = (slice(ry0, ry0 + big.shape[0]), slice(rx0, rx0 + big.shape[1]))
        big = big[: static[win].shape[0], : static[win].shape[1]]
        ring = ndi.binary_dilation(big, structure=eight, iterations=RING_PX) & ~big & inner[win]
        ring_busy = float(persistence[win][ring].mean()) if ring.any() else 0.0
        moving = float((change[win][ring] >= CHANGE_LEVEL).mean()) if change is not None and ring.any() else 0.0
        axis_share = float((np.abs(axis_cos[sl][own]) >= AXIS_COS).mean())
        inset = (min(box[0] - x0, x1 - box[0] - box[2]), min(box[1] - y0, y1 - box[1] - box[3]))
        reasons = []
        if pixels < MIN_PIXELS:
            reasons.append("pixels")
        if max(box[2], box[3]) < min_side or min(box[2], box[3]) < min_thick:
            reasons.append("size")
        # Logos sit inside the picture (a safe-area margin); shapes running into its edge are
        # scenery (or a logo merged with static scenery, whose box would be wrong anyway).
        # A shape may touch the picture's edge only where the picture around it moves (it
        # cannot be static scenery) and the frames are distinct (a static shot proves less).
        if (inset[0] < inset_x or inset[1] < inset_y) and (moving < MIN_MOVING or need_moving):
            reasons.append("inset")
        if not corner:
            reasons.append("corner")
        if need_moving and moving < MIN_MOVING:
            reasons.append("still")
        if min(busy, ring_busy) > MAX_BUSY:
            reasons.append("busy")
        if solidity < MIN_SOLIDITY:
            reasons.append("solidity")
        if not (axis_share >= MIN_AXIS_SHARE or solidity >= CLOSED_SOLIDITY):
            reasons.append("axis")
        logo_like = not reasons
        if trace is not None and (pixels >= MIN_PIXELS // 2 or corner):
            trace.append(
                {
                    "box": box,
                    "pixels": pixels,
                    "inset": inset,
                    "corner": corner,
                    "busy": round(busy, 3),
                    "ring_busy": round(ring_busy, 3),
                    "moving": round(moving, 3),
                    "solidity": round(solidity, 3),
                    "axis_share": round(axis_share, 3),
                    "rejected": reasons,
                }
            )
        if not logo_like:
            continue
        # The widest shape wins: a badge's outline encloses its letters (merged below).
        if best is None or box[2] * box[3] > best.box[2] * best.box[3]:
            best = Candidate(box, pixels, solidity, axis_share, corner, np.zeros(0, bool), index)
    if best is None:
        return None
    # Merge the static groups inside or overlapping the chosen box (letters inside a badge),
    # unless that takes the shape out of its corner.
    gx0, gy0 = best.box[0] - 1, best.box[1] - 1
    inside = np.unique(grouped[gy0 : gy0 + best.box[3], gx0 : gx0 + best.box[2]])
    mask = np.isin(grouped, inside[inside > 0]) & static
    ys, xs = np.nonzero(mask)
    box = (int(xs.min() + 1), int(ys.min() + 1), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
    if corner_of(box, content, corner_share) != best.corner:
        box, mask = best.box, (grouped == best.group) & static
    return Candidate(box, int(mask.sum()), best.solidity, best.axis_share, best.corner, mask, best.group)


def shrink_box(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Undo the 1 px reach of central differences on each side of an edge-pixel box."""
    x, y, w, h = box
    return (x + 1, y + 1, max(1, w - 2), max(1, h - 2)) if w > 2 and h > 2 else box


def to_source_box(box: tuple[int, int, int, int], fx: float, fy: float, width: int, height: int) -> list[int]:
    """A working-px box scaled by (fx, fy) to source px, clipped to the frame."""
    x, y, w, h = box
    sx0, sy0 = round(x * fx), round(y * fy)
    sx1, sy1 = min(width, round((x + w) * fx)), min(height, round((y + h) * fy))
    return [max(0, sx0), max(0, sy0), max(0, sx1 - sx0), max(0, sy1 - sy0)]


@dataclass(frozen=True)
class LogoResult:
    box: list[int]  # source px, [] when none
    persistence: float
    present: np.ndarray  # (N,) bool, frames showing the logo
    corner: str
    distinct: int


def work_factor(width: int) -> int:
    """Integer reduction that brings a frame ``width`` under 2 x :data:`WORK_WIDTH`."""
    return max(1, width // WORK_WIDTH) if width >= 2 * WORK_WIDTH else 1


def colour_planes(images: np.ndarray, k: int = 1) -> np.ndarray:
    """Channel planes (3, N, H//k, W//k) float32 of (N, H, W, 3) uint8 frames, each the mean
    of k x k blocks (remainder rows/columns dropped): k*k strided integer adds per channel,
    no float copy of the full frames."""
    n, h, w, _ = images.shape
    hh, ww = h // k, w // k
    out = np.empty((3, n, hh, ww), np.float32)
    for c in range(3):
        if k <= 1:
            out[c] = images[..., c]
            continue
        acc = np.zeros((n, hh, ww), np.uint16 if k <= 16 else np.uint32)
        for dy in range(k):
            for dx in range(k):
                acc += images[:, dy : hh * k : k, dx : ww * k : k, c]
        np.multiply(acc, np.float32(1.0 / (k * k)), out=out[c])
    return out


def detect_logo(
    images: np.ndarray,
    *,
    thumbs: np.ndarray | None = None,
    luma: np.ndarray | None = None,
    bars: Bars | None = None,
    corner_share: float = 0.25,
    min_persistence: float = 0.8,
    min_frames: int = 4,
    scale: float = 1.0,
    source_size: tuple[int, int] | None = None,
    trace: list | None = None,
    window: tuple[int, int] | None = None,
) -> LogoResult:
    """A static overlay in a corner of (N, H, W, 3) uint8 frames; box in source px.

    ``scale`` is source px per analysis px and ``source_size`` the source (width, height).
    ``window`` (first, end) searches only the distinct frames in that range (a logo shown for
    part of the item); its presence is still measured on every frame.
    """
    n, h, w, _ = images.shape
    width, height = source_size or (round(w * scale), round(h * scale))
    none = LogoResult([], 0.0, np.zeros(n, bool), "", 0)
    if n == 0 or h < 8 or w < 8:
        return none
    if thumbs is None:
        thumbs = thumbnails(images)
    kept = distinct_frames(thumbs)
    none = LogoResult([], 0.0, np.zeros(n, bool), "", len(kept))
    distinct = none.distinct
    if window is not None:
        kept = kept[(kept >= window[0]) & (kept < window[1])]
        if len(kept) < max(min_frames, 2):
            return none
    # A static shot (few distinct frames): every frame is used, and a shape only counts when
    # the picture around it changes (below): persistence is judged against the picture's own
    # temporal variation. Copies of one picture never make a logo.
    static_shot = len(kept) < max(min_frames, 2)
    if static_shot:
        if n < max(min_frames, 2):
            return none
        kept = np.arange(n)
    k = work_factor(w)
    planes = colour_planes(images[kept], k)
    hh, ww = planes.shape[2:]
    fx = fy = float(k)
    persistence, coherence, axis_cos = edge_persistence(*colour_structure(planes))
    grey = planes.mean(axis=0)
    change = grey.std(axis=0)[1:-1, 1:-1]
    del planes, grey
    # Bars (found on analysis luma) and a margin around their edges are left out.
    if bars is None:
        bars = detect_bars(luma if luma is not None else images.astype(np.float32) @ LUMA)
    top, bottom = math.ceil(bars.top / fy), math.ceil(bars.bottom / fy)
    left, right = math.ceil(bars.left / fx), math.ceil(bars.right / fx)
    content = (top, hh - bottom, left, ww - right)
    if content[1] - content[0] < 8 or content[3] - content[2] < 8:
        return none
    keep = np.zeros((hh, ww), bool)
    keep[
        top + (BAR_MARGIN if top else EDGE_MARGIN) : hh - bottom - (BAR_MARGIN if bottom else EDGE_MARGIN),
        left + (BAR_MARGIN if left else EDGE_MARGIN) : ww - right - (BAR_MARGIN if right else EDGE_MARGIN),
    ] = True
    found = None
    # A second, strict pass (edges in every distinct frame, coherence STRICT_COHERENCE) parts a
    # logo from swaying texture around it that the first pass merged with it.
    for level, coherent in ((min_persistence, MIN_COHERENCE), (1.0, STRICT_COHERENCE)):
        static = (persistence >= level - 1e-9) & (coherence >= coherent) & keep[1:-1, 1:-1]
        found = find_logo(
            static,
            axis_cos,
            persistence,
            content,
            corner_share=corner_share,
            change=change,
            need_moving=static_shot,
            trace=trace,
        )
        if found is not None:
            break
    if found is None:
        return none
    # Persistence over all sampled frames: share of the logo's static pixels that are edges.
    x, y, bw, bh = found.box  # image px of the working grid; gradients need 1 px around
    patch = colour_planes(images[:, (y - 1) * k : (y + bh + 1) * k, (x - 1) * k : (x + bw + 1) * k], k)
    edges = colour_structure(patch)[0] >= EDGE_LEVEL * EDGE_LEVEL  # (N, bh, bw) over the box
    own = found.mask[y - 1 : y - 1 + bh, x - 1 : x - 1 + bw]
    share = edges[:, own].mean(axis=1)
    present = share >= PRESENT_SHARE
    box = to_source_box(shrink_box(found.box), fx * scale, fy * scale, width, height)
    return LogoResult(box, float(present.mean()), present, found.corner, distinct)


def part_windows(kept: np.ndarray, n: int, min_distinct: int = PART_MIN_DISTINCT) -> list[tuple[int, int]]:
    """Frame ranges (first, end) holding the halves and thirds of the ``kept`` distinct frames,
    each with at least ``min_distinct`` of them: where a logo shown for part of the item (an
    ad's brand marks before its end card, a channel bug over one programme) is looked for."""
    out = []
    for parts in (2, 3):
        if len(kept) < parts * min_distinct:
            break
        groups = np.array_split(kept, parts)
        for k, group in enumerate(groups):
            out.append((int(group[0]), int(groups[k + 1][0]) if k + 1 < parts else n))
    return out


def detect_logo_in_parts(images: np.ndarray, *, thumbs: np.ndarray, min_frames: int = 4, **kwargs) -> LogoResult:
    """:func:`detect_logo` over the whole item, then, when it finds none and the picture moves
    enough, over each of :func:`part_windows` with edges required in every distinct frame of the
    part (a shorter span proves less, so the strict level is the only level). The logo must show
    on at least :data:`PART_MIN_DISTINCT` sampled frames of the whole item, and be missing from
    most frames outside its part: a shape shown all along is the whole-item pass's to judge
    (scenery that pass rejected must not come back through a part)."""
    if kwargs.get("bars") is None and len(images):  # found once, not once per part
        luma = kwargs.get("luma")
        kwargs["bars"] = detect_bars(luma if luma is not None else images.astype(np.float32) @ LUMA)
    whole = detect_logo(images, thumbs=thumbs, min_frames=min_frames, **kwargs)
    if whole.box:
        return whole
    for first, end in part_windows(distinct_frames(thumbs), len(images)):
        found = detect_logo(images, thumbs=thumbs, min_frames=max(min_frames, PART_MIN_DISTINCT),
                            **{**kwargs, "min_persistence": 1.0}, window=(first, end))
        outside = np.concatenate([found.present[:first], found.present[end:]])
        if found.box and int(found.present.sum()) >= PART_MIN_DISTINCT and outside.mean() < MAX_OUTSIDE_SHARE:
            return found
    return whole


def persistence_path(result: LogoResult, params: LogoParams) -> bool:
    """Whether persistence decides the item: it found a logo, or it had motion to work with
    (at least ``min_frames`` distinct frames). Otherwise (a still, a static shot, a slideshow of
    a few slides) the appearance model answers."""
    return bool(result.box) or result.distinct >= max(params.min_frames, 2)


# --------------------------------------------------------------------------- operator


@operator(
    name="logo",
    limits=(
        "Where the picture moves, a static overlay is found by the persistence of its edges in the corners: translucent logos (under about 40 %) over busy or dark content and thin outline marks can be missed there; the appearance model only sets the confidence, unless sure_appearance is on (it then decides where it is sure of one corner in most frames, and static scenery of a static camera can be taken for a logo).",
        "On stills, static shots and slideshows of a few slides the answer comes from what the corners look like (appearance model trained on synthetic logos and text watermarks over a few real clips and photos): lower recall on translucent and small marks, coarse boxes (cells of about 4 % of the shorter side), and corner graphics of the picture itself (a sign, a screen's title bar) can be taken for a logo.",
        "A logo shown for part of the item (an advert's marks before its end card) is looked for in the halves and thirds of the distinct frames when there are at least 12 (about 12 s of moving picture at 1 fps), with edges required in every frame of the part and missing from most frames outside it: shorter appearances, or a logo over a part where the picture stands still, are missed.",
        "Only corners are searched (the centre of the logo in a corner region): logos elsewhere and centre watermarks are not looked for.",
        "The confidence is calibrated on synthetic data (about half the items with a logo); on real collections, where logos are rarer or commoner, it is a ranking more than a frequency.",
    ),
    version=4,
    title="Logo / watermark",
    group="overlay",
    params=LogoParams,
    resources=("logo_model",),
    fields={
        "has_logo": Output("bool", "whether a static overlay (station logo, watermark) sits in a corner"),
        "box": Output("list[int]", "the logo's box [x, y, w, h] in source px; empty when none", unit="px"),
        "persistence": Output(
            "float",
            "share of sampled frames showing the logo (its edges; by appearance on stills and static shots), 0..1",
        ),
        "corner": Output("str", "top_left, top_right, bottom_left, bottom_right, or empty when none",
                        values=(*CORNERS, "")),
        "confidence": Output(
            "float", "calibrated probability (0..1) that an overlay sits in a corner, whatever has_logo says"
        ),
        "method": Output(
            "str",
            "what decided: persistence (edges kept while the picture moves), appearance (the corner "
            "model: stills, static shots, slideshows of a few slides, and moving pictures where it is sure and "
            "persistence found none) or none (frames too small to judge)",
            values=("persistence", "appearance", "none"),
        ),
    },
)
def logo(inputs: dict, params: LogoParams, *, item: MediaInfo, resources: dict) -> dict:
    """A static overlay in a corner (station logo, watermark): by the persistence of its edges
    where the picture moves, by the corners' appearance on stills and static shots.

    Edges that stay at the same place over distinct sampled frames (or, in a static shot, over
    all of them while the picture around them changes) form the logo; where persistence has no
    motion to work with, the appearance model (:mod:`.logo_model`) answers, with its calibrated
    confidence. Bars never make a logo.
    """
    frames: FrameBatch = inputs["frames"]
    images = frames.images
    scale = float(frames.scale) or 1.0
    source = (frames.source_width, frames.source_height)
    bars = detect_bars(frames.gray) if len(images) else None
    result = detect_logo_in_parts(
        images,
        thumbs=batch_thumbnails(frames),
        luma=frames.gray,
        bars=bars,
        corner_share=params.corner_share,
        min_persistence=params.min_persistence,
        min_frames=params.min_frames,
        scale=scale,
        source_size=source,
    )
    model: LogoModel = resources["logo_model"]
    times = np.asarray(frames.times, np.float64)
    if result.box:  # found by persistence: its measured precision is the confidence
        return _persistence_answer(result, times, persistence_confidence(model, True, None))
    picked = appearance_frames(len(images))
    scores = scores_inside_bars(images[picked], bars, model, scale=scale)
    if persistence_path(result, params):  # motion, and no logo by persistence
        confidence = persistence_confidence(model, False, scores)
        if params.sure_appearance and sure_on_motion(scores, model):
            return appearance_answer(scores, model, times[picked]) | {"confidence": round(confidence, 4)}
        return _persistence_answer(result, times, confidence)
    if scores is None:  # a static shot too small for the appearance model
        return _persistence_answer(result, times, 0.0) | {"method": "none"}
    return appearance_answer(scores, model, times[picked])


def scores_inside_bars(images: np.ndarray, bars: Bars | None, model: LogoModel, *, scale: float) -> CornerScores | None:
    """The appearance model's answer on the picture inside the bars (a bar's edge in a corner
    crop looked like a logo to it: a 20-px letterbox over a moving clip), box in source px."""
    n, h, w = images.shape[:3]
    y0, y1, x0, x1 = bars.content_box(h, w) if bars is not None else (0, h, 0, w)
    inner = images[:, y0:y1, x0:x1]
    size = (round(inner.shape[2] * scale), round(inner.shape[1] * scale))
    scores = score_frames(inner, model, scale=scale, source_size=size)
    if scores is None or (y0, x0) == (0, 0):
        return scores
    bx, by, bw, bh = scores.box
    return replace(scores, box=[bx + round(x0 * scale), by + round(y0 * scale), bw, bh])


def _persistence_answer(result: LogoResult, times: np.ndarray, confidence: float) -> dict:
    has_logo = bool(result.box)
    evidence: list[dict] = []
    if has_logo:
        idx = np.flatnonzero(result.present)
        if idx.size > MAX_EVIDENCE:
            idx = idx[np.unique(np.linspace(0, idx.size - 1, MAX_EVIDENCE).round().astype(int))]
        evidence = [{"t": round(float(times[i]), 3), "box": [float(v) for v in result.box]} for i in idx]
    return {
        "has_logo": has_logo,
        "box": result.box if has_logo else [],
        "persistence": round(result.persistence, 4) if has_logo else 0.0,
        "corner": result.corner if has_logo else "",
        "confidence": round(confidence, 4),
        "method": "persistence",
        "evidence": evidence,
    }
