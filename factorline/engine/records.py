"""Result records to JSONL and Parquet, in the one shape DESIGN.md shows.

The Parquet schema is derived from the plan (each factor field's dtype fixes its Arrow
type), so every run of a pipeline writes the same typed columns: ``factors.border.area_ratio``
is a float64 whether or not the first item failed. ``decisions.<table>.hits`` is stored as a
JSON string because the values a rule reads differ from rule to rule.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Self

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from ..cache import jsonable
from ..contract.kinds import arrow_type
from .compiler import Plan

_ITEM = pa.struct(
    [
        ("id", pa.string()),
        ("path", pa.string()),
        ("kind", pa.string()),
        ("duration_s", pa.float64()),
        ("width", pa.int64()),
        ("height", pa.int64()),
        ("fps", pa.float64()),
        ("display_width", pa.int64()),
        ("display_height", pa.int64()),
        ("pixel_aspect", pa.float64()),
        ("partial", pa.bool_()),  # the media ended before its declared end (media/coverage.py)
        ("partial_reason", pa.string()),
        ("decoded_s", pa.float64()),
        ("frames", pa.int64()),
        ("frames_planned", pa.int64()),
    ]
)
_ERROR = pa.struct([("type", pa.string()), ("message", pa.string()), ("path", pa.string())])
_PIPELINE = pa.struct([("name", pa.string()), ("fingerprint", pa.string())])
DECISION_TYPE = pa.struct(
    [
        ("outcome", pa.string()),
        ("rule", pa.string()),
        ("reason", pa.string()),
        ("explanation", pa.string()),
        ("outcomes", pa.list_(pa.string())),  # collect policy only
        ("missing", pa.list_(pa.string())),  # on_missing only
        ("hits", pa.string()),
    ]
)


def record_schema(plan: Plan) -> pa.Schema:
    factors = pa.struct(
        [
            (step, pa.struct([(name, arrow_type(dtype)) for name, dtype in fields.items()]))
            for step, fields in plan.field_dtypes.items()
        ]
    )
    decisions = pa.struct([(table, DECISION_TYPE) for table in plan.decisions.names])
    columns = [
        ("item", _ITEM),
        ("factors", factors),
        ("decisions", decisions),
        ("error", _ERROR),
        ("pipeline", _PIPELINE),
        ("timings_ms", pa.map_(pa.string(), pa.float64())),
    ]
    # Parquet cannot store a struct without children: a factors-only pipeline (no decision
    # tables) has no `decisions` column; its JSONL records still carry "decisions": {}.
    return pa.schema([(name, kind) for name, kind in columns if not (pa.types.is_struct(kind) and kind.num_fields == 0)])


def flat_decision(decision: dict) -> dict:
    """One table's decision as its Parquet struct stores it (``hits`` as a JSON string)."""
    return {**{k: v for k, v in decision.items() if k != "hits"}, "hits": orjson.dumps(decision.get("hits", [])).decode()}


def _flatten_decisions(decisions: dict) -> dict:
    return {table: flat_decision(d) for table, d in (decisions or {}).items()}


def _arrow_row(record: dict, schema: pa.Schema) -> dict:
    factor_fields = schema.field("factors").type
    factors = {}
    for step_field in factor_fields:
        values = record["factors"].get(step_field.name)
        factors[step_field.name] = None if values is None else {f.name: values.get(f.name) for f in step_field.type}
    row = {**record, "factors": factors, "decisions": _flatten_decisions(record["decisions"]),
           "timings_ms": list((record.get("timings_ms") or {}).items())}
    return {name: row.get(name) for name in schema.names}


ROW_GROUP = 65_536  # rows per Parquet row group: what a streaming reader holds at once


def arrow_table(records: Iterable[dict], schema: pa.Schema) -> pa.Table:
    """Records as one typed table (the rows must fit in memory: pass a chunk)."""
    return pa.Table.from_pylist([_arrow_row(r, schema) for r in records], schema=schema)


class ParquetSink:
    """One Parquet file written a row group at a time, then renamed into place (``commit``):
    memory stays bounded by the row group, and readers never see half a file."""

    def __init__(self, path: str | Path, schema: pa.Schema):
        self.path = Path(path)
        self.schema = schema
        self._tmp = self.temporary(self.path)
        self._writer = pq.ParquetWriter(self._tmp, schema)

    @staticmethod
    def temporary(path: Path) -> Path:
        """Where the file is written until ``commit`` (a writer killed half-way leaves it here)."""
        return path.with_name(f".{path.name}.tmp")

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            self._writer.write_table(table.cast(self.schema) if table.schema != self.schema else table, row_group_size=ROW_GROUP)

    def write_records(self, records: Iterable[dict]) -> None:
        for chunk in _chunks(records, ROW_GROUP):
            self.write(arrow_table(chunk, self.schema))

    def commit(self) -> Path:
        self._writer.close()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        self._writer.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind, *exc) -> None:
        self.abort() if kind else self.commit()


def _chunks(records: Iterable[dict], size: int) -> Iterator[list[dict]]:
    chunk: list[dict] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def write_parquet(records: Iterable[dict], path: str | Path, plan: Plan) -> Path:
    """Records as typed columns, streamed a row group at a time."""
    with ParquetSink(path, record_schema(plan)) as sink:
        sink.write_records(records)
    return Path(path)


def dumps_record(record: dict) -> str:
    return json.dumps(jsonable(record), ensure_ascii=False, allow_nan=False)


def jsonl_lines(path: str | Path) -> Iterator[tuple[int, int, dict]]:
    """(byte offset, byte length, record) of each whole record line of a JSONL file. A torn line
    (a crash mid-write, a byte that is not UTF-8) is skipped, so its item counts as not
    finished and is computed again; every reader of part files skips the same lines."""
    offset = 0
    with Path(path).open("rb") as fh:
        for raw in fh:
            start, offset = offset, offset + len(raw)
            if not raw.strip():
                continue
            try:
                record = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            yield start, len(raw), record


def read_jsonl(path: str | Path) -> Iterator[dict]:
    """Records of a JSONL file, torn lines skipped (``jsonl_lines``)."""
    for _, _, record in jsonl_lines(path):
        yield record


def json_lines(path: str | Path, on_invalid: Callable[[str, ValueError], None]) -> Iterator[tuple[str, object]]:
    """(``<file>:<line>``, value) of each non-blank line of a hand-written JSONL file. A line that
    is not JSON goes to ``on_invalid(where, error)``: a reader may stop there or note it and go on."""
    path = Path(path)
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name}:{number}"
        try:
            value = json.loads(line)
        except ValueError as exc:
            on_invalid(where, exc)
            continue
        yield where, value


def write_jsonl(records: Iterable[dict], path: str | Path) -> Path:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(dumps_record(record) + "\n")
    os.replace(tmp, path)
    return path
