"""Layout operators: bars around the picture (letterbox, pillarbox, windowbox), black or
blurred.

How ``black_border@4`` decides, in short (the pure functions below carry the details):

1. **Black bars.** In every frame, a row is *dark* when at most 2 % of its pixels are brighter
   than ``threshold`` (a few noisy or watermark pixels are tolerated); rows that are mostly
   dark (at most 40 % bright: a subtitle or a logo inside a bar) are bridged when a dark row
   lies further in. A frame's top bar is then the run of such rows from the top edge; the
   bottom bar likewise; the left/right bars are found the same way on columns, within the
   rows left between the top and bottom bars.
2. **Added, not a dark scene.** A side found so is kept only when it looks added: digitally
   flat (90 % of its pixels within 4 levels of a black median) or ending on a straight line
   (half of the lines with picture start within 2 px of its edge). A bar on one side only, or
   of very unequal sides, needs both. The dark, textured edge of a night scene fails both.
   (Version 2; version 1 reported 82-195 px bars on dark real film and anime scenes.)
   Either way the picture must reach the band's inner edge (a bright pixel within
   :data:`EDGE_REACH_PX`) on at least :data:`MIN_EDGE_REACH` of its lines in some frame: an
   object on black (a planet in space, a spotlit subject, a title on black) touches it only
   where it is widest. (Version 4; version 3 reported 105-231 px pillarboxes around a moving
   disc on black.)
3. **Judged over many frames.** Frames that are dark everywhere (fades, black frames) carry no
   information about bars and are left out. A side's bar is the largest extent that at least
   ``min_frame_share`` of the remaining frames reach, so a dark scene in a few frames, or a
   single fade, cannot widen it; bars thinner than ``min_bar_px`` are dropped.
4. **Blurred fill.** Re-posted vertical videos sit on a 16:9 canvas whose sides are a blurred,
   enlarged copy. The mean absolute Laplacian of every column is taken over the rows between
   the black top/bottom bars (and of every row over the columns between the side bars), and
   compared with the sharp centre's level: a band at each end whose lines stay under a
   quarter of that level, of nearly the same width on both sides, present in at least
   ``min_frame_share`` of the frames, reaching beyond the black bars, and whose inner edge is
   a straight line (most lines where detail starts near it start at that very column), is
   a blurred bar. A blurred fill that is partly darker than ``threshold`` is still one
   blurred bar. A subject on a bokeh background fails the straight-edge or symmetry checks.
   Widths are accurate to about 1 px (the Laplacian's reach is added back).
5. **Not a flat bright margin.** Flat non-black bands (a white page around a diagram, a grey or
   coloured pillarbox) have no detail either; when every low-detail band is digitally flat
   (:data:`MIN_FLAT_BAR` of its pixels within 4 levels of a median brighter than
   ``threshold``) it is part of the picture, not a bar, and nothing is reported (version 3;
   version 2 called it a blurred fill).

Widths are returned in analysis pixels by :func:`detect_bars` and converted to source pixels
(``round(px * frames.scale)``) by :func:`bars_to_source`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict
from pydantic import Field as P

from ..contract.items import FrameBatch, MediaInfo
from ..contract.operator import Output, operator

# A dark row/column may hold this share of bright pixels (noise, compression ringing).
DARK_TOLERANCE = 0.02
# A row/column that is mostly dark (a subtitle or logo in a bar) is bridged up to this share.
BRIDGE_TOLERANCE = 0.40
# Black bars: an added bar is digitally flat: this share of its pixels within 4 levels of its median.
MIN_FLAT_BAR = 0.9
# Blurred fill: a column is "low detail" below this fraction of the centre's detail level.
BLUR_RATIO = 0.25
# Blurred fill: the centre must have at least this mean |Laplacian| (luma levels) to judge.
MIN_CENTRE_DETAIL = 1.0
# Blurred fill: a frame whose centre detail is under this share of the item's median (motion
# blur, a fade, a dissolve) cannot show where a blurred fill ends: it is not judged, so that
# one soft frame among the few of a short clip does not veto the bands the others show.
SOFT_FRAME_SHARE = 0.6
# Blurred fill: a picture whose centre detail is under this (codec noise in a fill reads about
# 1-1.5) is judged again at half resolution, where noise averages out.
SOFT_CENTRE_DETAIL = 6.0
# Blurred fill: a blurred side must be at least this share of the content width/height.
MIN_BLUR_SHARE = 0.05
# Blurred fill: left and right widths may differ by this share of the width (or 4 px).
SYMMETRY_TOLERANCE = 0.05
# Blurred fill: share of rows starting detail at the boundary (+-2 px), among rows starting
# detail near it, for the boundary to count as a straight edge.
MIN_STRAIGHT_EDGE = 0.5
# A bar runs along the whole picture: over the item, the picture must reach the bar's inner edge
# (a bright pixel within EDGE_REACH_PX of it) on at least this share of the edge's lines. An
# object on black (a planet in space, a spotlit subject, a round logo, a title on black) only
# reaches it where the object is widest (measured: 0.09-0.36 of the lines for discs of 30-60 %
# of the height; real pillar- and letterboxes 0.76-1.0, a dark terminal screencast included).
MIN_EDGE_REACH = 0.5
EDGE_REACH_PX = 3
# ...judged on at most this many frames (evenly spread over those showing the bands).
EDGE_CHECK_FRAMES = 8
# Blurred detection works on frames whose larger side is at most this (block-mean reduced).
BLUR_MAX_SIDE = 2048
# Frames are processed in chunks of about this many pixels (bounded memory).
CHUNK_PIXELS = 4_000_000
# Lines this close to a black bar's edge are left out of detail profiles (the edge is a step).
BAR_EDGE_MARGIN = 2
MAX_EVIDENCE = 8


class BlackBorderParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    threshold: int = P(
        24,
        ge=0,
        le=255,
        title="Black level",
        description="Luma (0-255) at or under which a pixel counts as black.",
    )
    min_bar_px: int = P(
        4,
        ge=0,
        le=4096,
        title="Minimum bar",
        description="Bars thinner than this, in source pixels, are ignored.",
    )
    min_frame_share: float = P(
        0.8,
        gt=0.0,
        le=1.0,
        title="Frame share",
        description="A bar must be present in at least this share of the (non-black) frames.",
    )
    detect_blurred: bool = P(
        True,
        title="Detect blurred fill",
        description="Also detect blurred-background bars (re-posted vertical videos).",
    )


@dataclass(frozen=True)
class Bars:
    """Bars in analysis pixels; ``seen`` marks the frames where they were all present."""

    top: int
    bottom: int
    left: int
    right: int
    fill: str  # "black" | "blurred" | "none"
    seen: np.ndarray  # (N,) bool

    @property
    def any(self) -> bool:
        return (self.top + self.bottom + self.left + self.right) > 0

    def content_box(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(y0, y1, x0, x1) of the picture inside the bars."""
        return self.top, height - self.bottom, self.left, width - self.right


# --------------------------------------------------------------------------- pure functions


def stable_extent(extents: np.ndarray, share: float) -> int:
    """Largest value that at least ``share`` of ``extents`` reach (0 when there are none).

    The robust statistic behind every bar: one frame with a fade or a dark scene cannot make
    it larger, and bars hidden in a few frames cannot make it smaller.
    """
    extents = np.asarray(extents).reshape(-1)
    if extents.size == 0:
        return 0
    k = max(1, math.ceil(share * extents.size - 1e-9))
    return int(np.sort(extents)[::-1][k - 1])


def edge_runs(bright_share: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, the dark extent from the start and from the end of a (N, L) profile.

    ``bright_share[n, i]`` is the share of bright pixels of line ``i`` in frame ``n``. A run
    from an edge is made of lines with at most :data:`BRIDGE_TOLERANCE` bright pixels and
    ends at the innermost line with at most :data:`DARK_TOLERANCE` (so a subtitle inside a
    bar is bridged, but a bar never ends on a half-bright line).
    """

    def from_start(share: np.ndarray) -> np.ndarray:
        n, length = share.shape
        dark = share <= DARK_TOLERANCE
        loose = share <= BRIDGE_TOLERANCE
        first_bright = np.where(loose.all(axis=1), length, np.argmin(loose, axis=1))
        idx = np.arange(1, length + 1)
        inside = np.arange(length)[None, :] < first_bright[:, None]
        return np.max(np.where(dark & inside, idx[None, :], 0), axis=1, initial=0)

    return from_start(bright_share), from_start(bright_share[:, ::-1])


def flat_share(pixels: np.ndarray) -> tuple[float, float]:
    """(share of ``pixels`` within 4 levels of their median, the median): 1.0 for a digitally
    flat fill, low for picture, grain or a blurred copy of the picture."""
    median = float(np.median(pixels))
    return float(np.mean(np.abs(pixels.astype(np.int16) - int(round(median))) <= 4)), median


def side_band(luma: np.ndarray, side: str, inner: int, outer: int) -> np.ndarray:
    """Pixels of (N, H, W) frames between ``inner`` and ``outer`` px from the edge on ``side``."""
    h, w = luma.shape[1:]
    if side == "left":
        return luma[:, :, inner:outer]
    if side == "right":
        return luma[:, :, w - outer:w - inner]
    return luma[:, inner:outer, :] if side == "top" else luma[:, h - outer:h - inner, :]


def flat_colour_margin(luma: np.ndarray, blurred: tuple[int, int, int, int], black: tuple[int, int, int, int],
                       threshold: float) -> bool:
    """Whether the low-detail bands found by :func:`detect_blurred_bars` are flat bright colour
    (a white page around a diagram, a graphic's margin): every band beyond the black bars holds
    :data:`MIN_FLAT_BAR` of its pixels within 4 levels of its median and that median is not
    dark. Bars are dark or a blurred copy of the picture; a flat colour margin is part of the
    picture, so it is not reported."""
    bands = [side_band(luma, side, inner + 2, outer - 2)
             for side, outer, inner in zip(("top", "bottom", "left", "right"), blurred, black) if outer - inner > 6]
    if not bands:
        return False
    for band in bands:
        share, median = flat_share(band)
        if share < MIN_FLAT_BAR or median <= threshold:
            return False
    return True


def bar_evidence(luma: np.ndarray, bright: np.ndarray, side: str, extent: int, span: tuple[int, int],
                 threshold: float) -> tuple[float, float, float]:
    """How much a dark band of ``extent`` px on ``side`` looks like an added bar: (flat, straight, reach).

    ``flat``: the share of the band's pixels (its inner 2 px left out: codec ringing) within 4
    levels of the band's median, 0 when that median is not black (over half ``threshold``).
    ``straight``: among lines (rows for side bars, columns for top/bottom, within ``span``)
    that have a bright pixel, the share whose first bright pixel is within 2 px of ``extent``.
    ``reach``: the share of those lines (all of them, bright or not) on which, in at least one
    frame, the picture has a bright pixel within :data:`EDGE_REACH_PX` of ``extent``.
    A bar added around a picture is digitally flat and the picture starts on a straight line
    that it fills over the item; the dark edge of a scene is textured and ends at a different
    place on every line, and an object on black touches the line only where it is widest.
    """
    n, h, w = luma.shape
    lo, hi = span
    cut = max(extent - 2, 1)
    if side in ("left", "right"):
        strip_luma = luma[:, lo:hi, :cut] if side == "left" else luma[:, lo:hi, w - cut:]
        lines = bright[:, lo:hi, :] if side == "left" else bright[:, lo:hi, ::-1]
    else:
        strip_luma = luma[:, :cut, lo:hi] if side == "top" else luma[:, h - cut:, lo:hi]
        cols = np.swapaxes(bright[:, :, lo:hi], 1, 2)
        lines = cols if side == "top" else cols[:, :, ::-1]
    if strip_luma.size == 0:
        return 0.0, 0.0, 0.0
    flat, median = flat_share(strip_luma)
    flat = flat if median <= threshold / 2 else 0.0
    reach = float(lines[:, :, extent : extent + EDGE_REACH_PX].any(axis=2).any(axis=0).mean()) if lines.shape[1] else 0.0
    window = lines[:, :, : min(lines.shape[2], extent + max(8, extent // 2))]
    has = window.any(axis=2)
    if not has.any():
        return flat, 0.0, reach
    first = np.argmax(window, axis=2)
    straight = float((np.abs(first - extent) <= 2)[has].mean())
    return flat, straight, reach


def _confirmed(luma: np.ndarray, bright: np.ndarray, pair: tuple[str, str], extents: tuple[int, int],
               span: tuple[int, int], threshold: float) -> tuple[int, int]:
    """The bars of one axis that the evidence holds: flat (>= MIN_FLAT_BAR) or straight-edged
    (>= MIN_STRAIGHT_EDGE); a bar on one side only (or of very unequal sides) needs both; and
    the picture reaches its inner edge along most of it (>= MIN_EDGE_REACH) either way."""
    a, b = extents
    lopsided = min(a, b) == 0 or abs(a - b) > max(4, 0.5 * max(a, b))
    kept = []
    for side, extent in zip(pair, extents):
        if not extent:
            kept.append(0)
            continue
        flat, straight, reach = bar_evidence(luma, bright, side, extent, span, threshold)
        good = (flat >= MIN_FLAT_BAR and straight >= MIN_STRAIGHT_EDGE) if lopsided else \
            (flat >= MIN_FLAT_BAR or straight >= MIN_STRAIGHT_EDGE)
        good = good and reach >= MIN_EDGE_REACH
        kept.append(extent if good else 0)
    return kept[0], kept[1]


def detect_black_bars(
    luma: np.ndarray, *, threshold: float = 24, min_bar: int = 1, min_frame_share: float = 0.8
) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray]:
    """Black bars of (N, H, W) luma frames (any real dtype), in analysis pixels.

    A side's extent is the dark run that ``min_frame_share`` of the informative frames reach;
    it is kept only when :func:`bar_evidence` shows an added bar rather than a dark scene edge.
    Returns ``((top, bottom, left, right), seen, informative)``: ``seen`` marks the frames
    where every reported bar was present, ``informative`` the frames not dark everywhere.
    """
    n, h, w = luma.shape
    bright = luma > threshold  # (N, H, W) bool; works on uint8 without a float copy
    row_share = np.count_nonzero(bright, axis=2) / float(w)  # (N, H)
    informative = (row_share > DARK_TOLERANCE).any(axis=1)
    if not informative.any():
        return (0, 0, 0, 0), np.zeros(n, bool), informative
    top_n, bottom_n = edge_runs(row_share)
    top = stable_extent(top_n[informative], min_frame_share)
    bottom = stable_extent(bottom_n[informative], min_frame_share)
    top, bottom = (t if t >= max(min_bar, 1) else 0 for t in (top, bottom))
    if top + bottom >= h:  # contradictory (e.g. dark halves alternating): no bars
        top = bottom = 0
    if top or bottom:
        top, bottom = _confirmed(luma[informative], bright[informative], ("top", "bottom"), (top, bottom), (0, w), threshold)
    band = bright[:, top : h - bottom, :]
    col_share = np.count_nonzero(band, axis=1) / float(band.shape[1])  # (N, W)
    left_n, right_n = edge_runs(col_share)
    # A frame whose band is dark everywhere says nothing about side bars either.
    informative_cols = informative & (col_share > DARK_TOLERANCE).any(axis=1)
    left = stable_extent(left_n[informative_cols], min_frame_share)
    right = stable_extent(right_n[informative_cols], min_frame_share)
    left, right = (v if v >= max(min_bar, 1) else 0 for v in (left, right))
    if left + right >= w:
        left = right = 0
    if left or right:
        left, right = _confirmed(luma[informative_cols], bright[informative_cols], ("left", "right"), (left, right),
                                 (top, h - bottom), threshold)
    seen = informative & (top_n >= top) & (bottom_n >= bottom) & (left_n >= left) & (right_n >= right)
    if top + bottom + left + right == 0:
        seen = np.zeros(n, bool)
    return (top, bottom, left, right), seen, informative


def block_mean(luma: np.ndarray, k: int) -> np.ndarray:
    """Mean over k x k blocks of (N, H, W) frames (remainder rows/columns dropped), float32."""
    n, h, w = luma.shape
    hh, ww = h // k, w // k
    out = np.zeros((n, hh, ww), np.float32)
    for dy in range(k):  # k*k strided adds: one pass over the input in all
        for dx in range(k):
            out += luma[:, dy : hh * k : k, dx : ww * k : k]
    out *= 1.0 / (k * k)
    return out


def laplacian_abs(luma: np.ndarray) -> np.ndarray:
    """|4-neighbour Laplacian| of (N, H, W) frames, (N, H-2, W-2) float32 (interior)."""
    x = luma.astype(np.float32, copy=False)
    out = x[:, 1:-1, :-2] + x[:, 1:-1, 2:]
    out += x[:, :-2, 1:-1]
    out += x[:, 2:, 1:-1]
    out -= 4.0 * x[:, 1:-1, 1:-1]
    return np.abs(out, out=out)


def frame_chunks(n: int, frame_pixels: int, budget: int = CHUNK_PIXELS) -> list[slice]:
    """Slices of frames holding about ``budget`` pixels each (at least one frame): the
    vectorised maths runs on a chunk of frames at once while memory stays bounded."""
    step = max(1, budget // max(frame_pixels, 1))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def detail_profiles(
    luma: np.ndarray, rows: tuple[int, int] | None = None, cols: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Mean |Laplacian| of every column (N, W) and every row (N, H) of (N, H, W) frames.

    The column profile averages over the rows in ``rows`` (start, stop) only, the row profile
    over the columns in ``cols``: callers leave out black bars on the other axis (and their
    edges). The outermost line on each side copies its neighbour (the Laplacian needs both).
    """
    n, h, w = luma.shape
    r0, r1 = rows or (1, h - 1)
    c0, c1 = cols or (1, w - 1)
    r0, r1 = max(r0, 1) - 1, min(r1, h - 1) - 1  # indices into the interior Laplacian
    c0, c1 = max(c0, 1) - 1, min(c1, w - 1) - 1
    col_prof = np.zeros((n, w), np.float32)
    row_prof = np.zeros((n, h), np.float32)
    for sl in frame_chunks(n, h * w):
        e = laplacian_abs(luma[sl])
        if r1 > r0:
            col_prof[sl, 1:-1] = e[:, r0:r1].mean(axis=1)
        if c1 > c0:
            row_prof[sl, 1:-1] = e[:, :, c0:c1].mean(axis=2)
    for prof in (col_prof, row_prof):
        prof[:, 0], prof[:, -1] = prof[:, 1], prof[:, -2]
    return col_prof, row_prof


def _low_detail_ends(profile: np.ndarray, min_bar: int, share: float) -> tuple[int, int, np.ndarray, np.ndarray]:
    """Low-detail bands at both ends of (N, L) detail profiles.

    Returns (start, end, seen, centre): band widths (0, 0 when there is no symmetric pair
    of bands present in ``share`` of the frames), the frames where both were present, and
    each frame's centre detail level (the 75th percentile of its middle 20 %).
    """
    n, length = profile.shape
    c0, c1 = int(length * 0.4), int(math.ceil(length * 0.6))
    centre = np.percentile(profile[:, c0:c1], 75, axis=1)
    nothing = (0, 0, np.zeros(n, bool), centre)
    usable = centre >= MIN_CENTRE_DETAIL
    if usable.any():
        usable &= centre >= SOFT_FRAME_SHARE * float(np.median(centre[usable]))
    if not usable.any():
        return nothing
    low = profile < (BLUR_RATIO * centre)[:, None]
    start_n, end_n = edge_runs(np.where(low, 0.0, 1.0))
    start = stable_extent(start_n[usable], share)
    end = stable_extent(end_n[usable], share)
    min_side = max(min_bar, int(MIN_BLUR_SHARE * length), 2)
    if start < min_side or end < min_side or start > c0 or end > length - c1:
        return nothing
    if abs(start - end) > max(4, SYMMETRY_TOLERANCE * length):
        return nothing
    return start, end, usable & (start_n >= start) & (end_n >= end), centre


def straight_edge_share(strip: np.ndarray, edge: int, level: np.ndarray) -> float:
    """Share of lines whose detail starts within 2 px of ``edge`` in an (N, lines, L) strip.

    ``strip`` holds luma with position 0 at the frame's outer edge and the bar running
    along axis 2; ``level`` (N,) is the frames' centre detail level. Lines where no detail
    starts in the strip are left out; NaN when too few lines have any.
    A sharp picture pasted on a blurred copy starts everywhere at the same column; a subject
    on a bokeh background starts at different columns on different rows.
    """
    e = laplacian_abs(strip)  # (N, lines-2, L-2); position p here is p+1 in the strip
    if e.shape[1] >= 3:  # smooth across lines a little so single-pixel texture gaps do not decide
        e = (e[:, :-2] + e[:, 1:-1] + e[:, 2:]) / 3.0
    sharp = e >= (0.5 * level)[:, None, None]
    has = sharp.any(axis=2)
    if has.sum() < max(3, 0.1 * has.size):
        return float("nan")
    first = np.argmax(sharp, axis=2) + 1
    return float((np.abs(first - edge) <= 2)[has].mean())


def _straight(luma: np.ndarray, axis: int, edge: int, level: np.ndarray, *, from_end: bool) -> bool:
    """Whether the inner edge of a band ``edge`` px from one end of ``axis`` is straight."""
    length = luma.shape[axis]
    window = max(8, int(0.1 * length))
    hi = min(edge + window, length)
    if hi - edge < 4:
        return False
    x = luma if axis == 2 else np.swapaxes(luma, 1, 2)
    x = x[:, :, ::-1] if from_end else x
    share = straight_edge_share(x[:, :, :hi], edge, level)
    return bool(share >= MIN_STRAIGHT_EDGE)


def detect_blurred_bars(
    luma: np.ndarray,
    black: tuple[int, int, int, int] = (0, 0, 0, 0),
    *,
    min_bar: int = 1,
    min_frame_share: float = 0.8,
) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """Low-detail (blurred or flat) bars of (N, H, W) luma frames, in analysis pixels.

    ``black`` = (top, bottom, left, right) black bars already found: left/right bands are
    searched between the top and bottom bars and top/bottom bands between the side bars,
    with the black bars of the searched axis included (they are low-detail too). A pair is
    kept only when it reaches at least 2 px beyond the black bars on some side; otherwise
    the bars are plain black. Returns ((top, bottom, left, right), seen) with zeros where
    there is no blurred pair. Frames larger than :data:`BLUR_MAX_SIDE` are block-mean
    reduced first (widths accurate to the block size).
    """
    n, h, w = luma.shape
    none = (0, 0, 0, 0), np.zeros(n, bool)
    k = max(1, math.ceil(max(h, w) / BLUR_MAX_SIDE))
    found, seen, centre = _blurred_at_scale(luma, k, black, min_bar=min_bar, min_frame_share=min_frame_share)
    if any(found):
        return found, seen
    # A soft picture (little fine detail, e.g. an upscaled source) hardly rises above the
    # codec noise in the fill at full scale: judge it once more at half the resolution,
    # where the noise averages out and the picture's detail does not.
    if centre.size and float(np.median(centre)) < SOFT_CENTRE_DETAIL:
        found, seen, _ = _blurred_at_scale(luma, 2 * k, black, min_bar=min_bar, min_frame_share=min_frame_share)
        if any(found):
            return found, seen
    return none


def _blurred_at_scale(
    luma: np.ndarray,
    k: int,
    black: tuple[int, int, int, int],
    *,
    min_bar: int,
    min_frame_share: float,
) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray]:
    """:func:`detect_blurred_bars` on frames block-mean reduced by ``k``: (bars, seen, the
    frames' centre detail level along the columns (empty when not judged))."""
    n = luma.shape[0]
    none = (0, 0, 0, 0), np.zeros(n, bool), np.zeros(0, np.float32)
    small = block_mean(luma, k) if k > 1 else luma
    if min(small.shape[1:]) < 12:
        return none
    sh, sw = small.shape[1:]
    top, bottom, left, right = (v // k for v in black)
    margin = BAR_EDGE_MARGIN
    rows = (top + margin, sh - bottom - margin)
    cols = (left + margin, sw - right - margin)
    col_prof, row_prof = detail_profiles(small, rows=rows, cols=cols)
    mb = max(1, min_bar // k)
    levels = np.zeros(0, np.float32)
    for axis, profile, (b0, b1), (o0, o1) in ((2, col_prof, (left, right), rows), (1, row_prof, (top, bottom), cols)):
        if o1 - o0 < 12:
            continue
        start, end, seen, centre = _low_detail_ends(profile, mb, min_frame_share)
        if axis == 2:
            levels = centre
        if not start or (start < b0 + 2 and end < b1 + 2):
            continue
        use = seen if seen.any() else np.ones(n, bool)
        idx = np.flatnonzero(use)  # the straight-edge check needs a few frames, not all
        use = np.zeros(n, bool)
        use[idx[np.unique(np.linspace(0, idx.size - 1, min(idx.size, EDGE_CHECK_FRAMES)).round().astype(int))]] = True
        # The straight-edge check looks across the lines between the other axis' bars.
        region = small[:, o0:o1, :] if axis == 2 else small[:, :, o0:o1]
        region = region if use.all() else region[use]
        if _straight(region, axis, start, centre[use], from_end=False) and _straight(
            region, axis, end, centre[use], from_end=True
        ):
            # The Laplacian reaches 1 px into the band from the picture: add it back.
            start, end = (start + 1) * k, (end + 1) * k
            return ((0, 0, start, end) if axis == 2 else (start, end, 0, 0)), seen, levels
    return (0, 0, 0, 0), np.zeros(n, bool), levels


def detect_bars(
    luma: np.ndarray,
    *,
    threshold: float = 24,
    min_bar: int = 1,
    min_frame_share: float = 0.8,
    detect_blurred: bool = True,
) -> Bars:
    """Black (and optionally blurred) bars of (N, H, W) luma frames, in analysis pixels.

    ``luma`` may be uint8 or float; a single (H, W) image is accepted too.
    """
    if luma.ndim == 2:
        luma = luma[None]
    if luma.ndim != 3:
        raise ValueError(f"luma must be (N, H, W), got shape {luma.shape}")
    n, h, w = luma.shape
    if n == 0 or h == 0 or w == 0:
        return Bars(0, 0, 0, 0, "none", np.zeros(n, bool))
    (top, bottom, left, right), seen, informative = detect_black_bars(
        luma, threshold=threshold, min_bar=min_bar, min_frame_share=min_frame_share
    )
    fill = "black" if top + bottom + left + right else "none"
    if detect_blurred and informative.any():
        frames = luma if informative.all() else luma[informative]
        blurred, bseen = detect_blurred_bars(
            frames, (top, bottom, left, right), min_bar=min_bar, min_frame_share=min_frame_share
        )
        if any(blurred) and not flat_colour_margin(frames, blurred, (top, bottom, left, right), threshold):
            full_seen = np.zeros(n, bool)
            full_seen[np.flatnonzero(informative)] = bseen
            bt, bb, bl, br = blurred
            if bl or br:
                left, right = max(left, bl), max(right, br)
                seen = full_seen & (seen if (top or bottom) else True)
            else:
                top, bottom = max(top, bt), max(bottom, bb)
                seen = full_seen & (seen if (left or right) else True)
            fill = "blurred"
    return Bars(top, bottom, left, right, fill, seen)


def bars_to_source(bars: Bars, *, scale: float, width: int, height: int) -> dict[str, Any]:
    """Bar widths in source pixels (``round(px * scale)``) and the share of the frame they cover."""
    top, bottom = (min(int(round(v * scale)), height) for v in (bars.top, bars.bottom))
    left, right = (min(int(round(v * scale)), width) for v in (bars.left, bars.right))
    content = max(height - top - bottom, 0) * max(width - left - right, 0)
    area = 1.0 - content / float(width * height) if width and height else 0.0
    area_ratio = round(min(max(area, 0.0), 1.0), 6)
    return {"top": top, "bottom": bottom, "left": left, "right": right, "area_ratio": area_ratio}


def evidence_times(times: np.ndarray, seen: np.ndarray, limit: int = MAX_EVIDENCE) -> list[dict]:
    """Up to ``limit`` evenly spread ``{"t": seconds}`` records of the frames in ``seen``."""
    idx = np.flatnonzero(seen)
    if idx.size > limit:
        idx = idx[np.unique(np.linspace(0, idx.size - 1, limit).round().astype(int))]
    return [{"t": round(float(times[i]), 3)} for i in idx]


# --------------------------------------------------------------------------- operator


@operator(
    name="black_border",
    limits=(
        "A black bar must be flat or end on a straight line (one-sided bars both): a bar filled with grain or a noisy analogue capture, bordering a picture that is dark on most lines, can be missed.",
        "The picture must reach a bar's inner edge along at least half of it at some point of the item: an object on black (a planet in space, a title on black) is not framed by bars, and a letterboxed film that stays dark along most of the bar's edge for the whole item loses that bar.",
        "Bars are measured on the sampled frames (1 per second by default), not on every frame.",
        "Only black and blurred fills are reported: a flat bright margin (a white page around a diagram, a coloured pillarbox) is taken as part of the picture, not a bar.",
    ),
    version=4,
    title="Black borders",
    group="layout",
    params=BlackBorderParams,
    fields={
        "top": Output("int", "height of the bar above the picture", unit="px"),
        "bottom": Output("int", "height of the bar below the picture", unit="px"),
        "left": Output("int", "width of the bar left of the picture", unit="px"),
        "right": Output("int", "width of the bar right of the picture", unit="px"),
        "area_ratio": Output("float", "share of the frame covered by bars (0..1)"),
        "fill": Output("str", "what fills the bars: black, blurred or none", values=("black", "blurred", "none")),
    },
)
def black_border(inputs: dict, params: BlackBorderParams, *, item: MediaInfo, resources: dict) -> dict:
    """Letterbox, pillarbox and windowbox bars, black or blurred, in source pixels.

    Bars are judged over all sampled frames (a fade or a dark scene does not count), and the
    blurred-background pillarbox of re-posted vertical videos is reported as fill "blurred".
    """
    frames: FrameBatch = inputs["frames"]
    scale = float(frames.scale) or 1.0
    bars = detect_bars(
        frames.gray,
        threshold=params.threshold,
        min_bar=max(1, math.ceil(params.min_bar_px / scale)),
        min_frame_share=params.min_frame_share,
        detect_blurred=params.detect_blurred,
    )
    out = bars_to_source(bars, scale=scale, width=frames.source_width, height=frames.source_height)
    out["fill"] = bars.fill
    out["evidence"] = evidence_times(np.asarray(frames.times), bars.seen)
    return out
