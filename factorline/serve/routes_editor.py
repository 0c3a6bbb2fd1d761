"""The editor's routes: the schema it reads its rules from, save previews, saved versions.

GET  /api/schema                                      kinds and what feeds what, name patterns,
                                                      sampling/layout/rule/table schemas, the
                                                      condition language (``schema.py``)
POST /api/pipelines/{name}/preview-save               document -> ``{file, exists, changed, diff,
                                                      confirm}`` (422 with every issue when invalid)
GET  /api/pipelines/{name}/history                    ``{file, versions: [{version, saved_at,
                                                      origin, bytes, current}]}``, newest first
GET  /api/pipelines/{name}/history/{version}          that version's ``text`` and its ``diff`` to
                                                      the file now
POST /api/pipelines/{name}/history/{version}/restore  write it back byte for byte (it must compile)
POST /api/rule-counts                                 ``{document, run}`` -> per table and rule the items
                                                      of that run (under ``runs_root``) it would decide
                                                      and match (``rule_counts.py``); problems per rule
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from ..contract.errors import PipelineError, RunDirError
from . import saves
from .api_models import EditorSchema
from .errors import ForbiddenError, NotFoundError, RequestValidationFailed, error_response
from .routes import ERRORS, DocumentBody, ErrorBody, state_of

router = APIRouter()


@router.get("/api/schema", tags=["catalogue"], responses=ERRORS, response_model=EditorSchema)
async def schema() -> Any:
    """What the editor checks while editing, from the server's own rules (no copies in the UI)."""
    from .schema import editor_schema

    return editor_schema()


@router.post("/api/pipelines/{name}/preview-save", tags=["pipelines"], responses=ERRORS)
async def preview_save(name: str, body: DocumentBody, request: Request) -> Any:
    """What a PUT of this document would write: the unified diff to the file, and whether the
    editor should ask first (``confirm``: a file it did not create would change)."""
    store = state_of(request).store
    checked, preview = await asyncio.to_thread(store.preview, name, body)
    if preview is None:
        return error_response(PipelineError(checked.issues, source=name))
    return {"ok": True, **preview}


def _file_of(request: Request, name: str):
    source = state_of(request).store.get(name).source
    if source is None:
        raise NotFoundError(f"pipeline {name!r} has no file, so no saved versions", path="name")
    return source


@router.get("/api/pipelines/{name}/history", tags=["pipelines"], responses=ERRORS)
async def history(name: str, request: Request) -> dict:
    """The saved versions of a pipeline's file, newest first."""
    source = _file_of(request, name)
    return {"file": source.name, "versions": await asyncio.to_thread(saves.listing, source)}


@router.get("/api/pipelines/{name}/history/{version}", tags=["pipelines"], responses=ERRORS)
async def history_version(name: str, version: str, request: Request) -> dict:
    """One saved version: its text, and its diff to the file as it is now."""
    return await asyncio.to_thread(saves.version_text, _file_of(request, name), version)


@router.post("/api/pipelines/{name}/history/{version}/restore", tags=["pipelines"], responses=ERRORS)
async def restore(name: str, version: str, request: Request) -> Any:
    """Write a saved version back (recorded as a new version); 422 when it no longer compiles."""
    state = state_of(request)
    entry, checked = await asyncio.to_thread(state.store.restore, name, version, state.runner.warm)
    if entry is None:
        return error_response(PipelineError(checked.issues, source=f"{name} version {version}"))
    return {"ok": True, "name": entry.name, "fingerprint": entry.plan.fingerprint,
            "file": entry.source.name if entry.source else None, "document": entry.plan.doc.to_dict()}


class RuleCountsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    document: dict[str, Any] = Field(..., description="The pipeline document being edited (saved or not).")
    run: str = Field(..., min_length=1, max_length=128, description="A run folder under the runs root (GET /api/runs).")


@router.post("/api/rule-counts", tags=["pipelines"], responses={**ERRORS, 403: {"model": ErrorBody}})
async def rule_counts(body: RuleCountsBody, request: Request) -> dict:
    """How many items of a run each rule would decide and match: ``{run: {name, pipeline, items,
    failed}, tables: {table: {rules: [{index, id, default, decides, matches, missing, error, note}],
    on_missing, on_error, decides_error}}}``. A rule that cannot be counted (it does not compile,
    it reads a step the run lacks) has ``error``; a run that is not there is a 404, run browsing
    off a 403."""
    from ..review.runs import RunNotFound
    from .review import catalog
    from .rule_counts import count_rules

    if state_of(request).settings.runs_root is None:
        raise ForbiddenError("rule counts read a run folder and run browsing is off: start the server with --runs DIR",
                             path="body.run")
    runs = catalog(request)
    try:
        view = await asyncio.to_thread(runs.get, body.run)
    except RunNotFound as exc:
        raise NotFoundError(exc.message, path="body.run") from None
    except RunDirError as exc:
        raise RequestValidationFailed(exc.message, path="body.run") from None
    return await asyncio.to_thread(count_rules, body.document, view)
