"""A child against its parent on the held-out frames: agreement, accuracy, latencies timed in
alternation, and the gate report that decides whether the child is published (see gate.py).
"""

from __future__ import annotations

import numpy as np

from ..contract.items import Limits
from . import data as D
from . import gate as G
from .frames import DEFAULT_SAMPLING, split_digest
from .runners import Runner
from .stages import Options, Stage
from .teachers import OperatorTeacher, PipelineTeacher


def _runs32(options: Options) -> int:
    """Timed runs at batch 32: a third of those at batch 1 (each costs 32 times more)."""
    return max(1, -(-options.bench_runs // 3))


def timed_calls(stage: Stage, fs: D.FrameSet, options: Options, item_paths: list[str] | None) -> dict[str, tuple]:
    """``{"<kind>.<batch_1|batch_32>": (call, runs, units)}`` of everything timeable about a stage."""
    runs1, runs32 = options.bench_runs, _runs32(options)
    calls: dict[str, tuple] = {}
    if isinstance(stage.teacher, PipelineTeacher) and stage.runner is None:
        if item_paths:
            calls["item.batch_1"] = (stage.teacher.items_call(item_paths), runs32, len(item_paths))
    elif isinstance(stage.teacher, OperatorTeacher) and stage.runner is None:
        if fs.timing:
            calls["end_to_end.batch_1"] = (stage.teacher.frames_call(fs.timing, 1), runs1, 1)
            calls["end_to_end.batch_32"] = (stage.teacher.frames_call(fs.timing, 32), runs32, 1)
    elif stage.runner is not None:
        held = np.flatnonzero(fs.test_rows)[:32]
        sample = fs.network_inputs(stage.prep, held)
        calls["model.batch_1"] = (stage.runner.model_call(sample, 1), runs1, 1)
        calls["model.batch_32"] = (stage.runner.model_call(sample, 32), runs32, 1)
        if fs.timing:
            calls["end_to_end.batch_1"] = (stage.runner.end_to_end_call(fs.timing, 1), runs1, 1)
            calls["end_to_end.batch_32"] = (stage.runner.end_to_end_call(fs.timing, 32), runs32, 1)
        if item_paths:
            calls["item.batch_1"] = (_item_call(stage.runner, fs, item_paths), runs32, len(item_paths))
    return calls


def measure(parent: Stage, child: Stage, fs: D.FrameSet, options: Options, item_paths: list[str] | None) -> tuple[dict, dict]:
    """Latencies of parent and child, timed in alternation (see gate.interleaved_ms)."""
    calls = {f"parent.{k}": v for k, v in timed_calls(parent, fs, options, item_paths).items()}
    calls.update({f"child.{k}": v for k, v in timed_calls(child, fs, options, item_paths).items()})
    found = G.interleaved_ms(calls)
    out: tuple[dict, dict] = ({}, {})
    for key, ms in found.items():
        side, kind, batch = key.split(".")
        out[0 if side == "parent" else 1].setdefault(kind, {})[batch] = ms
    for latency in out:
        for kind in latency.values():
            if "batch_32" in kind:
                kind["per_frame_32"] = round(kind["batch_32"] / 32, 4)
    return out


def _item_call(runner: Runner, fs: D.FrameSet, paths: list[str]):
    """One timed call per item list: probe, decode the frames as the pipeline samples them, predict."""
    from ..media import decode_frames, probe

    def run() -> None:
        for path in paths:
            batch = decode_frames(path, probe(path, Limits()), fs.sampling or DEFAULT_SAMPLING, Limits())
            runner.logits_of(runner.from_raw(list(batch.images)))

    return run


def _side(stage: Stage, latency: dict) -> dict:
    return {"ref": stage.ref, "kind": stage.kind, "runtime": stage.runner.runtime if stage.runner else stage.kind,
            "precision": stage.precision if stage.kind in {"torch", "onnx", "head"} else "",
            "parameters": stage.parameters, "size_bytes": stage.size_bytes, "summary": stage.summary, "latency_ms": latency}


def evaluate(parent: Stage, child: Stage, root: Stage, fs: D.FrameSet, step: str, params: dict, options: Options) -> dict:
    """The gate report of ``child`` against ``parent`` (see gate.py)."""
    rows = fs.test_rows
    test_items = np.flatnonzero(fs.test)
    local = {int(i): k for k, i in enumerate(test_items)}
    item = np.array([local[int(i)] for i in fs.item[rows]], np.int64)
    labels = fs.labels[test_items]
    level = "item" if parent.level == "item" else "frame"
    child_p = child.proba(fs, rows)
    scored = G.score(parent.proba(fs, rows), child_p, item, len(test_items), labels, fs.classes, parent.positive,
                     parent.threshold, level)
    paths = [fs.items[i].path for i in test_items[:3]] if parent.kind == "pipeline" else None
    parent_latency, child_latency = measure(parent, child, fs, options, paths)
    checks = G.gate_checks(scored, "parent")
    root_scored = None
    if root is not parent:
        root_scored = G.score(root.proba(fs, rows), child_p, item, len(test_items), labels, fs.classes, root.positive,
                              root.threshold, root.level)
        checks += G.gate_checks(root_scored, "root")
    worst = G.worst_check(checks)
    g = {"metric": scored["metric"], "level": scored["level"], "drop_points": worst["drop_points"],
         "worst": f"{worst['what']} vs {worst['against']}", "checks": checks, "tolerance_points": options.tolerance}
    g["verdict"] = G.verdict(g["drop_points"], options.tolerance, options.force)
    report = {
        "step": step, "params": params, "gate": g,
        "held_out": {"items": len(test_items), "frames": int(rows.sum()), "labeled_items": int((labels >= 0).sum()),
                     "digest": split_digest(fs, True)},
        "agreement": {"frame": scored["frame"], "item": scored["item"]},
        "accuracy": {"parent": scored["parent_accuracy"], "child": scored["child_accuracy"]},
        "parent": _side(parent, parent_latency), "child": {**_side(child, child_latency), "name": ""},
        "speedup": G.ratios(parent_latency, child_latency),
        "machine": G.machine(options.threads), "runs": {"batch_1": options.bench_runs, "batch_32": _runs32(options)},
        "classes": fs.classes,
    }
    if root_scored is not None:
        report["root"] = {"ref": root.ref, "level": root.level,
                          "agreement": root_scored["frame" if root.level == "frame" else "item"]["agreement"]}
    return report
