"""Part files: the durable list of the items a run has finished.

    parts/part-00007.jsonl.tmp   the open part: one record per line, flushed as each item ends
    parts/part-00007.jsonl       a sealed part: fsynced, then renamed from its .tmp name
    parts/part-00007.parquet     the same records as typed columns, written when the part is
                                 sealed (derived: ``ensure_columnar`` rebuilds a missing one)

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

import pyarrow as pa
import pyarrow.parquet as pq

from ..contract.errors import RunDirError
from ..engine.records import ParquetSink, dumps_record, read_jsonl

PARTS = "parts"
# part-00007.jsonl (written by the driver) or part-00007-w3.jsonl (written by Ray actor w3
# straight into a shared run folder, ``worker_parts``); each writer numbers its own parts.
_NAME = r"part-(\d{5,})(?:-([a-z0-9]{1,16}))?"
_SEALED = re.compile(rf"^{_NAME}\.jsonl$")
_OPEN = re.compile(rf"^{_NAME}\.jsonl\.tmp$")
_COLUMNAR = re.compile(rf"^\.?{_NAME}\.parquet(\.tmp)?$")


def _match(name: str) -> re.Match | None:
    return _SEALED.match(name) or _OPEN.match(name) or _COLUMNAR.match(name)


def _seq(name: str, tag: str | None = None) -> int | None:
    """The part number of one of our files (of writer ``tag`` when given; "" is the driver)."""
    match = _match(name)
    if not match or (tag is not None and (match.group(2) or "") != tag):
        return None
    return int(match.group(1))


def _order(name: str) -> tuple:
    # Actor parts first: if a record reached its actor's part just before the driver gave up on
    # it (a kill at the time limit), the real record wins over the driver's failure record.
    match = _match(name)
    tag = match.group(2) or ""
    return (tag == "", int(match.group(1)), tag)


def part_name(seq: int, tag: str = "", suffix: str = ".jsonl") -> str:
    return f"part-{seq:05d}{'-' + tag if tag else ''}{suffix}"


def part_files(folder: Path) -> list[Path]:
    """Sealed parts in the order they were written."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if _SEALED.match(p.name)), key=lambda p: _order(p.name))


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


def _next_seq(folder: Path, tag: str = "") -> int:
    seqs = [s for s in (_seq(p.name, tag) for p in folder.iterdir()) if s is not None] if folder.is_dir() else []
    return max(seqs, default=-1) + 1


class PartWriter:
    """Appends records to the open part and seals it every ``max_records`` or ``max_seconds``."""

    def __init__(self, folder: Path, *, max_records: int = 500, max_seconds: float = 30.0,
                 schema: pa.Schema | None = None, tag: str = ""):
        self.folder = folder
        self.schema = schema  # given: each sealed part also gets its Parquet twin
        self.tag = tag  # which writer: "" the driver, else a Ray actor (worker_parts)
        self.max_records, self.max_seconds = max_records, max_seconds
        folder.mkdir(parents=True, exist_ok=True)
        self._seq = _next_seq(folder, tag)
        self._fh = None
        self._count = 0
        self._opened = 0.0

    def _tmp(self) -> Path:
        return self.folder / part_name(self._seq, self.tag, ".jsonl.tmp")

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
        sealed = self.folder / part_name(self._seq, self.tag)
        os.replace(self._tmp(), sealed)
        _fsync_dir(self.folder)
        self._seq += 1
        if self.schema is not None:
            write_columnar(sealed, self.schema)

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
            tag = _OPEN.match(tmp.name).group(2) or ""
            target = folder / part_name(_next_seq(folder, tag), tag)
        os.replace(tmp, target)
        sealed += 1
    _fsync_dir(folder)
    return sealed


def columnar_path(part: Path) -> Path:
    return part.with_suffix(".parquet")


def write_columnar(part: Path, schema: pa.Schema) -> Path:
    """The Parquet twin of a sealed part: its whole record lines (``jsonl_lines``), in order."""
    with ParquetSink(columnar_path(part), schema) as sink:
        sink.write_records(read_jsonl(part))
    return columnar_path(part)


def ensure_columnar(folder: Path, schema: pa.Schema) -> int:
    """Write the Parquet twin of every sealed part that lacks one (a kill between sealing and
    writing it, a run folder from before twins, a part ``recover`` sealed); returns how many."""
    written = 0
    for part in part_files(folder):
        twin = columnar_path(part)
        if twin.is_file():
            try:
                if pq.read_schema(twin).equals(schema, check_metadata=False):
                    continue
            except (OSError, pa.ArrowException):
                pass  # damaged: write it again
        write_columnar(part, schema)
        written += 1
    return written


def finished_paths(folder: Path) -> set[str]:
    """The item paths the sealed parts hold, without keeping their records."""
    return {key for key, _ in _keyed(iter_part_records(folder))}


def _keyed(pairs: Iterator[tuple[str, dict]]) -> Iterator[tuple[str, str]]:
    for name, record in pairs:
        yield item_key(record, name), name


def item_key(record: dict, part_name: str) -> str:
    """A record's identity (its item path); a clear error for a line that is not a record."""
    try:
        return record["item"]["path"]
    except (KeyError, TypeError) as exc:
        raise RunDirError(f"{part_name} holds a line that is not a result record (no item.path); "
                          "remove that part to recompute its items", path=part_name, cause=exc) from exc


def iter_part_records(folder: Path) -> Iterator[tuple[str, dict]]:
    """(part name, record) for every record of every sealed part, in writing order."""
    for part in part_files(folder):
        for record in read_jsonl(part):
            yield part.name, record


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
