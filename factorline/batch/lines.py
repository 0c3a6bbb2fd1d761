"""Record lines of a JSONL file a batch at a time: one buffer of bytes and where each line starts.

`decide` copies most of a run's lines as they are (only the fingerprint swapped, bytes for bytes
of the same length). Handing a batch out as one buffer plus offsets lets it write a run of such
lines from a slice of the buffer: no bytes object per line and no joining them back (at a million
lines of ~3 kB both cost seconds). The buffer is read into and reused from batch to batch: each
fresh page of memory costs a page fault, and at gigabytes those take longer than the copying
(about a third of `decide` on a virtual machine before).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

_NEWLINE = 10


class LineBlock:
    """``len(bounds) - 1`` lines held in ``data``: line ``i`` is ``data[bounds[i]:bounds[i + 1] - 1]``
    (each line's newline is the byte before the next line's start). ``data`` may be a buffer
    that the next block overwrites: use a block before asking for the next one."""

    __slots__ = ("bounds", "data")

    def __init__(self, data: bytes | bytearray, bounds: np.ndarray):
        self.data = data
        self.bounds = bounds

    def __len__(self) -> int:
        return len(self.bounds) - 1

    def __getitem__(self, row: int) -> bytes:
        return bytes(memoryview(self.data)[self.bounds[row]:self.bounds[row + 1] - 1])

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The byte range of lines ``start`` to ``end`` (exclusive), their newlines included."""
        return int(self.bounds[start]), int(self.bounds[end])

    def lines(self) -> list[bytes]:
        return [self[i] for i in range(len(self))]


def _without_blank_lines(data: bytearray, bounds: np.ndarray) -> np.ndarray:
    """Leave lines of only whitespace out of ``data`` (in place, as every reader skips them) and
    return the new bounds; what follows the last line moves up behind the kept ones (rare: only
    runs when a line is that short)."""
    kept = [bytes(data[a:b]) for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist()) if data[a:b].strip()]
    tail = bytes(data[bounds[-1]:])
    data[:] = b"".join([*kept, tail])
    sizes = np.fromiter(map(len, kept), dtype=np.int64, count=len(kept))
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def line_blocks(path: Path, size: int, block: int = 1 << 24) -> Iterator[LineBlock]:
    """The file's non-blank lines ``size`` at a time (the last block may hold fewer), read
    ``block`` bytes at a time into one buffer; a last line without its newline gets one."""
    buffer = bytearray(block)  # grows to a batch of lines and a block, then is reused
    ends: list[np.ndarray] = []  # offsets of the newlines read, not yet handed out
    held = newlines = 0  # bytes in the buffer (from its start, a line start), newlines among them
    with path.open("rb") as fh:
        while True:
            if len(buffer) < held + block:
                buffer.extend(bytes(held + block - len(buffer)))
            got = fh.readinto(memoryview(buffer)[held:held + block])
            if not got and held and buffer[held - 1] != _NEWLINE:
                buffer[held], got = _NEWLINE, 1
            if got:
                found = np.flatnonzero(np.frombuffer(buffer, dtype=np.uint8, count=got, offset=held) == _NEWLINE)
                ends.append(found + held)
                held += got
                newlines += len(found)
                if newlines < size:
                    continue
            bounds = np.concatenate([[0], *ends]).astype(np.int64)
            bounds[1:] += 1
            if len(bounds) > 1 and np.diff(bounds).min() < 8:  # a record line is longer: only then look for blank ones
                moved = _without_blank_lines(buffer, bounds)
                held -= int(bounds[-1] - moved[-1])
                bounds = moved
            first = 0
            while len(bounds) - 1 - first >= size or (not got and first < len(bounds) - 1):
                last = min(first + size, len(bounds) - 1)
                yield LineBlock(buffer, bounds[first:last + 1])
                first = last
            if not got:
                return
            start = int(bounds[first])
            view = np.frombuffer(buffer, dtype=np.uint8)
            view[:held - start] = view[start:held]  # the unfinished line moves to the front (numpy copes with overlap)
            del view  # the buffer can only grow while nothing looks into it
            ends = [bounds[first + 1:] - 1 - start]
            held, newlines = held - start, len(bounds) - 1 - first
