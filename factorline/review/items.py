"""What the run browser shows: a run's description, a page of grid rows, one item in full.

``urls(index, what, **query)`` makes the media URLs (the server signs them); these functions
know nothing of HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePath

from ..batch.query import quote
from .grid import decision_column, page, parse_filter, parse_sort, values_of
from .queues import confidence_fields
from .runs import RunView
from .store import REVIEWS_FILE, outcomes_of, read_reviews

Urls = Callable[..., str]
_TRACK_DTYPES = {"segments": "spans", "lines": "spans", "labeled_lines": "spans"}
_SIDES = ("top", "bottom", "left", "right")  # a step measuring bars (black_border): drawn over the picture


def _tables(view: RunView) -> dict[str, tuple[str, str]]:
    """table -> (outcome column, rule column) of the grid."""
    out = {}
    for table in view.tables:
        column = decision_column(view.columns, table)
        out[table] = (column.name, f"{column.name}.rule")
    return out


def run_detail(view: RunView) -> dict:
    plan = view.plan
    reviews = read_reviews(view.dir / REVIEWS_FILE)
    cur = view.cursor()
    tables = []
    for table, (outcome_col, _) in _tables(view).items():
        counts = cur.execute(f"SELECT {quote(outcome_col)}, count(*) FROM grid GROUP BY 1 ORDER BY 2 DESC").fetchall()
        doc = dict(plan.doc.decisions).get(table, {}) if plan else {}
        rules = [{k: r.get(k) for k in ("id", "when", "outcome", "reason", "default")} for r in (doc.get("rules") or [])]
        tables.append({"name": table, "column": outcome_col, "outcomes": outcomes_of(plan, table) if plan else [],
                       "counts": {str(k): v for k, v in counts}, "rules": rules, "policy": doc.get("policy")})
    factors = {}
    if plan:
        factors = {f"{s}.{f}": d for s, fields in plan.field_dtypes.items() for f, d in fields.items()}
    return {**view.summary(), "columns": [c.public() for c in view.columns.values()], "decision_tables": tables,
            "factor_types": factors, "confidence_fields": confidence_fields(view.columns),
            "review_count": len(reviews.lines), "plan_problem": view.plan_problem or None}


def _latest_by_index(view: RunView) -> dict[int, dict[str, str]]:
    out: dict[int, dict[str, str]] = {}
    for (index, kind, name), line in read_reviews(view.dir / REVIEWS_FILE).latest().items():
        out.setdefault(index, {})[f"{kind}:{name}"] = line["verdict"]
    return out


def item_rows(view: RunView, urls: Urls, *, filter: str = "", sort: str = "", where: tuple | None = None,
              order: tuple | None = None, offset: int = 0, limit: int = 50) -> tuple[int, list[dict]]:
    """(matching rows, this page) as the grid shows them."""
    sql, params = where if where is not None else parse_filter(filter, view.columns)
    order_sql, order_params = (f'{order[0]}, "index" ASC', order[1]) if order else (parse_sort(sort, view.columns), [])
    total, indices = page(view.cursor(), where=sql, params=params, order=order_sql, order_params=order_params,
                          offset=offset, limit=limit)
    tables, reviewed = _tables(view), _latest_by_index(view)
    rows = [values_of(view.record(i), i, view.columns) for i in indices]
    return total, [_grid_item(row, tables, reviewed.get(row["index"], {}), urls) for row in rows]


def _grid_item(row: dict, tables: dict[str, tuple[str, str]], reviewed: dict[str, str], urls: Urls) -> dict:
    path = row.get("path")
    return {
        "index": row["index"], "id": row.get("id"), "path": path, "name": PurePath(path).name if path else f"#{row['index']}",
        "kind": row.get("kind"), "error": row.get("error"),
        "decisions": {t: {"outcome": row.get(o), "rule": row.get(r)} for t, (o, r) in tables.items()},
        "values": row, "reviewed": reviewed, "thumb_url": urls(row["index"], "thumb"),
    }


def item_detail(view: RunView, item_id: str, urls: Urls, locate: Callable[[dict, Path], tuple[Path | None, str]]) -> dict:
    """One item: record, decisions with their table's rules, verdicts, timeline, media.
    ``locate(record, run_dir)``: the item's file when it may be served, else (None, why not)."""
    index = view.index_of(item_id)
    record = view.record(index)
    plan = view.plan
    decisions = record.get("decisions") or {}
    tables = {}
    for table, decision in decisions.items():
        doc = dict(plan.doc.decisions).get(table, {}) if plan else {}
        hit = {h.get("rule") for h in decision.get("hits") or []} | {decision.get("rule")}
        rules = [{**{k: r.get(k) for k in ("id", "when", "outcome", "reason", "default")}, "fired": r.get("id") in hit}
                 for r in doc.get("rules") or []]
        tables[table] = {**decision, "rules": rules, "outcomes": outcomes_of(plan, table) if plan else []}
    verdicts = [line for line in read_reviews(view.dir / REVIEWS_FILE).lines if line.get("index") == index]
    latest = {}
    for line in verdicts:
        latest[f"table:{line['table']}" if line.get("table") else f"factor:{line.get('factor')}"] = line
    path, why = locate(record, view.dir)
    item = record.get("item") or {}
    media = {"available": path is not None, "reason": why or None, "kind": item.get("kind"),
             "video_url": urls(index, "video") if path is not None else None,
             "thumb_url": urls(index, "thumb") if path is not None else None}
    return {"index": index, "id": item.get("id"), "path": item.get("path"),
            "name": PurePath(str(item.get("path") or f"#{index}")).name, "record": record, "tables": tables,
            "factor_types": plan.field_dtypes if plan else {}, "reviews": verdicts, "latest": latest, "media": media,
            "timeline": timeline(record, plan.field_dtypes if plan else {}), "total": view.count()}


def timeline(record: dict, dtypes: dict[str, dict[str, str]]) -> dict:
    """Evidence on the item's clock: tracks of points (cuts) and spans (segments, text lines), every
    timed box and the measured bars (for the overlay on the player), in source pixels."""
    item, factors = record.get("item") or {}, record.get("factors") or {}
    tracks, boxes = [], []
    for step, fields in factors.items():
        if not isinstance(fields, dict):
            continue
        for name, value in fields.items():
            dtype = dtypes.get(step, {}).get(name)
            if name == "evidence" or not isinstance(value, list) or not value:
                continue
            if dtype in _TRACK_DTYPES:
                spans = [{"start_s": v.get("start_s"), "end_s": v.get("end_s"), "text": v.get("text") or v.get("label")}
                         for v in value if isinstance(v, dict) and v.get("start_s") is not None]
                tracks.append({"name": f"{step}.{name}", "kind": "spans", "items": spans})
            elif dtype == "list[float]" and name.endswith("_s"):
                tracks.append({"name": f"{step}.{name}", "kind": "points", "items": [{"t": t} for t in value]})
        for entry in fields.get("evidence") or []:
            if isinstance(entry, dict) and isinstance(entry.get("box"), list) and len(entry["box"]) == 4:
                boxes.append({"step": step, **{k: entry.get(k) for k in ("t", "box", "text", "score")}})
    bars = [{"step": step, **{side: fields[side] for side in _SIDES}} for step, fields in factors.items()
            if isinstance(fields, dict) and all(isinstance(fields.get(side), (int, float)) for side in _SIDES)
            and any(fields[side] > 0 for side in _SIDES)]
    evidence = [{"step": s, "t": e.get("t")} for s, f in factors.items() if isinstance(f, dict)
                for e in f.get("evidence") or [] if isinstance(e, dict) and e.get("t") is not None]
    return {"duration_s": item.get("duration_s"), "width": item.get("width"), "height": item.get("height"),
            "tracks": tracks, "boxes": boxes, "bars": bars, "evidence": evidence}

