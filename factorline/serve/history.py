"""Saved versions of each pipeline file, kept beside the pipelines.

``<folder>/.history/<file name>/<seq>-<UTC time>-<origin><suffix>``, e.g.
``pipelines/.history/video_audit.yaml/000003-20261207T131500Z-editor.yaml``. Every version is the
file's exact text, so a restore gives back the very bytes that were saved. Origins:

- ``file``: the file as found on disk before an editor save overwrote it (written by hand, or
  edited outside the editor since the last save): the author's own version is never lost;
- ``created``: the first save of a pipeline the editor created;
- ``editor``: a save from the editor (or any PUT);
- ``restore``: an earlier version written back.

At most ``MAX_VERSIONS`` are kept per file (the oldest go first). The folder starts with a dot,
so the server never loads a version as a pipeline of its own.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .errors import NotFoundError

HISTORY_DIR = ".history"
MAX_VERSIONS = 200
ORIGINS = ("file", "created", "editor", "restore")
VERSION_PATTERN = re.compile(r"^(\d{6})-(\d{8}T\d{6}Z)-(file|created|editor|restore)(\.[A-Za-z]+)$")


@dataclass(frozen=True)
class Version:
    seq: int
    saved_at: str  # ISO 8601, UTC
    origin: str
    path: Path

    @property
    def id(self) -> str:
        return f"{self.seq:06d}"

    def to_dict(self, current_text: str | None = None) -> dict:
        text = read_exact(self.path)
        return {"version": self.id, "saved_at": self.saved_at, "origin": self.origin, "bytes": len(text.encode()),
                "current": current_text is not None and text == current_text}


def history_dir(target: Path) -> Path:
    return target.parent / HISTORY_DIR / target.name


def versions(target: Path) -> list[Version]:
    """The versions of ``target``, oldest first."""
    folder = history_dir(target)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = VERSION_PATTERN.match(path.name)
        if match and path.is_file():
            stamp = datetime.strptime(match[2], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            found.append(Version(int(match[1]), stamp.isoformat().replace("+00:00", "Z"), match[3], path))
    return sorted(found, key=lambda v: v.seq)


def get(target: Path, version: str) -> Version:
    if not re.fullmatch(r"\d{1,6}", version):
        raise NotFoundError(f"no version {version!r}: versions are numbers like 000003", path="version")
    for v in versions(target):
        if v.seq == int(version):
            return v
    raise NotFoundError(f"{target.name} has no saved version {version}", path="version")


def created_by_editor(target: Path) -> bool:
    """Whether the editor created ``target`` (its first recorded version is a creation)."""
    found = versions(target)
    return bool(found) and found[0].origin == "created"


def keep_disk_version(target: Path) -> None:
    """Before ``target`` is overwritten: record its text unless the newest version already is it."""
    if not target.is_file():
        return
    text = read_exact(target)
    found = versions(target)
    if not found or read_exact(found[-1].path) != text:
        record(target, text, "file")


def record(target: Path, text: str, origin: str) -> Version:
    if origin not in ORIGINS:
        raise ValueError(f"origin must be one of {ORIGINS}, not {origin!r}")
    folder = history_dir(target)
    folder.mkdir(parents=True, exist_ok=True)
    found = versions(target)
    seq = (found[-1].seq + 1) if found else 1
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{seq:06d}-{stamp}-{origin}{target.suffix or '.yaml'}"
    atomic_write(path, text)
    for old in found[: max(0, len(found) + 1 - MAX_VERSIONS)]:
        old.path.unlink(missing_ok=True)
    return Version(seq, stamp, origin, path)


def read_exact(path: Path) -> str:
    """The file's text with its own line endings (``\r\n`` stays ``\r\n``)."""
    with open(path, encoding="utf-8", newline="") as handle:
        return handle.read()


def atomic_write(target: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``target`` and rename it over ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
