"""Bearer-token auth for the data endpoints, and the startup warnings about exposure.

When a token file is configured, every path under ``/api/`` and ``/metrics`` needs
``Authorization: Bearer <token>`` (compared in constant time); ``/health``, ``/ready``, the
OpenAPI docs and anything the editor mounts at ``/`` stay open, because probes and browsers
cannot send the header and none of them carries data. The check runs as ASGI middleware,
before the body is read, so an unauthenticated client cannot make the server parse uploads.
"""

from __future__ import annotations

import hmac
import logging
import stat
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from ..contract.errors import ConfigError
from .errors import AuthError, error_response
from .settings import ServeSettings, is_loopback, is_specific

log = logging.getLogger("factorline.serve")

PROTECTED_PREFIXES = ("/api/", "/metrics")
MIN_TOKEN_CHARS = 16


def load_token(path: Path) -> str:
    """The token in ``path`` (surrounding whitespace stripped); an empty or unreadable file is
    a configuration error, never "no auth"."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the token file: {exc}", path=str(path), cause=exc) from exc
    if not token:
        raise ConfigError("the token file is empty", path=str(path))
    if any(c.isspace() for c in token):
        raise ConfigError("the token must be one line without spaces", path=str(path))
    return token


def startup_warnings(settings: ServeSettings, token: str | None) -> list[str]:
    """What an operator should hear about before the first request comes in."""
    notes = []
    if token is None and not is_loopback(settings.host):
        notes.append(
            f"bound to {settings.host} beyond loopback WITHOUT a token: anyone who reaches this port can run "
            "pipelines and overwrite them; pass a token file"
        )
    if not is_specific(settings.host) and not settings.allowed_hosts:
        notes.append(
            f"bound to every interface ({settings.host or '*'}) but no --allowed-hosts: only requests whose Host is "
            "127.0.0.1, localhost or [::1] are answered (421 otherwise); pass --allowed-hosts with the names clients use"
        )
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        notes.append(f"the token has {len(token)} characters; use at least {MIN_TOKEN_CHARS} random ones")
    if settings.token_file is not None:
        try:
            mode = Path(settings.token_file).stat().st_mode
        except OSError:
            mode = 0
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            notes.append(f"the token file {settings.token_file} is readable by other users (chmod 600 it)")
    return notes


def is_protected(path: str) -> bool:
    return path == "/metrics" or any(path.startswith(p) for p in PROTECTED_PREFIXES)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            return credentials.strip() if scheme.lower() == "bearer" else None
    return None


class TokenAuthMiddleware:
    """401 with ``WWW-Authenticate: Bearer`` for protected paths without the right token."""

    def __init__(self, app: ASGIApp, token: str | None):
        self.app = app
        self.token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.token is None or not is_protected(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        given = _bearer(scope)
        if given is not None and hmac.compare_digest(given.encode(), self.token):
            await self.app(scope, receive, send)
            return
        message = "missing bearer token" if given is None else "invalid token"
        err = AuthError(message, path="headers.authorization", headers={"WWW-Authenticate": "Bearer"})
        await error_response(err)(scope, receive, send)
