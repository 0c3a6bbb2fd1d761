"""``build_report(run_dir)``: one self-contained ``report.html`` for a run folder.

The file opens from disk with no server and no network: thumbnails are base64 JPEG data URIs,
charts inline SVG, filtering a few lines of inline script. A big run stays usable: at most
``max_items`` items get a detailed section (failed items first, then items a rule other than
the default decided, then the rest), each with at most ``max_thumbs`` thumbnails.
"""

from __future__ import annotations

import itertools
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from ..contract.items import Sampling
from ..media.thumbnails import DEFAULT_MAX_SIDE
from . import summary
from .columns import RunColumns, detailed_rows, indexed_rows, read_columns, read_records
from .html import FILTER_JS, esc, page
from .item import item_section
from .run import RunData, load_run
from .thumbs import Pictures, item_pictures
from .timeline import field_roles, sample_times, timeline_svg, tracks_of

REPORT_FILE = "report.html"
MAX_ITEMS = 500
MAX_THUMBS = 6
THREADS = 4


@dataclass
class ReportSummary:
    path: str
    items: int  # records in the run
    detailed: int  # items with a full section
    thumbnails: int  # pictures embedded
    without_pictures: int  # detailed items whose media could not be shown (see their notes)
    bytes: int
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def build_report(
    run_dir: str | Path,
    *,
    out: str | Path | None = None,
    max_items: int = MAX_ITEMS,
    max_thumbs: int = MAX_THUMBS,
    thumb_side: int = DEFAULT_MAX_SIDE,
    pictures: bool = True,
    per_outcome: int = summary.PER_OUTCOME,
) -> ReportSummary:
    """Write the report of ``run_dir`` to ``out`` (default ``run_dir/report.html``).

    ``pictures=False`` skips decoding (no thumbnails): fast, for runs whose media is elsewhere.
    Raises RunDirError when ``run_dir`` is not a run folder.
    """
    started = time.perf_counter()
    run = load_run(run_dir, records=False)
    cols = read_columns(run.run_dir)
    detailed = set(detailed_rows(cols, max_items))
    records = read_records(run.run_dir / "results.jsonl", detailed | set(indexed_rows(cols, per_outcome)))
    sections, thumbs, blind = [], 0, 0
    roles = field_roles(run.dtypes, run.units)
    order = sorted(detailed)
    pictures_of = _all_pictures(run, records, order, max_thumbs, thumb_side) if pictures else itertools.repeat(None)
    for i, shots in zip(order, pictures_of):
        record = records[i]
        thumbs += sum(1 for s in (shots.shots if shots else []) if s.uri)
        blind += bool(shots and not any(s.uri for s in shots.shots) and not record.get("error"))
        sections.append(item_section(i, record, shots, _timeline(run, record, roles, shots)))
    html = render_page(run, cols, records, detailed, sections, max_items, per_outcome)
    path = Path(out) if out else run.run_dir / REPORT_FILE
    _write_atomic(path, html)
    seconds = round(time.perf_counter() - started, 3)
    return ReportSummary(str(path), cols.total, len(detailed), thumbs, blind, path.stat().st_size, seconds)


def _all_pictures(run: RunData, records: dict[int, dict], order: list[int], limit: int, side: int):
    """Pictures per item, in order. Threads overlap the decoders (PyAV and Pillow release the
    GIL while decoding and encoding); results come back in submission order."""
    workers = max(1, min(THREADS, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        yield from pool.map(lambda i: item_pictures(records[i], run.run_dir, limit=limit, max_side=side), order)


def render_page(run: RunData, cols: RunColumns, records: dict[int, dict], detailed: set[int], sections: list[str],
                max_items: int, per_outcome: int) -> str:
    title = f"factorline report — {run.meta.get('pipeline') or run.run_dir.name}"
    capped = ""
    if len(detailed) < cols.total:
        capped = (f'<p class="note">Detailed sections for {len(detailed)} of {cols.total} items (limit {max_items}): '
                  "failed items first, then items a rule decided, then the rest, each in run order.</p>")
    body = "".join([
        summary.header(run, cols, title),
        summary.decision_charts(cols),
        summary.failed_items(cols, detailed),
        summary.factor_charts(cols),
        summary.factor_cards(run),
        summary.filters(cols),
        summary.index({i: records[i] for i in records}, detailed, cols, per_outcome),
        f"<h2>Item details</h2>{capped}",
        "".join(sections),
        f'<p class="muted">Written by factorline from {esc(run.run_dir)}; self-contained, no network.</p>',
    ])
    return page(title, body, script=FILTER_JS)


def _timeline(run: RunData, record: dict, roles: dict[str, str], shots: Pictures | None) -> str:
    item = record.get("item") or {}
    if item.get("kind") != "video" or record.get("error"):
        return ""
    sampling = run.plan.sampling if run.plan else Sampling()
    duration = item.get("duration_s")

    def times_for(n: int) -> list[float]:
        return sample_times(n, duration, sampling, item.get("fps"))

    tracks = tracks_of(record.get("factors") or {}, roles, times_for)
    thumb_times = shots.times if shots else []
    return timeline_svg(tracks, duration or 0.0, thumb_times) if tracks or thumb_times else ""


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
