"""An item's timeline: per-frame scores, time markers (cuts) and segments (speech, black
frames, subtitle lines) on one time axis, as inline SVG.

Which fields go on it is found from their dtypes, not from a list of known operators:
``list[float]``/``list[int]`` with unit ``s`` (or a name ending in ``_s``) are times, other
number lists are one score per sampled frame, ``segments`` and ``lines`` are spans. Without a
plan (a run whose operators are no longer installed) the same roles are read off the values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..contract.items import Limits, Sampling
from ..media.decode import target_times
from .html import esc, num
from .svg import INK, SERIES_COLORS, _f, _svg

SERIES, MARKERS, SPANS = "series", "markers", "spans"
_NUMBER_LISTS = {"list[float]", "list[int]"}
_LABEL_W, _ROW, _WIDTH, _RIGHT = 150, 24, 700, 24


@dataclass
class Track:
    label: str  # step.field
    role: str  # SERIES | MARKERS | SPANS
    points: list[tuple[float, float]]  # SERIES: (t, value); MARKERS: (t, 0)
    spans: list[tuple[float, float, str]]  # SPANS: (start, end, text)


def field_roles(dtypes: dict[str, dict[str, str]], units: dict[str, str | None]) -> dict[str, str]:
    """``step.field`` -> role for every field that belongs on a timeline.

    Times: number lists in seconds. Per-frame scores: ``list[float]`` without a unit (a
    ``list[int]`` in px is a box, not a series). Spans: ``segments``, ``lines`` and ``labeled_lines``."""
    roles = {}
    for step, fields in dtypes.items():
        for name, dtype in fields.items():
            key, unit = f"{step}.{name}", units.get(f"{step}.{name}")
            if dtype in _NUMBER_LISTS and (unit == "s" or name.endswith("_s")):
                roles[key] = MARKERS
            elif dtype == "list[float]" and not unit:
                roles[key] = SERIES
            elif dtype in {"segments", "lines", "labeled_lines"}:
                roles[key] = SPANS
    return roles


def infer_role(name: str, value: Any) -> str | None:
    """The role of a field from its value alone (runs read without their plan)."""
    if not isinstance(value, list) or not value:
        return None
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return MARKERS if name.endswith("_s") else SERIES
    if all(isinstance(v, dict) and {"start_s", "end_s"} <= set(v) for v in value):
        return SPANS
    return None


def sample_times(count: int, duration: float | None, sampling: Sampling, source_fps: float | None) -> list[float]:
    """When the ``count`` per-frame values were sampled: the executor's grid when it has
    ``count`` points, else spread evenly (frame times are not stored in records)."""
    cap = max(1, min(sampling.max_frames, Limits().max_frames))
    grid = target_times(duration, sampling.fps, cap, source_fps, sampling.min_frames) if sampling.fps > 0 else []
    if len(grid) == count:
        return grid
    end = duration or float(count)
    return [end * i / max(count, 1) for i in range(count)]


def tracks_of(factors: dict, roles: dict[str, str], times_for) -> list[Track]:
    """Tracks for one item's factors; ``times_for(n)`` gives the times of n per-frame values."""
    out = []
    for step, fields in (factors or {}).items():
        for name, value in (fields or {}).items() if isinstance(fields, dict) else ():
            key = f"{step}.{name}"
            role = roles.get(key) or (infer_role(name, value) if not roles else None)
            if role and isinstance(value, list) and value:
                out.append(_track(key, role, value, times_for))
    return [t for t in out if t.points or t.spans]


def _track(key: str, role: str, value: list, times_for) -> Track:
    if role == SPANS:
        spans = [(float(s["start_s"]), float(s["end_s"]), str(s.get("text") or "")) for s in value
                 if isinstance(s, dict) and _finite(s.get("start_s")) and _finite(s.get("end_s"))]
        return Track(key, role, [], spans)
    numbers = [float(v) if _finite(v) else math.nan for v in value]
    if role == MARKERS:
        return Track(key, role, [(t, 0.0) for t in numbers if math.isfinite(t)], [])
    return Track(key, role, [(t, v) for t, v in zip(times_for(len(numbers)), numbers) if math.isfinite(v)], [])


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def timeline_svg(tracks: list[Track], duration: float, thumb_times: list[float]) -> str:
    """One row per track plus a row marking the thumbnails (numbered as shown)."""
    end = max([duration or 0.0] + [t for tr in tracks for t, _ in tr.points] + [e for tr in tracks for _, e, _ in tr.spans]) or 1.0
    sx = lambda t: _LABEL_W + max(0.0, min(t, end)) / end * (_WIDTH - _LABEL_W - _RIGHT)
    rows, y = [], 0
    for i, track in enumerate(tracks):
        height = 2 * _ROW if track.role == SERIES else _ROW
        rows.append(_row(i, track, sx, y, height))
        y += height
    if thumb_times:
        rows.append(f'<text x="{_LABEL_W - 6}" y="{y + 15}" text-anchor="end" fill="{INK}">thumbnails</text>')
        rows += [f'<g><circle cx="{_f(sx(t))}" cy="{y + 11}" r="7" fill="#fff" stroke="{INK}"/><text x="{_f(sx(t))}" '
                 f'y="{y + 14.5}" text-anchor="middle" fill="{INK}">{k + 1}</text><title>{num(t)} s</title></g>'
                 for k, t in enumerate(thumb_times)]
        y += _ROW
    ticks = nice_ticks(end)
    axis = f'<line x1="{_LABEL_W}" x2="{_WIDTH - _RIGHT}" y1="{y + 2}" y2="{y + 2}" stroke="{INK}"/>' + "".join(
        f'<text x="{_f(sx(t))}" y="{y + 14}" text-anchor="middle" fill="{INK}">{num(round(t, 2))} s</text>' for t in ticks)
    return _svg(_WIDTH, y + 18, "".join(rows) + axis, "timeline")


def nice_ticks(end: float, count: int = 6) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 times a power of ten) from 0 to ``end``."""
    raw = end / count
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [round(k * step, 9) for k in range(int(end / step + 1e-9) + 1)]


def _row(i: int, track: Track, sx, y0: float, height: float) -> str:
    color = SERIES_COLORS[i % len(SERIES_COLORS)]
    label = f'<text x="{_LABEL_W - 6}" y="{y0 + 15}" text-anchor="end" fill="{INK}">{esc(track.label[-26:])}</text>'
    base = f'<line x1="{_LABEL_W}" x2="{_WIDTH - _RIGHT}" y1="{y0 + height - 3}" y2="{y0 + height - 3}" stroke="#eef1f4"/>'
    if track.role == SPANS:
        body = "".join(f'<rect x="{_f(sx(a))}" y="{y0 + 5}" width="{_f(max(sx(b) - sx(a), 1.5))}" height="{height - 10}" '
                       f'fill="{color}" opacity="0.6"><title>{num(a)}–{num(b)} s {esc(text[:200])}</title></rect>'
                       for a, b, text in track.spans)
    elif track.role == MARKERS:
        body = "".join(f'<line x1="{_f(sx(t))}" x2="{_f(sx(t))}" y1="{y0 + 3}" y2="{y0 + height - 3}" stroke="{color}" '
                       f'stroke-width="2"><title>{num(t)} s</title></line>' for t, _ in track.points)
    else:
        body = _series(track, sx, y0, height, color)
    return label + base + body


def _series(track: Track, sx, y0: float, height: float, color: str) -> str:
    """Values scaled to the row: [0, 1] when they fit in it (scores), else their own range."""
    values = [v for _, v in track.points]
    lo, hi = (0.0, 1.0) if min(values) >= 0 and max(values) <= 1 else (min(values), max(values))
    hi = hi if hi > lo else lo + 1.0
    sy = lambda v: y0 + height - 5 - (v - lo) / (hi - lo) * (height - 10)
    pts = " ".join(f"{_f(sx(t))},{_f(sy(v))}" for t, v in track.points)
    dots = "".join(f'<circle cx="{_f(sx(t))}" cy="{_f(sy(v))}" r="2" fill="{color}"><title>{num(t)} s: {num(v)}</title></circle>'
                   for t, v in track.points)
    scale = f'<text x="{_LABEL_W - 6}" y="{y0 + 28}" text-anchor="end" fill="#68717c">{esc(num(lo))} to {esc(num(hi))}</text>'
    return f'{scale}<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="1.5"/>{dots}'
