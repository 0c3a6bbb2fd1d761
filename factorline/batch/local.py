"""The local engine: items spread over worker processes, records streamed to the run folder.

Run folder layout (read by ``decide``, ``report`` and ``evaluate``):

    results.jsonl     one record per item, in input order once the run finishes
    results.parquet   the same records, typed columns (see core/records.py)
    pipeline.yaml     the normalized pipeline that produced them
    run.json          fingerprint, counts, timings, versions

While the run is going, each finished record is appended and flushed to results.jsonl, so a
crash loses no finished item.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .. import __version__
from ..core.cache import NullCache, StepCache, default_cache_dir
from ..core.compiler import compile_pipeline
from ..core.document import dump_text
from ..core.executor import Engine
from ..core.items import Limits
from ..core.records import dumps_record, write_jsonl, write_parquet


@dataclass
class RunSummary:
    out_dir: str
    pipeline: str
    fingerprint: str
    total: int
    succeeded: int
    failed: int
    skipped: int
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


_worker_engine: Engine | None = None


def _make_engine(doc: dict, cache_dir: str | None, limits: Limits) -> Engine:
    cache = StepCache(cache_dir) if cache_dir else NullCache()
    return Engine(compile_pipeline(doc), cache=cache, limits=limits)


def _init_worker(doc: dict, cache_dir: str | None, limits: Limits) -> None:
    global _worker_engine
    _worker_engine = _make_engine(doc, cache_dir, limits)


def _run_in_worker(path: str) -> dict:
    assert _worker_engine is not None, "worker not initialised"
    return _worker_engine.run_item(path)


def _records(engine: Engine, doc: dict, paths: list[str], workers: int, cache_dir: str | None, limits: Limits) -> Iterator[dict]:
    if workers <= 1 or len(paths) <= 1:
        yield from (engine.run_item(p) for p in paths)
        return
    # spawn, not fork: decoders and thread pools in the parent must not leak into children.
    ctx = get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(doc, cache_dir, limits)) as pool:
        futures = [pool.submit(_run_in_worker, p) for p in paths]
        for future in as_completed(futures):
            yield future.result()


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} items/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


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
) -> RunSummary:
    """Run ``doc`` over ``paths`` and write the run folder. ``cache_dir=None`` disables the cache."""
    limits = limits or Limits()
    cache = str(default_cache_dir() if cache_dir == "default" else cache_dir) if cache_dir else None
    engine = _make_engine(doc, cache, limits)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "pipeline.yaml").write_text(dump_text(engine.plan.doc), encoding="utf-8")
    console = console or Console(stderr=True)
    started = time.perf_counter()
    by_path: dict[str, dict] = {}
    with (out / "results.jsonl").open("w", encoding="utf-8") as live, _progress(console) as bar:
        task = bar.add_task(engine.plan.name, total=len(paths), rate="0.0")
        for record in _records(engine, doc, paths, workers, cache, limits):
            live.write(dumps_record(record) + "\n")
            live.flush()
            by_path[record["item"]["path"]] = record
            rate = len(by_path) / max(time.perf_counter() - started, 1e-9)
            bar.update(task, advance=1, rate=f"{rate:.1f}")
            if on_record:
                on_record(record)
    ordered = [by_path[p] for p in paths if p in by_path]
    write_jsonl(ordered, out / "results.jsonl")
    write_parquet(ordered, out / "results.parquet", engine.plan)
    failed = sum(1 for r in ordered if r["error"])
    summary = RunSummary(str(out), engine.plan.name, engine.plan.fingerprint, len(paths), len(ordered) - failed, failed, 0, round(time.perf_counter() - started, 3))
    _write_run_json(out, summary, engine.plan.factors_fingerprint, workers, cache)
    return summary


def _write_run_json(out: Path, summary: RunSummary, factors_fingerprint: str, workers: int, cache: str | None) -> None:
    meta = {
        **summary.to_dict(),
        "factors_fingerprint": factors_fingerprint,
        "workers": workers,
        "cache": cache,
        "factorline": __version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    tmp = out / ".run.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    tmp.replace(out / "run.json")
