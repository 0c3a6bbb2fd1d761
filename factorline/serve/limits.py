"""Back-pressure: the request body cap (413), uploads in progress and the bounded run queue
(429 / 503).

The queue counts every run that holds a slot: running in a worker thread or waiting for
one. An upload is received *before* it takes a slot (a client trickling its bytes holds its
connection and an upload place, never a run slot), but a server whose queue is already full
refuses before reading anything (:meth:`Admission.check`). At most ``max_uploads`` uploads are
received at once (:class:`UploadGate`), which bounds the disk they use; a stalled or too slow
one is cut off (``uploads``). A slot is given back when the item's thread finishes, not when
the client gives up: a request that timed out still occupies a worker until the engine's own
deadline stops it, and the bound must count that, or it would not bound anything.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Self

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import BadRequestError, PayloadTooLargeError, QueueFullError, UnavailableError, error_response

log = logging.getLogger("factorline.serve")


class BodyTooLarge(HTTPException):
    """Raised from inside ``receive``: an HTTPException, so FastAPI's body parsing re-raises it
    and the error handlers turn it into the JSON 413."""

    def __init__(self, limit: int):
        super().__init__(413, f"request body is larger than {limit} bytes")


JSON_MAX_BYTES = 4 * 1024**2  # documents and factor values: JSON is parsed whole, on the event loop


class BodyLimitMiddleware:
    """413 for bodies over the cap: at once from Content-Length, else while streaming.

    Uploads (``.../run``) may use ``max_bytes``; every other body is JSON and gets at most
    :data:`JSON_MAX_BYTES`, because it is held and parsed in one piece.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.upload_max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope.get("path", "").endswith("/run")
        limit = self.upload_max_bytes if upload else min(self.upload_max_bytes, JSON_MAX_BYTES)
        declared = _content_length(scope)
        if declared == -1:
            await error_response(BadRequestError("Content-Length is not a non-negative integer", path="headers.content-length"))(scope, receive, send)
            return
        if declared is not None and declared > limit:
            err = PayloadTooLargeError(f"request body is larger than {limit} bytes", path="body", headers={"Connection": "close"})
            await error_response(err)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    """The declared length; None when absent (chunked); -1 when malformed."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else -1
    return None


class Slot:
    """One admitted run. ``hand_off`` passes the release to whoever finishes the work."""

    def __init__(self, admission: Admission):
        self._admission = admission
        self._cleanups: list[Callable[[], None]] = []
        self._handed_off = False
        self._released = False
        self._lock = threading.Lock()

    def on_release(self, fn: Callable[[], None]) -> None:
        self._cleanups.append(fn)

    def hand_off(self) -> None:
        self._handed_off = True

    def release(self, seconds: float | None = None) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        for fn in reversed(self._cleanups):
            try:
                fn()
            except OSError as exc:  # a cleanup failure must not keep the slot
                log.warning("cleanup after a run failed: %s", exc)
        self._admission._give_back(seconds)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        if not self._handed_off:
            self.release()


class Admission:
    """At most ``capacity`` runs admitted; the rest get 429 with a Retry-After estimate."""

    def __init__(self, capacity: int, workers: int):
        self.capacity = capacity
        self.workers = max(1, workers)
        self.depth = 0
        self.draining = False
        self._item_s = 1.0  # moving average of an item's run time, for Retry-After
        self._lock = threading.Lock()
        self.on_change: Callable[[int], None] | None = None

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the queue ahead, worked off by the workers."""
        ahead = max(1, self.depth - self.workers + 1)
        return int(min(60, max(1, math.ceil(ahead * self._item_s / self.workers))))

    def check(self) -> None:
        """Raise what :meth:`admit` would raise now, taking nothing (refuse before reading a body)."""
        if self.draining:
            raise UnavailableError("the server is shutting down", headers={"Retry-After": "5"})
        if self.depth >= self.capacity:
            headers = {"Retry-After": str(self.retry_after())}
            raise QueueFullError(f"the run queue is full ({self.capacity} items running or waiting)", headers=headers)

    def admit(self) -> Slot:
        with self._lock:
            self.check()
            self.depth += 1
            depth = self.depth
        if self.on_change:
            self.on_change(depth)
        return Slot(self)

    def _give_back(self, seconds: float | None) -> None:
        with self._lock:
            self.depth -= 1
            depth = self.depth
            if seconds is not None:
                self._item_s = 0.8 * self._item_s + 0.2 * seconds
        if self.on_change:
            self.on_change(depth)

    def wait_idle(self, timeout: float) -> bool:
        """Block until no run holds a slot (shutdown drains), or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.depth == 0:
                return True
            time.sleep(0.05)
        return self.depth == 0


class UploadGate:
    """At most ``capacity`` uploads being received at once (each up to the body cap on disk)."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.active = 0

    @contextmanager
    def enter(self) -> Iterator[None]:
        if self.active >= self.capacity:  # only the event loop counts: no lock needed
            raise QueueFullError(f"{self.active} uploads are being received; at most {self.capacity} at once: retry shortly",
                                 headers={"Retry-After": "5"})
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
