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
This process reads only the columns the rules read and writes results.jsonl; results.parquet
is rewritten whole by ``columns`` (a helper process on big runs), which it feeds one way.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..contract.errors import FactorlineError, RunDirError
from ..engine.compiler import Plan, compile_pipeline
from ..engine.document import dump_text, load_text
from ..engine.records import read_jsonl, record_schema, write_parquet
from .columns import ColumnJob, HelperColumns, LocalColumns
from .lines import line_blocks
from .redecide import Redecider, no_gc

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


def make_redecider(plan: Plan, run_dir: Path, source: Path, meta: dict) -> Redecider:
    schema = pq.read_schema(source)
    stored = {f.name for f in schema.field("decisions").type} if "decisions" in schema.names else set()
    return Redecider(plan, _old_plan(run_dir), stored, meta.get("fingerprint"))


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
    redecider = make_redecider(plan, run_dir, source, meta)
    results_tmp, changes_tmp = out / ".results.jsonl.tmp", out / f".{CHANGES_FILE}.tmp"
    items, shown = 0, []
    parquet = pq.ParquetFile(source)
    parallel = (parquet.metadata.num_rows >= PARALLEL_ROWS and (os.cpu_count() or 1) > 1) if parallel is None else parallel
    job = ColumnJob(plan.doc.model_dump(mode="json"), str(run_dir), str(source), str(out / "results.parquet"), batch_size)
    writer = (HelperColumns if parallel else LocalColumns)(job, redecider)
    written = False
    try:
        with results_tmp.open("wb") as results, changes_tmp.open("wb") as changes, no_gc():
            lines = line_blocks(run_dir / "results.jsonl", batch_size)
            for batch in parquet.iter_batches(batch_size=batch_size, columns=redecider.needed_columns(parquet.schema_arrow)):
                verdicts = redecider.codes(batch)
                block = next(lines, ())
                if len(block) != batch.num_rows:
                    raise RunDirError(f"results.jsonl and results.parquet disagree after item #{items} "
                                      f"({len(block)} lines vs {batch.num_rows} rows); run `factorline run --resume` "
                                      "on the folder to assemble them again", path=str(run_dir))
                fresh = {n: [None] * batch.num_rows for n in verdicts.codes}
                records = redecider.lines(block, verdicts, fresh, results)  # type: ignore[arg-type]
                writer.put(verdicts.codes, fresh)
                redecider.note_changes(records, verdicts, changes, shown, sample)
                items += batch.num_rows
            if next(lines, None):
                raise RunDirError(f"results.jsonl holds more records than results.parquet ({items}); run "
                                  "`factorline run --resume` on the folder to assemble them again", path=str(run_dir))
        writer.finish()
        written = True
        results_tmp.replace(out / "results.jsonl")
        changes_tmp.replace(out / CHANGES_FILE)
    finally:
        if not written:
            writer.abort()
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
