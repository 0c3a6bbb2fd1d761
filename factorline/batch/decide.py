"""Re-decide a finished run from its stored factors: no decoding, no models, bounded memory.

Only the decision tables may differ from the pipeline that produced the run; a pipeline whose
steps, parameters or sampling differ is refused (its factors would not be these factors).

The run is streamed a batch of ``BATCH`` items at a time, results.parquet and results.jsonl
side by side (both hold the records in input order). Per batch, the tables that changed are
decided by the vectorized evaluator (rules/vectorized.py) over the Parquet columns; the
per-item evaluator then writes the full decision (explanation, hits) only where it can differ
from the stored one: the outcome or rule changed, the deciding rule's definition changed, the
table collects every hit, or a missing value decided. Items no rule matched get the table's
default decision, which is the same for all of them. Tables that did not change are copied.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..contract.errors import FactorlineError, RunDirError
from ..engine.compiler import Plan, compile_pipeline
from ..engine.document import dump_text, load_text
from ..engine.records import ParquetSink, read_jsonl, record_schema, write_parquet
from .isolate import describe_exit
from .redecide import Redecider, line_batches, no_gc

BATCH = 32_768
PARALLEL_ROWS = 200_000
CHANGES_FILE = "changes.jsonl"


@dataclass
class DecideSummary:
    out_dir: str
    items: int
    changed: int  # (item, table) pairs whose outcome changed
    transitions: list[dict]  # {"table", "before", "after", "items"}, most items first
    sample: list[dict]  # the first changes, as in changes.jsonl
    changes_path: str
    seconds: float
    tables_changed: list[str] = field(default_factory=list)


def read_meta(run_dir: Path) -> dict:
    results, meta_path = run_dir / "results.jsonl", run_dir / "run.json"
    if not results.is_file() or not meta_path.is_file():
        raise RunDirError(f"not a run folder: expected results.jsonl and run.json in {run_dir} (written by `factorline run`)", path=str(run_dir))
    try:
        return json.loads(meta_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise RunDirError(f"run.json is damaged: {exc}", path=str(meta_path), cause=exc) from exc


def read_run(run_dir: str | Path) -> tuple[dict, list[dict]]:
    """A run folder's ``run.json`` and all its records (small runs, tests; big runs stream)."""
    run_dir = Path(run_dir)
    return read_meta(run_dir), list(read_jsonl(run_dir / "results.jsonl"))


def _old_plan(run_dir: Path) -> Plan | None:
    """The pipeline the stored decisions came from (the run's pipeline.yaml), None when
    unknown: every table then counts as changed."""
    try:
        return compile_pipeline(load_text(run_dir / "pipeline.yaml"))
    except (FactorlineError, OSError):
        return None


def _results_parquet(run_dir: Path, out: Path, plan: Plan) -> tuple[Path, bool]:
    """The run's Parquet if it holds this pipeline's factor columns, else one built from the
    JSONL by streaming (a run folder from before results.parquet was typed); (path, temporary)."""
    path = run_dir / "results.parquet"
    want = record_schema(plan)
    try:
        schema = pq.read_schema(path)
        if all(schema.field(n).type.equals(want.field(n).type) for n in want.names if n not in ("decisions", "pipeline")):
            return path, False
    except (OSError, KeyError, pa.ArrowException):
        pass
    tmp = out / ".results.source.parquet"
    return write_parquet(read_jsonl(run_dir / "results.jsonl"), tmp, plan), True


@dataclass(frozen=True)
class _ColumnJob:
    """What the Parquet side needs, picklable (it may run in another process)."""

    doc: dict
    run_dir: str
    source: str
    target: str
    batch_size: int


def _redecider(plan: Plan, run_dir: Path, source: Path, meta: dict) -> Redecider:
    schema = pq.read_schema(source)
    stored = {f.name for f in schema.field("decisions").type} if "decisions" in schema.names else set()
    return Redecider(plan, _old_plan(run_dir), stored, meta.get("fingerprint"))


def _columns_here(job: _ColumnJob, redecider: Redecider) -> Generator:
    """The Parquet side in this process: yields (rows, codes, before) per batch and is sent the
    batch's fresh decisions back; a thread builds and writes each batch while the next is read.
    Yields None at the end."""
    schema = record_schema(redecider.plan)
    with ParquetSink(job.target, schema) as sink, ThreadPoolExecutor(1, thread_name_prefix="factorline-parquet") as writer:
        pending = None
        for batch in pq.ParquetFile(job.source).iter_batches(batch_size=job.batch_size):
            codes, before = redecider.codes(batch)
            fresh = yield batch.num_rows, codes, before
            if pending is not None:
                pending.result()
            pending = writer.submit(lambda b=batch, c=codes, f=fresh: sink.write(redecider.parquet(b, c, f, schema)))
        if pending is not None:
            pending.result()
    yield None


def _column_worker(conn, job: _ColumnJob) -> None:
    """The Parquet side in a helper process (big runs): it decodes and decides batch k+1 and
    writes batch k while the parent rewrites the JSONL of batch k+1."""
    try:
        run_dir, source = Path(job.run_dir), Path(job.source)
        plan = compile_pipeline(job.doc)
        redecider = _redecider(plan, run_dir, source, read_meta(run_dir))
        schema = record_schema(plan)
        with ParquetSink(job.target, schema) as sink, no_gc():
            batches = pq.ParquetFile(source).iter_batches(batch_size=job.batch_size)
            current = next(batches, None)
            if current is not None:
                codes, before = redecider.codes(current)
                conn.send(("batch", current.num_rows, codes, before))
            while current is not None:
                upcoming = next(batches, None)
                if upcoming is not None:
                    next_codes, next_before = redecider.codes(upcoming)
                    conn.send(("batch", upcoming.num_rows, next_codes, next_before))
                else:
                    conn.send(("end",))
                fresh = conn.recv()
                sink.write(redecider.parquet(current, codes, fresh, schema))
                if upcoming is None:
                    break
                current, codes = upcoming, next_codes
            if current is None:
                conn.send(("end",))
        conn.send(("done",))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


class _HelperUnavailable(RunDirError):
    """The helper process died before its first batch (a script without a ``__main__`` guard,
    no room for a process): the Parquet side then runs in this process."""


def _columns_elsewhere(job: _ColumnJob) -> Generator:
    """The same protocol as ``_columns_here``, with the Parquet side in a spawned process."""
    ctx = get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_column_worker, args=(child, job), name="factorline-decide-parquet", daemon=True)
    proc.start()
    child.close()

    def receive(first: bool = False):
        try:
            message = parent.recv()
        except (EOFError, OSError) as exc:
            proc.join(timeout=5)
            kind = _HelperUnavailable if first else RunDirError
            raise kind(f"the Parquet writer process of `decide` died ({describe_exit(proc.exitcode)})",
                       path=job.run_dir, cause=exc) from exc
        if message[0] == "error":
            raise RunDirError(f"writing results.parquet failed: {message[1]}", path=job.run_dir)
        return message

    finished = False
    try:
        message = receive(first=True)
        while message[0] == "batch":
            fresh = yield message[1], message[2], message[3]
            message = receive()  # the next batch was decided while this one was rewritten
            parent.send(fresh)
        if receive()[0] != "done":
            raise RunDirError("the Parquet writer process of `decide` ended out of step", path=job.run_dir)
        finished = True
        yield None
    finally:
        if finished:
            proc.join(timeout=30)
        if proc.is_alive():  # stopped half-way
            proc.kill()
            proc.join(timeout=5)
        if not finished:
            ParquetSink.temporary(Path(job.target)).unlink(missing_ok=True)
        parent.close()


def decide_run(plan: Plan, run_dir: str | Path, out_dir: str | Path | None = None, *, sample: int = 10,
               batch_size: int = BATCH, parallel: bool | None = None) -> DecideSummary:
    """Re-decide ``run_dir`` with ``plan``'s tables into ``out_dir`` (default: in place).
    ``parallel``: write the Parquet in a helper process (default: for runs of PARALLEL_ROWS
    items or more on a machine with more than one CPU)."""
    started = time.perf_counter()
    run_dir = Path(run_dir)
    meta = read_meta(run_dir)
    if meta.get("factors_fingerprint") != plan.factors_fingerprint:
        raise RunDirError(
            "the pipeline's steps, parameters or sampling differ from the ones that produced this run, "
            "so its factors cannot be reused; only `decisions` may change (use `factorline run` to recompute)",
            path=str(run_dir),
        )
    out = Path(out_dir or run_dir)
    out.mkdir(parents=True, exist_ok=True)
    source, temporary = _results_parquet(run_dir, out, plan)
    redecider = _redecider(plan, run_dir, source, meta)
    results_tmp, changes_tmp = out / ".results.jsonl.tmp", out / f".{CHANGES_FILE}.tmp"
    items, shown = 0, []
    rows = pq.ParquetFile(source).metadata.num_rows
    parallel = (rows >= PARALLEL_ROWS and (os.cpu_count() or 1) > 1) if parallel is None else parallel
    try:
        with ExitStack() as stack, results_tmp.open("wb") as results, changes_tmp.open("wb") as changes, no_gc():
            lines = line_batches(run_dir / "results.jsonl", batch_size)
            job = _ColumnJob(plan.doc.model_dump(mode="json"), str(run_dir), str(source), str(out / "results.parquet"), batch_size)
            columns = stack.enter_context(closing(_columns_elsewhere(job) if parallel else _columns_here(job, redecider)))
            try:
                step = next(columns)
            except _HelperUnavailable:
                columns = stack.enter_context(closing(_columns_here(job, redecider)))
                step = next(columns)
            while step is not None:
                num_rows, codes, before = step
                raws = next(lines, [])
                if len(raws) != num_rows:
                    raise RunDirError(f"results.jsonl and results.parquet disagree after item #{items} "
                                      f"({len(raws)} lines vs {num_rows} rows); run `factorline run --resume` "
                                      "on the folder to assemble them again", path=str(run_dir))
                fresh = {n: [None] * num_rows for n in codes}
                records = redecider.lines(raws, codes, fresh, results)
                step = columns.send(fresh)
                redecider.note_changes(records, before, changes, shown, sample)
                items += num_rows
            if next(lines, None):
                raise RunDirError(f"results.jsonl holds more records than results.parquet ({items}); run "
                                  "`factorline run --resume` on the folder to assemble them again", path=str(run_dir))
        results_tmp.replace(out / "results.jsonl")
        changes_tmp.replace(out / CHANGES_FILE)
    finally:
        results_tmp.unlink(missing_ok=True)
        changes_tmp.unlink(missing_ok=True)
        if temporary:
            source.unlink(missing_ok=True)
    (out / "pipeline.yaml").write_text(dump_text(plan.doc), encoding="utf-8")
    transitions = [{"table": t, "before": b, "after": a, "items": n} for (t, b, a), n in redecider.transitions.most_common()]
    meta = {**meta, "fingerprint": plan.fingerprint, "decided_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "decide_changes": redecider.changes}
    (out / "run.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return DecideSummary(str(out), items, redecider.changes, transitions, shown, str(out / CHANGES_FILE),
                         round(time.perf_counter() - started, 4), sorted(redecider.changed))
