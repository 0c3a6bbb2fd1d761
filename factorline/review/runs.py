"""Run folders under one allowlisted root, opened for browsing: their grid columns, a DuckDB
connection over their Parquet, and one record by row index in constant time.

A run is a direct sub-folder of the root holding ``run.json`` and ``results.parquet``; its name
is the folder's name (letters, digits, ``_ . -``). A name with anything else, a folder that is a
symlink or resolves outside the root, is refused before anything is opened. An opened run is
cached until its results files change (``factorline decide`` rewrites them in place).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from ..batch.query import RESULTS
from ..contract.errors import FactorlineError, RunDirError
from ..engine.compiler import Plan, compile_pipeline
from ..engine.document import load_text
from .grid import Column, grid_columns, grid_sql

RUN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
MAX_RUNS = 1000
_BLOCK = 1 << 24  # bytes read at a time while indexing results.jsonl


class RunNotFound(RunDirError):
    """No run of that name under the root (the server answers 404)."""


def check_run_name(name: str) -> str:
    if not RUN_NAME.match(name) or name in (".", ".."):
        raise RunNotFound(f"invalid run name {name!r}: expected a folder name under the runs root "
                          "(letters, digits, '_', '.', '-'; at most 128 characters)", path="path.run")
    return name


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size


@dataclass
class RunView:
    """One run folder, opened for browsing."""

    name: str
    dir: Path
    meta: dict
    schema: pa.Schema
    columns: dict[str, Column]
    stamp: tuple
    plan: Plan | None = None
    plan_problem: str = ""
    _con: object = None
    _offsets: np.ndarray | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def parquet(self) -> Path:
        return self.dir / RESULTS

    @property
    def tables(self) -> list[str]:
        return [t.name for t in self.schema.field("decisions").type] if "decisions" in self.schema.names else []

    def cursor(self):
        """A DuckDB cursor (one per request: cursors of one connection may run in parallel threads)
        with the view ``grid``: one row per item, one column per entry of ``columns``."""
        with self._lock:
            if self._con is None:
                import duckdb

                con = duckdb.connect()
                con.execute(f"CREATE VIEW grid AS {grid_sql(self.parquet, self.columns)}")
                self._con = con
            return self._con.cursor()

    def require_plan(self) -> Plan:
        if self.plan is None:
            raise RunDirError(f"cannot use the run's pipeline: {self.plan_problem}", path=str(self.dir / "pipeline.yaml"))
        return self.plan

    def count(self) -> int:
        return pq.ParquetFile(self.parquet).metadata.num_rows

    def record(self, index: int) -> dict:
        """The record of row ``index`` as results.jsonl holds it (same order as the Parquet file)."""
        offsets = self._line_offsets()
        if not 0 <= index < len(offsets) - 1:
            raise RunNotFound(f"no item {index} in run {self.name}: it has {len(offsets) - 1} items (0 to {len(offsets) - 2})",
                              path="path.item_id")
        with (self.dir / "results.jsonl").open("rb") as fh:
            fh.seek(int(offsets[index]))
            return orjson.loads(fh.read(int(offsets[index + 1] - offsets[index])))

    def _line_offsets(self) -> np.ndarray:
        """Start of every line of results.jsonl (and its end), found once with numpy."""
        with self._lock:
            if self._offsets is None:
                starts = [np.zeros(1, dtype=np.int64)]
                pos = 0
                with (self.dir / "results.jsonl").open("rb") as fh:
                    while block := fh.read(_BLOCK):
                        ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10).astype(np.int64) + pos + 1
                        starts.append(ends)
                        pos += len(block)
                offsets = np.concatenate(starts)
                if offsets[-1] != pos:  # no final newline
                    offsets = np.append(offsets, pos)
                self._offsets = offsets
            return self._offsets

    def index_of(self, item_id: str) -> int:
        """Row index of ``item_id``: a row number, or an item id (``sha256:…``; its first row)."""
        if item_id.isdigit():
            return int(item_id)
        if not item_id.startswith("sha256:"):
            raise RunNotFound(f"invalid item id {item_id!r}: expected a row index (0, 1, ...) or an item id "
                              "('sha256:' and 64 hex digits)", path="path.item_id")
        row = self.cursor().execute('SELECT "index" FROM grid WHERE id = ? ORDER BY "index" LIMIT 1', [item_id.lower()]).fetchone()
        if row is None:
            raise RunNotFound(f"no item with id {item_id} in run {self.name}", path="path.item_id")
        return int(row[0])

    def summary(self) -> dict:
        m = self.meta
        return {"name": self.name, "pipeline": m.get("pipeline"), "status": m.get("status"), "items": self.count(),
                "failed": m.get("items_failed"), "started_at": m.get("started_at"), "finished_at": m.get("finished_at"),
                "tables": self.tables, "fingerprint": m.get("fingerprint"),
                "reviews": (self.dir / "reviews.jsonl").is_file()}


def open_run(run_dir: Path, name: str | None = None) -> RunView:
    """Open a run folder (no root checks: the catalogue does those)."""
    run_dir = Path(run_dir)
    meta_path, parquet = run_dir / "run.json", run_dir / RESULTS
    if not meta_path.is_file() or not parquet.is_file() or not (run_dir / "results.jsonl").is_file():
        raise RunNotFound(f"not a finished run folder: expected run.json, results.jsonl and {RESULTS} in {run_dir.name}",
                          path="path.run")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        schema = pq.read_schema(parquet)
    except (ValueError, OSError, pa.ArrowException) as exc:
        raise RunDirError(f"run {run_dir.name} is damaged: {exc}", path="path.run", cause=exc) from exc
    view = RunView(name or run_dir.name, run_dir, meta, schema, grid_columns(schema), _stamps(run_dir))
    try:
        view.plan = compile_pipeline(load_text(run_dir / "pipeline.yaml"), source=str(run_dir / "pipeline.yaml"))
    except (FactorlineError, OSError) as exc:
        view.plan_problem = str(exc)
    return view


def _stamps(run_dir: Path) -> tuple:
    return _stamp(run_dir / RESULTS), _stamp(run_dir / "results.jsonl"), _stamp(run_dir / "run.json")


class RunCatalog:
    """The runs under ``root``, opened on demand and cached while their files stay the same."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self._open: dict[str, RunView] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        found = []
        for child in sorted(self.root.iterdir()):
            if RUN_NAME.match(child.name) and not child.is_symlink() and child.is_dir() and (child / "run.json").is_file():
                found.append(child.name)
            if len(found) >= MAX_RUNS:
                break
        return found

    def get(self, name: str) -> RunView:
        check_run_name(name)
        folder = self.root / name
        if folder.is_symlink() or not folder.is_dir() or folder.resolve().parent != self.root:
            raise RunNotFound(f"no run named {name!r} under the runs root", path="path.run")
        with self._lock:
            view = self._open.get(name)
            try:
                current = _stamps(folder)
            except OSError:
                current = None
            if view is None or view.stamp != current:
                view = open_run(folder, name)
                self._open[name] = view
            return view

    def list(self) -> list[dict]:
        out = []
        for name in self.names():
            try:
                out.append(self.get(name).summary())
            except FactorlineError as exc:  # a run still running, or damaged: listed with why
                out.append({"name": name, "status": "unreadable", "problem": exc.message})
        return out
