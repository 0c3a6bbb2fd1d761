"""The run browser's routes: runs under ``runs_root``, their items (filtered, sorted, paged by
DuckDB), one item with its evidence, verdicts into ``RUN/reviews.jsonl``, review queues, and
the item's media. The work is in :mod:`factorline.review`; these routes read input and shape
the reply.

=======  =============================================  ==========================================
GET      /api/runs                                      ``[{name, pipeline, status, items, ...}]``
GET      /api/runs/{run}                                the run, its grid columns and decision tables
GET      /api/runs/{run}/items?filter=&sort=&offset=&limit=   ``{items: [...], total}``
GET      /api/runs/{run}/items/{item_id}                record, rules, reviews, media URLs
POST     /api/runs/{run}/items/{item_id}/reviews        a verdict, appended (201)
GET      /api/runs/{run}/reviews?item=&offset=&limit=   ``{reviews: [...], total, damaged}``
GET      /api/runs/{run}/queues/{queue}                 flips | low_confidence | sample
GET      /media/runs/{run}/items/{index}/video|thumb    the file (ranges) / a JPEG (signed URLs)
=======  =============================================  ==========================================

``item_id`` is the row index or the item's ``sha256:`` id.
"""

from __future__ import annotations

import asyncio
import os
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from ..contract.errors import FactorlineError, RunDirError
from ..review import grid
from ..review import queues as q
from ..review.items import item_detail, item_rows, run_detail
from ..review.runs import RunCatalog, RunNotFound, RunView
from ..review.store import REVIEWS_FILE, append_review, make_verdict, read_reviews
from .errors import ForbiddenError, NotFoundError, RequestValidationFailed
from .review_media import (
    allowed_roots,
    check_signature,
    locate,
    media_type,
    media_url,
    open_media,
    require_media,
    thumbnail,
)
from .routes import ERRORS, state_of

router = APIRouter()
REVIEW_ERRORS = {**ERRORS, 403: ERRORS[404]}
MAX_PAGE = 500


class RunSummary(BaseModel):
    name: str
    pipeline: str | None = None
    status: str | None = None
    items: int | None = None
    failed: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    tables: list[str] = []
    fingerprint: str | None = None
    reviews: bool = False
    problem: str | None = None


class GridItem(BaseModel):
    index: int
    id: str | None
    path: str | None
    name: str
    kind: str | None
    error: str | None
    decisions: dict[str, dict[str, str | None]] = Field(description="table -> {outcome, rule}")
    values: dict[str, Any] = Field(description="every grid column of the item")
    reviewed: dict[str, str] = Field(description='"table:<t>"/"factor:<f>" -> the latest verdict')
    thumb_url: str
    queue: dict[str, Any] | None = Field(None, description="why a queue lists the item (flips: before/after)")


class ItemPage(BaseModel):
    items: list[GridItem]
    total: int
    offset: int
    limit: int
    queue: dict[str, Any] | None = None


class ReviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    table: str | None = Field(None, description="A decision table (or give factor).", max_length=200)
    factor: str | None = Field(None, description="A factor as step.field (or give table).", max_length=200)
    verdict: str = Field(..., description="confirm or override (for a table, an outcome works too).", max_length=200)
    value: Any = Field(None, description="The right outcome or factor value (override).")
    reviewer: str = Field(..., min_length=1, max_length=200)
    note: str = Field("", max_length=4000)


class Review(BaseModel):
    review: str
    time: str
    index: int
    item: str | None
    path: str | None
    table: str | None = None
    factor: str | None = None
    verdict: Literal["confirm", "override"]
    value: Any = None
    was: Any = None
    rule: str | None = None
    reviewer: str
    note: str = ""


class ReviewPage(BaseModel):
    reviews: list[Review]
    total: int
    damaged: int = Field(description="lines of reviews.jsonl that are not a verdict (a torn last line)")


def catalog(request: Request) -> RunCatalog:
    settings = state_of(request).settings
    if settings.runs_root is None:
        raise ForbiddenError("run browsing is off: start the server with --runs DIR", path="path.run")
    found = getattr(request.app.state, "review_catalog", None)
    if found is None:
        found = request.app.state.review_catalog = RunCatalog(settings.runs_root)
    return found


async def _call(fn, *args, **kw):
    """Run blocking work off the event loop; run-folder errors become 404/422 answers."""
    try:
        return await asyncio.to_thread(fn, *args, **kw)
    except RunNotFound as exc:
        raise NotFoundError(exc.message, path=exc.path) from None
    except RunDirError as exc:
        raise RequestValidationFailed(exc.message, path=exc.path or "path.run") from None


def _urls(request: Request, run: str):
    token = state_of(request).token
    return lambda index, what, **kw: media_url(run, index, what, token, **kw)


@router.get("/api/runs", tags=["review"], responses=REVIEW_ERRORS)
async def runs(request: Request) -> list[RunSummary]:
    """Run folders under the runs root; empty when run browsing is off."""
    if state_of(request).settings.runs_root is None:
        return []
    return [RunSummary(**r) for r in await _call(catalog(request).list)]


@router.get("/api/runs/{run}", tags=["review"], responses=REVIEW_ERRORS)
async def run(run: str, request: Request) -> dict:
    """The run's summary, grid columns (name, type, group), decision tables with their rules and
    outcomes, and the factors the low-confidence queue can use."""
    view = await _call(catalog(request).get, run)
    return await _call(run_detail, view)


Filter = Annotated[str, Query(max_length=grid.MAX_FILTER_CHARS, description="clauses joined by 'and', e.g. "
                              "`logo.has_logo is true and moderation is accept` (see factorline/review/grid.py)")]
Sort = Annotated[str, Query(max_length=400, description="column, '-column' for descending; comma-separated")]
Offset = Annotated[int, Query(ge=0, le=10**9)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]


@router.get("/api/runs/{run}/items", tags=["review"], responses=REVIEW_ERRORS)
async def items(run: str, request: Request, filter: Filter = "", sort: Sort = "", offset: Offset = 0,
                limit: Limit = 50) -> ItemPage:
    """One page of the run's items matching ``filter``, in ``sort`` order, and how many match."""
    view = await _call(catalog(request).get, run)
    total, rows = await _call(item_rows, view, _urls(request, run), filter=filter, sort=sort, offset=offset, limit=limit)
    return ItemPage(items=rows, total=total, offset=offset, limit=limit)


@router.get("/api/runs/{run}/items/{item_id}", tags=["review"], responses=REVIEW_ERRORS)
async def item(run: str, item_id: str, request: Request) -> dict:
    """The item's whole record, every decision with its explanation and the table's rules, its
    verdicts, the evidence on a timeline, and media URLs (or why there are none)."""
    view = await _call(catalog(request).get, run)
    roots = allowed_roots(state_of(request).settings)
    return await _call(item_detail, view, item_id, _urls(request, run), lambda record, run_dir: locate(record, run_dir, roots))


@router.post("/api/runs/{run}/items/{item_id}/reviews", tags=["review"], status_code=201, responses=REVIEW_ERRORS)
async def post_review(run: str, item_id: str, body: ReviewBody, request: Request) -> Review:
    """Store a verdict in RUN/reviews.jsonl (appended, fsynced before the answer)."""
    view = await _call(catalog(request).get, run)

    def store() -> dict:
        index = view.index_of(item_id)
        line = make_verdict(view.require_plan(), view.record(index), index, body.model_dump())
        return append_review(view.dir, line)

    return Review(**await _call(store))


@router.get("/api/runs/{run}/reviews", tags=["review"], responses=REVIEW_ERRORS)
async def reviews(run: str, request: Request, item: Annotated[str | None, Query(max_length=80)] = None,
                  offset: Offset = 0, limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> ReviewPage:
    """Verdicts in file order, optionally of one item (row index or id)."""
    view = await _call(catalog(request).get, run)

    def read() -> ReviewPage:
        found = read_reviews(view.dir / REVIEWS_FILE)
        lines = found.lines
        if item is not None:
            index = view.index_of(item)
            lines = [line for line in lines if line.get("index") == index]
        return ReviewPage(reviews=[Review(**line) for line in lines[offset:offset + limit]], total=len(lines),
                          damaged=found.damaged)

    return await _call(read)


@router.get("/api/runs/{run}/queues/{queue}", tags=["review"], responses=REVIEW_ERRORS)
async def queue(run: str, queue: Literal["flips", "low_confidence", "sample"], request: Request,
                pipeline: Annotated[str | None, Query(max_length=64, description="flips: a served pipeline")] = None,
                field: Annotated[str | None, Query(max_length=200, description="low_confidence: the factor")] = None,
                threshold: float = 0.5, band: Annotated[float, Query(gt=0, le=1)] = 0.2,
                table: Annotated[str | None, Query(max_length=200, description="sample: the table")] = None,
                outcome: Annotated[str | None, Query(max_length=200, description="sample: the outcome")] = None,
                confidence: Annotated[float, Query(gt=0.5, lt=1)] = 0.95,
                margin: Annotated[float, Query(gt=0, lt=0.5)] = 0.05,
                p: Annotated[float, Query(gt=0, lt=1, description="sample: expected precision")] = 0.5,
                seed: int = 0, offset: Offset = 0, limit: Limit = 50) -> ItemPage:
    """Items to review first: ``flips`` (a served pipeline's decisions vs the run's, or the run's
    changes.jsonl), ``low_confidence`` (|field - threshold| <= band, nearest first), ``sample``
    (a seeded random sample of one outcome, sized for precision within ``margin``)."""
    view = await _call(catalog(request).get, run)
    plan = state_of(request).store.get(pipeline).plan if pipeline else None
    urls = _urls(request, run)

    def build() -> ItemPage:
        meta: dict[str, Any] = {"name": queue}
        if queue == "flips":
            found = q.flips_from_plan(view, plan) if plan is not None else q.flips_from_changes(view)
            why = {f["index"]: f for f in found}
            meta |= {"source": f"pipeline {pipeline}" if plan else "changes.jsonl", "flips": len(found)}
            indices = sorted(why)
            total, rows = _by_index(view, urls, indices, offset, limit)
            for row in rows:
                row["queue"] = {k: v for k, v in why[row["index"]].items() if k != "index"}
            return ItemPage(items=rows, total=total, offset=offset, limit=limit, queue=meta)
        if queue == "low_confidence":
            column = q.confidence_column(view.columns, field)
            ident = grid.quote(column.name)
            where = f"{ident} IS NOT NULL AND abs({ident} - ?) <= ?"
            meta |= {"field": column.name, "threshold": threshold, "band": band, "fields": q.confidence_fields(view.columns)}
            total, rows = item_rows(view, urls, where=(where, [threshold, band]), order=(f"abs({ident} - ?)", [threshold]),
                                    offset=offset, limit=limit)
            return ItemPage(items=rows, total=total, offset=offset, limit=limit, queue=meta)
        column = grid.decision_column(view.columns, table or (view.tables[0] if view.tables else ""))
        if not outcome:
            raise grid.FilterError("sample needs ?outcome=: the outcome whose precision to measure", path="query.outcome")
        population = view.cursor().execute(f"SELECT count(*) FROM grid WHERE {grid.quote(column.name)} = ?", [outcome]).fetchone()[0]
        n = q.sample_size(confidence, margin, population, p)
        population, indices = q.sample_indices(view, column, outcome, n, seed)
        meta |= {"table": column.name, "outcome": outcome, "population": population, "size": n, "confidence": confidence,
                 "margin": margin, "p": p, "seed": seed}
        total, rows = _by_index(view, urls, indices, offset, limit)
        return ItemPage(items=rows, total=total, offset=offset, limit=limit, queue=meta)

    return await _call(build)


def _by_index(view: RunView, urls, indices: list[int], offset: int, limit: int) -> tuple[int, list[dict]]:
    return len(indices), item_rows(view, urls, where=('"index" IN (SELECT unnest(?))', [indices[offset:offset + limit]]),
                                   offset=0, limit=limit)[1]


@router.get("/media/runs/{run}/items/{index}/{what}", tags=["review"], response_class=Response,
            responses={**REVIEW_ERRORS, 200: {"content": {"video/mp4": {}, "image/jpeg": {}}}})
async def media(run: str, index: int, what: Literal["video", "thumb"], request: Request,
                t: Annotated[float | None, Query(ge=0, le=86400)] = None, exp: int | None = None,
                sig: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    """The item's file (``video``, byte ranges for seeking) or a JPEG at ``t`` with its evidence boxes
    (``thumb``); only under the media roots. With a token, the URL must carry the signature the
    item API gave."""
    check_signature(state_of(request).token, request.url.path, exp, sig)
    view = await _call(catalog(request).get, run)
    roots = allowed_roots(state_of(request).settings)
    record = await _call(view.record, index)
    path = require_media(record, view.dir, roots)
    headers = {"Cache-Control": "private, max-age=600", "X-Content-Type-Options": "nosniff"}
    if what == "video":
        fd, readable = open_media(path, roots)
        return _HeldFile(fd, readable, media_type=media_type(path), headers=headers)
    try:
        data = await asyncio.to_thread(thumbnail, path, record, t, (view.name, view.stamp, index))
    except FactorlineError as exc:
        raise NotFoundError(f"no thumbnail: {exc.message}", path="path.index") from None
    return Response(data, media_type="image/jpeg", headers=headers)


class _HeldFile(FileResponse):
    """A FileResponse of an already opened descriptor's ``/proc/self/fd`` path, which it closes
    when the answer ends, sent, failed or cut off by the client (players abort ranges often)."""

    def __init__(self, fd: int, *args, **kwargs):
        self.fd = fd
        super().__init__(*args, **kwargs)

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            os.close(self.fd)
