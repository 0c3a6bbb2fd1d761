"""The HTTP routes: thin, each one reads its input, calls one module, shapes the reply."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ..cache import jsonable
from ..contract.errors import PipelineError
from ..plugins import list_operators
from .api_models import OperatorSchema
from .errors import ForbiddenError, UnavailableError, UploadTimeoutError, error_response
from .paths import MAX_PATH_CHARS, list_media, open_under_root
from .pipelines import check_document, check_name
from .state import ServerState
from .uploads import receive_upload

router = APIRouter()


class ErrorDetail(BaseModel):
    type: str
    message: str
    path: str | None = None
    issues: list[dict] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class RunPathBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(..., min_length=1, max_length=MAX_PATH_CHARS, description="File path relative to the data root.")


class DecideBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    factors: dict[str, dict[str, Any]] = Field(..., description="step -> field -> value, as in a result record.")
    error: dict[str, Any] | None = Field(None, description="An item error record: the tables decide on_error.")


ThumbnailsFlag = Annotated[
    bool,
    Query(description="Add `thumbnails`: small JPEG data URIs at the evidence timestamps (the editor's run panel)."),
]
DocumentBody = Annotated[dict[str, Any], Body(description='A pipeline document, or {"text": "<yaml or json>"}')]
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (401, 404, 422)}
RUN_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (401, 403, 404, 408, 413, 415, 422, 429, 503, 504)}
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["file"], "properties": {"file": {"type": "string", "format": "binary"}}}
            }
        },
    }
}


def state_of(request: Request) -> ServerState:
    return request.app.state.factorline


# --------------------------------------------------------------------------- probes


@router.get("/health", tags=["probes"])
async def health() -> dict:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/ready", tags=["probes"], responses={503: {"model": ErrorBody}})
async def ready(request: Request) -> dict:
    """Readiness: models are warm and the server is not shutting down."""
    state = state_of(request)
    if not state.ready or state.runner.admission.draining:
        raise UnavailableError("not ready (starting or shutting down)", headers={"Retry-After": "2"})
    admission = state.runner.admission
    return {"status": "ready", "pipelines": len(state.store.entries()), "queue": {"depth": admission.depth, "capacity": admission.capacity}}


@router.get("/metrics", tags=["probes"], response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus text exposition."""
    m = state_of(request).metrics
    return Response(m.render(), media_type=m.content_type)


# --------------------------------------------------------------------------- catalogue


@router.get("/api/operators", tags=["catalogue"], responses=ERRORS, response_model=list[OperatorSchema])
async def operators() -> Any:
    """Every operator's schema: the palette of the editor."""
    return [spec.schema() for spec in list_operators()]


@router.get("/api/samples", tags=["catalogue"], responses=ERRORS)
async def samples(request: Request) -> list[dict]:
    """Media files under the data root (for run-path); empty when path runs are disabled."""
    root = state_of(request).settings.data_root
    return await asyncio.to_thread(list_media, root) if root else []


# --------------------------------------------------------------------------- pipelines


@router.get("/api/pipelines", tags=["pipelines"], responses=ERRORS)
async def pipelines(request: Request) -> list[dict]:
    """Name, description, fingerprint, input kind, steps and decision tables of each pipeline."""
    return [e.summary() for e in state_of(request).store.entries()]


@router.get("/api/pipelines/{name}", tags=["pipelines"], responses=ERRORS)
async def pipeline(name: str, request: Request) -> dict:
    """The normalized pipeline document (what PUT accepts back)."""
    return state_of(request).store.get(name).plan.doc.to_dict()


@router.post("/api/validate", tags=["pipelines"], responses=ERRORS)
async def validate(body: DocumentBody, request: Request) -> dict:
    """Compile a document and run its rule cases: ``{ok, issues: [{path, message, code}], fingerprint, document}``."""
    checked = await asyncio.to_thread(check_document, body, model_roots=state_of(request).settings.model_roots)
    return checked.reply()


@router.put("/api/pipelines/{name}", tags=["pipelines"], responses={**ERRORS, 403: {"model": ErrorBody}})
async def save_pipeline(name: str, request: Request, response: Response, body: DocumentBody) -> Any:
    """Validate, then save atomically and serve it (201 when new); 422 with every issue when invalid."""
    state = state_of(request)
    check_name(name)
    entry, checked, created = await asyncio.to_thread(state.store.put, name, body, state.runner.warm)
    if entry is None:
        return error_response(PipelineError(checked.issues, source=name))
    response.status_code = 201 if created else 200
    return {"ok": True, "name": entry.name, "fingerprint": entry.plan.fingerprint, "file": entry.source.name if entry.source else None}


@router.post("/api/pipelines/{name}/decide", tags=["run"], responses=ERRORS)
async def decide(name: str, body: DecideBody, request: Request) -> dict:
    """Decide on given factor values (no media): ``{decisions, pipeline}``."""
    entry = state_of(request).store.get(name)
    decisions = entry.plan.decisions.decide(body.factors, error=body.error)
    return {"decisions": jsonable(decisions), "pipeline": {"name": entry.name, "fingerprint": entry.plan.fingerprint}}


# --------------------------------------------------------------------------- runs


@router.post("/api/pipelines/{name}/run", tags=["run"], responses=RUN_ERRORS, openapi_extra=UPLOAD_BODY)
async def run_upload(name: str, request: Request, thumbnails: ThumbnailsFlag = False) -> dict:
    """Run a pipeline on an uploaded file (multipart field ``file``); the reply is the result record.

    A file the engine cannot use (empty, wrong type, truncated) still gets a record, with
    ``error`` set and decisions taken by each table's ``on_error``.
    """
    state = state_of(request)
    entry = state.store.get(name)
    deadline = state.runner.deadline()
    state.runner.check_room()  # a full queue refuses before reading the body
    upload = await _receive_before(deadline, request, state)  # holds no run slot: a slow sender blocks no one
    try:
        slot = state.runner.admit()
    except BaseException:
        upload.remove()
        raise
    with slot:
        slot.on_release(upload.remove)
        record = await state.runner.run(slot, entry, str(upload.path), deadline, thumbnails=thumbnails)
    return _shown_as(record, str(upload.path), upload.filename)


@router.post("/api/pipelines/{name}/run-path", tags=["run"], responses=RUN_ERRORS)
async def run_path(name: str, body: RunPathBody, request: Request, thumbnails: ThumbnailsFlag = False) -> dict:
    """Run a pipeline on a file under the server's data root (``path`` relative to it)."""
    state = state_of(request)
    entry = state.store.get(name)
    root = state.settings.data_root
    if root is None:
        raise ForbiddenError("path runs are disabled: the server has no data root", path="body.path")
    deadline = state.runner.deadline()
    with state.runner.admit() as slot:
        opened = await asyncio.to_thread(open_under_root, root, body.path)
        slot.on_release(opened.close)  # the descriptor stays open until the worker is done
        record = await state.runner.run(slot, entry, opened.path, deadline, thumbnails=thumbnails)
    return _shown_as(record, opened.path, body.path)


async def _receive_before(deadline: float, request: Request, state: ServerState):
    """The upload, or a 408 when it stalls, crawls or is not done by the request's deadline."""
    with state.runner.uploading.enter():
        try:
            async with asyncio.timeout_at(deadline):
                return await receive_upload(request, state.uploads, pace=state.runner.pace)
        except UploadTimeoutError:  # stalled or too slow
            state.runner.metrics.rejected.labels("upload_timeout").inc()
            raise
        except TimeoutError:
            state.runner.metrics.rejected.labels("upload_timeout").inc()
            raise UploadTimeoutError("the upload did not finish within the request time limit", path="body",
                                     headers={"Connection": "close"}) from None


def _shown_as(record: dict, real: str, shown: str) -> dict:
    """The record with the server's private path replaced by the name the client knows."""
    record = dict(record)
    record["item"] = {**record["item"], "path": shown}
    if record.get("error") and isinstance(record["error"].get("message"), str):
        record["error"] = {**record["error"], "message": record["error"]["message"].replace(real, shown)}
    return record
