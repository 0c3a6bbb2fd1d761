"""Every error the server answers has one JSON shape::

    {"error": {"type": "QueueFullError", "message": "...", "path": "body.path" | null}}

(``issues`` added inside ``error`` for a PipelineError and for request validation). HTTP-only
failures are FactorlineErrors too (:class:`HttpError` and its subclasses), so the whole
project keeps one exception tree; anything unexpected becomes a 500 whose body says nothing
about the server's internals (the traceback goes to the log).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..cache import jsonable
from ..contract.errors import (
    ConfigError,
    FactorlineError,
    ItemTimeoutError,
    MediaError,
    ResourceError,
)

log = logging.getLogger("factorline.serve")


class SafeJSONResponse(JSONResponse):
    """JSON that never fails on NaN/inf (they become null, as in results.jsonl)."""

    def render(self, content: Any) -> bytes:
        return super().render(jsonable(content))


class HttpError(FactorlineError):
    """An error that only exists at the HTTP boundary; ``status`` is its HTTP status."""

    status = 400

    def __init__(self, message: str, *, path: str = "", headers: dict[str, str] | None = None):
        super().__init__(message, path=path)
        self.headers = dict(headers or {})


class BadRequestError(HttpError):
    status = 400


class AuthError(HttpError):
    status = 401


class ForbiddenError(HttpError):
    status = 403


class NotFoundError(HttpError):
    status = 404


class MethodNotAllowedError(HttpError):
    status = 405


class UploadTimeoutError(HttpError):
    status = 408


class PayloadTooLargeError(HttpError):
    status = 413


class MisdirectedError(HttpError):
    """The request names a host this server does not answer to (DNS rebinding, a wrong name)."""

    status = 421


class UnsupportedContentError(HttpError):
    status = 415


class RequestValidationFailed(HttpError):
    status = 422


class QueueFullError(HttpError):
    status = 429


class UnavailableError(HttpError):
    status = 503


class RequestTimeoutError(HttpError):
    status = 504


class InternalError(HttpError):
    status = 500


def status_of(exc: FactorlineError) -> int:
    if isinstance(exc, HttpError):
        return exc.status
    if isinstance(exc, (ConfigError, MediaError)):
        return 422
    if isinstance(exc, ResourceError):
        return 503
    if isinstance(exc, ItemTimeoutError):
        return 504
    return 500


def error_response(exc: FactorlineError, *, issues: list[dict] | None = None) -> SafeJSONResponse:
    body = exc.to_record()
    if issues is not None:
        body["issues"] = issues
    headers = getattr(exc, "headers", None) or None
    return SafeJSONResponse({"error": body}, status_code=status_of(exc), headers=headers)


def _loc(loc: tuple | list) -> str:
    return ".".join(str(p) for p in loc)


def _validation_issues(exc: RequestValidationError) -> list[dict]:
    return [{"path": _loc(e.get("loc", ())), "message": e.get("msg", "invalid"), "code": e.get("type", "invalid")} for e in exc.errors()]


_STATUS_ERRORS: dict[int, type[HttpError]] = {
    400: BadRequestError,
    401: AuthError,
    403: ForbiddenError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    413: PayloadTooLargeError,
    415: UnsupportedContentError,
    422: RequestValidationFailed,
    429: QueueFullError,
    503: UnavailableError,
}


def install_handlers(app: FastAPI) -> None:
    """Route every failure through :func:`error_response`."""

    @app.exception_handler(FactorlineError)
    async def _factorline(_: Request, exc: FactorlineError):
        if status_of(exc) >= 500 and not isinstance(exc, HttpError):
            log.warning("request failed: %s", exc)
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError):
        issues = _validation_issues(exc)
        first = issues[0] if issues else {"path": "", "message": "invalid request"}
        return error_response(RequestValidationFailed(first["message"], path=first["path"]), issues=issues)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException):
        cls = _STATUS_ERRORS.get(exc.status_code, HttpError)
        err = cls(str(exc.detail), path="body" if exc.status_code == 413 else "", headers=dict(exc.headers or {}))
        err.status = exc.status_code
        return error_response(err)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(InternalError("internal server error (see the server log)"))
