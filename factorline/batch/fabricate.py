"""Fabricated run folders: every factor field of a pipeline filled with drawn values, written
through the real part writer and assembly, for scale benchmarks and tests of run-folder tools
(decide, query, diff, report) at sizes no test could decode.

Values are drawn per dtype from a seeded generator; ``missing`` of the values are None and
``failed`` of the items carry an error record instead of factors. Decisions are made by the
per-item evaluator, as ``factorline run`` makes them.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from ..core.cache import jsonable
from ..core.compiler import compile_pipeline
from ..core.executor import empty_item
from ..core.records import dumps_record, record_schema
from .parts import PartWriter, RunLock
from .rundir import assemble, open_run

_WORDS = ("news", "sale", "goal", "hello", "free money", "weather", "live", "breaking")


def _draw(dtype: str, rng: random.Random) -> object:
    span = lambda: sorted(round(rng.uniform(0, 60), 2) for _ in range(2))
    text = lambda: " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 3)))
    draw: dict[str, Callable[[], object]] = {
        "bool": lambda: rng.random() < 0.3,
        "int": lambda: rng.randint(0, 100),
        "float": lambda: round(rng.random(), 4),
        "str": text,
        "list[float]": lambda: [round(rng.random(), 3) for _ in range(rng.randint(0, 4))],
        "list[int]": lambda: [rng.randint(0, 9) for _ in range(rng.randint(0, 4))],
        "list[str]": lambda: [text() for _ in range(rng.randint(0, 2))],
        "segments": lambda: [dict(zip(("start_s", "end_s"), span())) for _ in range(rng.randint(0, 2))],
        "lines": lambda: [{**dict(zip(("start_s", "end_s"), span())), "text": text(), "score": round(rng.random(), 3)}
                          for _ in range(rng.randint(0, 2))],
        "labeled_lines": lambda: [{**dict(zip(("start_s", "end_s"), span())), "text": text(), "label": "subtitle",
                                   "confidence": round(rng.random(), 3), "box": [0.1, 0.8, 0.9, 0.9]}
                                  for _ in range(rng.randint(0, 2))],
        "evidence": lambda: [{"t": round(rng.uniform(0, 60), 2), "score": round(rng.random(), 3)}
                             for _ in range(rng.randint(0, 2))],
        "embedding": lambda: None,
    }
    return draw[dtype]()


def fabricate_records(doc: dict, count: int, *, seed: int = 0, missing: float = 0.02, failed: float = 0.01):
    """``count`` result records of ``doc`` with drawn factor values (a generator)."""
    plan = compile_pipeline(doc)
    rng = random.Random(seed)
    pipeline = {"name": plan.name, "fingerprint": plan.fingerprint}
    for i in range(count):
        path = f"fabricated/{i:08d}.mp4"
        item = {**empty_item(path), "id": f"sha256:{i:064x}", "kind": str(doc.get("input") or "video"), "duration_s": round(rng.uniform(5, 600), 2),
                "width": 1280, "height": 720, "fps": 25.0, "display_width": 1280, "display_height": 720,
                "pixel_aspect": 1.0, "partial": False, "partial_reason": None, "decoded_s": None, "frames": 64,
                "frames_planned": 64}
        if rng.random() < 0.01:
            item.update(partial=True, partial_reason="the stream ended before its declared duration",
                        decoded_s=round(item["duration_s"] / 2, 2), frames=32)
        error = None
        if rng.random() < failed:
            error = {"type": "CorruptMediaError", "message": "fabricated failure", "path": path}
            factors: dict = {}
        else:
            factors = {step: {name: None if rng.random() < missing else _draw(dtype, rng) for name, dtype in fields.items()}
                       for step, fields in plan.field_dtypes.items()}
        decisions = plan.decisions.decide(factors, error=error, item=item)
        yield {"item": item, "factors": factors, "decisions": jsonable(decisions), "error": error,
               "pipeline": pipeline, "timings_ms": {"total": round(rng.uniform(50, 5000), 2)}}


def fabricate_run(doc: dict, count: int, out: str | Path, *, seed: int = 0, part_records: int = 500,
                  missing: float = 0.02, failed: float = 0.01) -> Path:
    """A complete run folder of ``count`` fabricated items at ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plan = compile_pipeline(doc)
    paths = []
    with RunLock(out):
        state = open_run(out, plan, resume=False)
        with PartWriter(state.parts, max_records=part_records, max_seconds=float("inf"), schema=record_schema(plan)) as writer:
            for record in fabricate_records(doc, count, seed=seed, missing=missing, failed=failed):
                writer.add_line(dumps_record(record))
                paths.append(record["item"]["path"])
        assemble(state, plan, paths, {"pipeline": plan.name, "total": count, "fabricated": True}, {})
    return out
