"""Charts as inline SVG strings, drawn in Python: no chart library, no script, no network.

Every label goes through ``esc``. Coordinates are rounded to 0.1 px to keep files small.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .html import esc, num

INK, GRID, ACCENT = "#33404d", "#d5dbe1", "#3b6fb6"
SERIES_COLORS = ("#3b6fb6", "#d9822b", "#2e9e5b", "#b3446c", "#7a5cc2", "#8c7a3e")


def _f(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _svg(width: int, height: int, body: str, label: str) -> str:
    return (f'<svg width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(label)}" '
            f'font-family="system-ui,sans-serif" font-size="10">{body}</svg>')


def histogram(values: Sequence[float], *, label: str, bins: int = 16, width: int = 260, height: int = 120) -> str:
    """Counts of ``values`` in equal bins (integers with a small range get one bin per value)."""
    data = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if not len(data):
        return _svg(width, 40, f'<text x="4" y="24" fill="{INK}">no values</text>', label)
    lo, hi = float(data.min()), float(data.max())
    if np.all(data == np.round(data)) and hi - lo < bins:
        edges = np.arange(lo - 0.5, hi + 1.5)
    else:
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    counts, edges = np.histogram(data, bins=edges)
    top, base, left = 6, height - 18, 4
    bar_w = (width - 2 * left) / len(counts)
    scale = (base - top) / max(int(counts.max()), 1)
    bars = []
    for i, c in enumerate(counts):
        h = c * scale
        tip = f"{num(edges[i])} – {num(edges[i + 1])}: {int(c)}"
        bars.append(f'<rect x="{_f(left + i * bar_w + 0.5)}" y="{_f(base - h)}" width="{_f(max(bar_w - 1, 1))}" '
                    f'height="{_f(h)}" fill="{ACCENT}"><title>{esc(tip)}</title></rect>')
    axis = (f'<line x1="{left}" y1="{base}" x2="{width - left}" y2="{base}" stroke="{INK}"/>'
            f'<text x="{left}" y="{height - 4}" fill="{INK}">{esc(num(lo))}</text>'
            f'<text x="{width - left}" y="{height - 4}" fill="{INK}" text-anchor="end">{esc(num(hi))}</text>'
            f'<text x="{width / 2}" y="{height - 4}" fill="#68717c" text-anchor="middle">n={len(data)}, max bin {int(counts.max())}</text>')
    return _svg(width, height, "".join(bars) + axis, label)


def bars(counts: Sequence[tuple[str, int]], *, label: str, width: int = 300) -> str:
    """Horizontal bars, one per (name, count), largest scale first as given."""
    if not counts:
        return _svg(width, 30, f'<text x="4" y="20" fill="{INK}">nothing to count</text>', label)
    row, name_w = 18, min(120, 8 + 7 * max(len(n) for n, _ in counts))
    top = max((c for _, c in counts), default=1) or 1
    span = width - name_w - 40
    body = []
    for i, (name, c) in enumerate(counts):
        y = i * row + 2
        w = span * c / top
        body.append(f'<text x="{name_w - 4}" y="{y + 12}" text-anchor="end" fill="{INK}">{esc(name[:18])}</text>'
                    f'<rect x="{name_w}" y="{y}" width="{_f(w)}" height="{row - 4}" fill="{ACCENT}"><title>{esc(name)}: {c}</title></rect>'
                    f'<text x="{_f(name_w + w + 4)}" y="{y + 12}" fill="{INK}">{c}</text>')
    return _svg(width, len(counts) * row + 4, "".join(body), label)


def line_chart(
    xs: Sequence[float],
    series: dict[str, Sequence[float | None]],
    *,
    label: str,
    marker: float | None = None,
    x_label: str = "",
    width: int = 520,
    height: int = 240,
) -> str:
    """Lines over a shared x axis, y in [0, 1]; a None breaks its line; ``marker``: a dashed
    vertical line (the current threshold)."""
    if not xs:
        return _svg(width, 30, f'<text x="4" y="20" fill="{INK}">no points</text>', label)
    left, right, top, bottom = 36, 10, 10, 34
    lo, hi = min(xs), max(xs)
    hi = hi if hi > lo else lo + 1.0
    sx = lambda x: left + (x - lo) / (hi - lo) * (width - left - right)
    sy = lambda y: top + (1 - y) * (height - top - bottom)
    grid = "".join(f'<line x1="{left}" x2="{width - right}" y1="{_f(sy(v))}" y2="{_f(sy(v))}" stroke="{GRID}"/>'
                   f'<text x="{left - 4}" y="{_f(sy(v) + 3)}" text-anchor="end" fill="{INK}">{v:g}</text>'
                   for v in (0, 0.25, 0.5, 0.75, 1))
    lines, legend = [], []
    dashes = ("", "5,3", "2,2", "8,3,2,3")
    for k, (name, ys) in enumerate(series.items()):
        color, dash = SERIES_COLORS[k % len(SERIES_COLORS)], dashes[k % len(dashes)]
        for run in _runs(xs, ys):
            pts = " ".join(f"{_f(sx(x))},{_f(sy(y))}" for x, y in run)
            lines.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="1.8" stroke-dasharray="{dash}"/>')
            lines.extend(f'<circle cx="{_f(sx(x))}" cy="{_f(sy(y))}" r="2" fill="{color}"><title>{esc(name)} {num(y)} at {num(x)}</title></circle>'
                         for x, y in run)
        legend.append(f'<text x="{left + 8 + k * 90}" y="{height - 4}" fill="{color}">— {esc(name)}</text>')
    mark = ""
    if marker is not None and lo <= marker <= hi:
        mark = (f'<line x1="{_f(sx(marker))}" x2="{_f(sx(marker))}" y1="{top}" y2="{height - bottom}" stroke="{INK}" '
                f'stroke-dasharray="3,3"><title>current {num(marker)}</title></line>')
    axis = (f'<text x="{left}" y="{height - bottom + 12}" fill="{INK}">{esc(num(lo))}</text>'
            f'<text x="{width - right}" y="{height - bottom + 12}" text-anchor="end" fill="{INK}">{esc(num(hi))}</text>'
            f'<text x="{(left + width) / 2}" y="{height - bottom + 12}" text-anchor="middle" fill="#68717c">{esc(x_label)}</text>')
    return _svg(width, height, grid + "".join(lines) + mark + axis + "".join(legend), label)


def _runs(xs: Sequence[float], ys: Sequence[float | None]) -> list[list[tuple[float, float]]]:
    """Consecutive (x, y) points without a None, as separate polylines."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in zip(xs, ys):
        if y is None or not math.isfinite(y):
            runs.append([])
        else:
            runs[-1].append((x, y))
    return [r for r in runs if r]
