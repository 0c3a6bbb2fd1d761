"""Re-decide a finished run from its stored factors: no decoding, no models.

Only the decision tables may differ from the pipeline that produced the run; a pipeline whose
steps, parameters or sampling differ is refused (its factors would not be these factors).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from ..core.compiler import Plan
from ..core.document import dump_text
from ..core.records import read_jsonl, write_jsonl, write_parquet
from ..errors import RunDirError
from ..rules import redecide


@dataclass
class DecideSummary:
    out_dir: str
    items: int
    changes: list[dict]
    seconds: float


def read_run(run_dir: str | Path) -> tuple[dict, list[dict]]:
    """A run folder's ``run.json`` and its records; a clear error when it is not a run folder."""
    run_dir = Path(run_dir)
    results, meta_path = run_dir / "results.jsonl", run_dir / "run.json"
    if not results.is_file() or not meta_path.is_file():
        raise RunDirError(f"not a run folder: expected results.jsonl and run.json in {run_dir} (written by `factorline run`)", path=str(run_dir))
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise RunDirError(f"run.json is damaged: {exc}", path=str(meta_path), cause=exc) from exc
    return meta, list(read_jsonl(results))


def decide_run(plan: Plan, run_dir: str | Path, out_dir: str | Path | None = None) -> DecideSummary:
    started = time.perf_counter()
    meta, records = read_run(run_dir)
    stored = meta.get("factors_fingerprint")
    if stored != plan.factors_fingerprint:
        raise RunDirError(
            "the pipeline's steps, parameters or sampling differ from the ones that produced this run, "
            "so its factors cannot be reused; only `decisions` may change (use `factorline run` to recompute)",
            path=str(run_dir),
        )
    new_records, changes = redecide(plan.decisions, records)
    fingerprint = {"name": plan.name, "fingerprint": plan.fingerprint}
    new_records = [{**r, "pipeline": fingerprint} for r in new_records]
    out = Path(out_dir or run_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(new_records, out / "results.jsonl")
    write_parquet(new_records, out / "results.parquet", plan)
    (out / "pipeline.yaml").write_text(dump_text(plan.doc), encoding="utf-8")
    meta = {**meta, "fingerprint": plan.fingerprint, "decided_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "decide_changes": len(changes)}
    (out / "run.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return DecideSummary(str(out), len(new_records), changes, round(time.perf_counter() - started, 4))
