"""The app factory and the uvicorn entry point."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from .. import __version__
from ..contract.errors import PipelineError
from .auth import TokenAuthMiddleware, is_protected, load_token, startup_warnings
from .errors import SafeJSONResponse, install_handlers
from .hosts import HostCheckMiddleware, HostPolicy
from .limits import BodyLimitMiddleware
from .metrics import Metrics, MetricsMiddleware
from .pipelines import PipelineStore, default_save_dir
from .review import router as review_router
from .routes import router
from .routes_editor import router as editor_router
from .search import router as search_router
from .runner import Runner
from .settings import ServeSettings
from .state import ServerState
from .static import mount_editor
from .uploads import PrivateDir

log = logging.getLogger("factorline.serve")


def create_app(pipelines: dict[str, dict] | list[Path], *, settings: ServeSettings | None = None) -> FastAPI:
    """A FastAPI app serving ``pipelines`` (documents by name, or files and folders of them).

    Documents are compiled here (an invalid one raises PipelineError: the server does not
    start); models are loaded when the app starts (its lifespan), before the first request.
    """
    settings = settings or ServeSettings()
    token = load_token(settings.token_file) if settings.token_file else None
    metrics = Metrics()
    runner = Runner(settings, metrics)
    save_dir = settings.pipelines_dir or (default_save_dir(list(pipelines)) if isinstance(pipelines, list) else None)
    store = PipelineStore(runner.make_engine, save_dir, settings.model_roots)
    store.load(pipelines)
    state = ServerState(settings, store, runner, metrics, token)

    app = FastAPI(
        title="factorline",
        version=__version__,
        description="Explainable factors and readable rules for video and images.",
        lifespan=_lifespan(state),
        default_response_class=SafeJSONResponse,
    )
    app.state.factorline = state
    install_handlers(app)
    app.include_router(router)
    app.include_router(editor_router)  # schema, save previews, saved versions
    app.include_router(review_router)  # the run browser: runs, items, reviews, queues, media (serve/review.py)
    app.include_router(search_router)  # vector index search (serve/search.py)
    mount_editor(app)  # the editor at / (or a page saying how to build it)
    # Added innermost first: metrics see every answer, auth runs before the body is read.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(TokenAuthMiddleware, token=token)
    app.add_middleware(HostCheckMiddleware, policy=HostPolicy(settings))  # before auth: a rebinding page is refused first
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    if token is not None:
        _document_bearer_auth(app)
    return app


def _document_bearer_auth(app: FastAPI) -> None:
    """Mark the protected operations in the OpenAPI schema (the docs get an Authorize button)."""
    base = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = base()
            schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {"type": "http", "scheme": "bearer"}
            for path, operations in schema.get("paths", {}).items():
                if is_protected(path):
                    for operation in operations.values():
                        operation["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _lifespan(state: ServerState):
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for note in startup_warnings(state.settings, state.token):
            log.warning(note)
        issues = await asyncio.to_thread(_warm_all, state)
        if issues:  # a model that cannot load: refuse to start rather than fail every request
            raise PipelineError(issues, source="model warm-up")
        state.uploads = PrivateDir()
        state.ready = True
        state.metrics.ready.set(1)
        try:
            yield
        finally:
            state.ready = False
            state.metrics.ready.set(0)
            await asyncio.to_thread(state.runner.shutdown, state.settings.shutdown_grace_s)
            state.uploads.close()

    return lifespan


def _warm_all(state: ServerState) -> list:
    issues = []
    for entry in state.store.entries():
        issues += state.runner.warm(entry.plan)
    return issues


def uvicorn_config(app: FastAPI, settings: ServeSettings):
    import uvicorn

    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_s)),  # None would wait forever
        server_header=False,
        proxy_headers=False,  # do not trust X-Forwarded-* from whoever connects
        lifespan="on",
    )


def serve(pipelines: list[Path], settings: ServeSettings | None = None) -> None:
    """Run the server until SIGINT/SIGTERM; requests in flight are drained on the way out."""
    import uvicorn

    settings = settings or ServeSettings()
    app = create_app(list(pipelines), settings=settings)
    try:
        uvicorn.Server(uvicorn_config(app, settings)).run()
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it drained for: no traceback
        pass
