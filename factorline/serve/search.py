"""Similarity search over vector indexes (``factorline index build``) as HTTP routes.

=======  ===========================================  ===============================================
GET      /api/indexes                                 ``[{name, items, frames, backbone, space, text}]``
GET      /api/indexes/{name}/search?text=|item=&k=    nearest items to a prompt or an indexed item
POST     /api/indexes/{name}/search?k=                nearest items to an uploaded image or video
                                                      (multipart field ``file``)
=======  ===========================================  ===============================================

Indexes are found in the folders of ``$FACTORLINE_INDEXES`` (``os.pathsep``-separated): each
folder is an index itself or holds index folders; an index is named by its folder name. A hit
names its file by its path under the server's data root when it lies there, else by its file
name only: server paths stay private. Loaded indexes are kept per folder and reloaded when
their ``index.json`` changes.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request

from ..contract.errors import ConfigError
from .errors import NotFoundError
from .routes import ERRORS, RUN_ERRORS, UPLOAD_BODY, state_of
from .uploads import receive_upload

router = APIRouter()
ENV = "FACTORLINE_INDEXES"
_LOADED: dict[str, tuple[float, object]] = {}
_LOCK = threading.Lock()
K = Annotated[int, Query(ge=1, le=1000, description="How many items to return.")]


def index_folders() -> dict[str, Path]:
    """Index name -> folder, from ``$FACTORLINE_INDEXES`` (read on every call)."""
    found: dict[str, Path] = {}
    for root in filter(None, os.environ.get(ENV, "").split(os.pathsep)):
        base = Path(root).expanduser()
        candidates = [base] if (base / "index.json").is_file() else sorted(p for p in base.glob("*") if (p / "index.json").is_file())
        for folder in candidates:
            found.setdefault(folder.name, folder)
    return found


def load_index(name: str):
    from ..vectors.index import VectorIndex

    folders = index_folders()
    if name not in folders:
        raise NotFoundError(f"no index named {name!r}; expected one of {sorted(folders) or 'none'} (indexes are read from "
                            f"the folders in ${ENV})", path="name")
    folder = folders[name]
    stamp = (folder / "index.json").stat().st_mtime
    with _LOCK:
        cached = _LOADED.get(str(folder))
        if cached is None or cached[0] != stamp:
            _LOADED[str(folder)] = (stamp, VectorIndex.open(folder))
        return _LOADED[str(folder)][1]


def _shown(hits: list[dict], data_root: Path | None) -> list[dict]:
    out = []
    for hit in hits:
        path = Path(hit["path"])
        shown = path.name
        if data_root is not None:
            try:
                shown = str(path.resolve().relative_to(Path(data_root).resolve()))
            except ValueError:
                pass
        out.append({**hit, "path": shown})
    return out


@router.get("/api/indexes", tags=["search"], responses=ERRORS)
async def list_indexes() -> list[dict]:
    """The indexes this server searches, with their size and backbone."""
    out = []
    for name in sorted(index_folders()):
        index = await asyncio.to_thread(load_index, name)
        meta = index.meta  # type: ignore[attr-defined]
        out.append({"name": name, "items": meta["items"], "frames": meta["frames"], "backbone": meta["backbone"]["spec"],
                    "space": meta["space"], "text": meta.get("imagetext") is not None})
    return out


@router.get("/api/indexes/{name}/search", tags=["search"], responses=ERRORS)
async def search_get(name: str, request: Request, text: Annotated[str | None, Query(max_length=1000)] = None,
                     item: Annotated[str | None, Query(max_length=200)] = None, k: K = 10) -> dict:
    """Nearest items to a text prompt (image-text indexes) or to an item of the index (id or file name)."""
    from ..vectors.query import query_vectors, search

    if (text is None) == (item is None):
        raise ConfigError("expected exactly one of the query parameters text or item", path="query")

    def work() -> list[dict]:
        index = load_index(name)
        vectors, exclude = query_vectors(index, text=text, item=item)  # type: ignore[arg-type]
        return search(index, vectors, k, exclude=exclude)  # type: ignore[arg-type]

    hits = await asyncio.to_thread(work)
    return {"index": name, "results": _shown(hits, state_of(request).settings.data_root)}


@router.post("/api/indexes/{name}/search", tags=["search"], responses=RUN_ERRORS, openapi_extra=UPLOAD_BODY)
async def search_upload(name: str, request: Request, k: K = 10) -> dict:
    """Nearest items to an uploaded image or video (multipart field ``file``), embedded like the index's items."""
    from ..vectors.query import query_vectors, search

    state = state_of(request)
    index = await asyncio.to_thread(load_index, name)  # an unknown index is refused before the body is read
    upload = await receive_upload(request, state.uploads, pace=state.runner.pace)
    try:
        def work() -> list[dict]:
            vectors, _ = query_vectors(index, video=upload.path)  # type: ignore[arg-type]
            return search(index, vectors, k)  # type: ignore[arg-type]

        hits = await asyncio.to_thread(work)
    finally:
        upload.remove()
    return {"index": name, "query": upload.filename, "results": _shown(hits, state.settings.data_root)}
