"""Thumbnails of an item at its evidence timestamps, with the evidence boxes drawn on them.

Evidence entries are ``{t, box [x, y, w, h] in source px, text, score}`` under each step's
``evidence`` field. Times named by a decision's hits come first (they explain the outcome),
then the others in time order; entries sharing a time share one picture. Frames are decoded
once per item (one seek pass); a missing or changed file gives a note instead of pictures.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..contract.errors import FactorlineError
from ..media.thumbnails import DEFAULT_MAX_SIDE, grab_frames
from .html import data_uri, num
from .run import media_path
from .svg import SERIES_COLORS

JPEG_QUALITY = 70


@dataclass
class Shot:
    t: float
    uri: str | None = None  # data: URI of the JPEG
    notes: list[str] = field(default_factory=list)  # plain text, one per evidence entry


@dataclass
class Pictures:
    shots: list[Shot] = field(default_factory=list)
    note: str = ""  # plain text: why some or all pictures are missing

    @property
    def times(self) -> list[float]:
        return [s.t for s in self.shots]


def _time(entry: dict) -> float | None:
    t = entry.get("t") if isinstance(entry, dict) else None
    ok = isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) and t >= 0
    return round(float(t), 3) if ok else None


def evidence_by_time(record: dict) -> dict[float, list[tuple[str, dict]]]:
    """Every timed evidence entry of every step, grouped by time (ms)."""
    groups: dict[float, list[tuple[str, dict]]] = {}
    for step, fields in (record.get("factors") or {}).items():
        entries = fields.get("evidence") if isinstance(fields, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            t = _time(entry)
            if t is not None:
                groups.setdefault(t, []).append((step, entry))
    return groups


def pick_times(record: dict, limit: int) -> list[float]:
    """Up to ``limit`` times: those the decisions' hits point to first, then the rest in order."""
    groups = evidence_by_time(record)
    hit_times = [_time(e) for d in (record.get("decisions") or {}).values() for h in d.get("hits") or []
                 for e in h.get("evidence") or []]
    ordered = [t for t in hit_times if t is not None and t in groups] + sorted(groups)
    picked = list(dict.fromkeys(ordered))[:limit]
    if not picked and not record.get("error"):  # no evidence: one frame still shows the item
        duration = (record.get("item") or {}).get("duration_s") or 0.0
        picked = [round(duration / 2, 3)]
    return sorted(picked)


def item_pictures(record: dict, run_dir: Path, *, limit: int = 6, max_side: int = DEFAULT_MAX_SIDE) -> Pictures:
    """Thumbnails for one record, or a note saying why there are none."""
    if record.get("error"):
        return Pictures(note="the item failed, so there are no pictures")
    times = pick_times(record, limit)
    path = media_path(record, run_dir)
    if path is None:
        return Pictures(note=f"media file not found ({(record.get('item') or {}).get('path')}): shown without pictures")
    item = record.get("item") or {}
    try:
        grabbed = grab_frames(path, times, max_side=max_side, digest=item.get("id"))
    except (FactorlineError, OSError) as exc:
        return Pictures(note=f"could not decode pictures from {path}: {exc}")
    if (grabbed.info.width, grabbed.info.height) != (item.get("width"), item.get("height")):
        return Pictures(note=f"{path} is now {grabbed.info.width}x{grabbed.info.height}, the run saw "
                             f"{item.get('width')}x{item.get('height')}: the file changed, so no pictures")
    groups = evidence_by_time(record)
    steps = list(record.get("factors") or {})
    shots = [_shot(t, grabbed.frames.get(t), groups.get(t, []), steps, grabbed.info.width) for t in times]
    lost = [s.t for s in shots if s.uri is None]
    note = f"no frame could be decoded at {', '.join(num(t) + ' s' for t in lost)}" if lost else ""
    return Pictures(shots, note)


def _shot(t: float, frame: np.ndarray | None, entries: list[tuple[str, dict]], steps: list[str], source_width: int) -> Shot:
    notes = [_describe(step, e) for step, e in entries] or ["frame (no evidence here)"]
    if frame is None:
        return Shot(t, None, notes)
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    scale = image.width / max(source_width, 1)
    for step, entry in entries:
        box = entry.get("box")
        if isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box):
            x, y, w, h = (float(v) * scale for v in box)
            color = SERIES_COLORS[steps.index(step) % len(SERIES_COLORS)] if step in steps else "#ff0000"
            draw.rectangle([x, y, x + max(w, 1), y + max(h, 1)], outline=color, width=2)
    return Shot(t, data_uri(encode_jpeg(image)), notes)


def encode_jpeg(image: Image.Image, quality: int = JPEG_QUALITY) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def _describe(step: str, entry: dict) -> str:
    parts = [step]
    if entry.get("text"):
        text = str(entry["text"])
        parts.append(text if len(text) <= 80 else text[:79] + "…")
    if isinstance(entry.get("score"), (int, float)):
        parts.append(num(entry["score"], 3))
    if isinstance(entry.get("box"), list):
        parts.append("box")
    return " · ".join(parts)
