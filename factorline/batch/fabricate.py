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

import orjson

from ..cache import jsonable
from ..engine.compiler import compile_pipeline
from ..engine.executor import empty_item
from ..engine.records import record_schema
from .parts import PartWriter, RunLock
from .rundir import assemble, open_run

_WORDS = ("news", "sale", "goal", "hello", "free money", "weather", "live", "breaking")


def _span(rng: random.Random) -> dict:
    a, b = round(rng.uniform(0, 60), 2), round(rng.uniform(0, 60), 2)
    return {"start_s": min(a, b), "end_s": max(a, b)}


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 3)))


def _some(rng: random.Random, most: int, draw: Callable[[], object]) -> list:
    return [draw() for _ in range(rng.randint(0, most))]


_DRAW: dict[str, Callable[[random.Random], object]] = {
    "bool": lambda rng: rng.random() < 0.3,
    "int": lambda rng: rng.randint(0, 100),
    "float": lambda rng: round(rng.random(), 4),
    "str": _text,
    "list[float]": lambda rng: _some(rng, 4, lambda: round(rng.random(), 3)),
    "list[int]": lambda rng: _some(rng, 4, lambda: rng.randint(0, 9)),
    "list[str]": lambda rng: _some(rng, 2, lambda: _text(rng)),
    "segments": lambda rng: _some(rng, 2, lambda: _span(rng)),
    "lines": lambda rng: _some(rng, 2, lambda: {**_span(rng), "text": _text(rng), "score": round(rng.random(), 3)}),
    "labeled_lines": lambda rng: _some(rng, 2, lambda: {**_span(rng), "text": _text(rng), "label": "subtitle",
                                                         "confidence": round(rng.random(), 3), "box": [0.1, 0.8, 0.9, 0.9]}),
    "evidence": lambda rng: _some(rng, 2, lambda: {"t": round(rng.uniform(0, 60), 2), "score": round(rng.random(), 3)}),
    "embedding": lambda rng: None,  # vectors would only make the files big
}


def fabricate_records(doc: dict, count: int, *, seed: int = 0, missing: float = 0.02, failed: float = 0.01):
    """``count`` result records of ``doc`` with drawn factor values (a generator)."""
    plan = compile_pipeline(doc)
    rng = random.Random(seed)
    drawers = [(step, [(name, _DRAW[dtype]) for name, dtype in fields.items()]) for step, fields in plan.field_dtypes.items()]
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
            factors = {step: {name: None if rng.random() < missing else draw(rng) for name, draw in fields}
                       for step, fields in drawers}
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
                writer.add_line(orjson.dumps(record).decode())  # drawn values are plain JSON already
                paths.append(record["item"]["path"])
        assemble(state, plan, paths, {"pipeline": plan.name, "total": count, "fabricated": True}, {})
    return out
