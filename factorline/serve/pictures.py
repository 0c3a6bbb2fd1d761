"""Thumbnails at a record's evidence timestamps, for ``run`` / ``run-path`` with ``?thumbnails=true``.

The editor's run panel shows each factor's evidence as pictures. They are grabbed in the worker
(thread, or worker process with process isolation) right after the run, while the item's file still exists (uploads are removed, and a
data-root file's descriptor is closed, when the worker is done). The pictures are the report's
(``report.thumbs``: the frame shown at each time, evidence boxes drawn), as data URIs.

Added to the record as ``thumbnails: {shots: [{t, image, notes}], note}``: ``t`` in seconds on the
item's clock (evidence times rounded to ms, as stored), ``image`` a ``data:image/jpeg`` URI or
null when no frame could be decoded there, ``notes`` one line per evidence entry at that time,
``note`` why pictures are missing ("" when none are).
"""

from __future__ import annotations

from pathlib import Path

from ..report.thumbs import item_pictures

MAX_SHOTS = 24  # enough for every evidence time of a short clip; the reply stays a few 100 KB
MAX_SIDE = 192


def with_thumbnails(record: dict, path: str) -> dict:
    """``record`` plus its ``thumbnails``; never raises for a bad item (the note says why)."""
    located = {**record, "item": {**(record.get("item") or {}), "path": path}}
    try:
        pictures = item_pictures(located, Path(path).parent, limit=MAX_SHOTS, max_side=MAX_SIDE)
        shots = [{"t": s.t, "image": s.uri, "notes": s.notes} for s in pictures.shots]
        note = pictures.note.replace(path, "the item")  # never show the server's private path
    except (OSError, ValueError) as exc:  # a picture is a nicety: the record still answers
        shots, note = [], f"no pictures ({type(exc).__name__})"
    return {**record, "thumbnails": {"shots": shots, "note": note}}
