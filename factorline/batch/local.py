"""Running a pipeline over many items into a run folder: the entry point of both engines.

``run_pipeline`` opens (or resumes) the run folder (rundir.py), hands the items not finished
yet to an engine (local worker processes, or Ray actors), appends each record to a part file
as it arrives (parts.py), and at the end assembles results.jsonl, results.parquet,
manifest.jsonl and run.json from the parts, in input order.

Guarantees: a ``kill -9`` at any moment loses no record already written to a part and
duplicates none, and ``resume=True`` computes only the missing items; a resumed run refuses a
pipeline whose fingerprint changed. A hostile item cannot crash, hang or bloat the run: local
items run in worker processes that are killed past the hard time or memory limit.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..cache import default_cache_dir
from ..contract.errors import ConfigError
from ..contract.items import Limits
from ..engine.compiler import Plan, compile_pipeline
from ..engine.records import record_schema
from .isolate import ProcessBackend
from .parts import PARTS, PartWriter, RunLock, recover
from .rundir import assemble, open_run
from .schedule import EngineConfig, Watch, make_engine, run_tasks, serialized

ENGINES = ("local", "ray")


@dataclass
class RunSummary:
    out_dir: str
    pipeline: str
    fingerprint: str
    total: int  # inputs = succeeded + failed + skipped
    succeeded: int  # computed in this attempt without error
    failed: int  # computed in this attempt with an error record
    skipped: int  # finished by an earlier attempt (resume)
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class _Job:
    plan: Plan
    config: EngineConfig
    workers: int
    watch: Watch
    engine: str
    address: str | None
    isolate: bool
    parts: object = None  # ray_engine.PartsTarget when Ray actors write the parts themselves


def _records(job: _Job, todo: list[str]) -> Iterator[dict]:
    if not todo:
        return
    if job.engine == "ray":
        from .ray_engine import RayBackend, connect, disconnect

        connected = connect(job.address)
        try:
            backend = RayBackend(job.config, job.parts)
            yield from run_tasks(backend, job.plan, todo, workers=min(job.workers, backend.capacity()), watch=job.watch)
        finally:
            disconnect(connected)
    elif job.isolate:
        yield from run_tasks(ProcessBackend(job.config), job.plan, todo, workers=job.workers, watch=job.watch)
    else:  # in this process: no hard limits, but debuggers, profilers and monkeypatches see the work
        engine = make_engine(job.config)
        yield from (engine.run_item(p) for p in todo)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} items/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[last]}"),
        console=console,
        transient=False,
    )


def _workers(job: _Job) -> str:
    if job.engine == "ray":
        return f"{job.workers} Ray actor{'s' if job.workers > 1 else ''}"
    if job.isolate:
        return f"{job.workers} worker process{'es' if job.workers > 1 else ''}"
    return "in this process"


def _status(record: dict) -> str:
    """The last finished item, for the progress line: its name and how it went."""
    item, error = record.get("item") or {}, record.get("error")
    state = f"[red]{escape(str(error.get('type')))}[/]" if error else "[yellow]ended early[/]" if item.get("partial") else "[green]ok[/]"
    seconds = ((record.get("timings_ms") or {}).get("total") or 0.0) / 1000
    return f"{escape(Path(str(item.get('path'))).name)} {state} ({seconds:.1f} s)"


def _check_engine(engine: str, address: str | None, workers: int) -> None:
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}", path="engine")
    if address and engine != "ray":
        raise ConfigError("--address only applies to --engine ray (the address of a Ray head node)", path="address")
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}", path="workers")


def run_pipeline(
    doc: dict,
    paths: list[str],
    out_dir: str | Path,
    *,
    workers: int = 1,
    cache_dir: str | Path | None = "default",
    limits: Limits | None = None,
    console: Console | None = None,
    on_record: Callable[[dict], None] | None = None,
    resume: bool = False,
    engine: str = "local",
    address: str | None = None,
    isolate: bool = True,
    max_rss_mb: int | None = 4096,
    part_records: int = 500,
    part_seconds: float = 30.0,
    worker_parts: bool = False,
) -> RunSummary:
    """Run ``doc`` over ``paths`` and write the run folder ``out_dir``.

    ``cache_dir=None`` disables the step cache. ``resume``: skip the items an earlier run into
    ``out_dir`` finished (refused if the pipeline changed). ``engine``: "local" (``workers``
    processes) or "ray" (``workers`` actors, at ``address`` or $RAY_ADDRESS or a local Ray).
    ``isolate=False`` runs local items in this process (no hard time/memory limits).
    ``max_rss_mb``: memory cap of one worker (None: none). Parts are sealed every
    ``part_records`` records or ``part_seconds`` seconds. ``worker_parts`` (Ray): actors write
    the records into ``out_dir/parts`` themselves (shared storage) and ``on_record`` gets stubs.
    """
    _check_engine(engine, address, workers)
    if worker_parts and engine != "ray":
        raise ConfigError("--worker-parts only applies to --engine ray (local workers already hand records to "
                          "the run through a pipe)", path="worker_parts")
    limits = limits or Limits()
    cache = str(default_cache_dir() if cache_dir == "default" else cache_dir) if cache_dir else None
    plan = compile_pipeline(doc)
    paths = list(dict.fromkeys(str(p) for p in paths))  # one item per path: the path is its identity
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    console = console or Console(stderr=True)
    watch = Watch(limits.item_timeout_s, max_rss_mb * 2**20 if max_rss_mb else None)
    job = _Job(plan, EngineConfig(doc, cache, limits), workers, watch, engine, address, isolate)
    if worker_parts:
        from .ray_engine import PartsTarget

        job = replace(job, parts=PartsTarget(str((out / PARTS).resolve()), part_records, part_seconds))
    started = time.perf_counter()
    with RunLock(out):
        state = open_run(out, plan, resume=resume)
        todo = [p for p in paths if p not in state.done_before]
        skipped = len(paths) - len(todo)
        writer = PartWriter(state.parts, max_records=part_records, max_seconds=part_seconds, schema=record_schema(plan))
        try:
            succeeded, failed = _execute(job, todo, skipped, len(paths), writer, console, on_record)
        except KeyboardInterrupt:
            console.print(f"[yellow]interrupted[/]: finished items are kept in {state.parts}; "
                          "run the same command with --resume to finish")
            raise
        if worker_parts:
            recover(state.parts)  # parts left open by actors that were killed
        seconds = round(time.perf_counter() - started, 3)
        summary = RunSummary(str(out), plan.name, plan.fingerprint, len(paths), succeeded, failed, skipped, seconds)
        assemble(state, plan, paths, summary.to_dict(), {"workers": workers, "cache": cache, "engine": engine})
    return summary


def _execute(job: _Job, todo: list[str], skipped: int, total: int, writer: PartWriter, console: Console,
             on_record: Callable[[dict], None] | None) -> tuple[int, int]:
    """Run ``todo``, write each record to a part as it arrives; (succeeded, failed)."""
    succeeded = failed = 0
    started = time.perf_counter()
    label = job.plan.name + (f" (resumed, {skipped} done before)" if skipped else "")
    starting = f"starting ({_workers(job)}); models load with the first item" if todo else ""
    with writer, _progress(console) as bar, contextlib.closing(_records(job, todo)) as records:
        task = bar.add_task(escape(label), total=total, completed=skipped, rate="0.0", last=starting)
        for record in records:
            if not record.get("stored"):  # a stub: the Ray actor wrote the record to its own part
                record, line = serialized(record, job.plan)
                writer.add_line(line)
            failed += bool(record["error"])
            succeeded += not record["error"]
            rate = (succeeded + failed) / max(time.perf_counter() - started, 1e-9)
            bar.update(task, advance=1, rate=f"{rate:.1f}", last=_status(record))
            if on_record:
                on_record(record)
    return succeeded, failed
