"""Part files: the durable list of the items a run has finished.

    parts/part-00007.jsonl.tmp   the open part: one record per line, flushed as each item ends
    parts/part-00007.jsonl       a sealed part: fsynced, then renamed from its .tmp name

The parts are the one source of truth for resume: an item is finished when its record is in
a part. A ``kill -9`` can only tear the last line of the open part (lines are written whole
and in order); ``recover`` cuts that torn line off and seals the rest, so no finished item is
lost. Records are keyed by their item path and the first one wins, so none is counted twice.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Self

from ..core.records import dumps_record, read_jsonl
from ..errors import RunDirError

PARTS = "parts"
_SEALED = re.compile(r"^part-(\d{5,})\.jsonl$")
_OPEN = re.compile(r"^part-(\d{5,})\.jsonl\.tmp$")


def _seq(name: str) -> int | None:
    match = _SEALED.match(name) or _OPEN.match(name)
    return int(match.group(1)) if match else None


def part_files(folder: Path) -> list[Path]:
    """Sealed parts in the order they were written."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if _SEALED.match(p.name)), key=lambda p: _seq(p.name))


def _fsync_dir(folder: Path) -> None:
    # A rename is only durable once the folder entry is on disk (matters for power loss, not kill -9).
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _next_seq(folder: Path) -> int:
    seqs = [s for s in (_seq(p.name) for p in folder.iterdir()) if s is not None] if folder.is_dir() else []
    return max(seqs, default=-1) + 1


class PartWriter:
    """Appends records to the open part and seals it every ``max_records`` or ``max_seconds``."""

    def __init__(self, folder: Path, *, max_records: int = 500, max_seconds: float = 30.0):
        self.folder = folder
        self.max_records, self.max_seconds = max_records, max_seconds
        folder.mkdir(parents=True, exist_ok=True)
        self._seq = _next_seq(folder)
        self._fh = None
        self._count = 0
        self._opened = 0.0

    def _tmp(self) -> Path:
        return self.folder / f"part-{self._seq:05d}.jsonl.tmp"

    def add(self, record: dict) -> None:
        self.add_line(dumps_record(record))

    def add_line(self, line: str) -> None:
        """One record already serialized (``dumps_record``), without its newline."""
        if self._fh is None:
            self._fh = self._tmp().open("x", encoding="utf-8")  # "x": never append to a stranger's file
            self._count, self._opened = 0, time.monotonic()
        # One write and a flush per record: a kill -9 after this line keeps the record.
        self._fh.write(line + "\n")
        self._fh.flush()
        self._count += 1
        if self._count >= self.max_records or time.monotonic() - self._opened >= self.max_seconds:
            self.seal()

    def seal(self) -> None:
        if self._fh is None:
            return
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._fh = None
        os.replace(self._tmp(), self.folder / f"part-{self._seq:05d}.jsonl")
        _fsync_dir(self.folder)
        self._seq += 1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.seal()  # also on an exception: every line written so far is a whole record


def recover(folder: Path) -> int:
    """Seal the open parts a killed run left behind, minus a torn last line; returns how many.

    Idempotent: a crash half-way leaves either the .tmp (done again next time) or the sealed
    part (nothing left to do)."""
    if not folder.is_dir():
        return 0
    sealed = 0
    for tmp in sorted(p for p in folder.iterdir() if _OPEN.match(p.name)):
        data = tmp.read_bytes()
        keep = data.rfind(b"\n") + 1
        if keep == 0:
            tmp.unlink()
            continue
        with tmp.open("r+b") as fh:
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
        target = folder / tmp.name[: -len(".tmp")]
        if target.exists():  # never overwrite a sealed part: give these records a new number
            target = folder / f"part-{_next_seq(folder):05d}.jsonl"
        os.replace(tmp, target)
        sealed += 1
    _fsync_dir(folder)
    return sealed


def iter_part_records(folder: Path) -> Iterator[tuple[str, dict]]:
    """(part name, record) for every record of every sealed part, in writing order."""
    for part in part_files(folder):
        for record in read_jsonl(part):
            yield part.name, record


def load_finished(folder: Path) -> dict[str, tuple[str, dict]]:
    """Item path -> (part name, record); the first record of a path wins."""
    finished: dict[str, tuple[str, dict]] = {}
    for name, record in iter_part_records(folder):
        try:
            key = record["item"]["path"]
        except (KeyError, TypeError) as exc:
            raise RunDirError(f"{name} holds a line that is not a result record (no item.path); "
                              "remove that part to recompute its items", path=str(folder / name), cause=exc) from exc
        finished.setdefault(key, (name, record))
    return finished


def clear(folder: Path) -> None:
    """Delete part files (only ours: a folder of other files is left alone) for a fresh run."""
    if not folder.is_dir():
        return
    for p in folder.iterdir():
        if _seq(p.name) is not None:
            p.unlink()
    try:
        folder.rmdir()
    except OSError:
        pass  # something that is not ours is in there: leave it


class RunLock:
    """An exclusive lock on a run folder, so two runs never write the same parts.

    flock is released by the kernel when the holder dies, so a kill -9 leaves no stale lock."""

    def __init__(self, out: Path):
        self.path = out / ".lock"
        self._fd: int | None = None

    def __enter__(self) -> Self:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock, as before
            return self
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self._fd)
            self._fd = None
            raise RunDirError(f"another `factorline run` is writing to {self.path.parent}; "
                              "wait for it to finish or pick another --out", path=str(self.path.parent), cause=exc) from exc
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
