"""The run folder: starting it, resuming it, and assembling its final files.

    pipeline.yaml     the normalized pipeline
    run.json          fingerprints, status ("running" until the final files are written, then
                      "complete"), attempts, counts of the last attempt, versions
    parts/            the records of finished items (parts.py): the source of truth for resume
    results.jsonl     every record in input order           \
    results.parquet   the same records, typed columns        > rebuilt from the parts at the
    manifest.jsonl    per input: index, path, id, status,    /  end of every attempt, by
                      error type and the part holding it    streaming (assemble.py)

Assembly is idempotent: after a crash half-way through it, ``--resume`` finds every item in
the parts, skips them all and assembles again.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..cache import jsonable
from ..contract.errors import RunDirError
from ..engine.compiler import Plan
from ..engine.document import dump_text
from ..engine.records import read_jsonl, record_schema
from .assemble import Assembled, index_parts, write_final
from .parts import PARTS, PartWriter, clear, finished_paths, part_files, recover

FINAL_FILES = ("results.jsonl", "results.parquet", "manifest.jsonl", "run.json")  # run.json last: the commit


@dataclass
class RunState:
    out: Path
    attempt: int
    done_before: set[str]  # item paths finished by earlier attempts
    started_at: str

    @property
    def parts(self) -> Path:
        return self.out / PARTS


def _read_meta(out: Path) -> dict | None:
    path = out / "run.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise RunDirError(f"run.json is damaged ({exc}); drop --resume to start over", path=str(path), cause=exc) from exc


def write_meta(out: Path, meta: dict) -> None:
    tmp = out / ".run.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    os.replace(tmp, out / "run.json")


def _check_same_pipeline(meta: dict, plan: Plan, out: Path) -> None:
    if meta.get("fingerprint") == plan.fingerprint:
        return
    was, now = str(meta.get("fingerprint"))[:19], plan.fingerprint[:19]
    if meta.get("factors_fingerprint") == plan.factors_fingerprint:
        why = ("only its decision tables changed, and resuming would mix old and new decisions: "
               f"resume with the pipeline the run started with ({out / 'pipeline.yaml'}), then "
               f"`factorline decide NEW_PIPELINE --from {out}`")
    else:
        why = ("its steps, parameters or sampling changed, so finished items would not match new ones: "
               f"resume with the pipeline the run started with ({out / 'pipeline.yaml'})")
    raise RunDirError(f"cannot resume: the pipeline changed since this run started (fingerprint {was}… -> {now}…); "
                      f"{why}; or drop --resume (or pick another --out) to start over", path=str(out))


def _seed_from_results(out: Path, plan: Plan) -> None:
    """A finished run from before part files existed: its results.jsonl becomes the first part."""
    results = out / "results.jsonl"
    if part_files(out / PARTS) or not results.is_file():
        return
    with PartWriter(out / PARTS, max_records=1 << 30, max_seconds=float("inf"), schema=record_schema(plan)) as writer:
        for record in read_jsonl(results):
            writer.add(record)


def open_run(out: Path, plan: Plan, *, resume: bool) -> RunState:
    """Start a fresh run folder, or check and recover one to resume (the caller holds RunLock)."""
    meta = _read_meta(out)
    parts = out / PARTS
    if resume and meta is not None:
        _check_same_pipeline(meta, plan, out)
        recover(parts)
        _seed_from_results(out, plan)
        done, attempt = finished_paths(parts), int(meta.get("attempts", 1)) + 1
    elif resume and part_files(parts):
        raise RunDirError(f"cannot resume: {parts} holds part files but run.json is missing, so the pipeline that "
                          "made them is unknown; drop --resume to start over", path=str(out))
    else:
        # Parts first and run.json never unlinked (replaced below): a kill in between leaves a
        # folder that still says which pipeline made whatever parts are left.
        clear(parts)
        for name in FINAL_FILES[:-1]:  # only our own files: --out may be a folder that holds others
            (out / name).unlink(missing_ok=True)
        done, attempt = set(), 1
    (out / "pipeline.yaml").write_text(dump_text(plan.doc), encoding="utf-8")
    state = RunState(out, attempt, done, time.strftime("%Y-%m-%dT%H:%M:%S"))
    # Written before any part, so that a folder with parts always says which pipeline made them.
    write_meta(out, {**(meta if resume and meta else {}), **_identity(plan), "status": "running",
                     "attempts": attempt, "started_at": state.started_at})
    return state


def _identity(plan: Plan) -> dict:
    return {"pipeline": plan.name, "fingerprint": plan.fingerprint, "factors_fingerprint": plan.factors_fingerprint}


def _current(record: dict, plan: Plan) -> dict:
    """A record from before an in-place `factorline decide` carries the old decisions: redo them
    (run.json's fingerprints were checked, so its factors are this pipeline's factors)."""
    if (record.get("pipeline") or {}).get("fingerprint") == plan.fingerprint:
        return record
    decisions = plan.decisions.decide(record.get("factors") or {}, error=record.get("error"), item=record.get("item"))
    return {**record, "decisions": jsonable(decisions), "pipeline": {"name": plan.name, "fingerprint": plan.fingerprint}}


def assemble(state: RunState, plan: Plan, paths: list[str], summary: dict, extra: dict) -> Assembled:
    """Write results.jsonl, results.parquet, manifest.jsonl and, last, run.json (the commit),
    streaming from the parts in bounded memory (assemble.py)."""
    index = index_parts(state.parts, paths)
    done = write_final(index, record_schema(plan), plan.fingerprint, state.out, lambda r: _current(r, plan))
    write_meta(state.out, {
        **summary, **_identity(plan), **extra, "status": "complete", "attempts": state.attempt,
        "started_at": state.started_at, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "items_failed": done.failed, "parts": len(index.parts),
        "factorline": __version__, "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
    })
    return done
