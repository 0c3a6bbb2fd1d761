"""Host and Origin checks: the server answers only requests meant for it, from its own pages.

A browser visiting a hostile site can be made to send requests to ``127.0.0.1:8000``: by
*DNS rebinding* (the site's name is re-pointed at 127.0.0.1, so the page's requests carry
``Host: evil.example:8000``) or by plain *cross-site* requests (a form or ``fetch`` from
``https://evil.example`` to ``http://127.0.0.1:8000``; the browser sends ``Origin:
https://evil.example``). Without a token such requests would run and save pipelines. So, on
every request:

- ``Host`` must name this server: ``127.0.0.1``, ``localhost`` or ``[::1]`` (any port, so an
  SSH tunnel or the editor's dev proxy works), the address it is bound to when that is a
  specific one, or an ``allowed_hosts`` entry (``name`` for any port, ``name:port`` for one;
  ``*`` accepts any Host). Otherwise 421.
- ``Origin``, when sent, must be this server's own origin (the same host and port as
  ``Host``: the editor served at ``/``) or an ``allowed_hosts`` entry; ``Origin: null``
  (sandboxed frames, ``file://`` pages) is refused. Otherwise 403. Without ``Origin``, a
  state-changing request that the browser marks ``Sec-Fetch-Site: cross-site`` is refused.

Clients that are not browsers (curl, httpx, the benchmarks) send ``Host: 127.0.0.1:<port>``
and no ``Origin``, and are not affected.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import ForbiddenError, MisdirectedError, error_response
from .settings import ServeSettings, is_specific, split_host

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def _show(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" if port is not None else shown


class HostPolicy:
    """Which Host names and Origins a server accepts (see the module docstring)."""

    def __init__(self, settings: ServeSettings):
        self.any_host = "*" in settings.allowed_hosts
        self.entries = {split_host(e) for e in settings.allowed_hosts if e != "*"}  # checked by ServeSettings
        self.names = set(LOOPBACK_NAMES)
        if is_specific(settings.host):
            self.names.add(settings.host.strip().strip("[]").lower())

    def _listed(self, host: str, port: int | None) -> bool:
        return (host, None) in self.entries or (host, port) in self.entries

    def host_problem(self, host_header: str | None) -> str | None:
        if self.any_host and host_header:
            return None
        parsed = split_host(host_header) if host_header else None
        if parsed is None:
            return "the request has no valid Host header; send Host: 127.0.0.1:<port> (HTTP clients do so themselves)"
        host, port = parsed
        if host in self.names or self._listed(host, port):
            return None
        return (f"Host {_show(host, port)!r} is not a name of this server: expected 127.0.0.1, localhost or [::1] "
                f"(any port) or a name given with --allowed-hosts; if clients reach the server as {host!r}, "
                f"start it with --allowed-hosts {_show(host, None)}")

    def origin_problem(self, origin: str, host_header: str) -> str | None:
        parts = urlsplit(origin.strip().lower())
        parsed = split_host(parts.netloc) if parts.scheme in DEFAULT_PORTS else None
        if parsed is None:
            return (f"cross-site request refused: Origin {origin!r} is not a web page of this server "
                    "(pages from files, sandboxed frames and other schemes may not use this API)")
        host, port = parsed[0], parsed[1] or DEFAULT_PORTS[parts.scheme]
        here = split_host(host_header)  # Host leaves out the default port of the scheme in use
        if here is not None and (here[0], here[1] or DEFAULT_PORTS[parts.scheme]) == (host, port):
            return None  # same origin: the editor served at /
        if self._listed(host, port):
            return None
        return (f"cross-site request refused: Origin {origin!r} is not this server ({host_header!r}); pages of other "
                f"sites may not use this API. If the editor is served from {_show(host, port)!r}, start the server "
                f"with --allowed-hosts {_show(host, port)}")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class HostCheckMiddleware:
    """421 for a Host this server does not answer to, 403 for a cross-site Origin; before auth
    and before any body is read."""

    def __init__(self, app: ASGIApp, policy: HostPolicy):
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = _header(scope, b"host")
        problem = self.policy.host_problem(host)
        if problem is not None:
            await error_response(MisdirectedError(problem, path="headers.host"))(scope, receive, send)
            return
        assert host is not None
        origin = _header(scope, b"origin")
        if origin is not None:
            problem = self.policy.origin_problem(origin, host)
        elif scope.get("method") not in SAFE_METHODS and _header(scope, b"sec-fetch-site") == "cross-site":
            problem = "cross-site request refused: the browser marks it Sec-Fetch-Site: cross-site"
        if problem is not None:
            await error_response(ForbiddenError(problem, path="headers.origin"))(scope, receive, send)
            return
        await self.app(scope, receive, send)

