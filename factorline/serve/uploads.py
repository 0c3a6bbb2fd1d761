"""Uploads: streamed from the request straight into a private folder, removed after the run.

The folder is made by ``mkdtemp`` (mode 0700, owned by the server's user) and every upload
is created inside it with ``O_EXCL`` and mode 0600 under a random name: the client's file
name is never used as a path (only a short, sanitised suffix is kept, for humans reading a
directory listing). The multipart body is parsed with python-multipart's streaming parser,
so an upload never sits whole in memory, and Starlette's own spooling (which writes to the
system temp folder) is not used.

A client must keep sending: :class:`Pace` cuts an upload off (408) when nothing arrives for
``stall_s`` or when, past its first ``stall_s``, it averages under ``min_bytes_per_s``.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import stat
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from .errors import BadRequestError, RequestValidationFailed, UnsupportedContentError, UploadTimeoutError

MAX_PART_HEADER_BYTES = 16 * 1024
MAX_PARTS = 16
MAX_BOUNDARY_CHARS = 70  # RFC 2046 section 5.1.1: 1 to 70 characters (browsers and HTTP libraries use 16-70)
_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")


class PrivateDir:
    """A 0700 folder for this server's uploads; ``close`` removes it with whatever is left."""

    def __init__(self, parent: str | None = None):
        self.path = Path(tempfile.mkdtemp(prefix="factorline-serve-", dir=parent))
        os.chmod(self.path, 0o700)  # mkdtemp already does; say it where it matters
        if stat.S_IMODE(self.path.stat().st_mode) != 0o700:
            raise OSError(f"cannot make {self.path} private")

    def new_file(self, suffix: str = "") -> tuple[int, Path]:
        path = self.path / f"upload-{secrets.token_hex(12)}{suffix}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        return fd, path

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


@dataclass
class Upload:
    path: Path
    filename: str  # the client's base name, for the record; never used as a path
    size: int

    def remove(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def safe_name(filename: str) -> str:
    """The base name of a client-supplied file name, printable and short."""
    base = re.split(r"[\\/]", filename)[-1]
    base = "".join(c for c in base if c.isprintable())[:128]
    return base or "upload"


def _suffix(filename: str) -> str:
    suffix = Path(safe_name(filename)).suffix
    return suffix.lower() if _SUFFIX.match(suffix) else ""


class _FilePart:
    """State of the multipart parse: headers of the current part and where ``file`` goes."""

    def __init__(self, folder: PrivateDir, field: str):
        self.folder, self.field = folder, field
        self.header_field = b""
        self.header_value = b""
        self.headers: dict[bytes, bytes] = {}
        self.header_bytes = 0
        self.parts = 0
        self.fd: int | None = None
        self.upload: Upload | None = None
        self.ended = False  # the closing boundary was seen: the body is complete

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: self._header_bytes("header_field", d[s:e]),
            "on_header_value": lambda d, s, e: self._header_bytes("header_value", d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise BadRequestError(f"more than {MAX_PARTS} parts in the form", path="body")
        self.headers, self.header_bytes = {}, 0

    def _header_bytes(self, attr: str, data: bytes) -> None:
        self.header_bytes += len(data)
        if self.header_bytes > MAX_PART_HEADER_BYTES:
            raise BadRequestError("part headers are too large", path="body")
        setattr(self, attr, getattr(self, attr) + data)

    def _header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field = self.header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name != self.field or b"filename" not in options:
            return  # other fields are read past (their size is capped by the body limit)
        if self.upload is not None:
            raise BadRequestError(f"more than one {self.field!r} part", path=self.field)
        filename = safe_name(options[b"filename"].decode("utf-8", "replace"))
        self.fd, path = self.folder.new_file(_suffix(filename))
        self.upload = Upload(path, filename, 0)

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self.fd is not None and self.upload is not None:
            chunk = data[start:end]
            os.write(self.fd, chunk)  # small writes to local disk: fine on the event loop
            self.upload.size += len(chunk)

    def _part_end(self) -> None:
        self.close_file()

    def _end(self) -> None:
        self.ended = True

    def close_file(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


@dataclass(frozen=True)
class Pace:
    """How slowly a client may send: a gap of ``stall_s`` without data, or an average under
    ``min_bytes_per_s`` once ``stall_s`` has passed, ends the upload (0 turns the rate off)."""

    stall_s: float = 30.0
    min_bytes_per_s: float = 0.0

    async def chunks(self, request: Request) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        stream = request.stream().__aiter__()
        started, received = loop.time(), 0
        while True:
            try:
                async with asyncio.timeout(self.stall_s):
                    chunk = await anext(stream)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise UploadTimeoutError(
                    f"the upload stalled: no data for {self.stall_s:g} s after {received} bytes; send the body without pauses",
                    path="body", headers={"Connection": "close"}) from None
            received += len(chunk)
            elapsed = loop.time() - started
            if self.min_bytes_per_s and elapsed > self.stall_s and received < self.min_bytes_per_s * elapsed:
                raise UploadTimeoutError(
                    f"the upload is too slow: {received} bytes in {elapsed:.0f} s, expected at least {self.min_bytes_per_s:g} "
                    "bytes/s; retry over a faster link", path="body", headers={"Connection": "close"})
            yield chunk


async def receive_upload(request: Request, folder: PrivateDir, field: str = "file", pace: Pace | None = None) -> Upload:
    """The ``field`` file of a multipart/form-data request, written into ``folder``."""
    ctype, options = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data":
        raise UnsupportedContentError(f"expected multipart/form-data with a {field!r} file", path="headers.content-type")
    boundary = options.get(b"boundary")
    if not boundary:
        raise BadRequestError("multipart/form-data without a boundary", path="headers.content-type")
    if len(boundary) > MAX_BOUNDARY_CHARS:
        raise BadRequestError(f"the multipart boundary has {len(boundary)} characters; at most {MAX_BOUNDARY_CHARS} are "
                              "allowed (RFC 2046): send a shorter boundary (HTTP libraries choose one for you)",
                              path="headers.content-type")
    state = _FilePart(folder, field)
    try:
        parser = MultipartParser(boundary, state.callbacks())
        async for chunk in (pace or Pace()).chunks(request):
            parser.write(chunk)
        parser.finalize()
    except ClientDisconnect:
        _discard(state)
        raise BadRequestError("the client went away during the upload", path="body") from None
    except BaseException as exc:
        _discard(state)
        if isinstance(exc, Exception) and type(exc).__module__.startswith("python_multipart"):
            raise BadRequestError(f"malformed multipart body: {exc}", path="body") from exc
        raise
    state.close_file()
    if not state.ended:  # a cut-off body would otherwise pass as a shorter file
        _discard(state)
        raise BadRequestError("incomplete multipart body (no closing boundary)", path="body")
    if state.upload is None:
        raise RequestValidationFailed(f"the form has no {field!r} file part", path=field)
    return state.upload


def _discard(state: _FilePart) -> None:
    state.close_file()
    if state.upload is not None:
        state.upload.remove()
