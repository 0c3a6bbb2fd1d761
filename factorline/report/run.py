"""A finished run folder as the report and the evaluation read it: meta, records, plan.

The plan is compiled from the run's own ``pipeline.yaml``. A report still renders without it
(say, an operator plugin was uninstalled since): field roles are then read off the values.
An evaluation needs it (rule outcomes, operator names, sweeps) and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..batch.decide import read_meta
from ..contract.errors import FactorlineError, RunDirError
from ..engine.compiler import Plan, compile_pipeline
from ..engine.document import load_text
from ..engine.records import read_jsonl

PIPELINE_FILE = "pipeline.yaml"


@dataclass
class RunData:
    run_dir: Path
    meta: dict
    records: list[dict]
    plan: Plan | None = None
    plan_problem: str = ""  # why there is no plan
    units: dict[str, str | None] = field(default_factory=dict)  # step.field -> unit

    @property
    def dtypes(self) -> dict[str, dict[str, str]]:
        return self.plan.field_dtypes if self.plan else {}

    def require_plan(self) -> Plan:
        if self.plan is None:
            raise RunDirError(f"cannot use the run's pipeline: {self.plan_problem}", path=str(self.run_dir / PIPELINE_FILE))
        return self.plan


def load_run(run_dir: str | Path, *, records: bool = True) -> RunData:
    """Read a run folder and compile its pipeline when possible. ``records=False`` leaves the
    records on disk (the report reads its columns and the few records it shows)."""
    run_dir = Path(run_dir)
    meta = read_meta(run_dir)
    data = RunData(run_dir, meta, list(read_jsonl(run_dir / "results.jsonl")) if records else [])
    source = run_dir / PIPELINE_FILE
    if not source.is_file():
        data.plan_problem = f"{source} is missing"
        return data
    try:
        data.plan = compile_pipeline(load_text(source), source=str(source))
    except FactorlineError as exc:
        data.plan_problem = str(exc)
        return data
    data.units = {f"{s.name}.{n}": f.unit for s in data.plan.steps for n, f in s.spec.fields.items()}
    return data


def media_path(record: dict, run_dir: Path) -> Path | None:
    """Where an item's file is now: its stored path (relative to where ``run`` was started),
    else that path below one of the run folder's ancestors; None when it is gone."""
    stored = (record.get("item") or {}).get("path")
    if not stored:
        return None
    path = Path(stored)
    candidates = [path]
    if not path.is_absolute():
        candidates += [parent / path for parent in list(run_dir.resolve().parents)[:4]]
    return next((c for c in candidates if c.is_file()), None)
