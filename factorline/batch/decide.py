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

import gc
import json
import os
import time
from collections import Counter
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..core.compiler import Plan, compile_pipeline
from ..core.document import dump_text, load_text
from ..core.records import DECISION_TYPE, ParquetSink, flat_decision, read_jsonl, record_schema, write_parquet
from ..errors import FactorlineError, RunDirError
from ..rules import ITEM, ON_ERROR, ON_MISSING, CompiledDecisions, CompiledTable
from ..rules.vectorized import ERROR_COLUMN, decide_frame
from .isolate import describe_exit

BATCH = 32_768
PARALLEL_ROWS = 200_000
CHANGES_FILE = "changes.jsonl"
KEEP, DEFAULT, PER_ITEM = 0, 1, 2


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


def _changed_rules(old: dict | None, new: dict) -> set[str] | None:
    """Rule ids whose definition differs (None: the table is unchanged and is copied; its
    worked examples do not decide anything)."""
    def bare(doc: dict | None) -> dict | None:
        return None if doc is None else {k: v for k, v in doc.items() if k != "cases"}

    if bare(old) == bare(new):
        return None
    if old is None or {k: v for k, v in old.items() if k not in ("rules", "cases")} != \
            {k: v for k, v in new.items() if k not in ("rules", "cases")}:
        return {str(r.get("id")) for r in new.get("rules") or []}  # policy or fallbacks changed: all of them
    before = {str(r.get("id")): r for r in old.get("rules") or []}
    return {str(r.get("id")) for r in new.get("rules") or [] if before.get(str(r.get("id"))) != r}


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


@contextmanager
def _no_gc() -> Iterator[None]:
    """The cyclic collector off while millions of short-lived records come and go (they hold no
    cycles); it rescans every surviving object on each pass and would double the time."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _line_batches(path: Path, size: int, block: int = 1 << 24) -> Iterator[list[bytes]]:
    """Record lines (without their newline) ``size`` at a time, read in big blocks; blank lines
    are skipped, as every reader does."""
    lines: list[bytes] = []
    rest = b""
    with path.open("rb") as fh:
        while chunk := fh.read(block):
            parts = (rest + chunk).split(b"\n")
            rest = parts.pop()
            if parts and min(map(len, parts)) < 8:  # a record line is longer: only then look for blank ones
                parts = [line for line in parts if line.strip()]
            lines += parts
            while len(lines) >= size:
                yield lines[:size]
                lines = lines[size:]
    if rest.strip():
        lines.append(rest)
    if lines:
        yield lines


def _columns(batch: pa.RecordBatch) -> dict[str, pa.Array]:
    """Every leaf of the batch's ``factors``, ``item`` and ``decisions`` structs by dotted name
    (``border.area_ratio``, ``item.partial``, ``decisions.moderation.rule``), parent nulls
    applied, without converting the heavy columns a decision never reads."""
    out: dict[str, pa.Array] = {}
    for top, prefix in (("factors", ""), (ITEM, f"{ITEM}."), ("decisions", "decisions.")):
        if top not in batch.schema.names or not pa.types.is_struct(batch.schema.field(top).type):
            continue
        parent = batch.column(top)
        for child_field, child in zip(parent.type, parent.flatten()):
            name = prefix + child_field.name
            if pa.types.is_struct(child_field.type) and top != ITEM:
                out.update({f"{name}.{f.name}": a for f, a in zip(child_field.type, child.flatten())})
            else:
                out[name] = child
    return out


class _Redecider:
    def __init__(self, plan: Plan, old: Plan | None, stored: set[str], fingerprint: str | None):
        """``old``: the pipeline the stored decisions came from; ``stored``: the tables the
        stored Parquet holds (one it lacks is decided afresh whatever the documents say);
        ``fingerprint``: the one the stored records carry."""
        new_docs = dict(plan.doc.decisions)
        old_docs = dict(old.doc.decisions) if old is not None else None
        self.plan = plan
        self.tables = plan.decisions.tables
        self.changed = {}
        for name, doc in new_docs.items():
            before = (old_docs or {}).get(name) if old_docs is not None and name in stored else None
            if (rules := _changed_rules(before, doc)) is not None:
                self.changed[name] = rules
        self.vectorized = CompiledDecisions({n: self.tables[n] for n in self.changed})
        self.defaults = {n: self.tables[n].default_decision() for n in self.changed}
        old_tables = old.decisions.tables if old is not None else {}
        # Items no rule matched keep their stored decision when the default decision reads the same.
        self.same_default = {n: n in old_tables and old_tables[n].default_decision() == d for n, d in self.defaults.items()}
        # A line whose tables all keep their decisions only needs its fingerprint swapped, no parse.
        same_tables = old is not None and set(old_tables) == set(self.tables) == stored
        self.swap = (fingerprint.encode(), plan.fingerprint.encode()) \
            if fingerprint and same_tables and old.name == plan.name and len(fingerprint) == len(plan.fingerprint) else None
        self.flat_defaults = {n: flat_decision(d) for n, d in self.defaults.items()}
        self.columns = self.vectorized.referenced_fields()
        self.pipeline = {"name": plan.name, "fingerprint": plan.fingerprint}
        self.transitions: Counter = Counter()
        self.changes = 0

    def codes(self, batch: pa.RecordBatch) -> tuple[dict[str, np.ndarray], dict[str, tuple[list, list]]]:
        """Per changed table: what each row needs (KEEP/DEFAULT/PER_ITEM), and the old outcomes/rules."""
        if not self.changed:
            return {}, {}
        columns = _columns(batch)
        frame = pl.DataFrame({c: pl.from_arrow(columns[c]) for c in self.columns if c in columns}, height=batch.num_rows)
        if "error" in batch.schema.names:
            frame = frame.with_columns(pl.from_arrow(batch.column("error").is_valid()).alias(ERROR_COLUMN))
        decided = decide_frame(self.vectorized, frame, blocked=True)
        codes, before = {}, {}
        for name in self.changed:
            table: CompiledTable = self.tables[name]
            outcome, rule = decided[f"{name}.outcome"].to_numpy(), decided[f"{name}.rule"].to_numpy()
            if f"decisions.{name}.outcome" in columns:
                old_outcome = columns[f"decisions.{name}.outcome"].to_numpy(zero_copy_only=False)
                old_rule = columns[f"decisions.{name}.rule"].to_numpy(zero_copy_only=False)
                old_reason = pl.from_arrow(columns[f"decisions.{name}.reason"])
            else:
                old_outcome = old_rule = np.full(batch.num_rows, None, dtype=object)
                old_reason = pl.Series([None] * batch.num_rows, dtype=pl.String)
            same = (outcome == old_outcome) & (rule == old_rule)
            # A missing value decided before and after, blocked by the same unchanged rule: the
            # stored explanation (which names that rule and its values) still holds.
            blocked = decided[f"{name}.blocked"]
            still_blocked = ((old_reason == blocked + " could not be evaluated").fill_null(False)
                             & ~blocked.is_in(sorted(self.changed[name]))).to_numpy()
            may_keep = (rule == ON_ERROR) | (~np.isin(rule, [*self.changed[name], ON_MISSING])) | ((rule == ON_MISSING) & still_blocked)
            if table.policy == "collect":  # every matching rule is listed: only a failed item's decision is safe
                may_keep = rule == ON_ERROR
            code = np.where(same & may_keep, KEEP, PER_ITEM)
            is_default = rule == table.default.id
            kept_default = is_default & same & self.same_default[name]
            codes[name] = np.where(kept_default, KEEP, np.where(is_default, DEFAULT, code))
            before[name] = (old_outcome, outcome)
        return codes, before

    def lines(self, raws: list[bytes], codes: dict[str, np.ndarray], fresh: dict[str, list], sink) -> dict[int, dict]:
        """Write the batch's new lines to ``sink``; the records that had to be parsed, by row.

        ``raws`` are lines without their newline. Runs of lines whose decisions all stay only get
        their fingerprint swapped, one bytes
        replace per run (a million lines cannot afford a Python step each)."""
        keep = np.ones(len(raws), dtype=bool)
        for c in codes.values():
            keep &= c == KEEP
        if not self.swap:
            keep[:] = False
        records: dict[int, dict] = {}
        edges = np.flatnonzero(np.diff(keep.astype(np.int8))) + 1
        for start, end in zip([0, *edges.tolist()], [*edges.tolist(), len(raws)]):
            if keep[start]:
                run = b"\n".join(raws[start:end]) + b"\n"
                if run.count(self.swap[0]) == end - start:
                    sink.write(run.replace(*self.swap))
                    continue
            for row in range(start, end):  # parsed one by one (or a line without the stored fingerprint)
                line, records[row] = self.line(raws[row], row, codes, fresh)
                sink.write(line)
        return records

    def line(self, raw: bytes, row: int, codes: dict[str, np.ndarray], fresh: dict[str, list]) -> tuple[bytes, dict]:
        """One parsed and re-decided line, and its record."""
        record = orjson.loads(raw)
        stored = record.get("decisions") or {}
        decisions = {}
        for name, table in self.tables.items():
            code = codes[name][row] if name in codes else KEEP
            if code == KEEP and name in stored:
                decisions[name] = stored[name]
            elif code == DEFAULT:
                decisions[name] = self.defaults[name]
            else:
                factors = record.get("factors") if isinstance(record.get("factors"), dict) else {}
                item = record.get("item")
                decision = table.decide({**factors, ITEM: item} if isinstance(item, dict) else factors, record.get("error"))
                decisions[name] = decision
                fresh[name][row] = flat_decision(decision)
        record["decisions"] = decisions
        record["pipeline"] = self.pipeline
        return orjson.dumps(record) + b"\n", record

    def parquet(self, batch: pa.RecordBatch, codes: dict[str, np.ndarray], fresh: dict[str, list],
                schema: pa.Schema) -> pa.Table:
        table = pa.Table.from_batches([batch])
        columns = {n: table.column(n) for n in table.column_names}
        if "decisions" in schema.names:
            old = columns.get("decisions")
            held = {f.name for f in old.type} if old is not None and pa.types.is_struct(old.type) else set()
            children = []
            for name in self.tables:
                kept = pc.struct_field(old, name).combine_chunks() if name in held else pa.nulls(table.num_rows, DECISION_TYPE)
                if name in codes:
                    default = pa.repeat(pa.scalar(self.flat_defaults[name], type=DECISION_TYPE), table.num_rows)
                    computed = pa.array(fresh[name], type=DECISION_TYPE)
                    kept = pc.if_else(pa.array(codes[name] == PER_ITEM), computed,
                                      pc.if_else(pa.array(codes[name] == DEFAULT), default, kept))
                children.append(kept)
            columns["decisions"] = pa.StructArray.from_arrays(children, fields=list(schema.field("decisions").type))
        columns["pipeline"] = pa.repeat(pa.scalar(self.pipeline, type=schema.field("pipeline").type), table.num_rows)
        return pa.table({n: columns[n] for n in schema.names}, schema=schema)

    def note_changes(self, records: dict[int, dict], before: dict[str, tuple], sink, sample: list[dict], limit: int) -> None:
        for name, (old_outcome, outcome) in before.items():
            for row in np.flatnonzero(old_outcome != outcome):
                record = records[row]
                decision = record["decisions"][name]
                change = {"item": (record.get("item") or {}).get("path"), "table": name, "before": old_outcome[row],
                          "after": decision["outcome"], "rule": decision["rule"], "explanation": decision["explanation"]}
                self.transitions[(name, change["before"], change["after"])] += 1
                self.changes += 1
                sink.write(orjson.dumps(change) + b"\n")
                if len(sample) < limit:
                    sample.append(change)


@dataclass(frozen=True)
class _ColumnJob:
    """What the Parquet side needs, picklable (it may run in another process)."""

    doc: dict
    run_dir: str
    source: str
    target: str
    batch_size: int


def _redecider(plan: Plan, run_dir: Path, source: Path, meta: dict) -> _Redecider:
    schema = pq.read_schema(source)
    stored = {f.name for f in schema.field("decisions").type} if "decisions" in schema.names else set()
    return _Redecider(plan, _old_plan(run_dir), stored, meta.get("fingerprint"))


def _columns_here(job: _ColumnJob, redecider: _Redecider) -> Generator:
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
        with ParquetSink(job.target, schema) as sink, _no_gc():
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
        with ExitStack() as stack, results_tmp.open("wb") as results, changes_tmp.open("wb") as changes, _no_gc():
            lines = _line_batches(run_dir / "results.jsonl", batch_size)
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
