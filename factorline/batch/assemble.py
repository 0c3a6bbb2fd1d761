"""Assembling a run's final files from its parts by streaming, in bounded memory.

The parts hold the records in the order items finished; the final files hold them in input
order. Nothing here holds all records: one pass over the part files builds an index (item ->
part, line, byte range: a few numbers per item), then the output is written a chunk of
``CHUNK`` items at a time. JSONL lines are copied as bytes from the parts; Parquet rows are
taken from each part's Parquet twin (parts.py), a row group at a time. A record decided by an
earlier pipeline (a run re-decided in place, then resumed) is decided again on the way.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..contract.errors import RunDirError
from ..engine.records import ParquetSink, arrow_table, dumps_record, jsonl_lines
from .parts import columnar_path, ensure_columnar, item_key, part_files

CHUNK = 65_536
_CACHE_BYTES = 256 * 2**20


@dataclass
class PartIndex:
    """Where each input's record lives: part number, row in the part, byte range of its line."""

    parts: list[Path]
    part: np.ndarray  # int32, -1: no record
    row: np.ndarray  # int32
    offset: np.ndarray  # int64
    length: np.ndarray  # int64

    def missing(self) -> np.ndarray:
        return np.flatnonzero(self.part < 0)


def index_parts(folder: Path, paths: list[str]) -> PartIndex:
    """One pass over the part files; the first record of a path wins, records of paths that
    are not inputs (an earlier attempt over other inputs) are left out."""
    position = {p: i for i, p in enumerate(paths)}
    n = len(paths)
    index = PartIndex(part_files(folder), np.full(n, -1, np.int32), np.zeros(n, np.int32),
                      np.zeros(n, np.int64), np.zeros(n, np.int64))
    for k, part in enumerate(index.parts):
        for row, (offset, length, record) in enumerate(jsonl_lines(part)):
            i = position.get(item_key(record, str(part)))
            if i is None or index.part[i] >= 0:
                continue
            index.part[i], index.row[i], index.offset[i], index.length[i] = k, row, offset, length
    return index


class _Twins:
    """Row groups of the parts' Parquet twins, least recently used dropped past a byte budget."""

    def __init__(self, parts: list[Path]):
        self.parts = parts
        self._files: dict[int, tuple[pq.ParquetFile, np.ndarray]] = {}
        self._groups: OrderedDict[tuple[int, int], pa.Table] = OrderedDict()
        self._bytes = 0

    def _file(self, k: int) -> tuple[pq.ParquetFile, np.ndarray]:
        if k not in self._files:
            if len(self._files) > 64:
                oldest, _ = self._files.pop(next(iter(self._files)))
                oldest.close()
            file = pq.ParquetFile(columnar_path(self.parts[k]))
            starts = np.cumsum([0] + [file.metadata.row_group(g).num_rows for g in range(file.num_row_groups)])
            self._files[k] = (file, starts)
        return self._files[k]

    def take(self, k: int, rows: np.ndarray) -> pa.Table:
        file, starts = self._file(k)
        groups = np.searchsorted(starts, rows, side="right") - 1
        pieces = []
        for g in np.unique(groups):
            table = self._group(k, int(g), file)
            pieces.append(table.take(pa.array(rows[groups == g] - starts[g])))
        # Rows of one part come back grouped by row group; put them back in the asked order.
        order = np.argsort(np.argsort(groups, kind="stable"), kind="stable")
        return pa.concat_tables(pieces).take(pa.array(order))

    def _group(self, k: int, g: int, file: pq.ParquetFile) -> pa.Table:
        key = (k, g)
        if key in self._groups:
            self._groups.move_to_end(key)
            return self._groups[key]
        table = file.read_row_group(g)
        self._groups[key] = table
        self._bytes += table.nbytes
        while self._bytes > _CACHE_BYTES and len(self._groups) > 1:
            self._bytes -= self._groups.popitem(last=False)[1].nbytes
        return table


class _Lines:
    """Byte ranges of the part files, through a few open handles."""

    def __init__(self, parts: list[Path]):
        self.parts = parts
        self._open: OrderedDict[int, object] = OrderedDict()

    def read(self, k: int, offset: int, length: int) -> bytes:
        fh = self._open.get(k)
        if fh is None:
            if len(self._open) >= 32:
                self._open.popitem(last=False)[1].close()
            fh = self._open[k] = self.parts[k].open("rb")
        self._open.move_to_end(k)
        fh.seek(offset)
        return fh.read(length)

    def close(self) -> None:
        for fh in self._open.values():
            fh.close()


@dataclass
class Assembled:
    items: int
    failed: int


def write_final(index: PartIndex, schema: pa.Schema, fingerprint: str, out: Path,
                current: Callable[[dict], dict], on_chunk: Callable[[int], None] | None = None) -> Assembled:
    """results.jsonl, results.parquet and manifest.jsonl in input order, a chunk at a time.

    ``current`` re-decides a record whose line does not carry ``fingerprint``."""
    missing = index.missing()
    if len(missing):
        raise RunDirError(f"{len(missing)} item(s) have no record in the parts (first: input #{missing[0]}); "
                          "run again with --resume to compute them", path=str(out))
    if index.parts:
        ensure_columnar(index.parts[0].parent, schema)
    mark = fingerprint.encode()
    twins, lines = _Twins(index.parts), _Lines(index.parts)
    results_tmp, manifest_tmp = out / ".results.jsonl.tmp", out / ".manifest.jsonl.tmp"
    n, failed = len(index.part), 0
    try:
        with ParquetSink(out / "results.parquet", schema) as sink, results_tmp.open("wb") as results, \
                manifest_tmp.open("wb") as manifest:
            for start in range(0, n, CHUNK):
                stop = min(start + CHUNK, n)
                table, stale = _chunk(index, start, stop, twins, lines, mark, current, results)
                if stale:
                    table = _patched(table, stale, schema)
                sink.write(table)
                failed += _manifest(table, index, start, manifest)
                if on_chunk:
                    on_chunk(stop)
        results_tmp.replace(out / "results.jsonl")
        manifest_tmp.replace(out / "manifest.jsonl")
    finally:
        lines.close()
        results_tmp.unlink(missing_ok=True)
        manifest_tmp.unlink(missing_ok=True)
    return Assembled(n, failed)


def _chunk(index: PartIndex, start: int, stop: int, twins: _Twins, lines: _Lines, mark: bytes,
           current: Callable[[dict], dict], results) -> tuple[pa.Table, dict[int, dict]]:
    """The chunk's Parquet rows (in input order) and its re-decided records by chunk row; its
    JSONL lines go straight to ``results``."""
    parts = index.part[start:stop]
    pieces, where = [], []
    for k in np.unique(parts):
        at = np.flatnonzero(parts == k)
        pieces.append(twins.take(int(k), index.row[start:stop][at]))
        where.append(at)
    order = np.argsort(np.concatenate(where), kind="stable")
    table = pa.concat_tables(pieces).take(pa.array(order))
    stale: dict[int, dict] = {}
    buffer = bytearray()
    for j, i in enumerate(range(start, stop)):
        line = lines.read(int(index.part[i]), int(index.offset[i]), int(index.length[i]))
        if mark not in line:
            record = current(orjson.loads(line))
            stale[j] = record
            line = dumps_record(record).encode() + b"\n"
        elif not line.endswith(b"\n"):
            line += b"\n"
        buffer += line
        if len(buffer) > 1 << 22:
            results.write(buffer)
            buffer.clear()
    results.write(buffer)
    return table, stale


def _patched(table: pa.Table, stale: dict[int, dict], schema: pa.Schema) -> pa.Table:
    rows = list(stale)
    fresh = arrow_table([stale[j] for j in rows], schema)
    pick = np.arange(table.num_rows)
    pick[rows] = table.num_rows + np.arange(len(rows))
    return pa.concat_tables([table, fresh]).take(pa.array(pick))


def _manifest(table: pa.Table, index: PartIndex, start: int, manifest) -> int:
    items = table.column("item")
    paths = pc.struct_field(items, "path").to_pylist()
    ids = pc.struct_field(items, "id").to_pylist()
    errors = pc.struct_field(table.column("error"), "type").to_pylist()
    failed = table.column("error").is_valid().to_pylist()
    names = [p.name for p in index.parts]
    out = bytearray()
    for j, (path, item_id, error, bad) in enumerate(zip(paths, ids, errors, failed)):
        out += orjson.dumps({"index": start + j, "path": path, "id": item_id, "status": "failed" if bad else "succeeded",
                             "error": error if bad else None, "part": names[index.part[start + j]]}) + b"\n"
    manifest.write(out)
    return sum(failed)
