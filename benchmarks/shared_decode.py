"""Shared decode vs a naive loop, and a cached re-run vs the first run, in one run.

- engine: the pipeline engine running 4 operator steps over the sample videos, cold cache:
  each item is probed and decoded once (seeking where it pays) and every step shares frames;
- naive: for every item and every operator, open the video, decode it front to back into RGB
  arrays (what a cv2.VideoCapture loop does), keep the frames at the same sampling times, and
  run that one operator;
- naive-lean (reported, not targeted): the same, but only the kept frames are converted to RGB;
- cached: the same engine again on a warm step cache (nothing is decoded).

Both paths must produce the same factors; targets: naive/engine >= 3, first/cached >= 20.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import update_readme_row, write_result

from factorline.cache import StepCache
from factorline.contract.items import FrameBatch
from factorline.engine.compiler import compile_pipeline
from factorline.engine.executor import Engine
from factorline.media import probe, target_times
from factorline.media.preview import PreviewCollector
from factorline.samples import build_sample_set, default_sample_dir

OPERATORS = ["black_border", "clarity", "shot_cuts", "black_frames"]
SAMPLING = {"fps": 1.0, "max_frames": 64, "min_frames": 4, "max_side": 1280}


def pipeline(ops: list[str]) -> dict:
    return {"name": "bench_shared_decode", "input": "video", "sampling": SAMPLING, "steps": {op: {"op": op} for op in ops}}


def naive_frames(path: str, *, convert_all: bool = True) -> FrameBatch:
    """What an operator does on its own: open, decode every frame, keep the sampled ones.

    Targets follow the engine's rule (the first frame at or after each sampling time; the last
    frame stands in for a target within half a step past the end), so both see the same frames;
    every decoded frame also leaves its preview thumbnail, as in the engine (shot_cuts times cuts on them).
    """
    with av.open(path) as container:
        stream = container.streams.video[0]
        duration = float(stream.duration * stream.time_base) if stream.duration else float(container.duration or 0) / 1e6
        wanted = list(target_times(duration, SAMPLING["fps"], SAMPLING["max_frames"],
                                   float(stream.average_rate or 25), SAMPLING["min_frames"]))
        images, times, last = [], [], None
        preview = PreviewCollector(duration)
        for frame in container.decode(stream):
            if frame.time is not None:
                preview.add(frame, frame.time)
            scale = max(frame.width, frame.height) / SAMPLING["max_side"]
            size = (frame.width, frame.height) if scale <= 1 else (round(frame.width / scale / 2) * 2, round(frame.height / scale / 2) * 2)
            pixels = frame.to_ndarray(format="rgb24", width=size[0], height=size[1]) if convert_all else None
            if wanted and frame.time is not None and frame.time >= wanted[0] - 1e-6:
                images.append(pixels if convert_all else frame.to_ndarray(format="rgb24", width=size[0], height=size[1]))
                times.append(frame.time)
                while wanted and wanted[0] <= frame.time + 1e-6:
                    wanted.pop(0)
            last = (frame, size)
        if wanted and last and last[0].time != times[-1] and wanted[0] - last[0].time <= 0.5 / SAMPLING["fps"]:
            images.append(last[0].to_ndarray(format="rgb24", width=last[1][0], height=last[1][1]))
            times.append(last[0].time)
        width, height = stream.width, stream.height
    scale = width / images[0].shape[1]
    return FrameBatch(np.stack(images), np.array(times), width, height, scale=scale, preview=preview.result())


def run_naive(plan, paths: list[str], *, convert_all: bool = True) -> dict:
    out = {}
    for path in paths:
        info = probe(path)
        for step in plan.steps:
            frames = naive_frames(path, convert_all=convert_all)
            result = step.spec.run({"frames": frames}, step.params, item=info, resources={})
            out[(path, step.name)] = result
    return out


def run_engine(plan, paths: list[str], cache_dir: Path) -> list[dict]:
    engine = Engine(plan, cache=StepCache(cache_dir))
    return [engine.run_item(p) for p in paths]


def compare(naive: dict, records: list[dict]) -> list[str]:
    """Steps whose factors differ between the two paths (they must not)."""
    diffs = []
    for record in records:
        for step, fields in record["factors"].items():
            other = json.loads(json.dumps(naive[(record["item"]["path"], step)]))
            if other != fields:
                diffs.append(f"{Path(record['item']['path']).name}:{step}")
    return diffs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=Path, default=None)
    args = parser.parse_args()
    samples = build_sample_set(args.samples or default_sample_dir())
    paths = sorted(str(p) for p in (samples / "videos").glob("*.mp4"))
    plan = compile_pipeline(pipeline(OPERATORS))
    with tempfile.TemporaryDirectory() as tmp:
        run_engine(plan, paths[:1], Path(tmp) / "warmup")  # imports, resources, page cache
        t0 = time.perf_counter()
        naive = run_naive(plan, paths)
        t_naive = time.perf_counter() - t0
        t0 = time.perf_counter()
        lean = run_naive(plan, paths, convert_all=False)
        t_lean = time.perf_counter() - t0
        t0 = time.perf_counter()
        records = run_engine(plan, paths, Path(tmp) / "cache")
        t_engine = time.perf_counter() - t0
        t0 = time.perf_counter()
        cached = run_engine(plan, paths, Path(tmp) / "cache")
        t_cached = time.perf_counter() - t0
    diffs = compare(naive, records) + compare(lean, records)
    assert all("decode" not in r["timings_ms"] for r in cached), "a cached re-run decoded"
    shared_ratio, cache_ratio = t_naive / t_engine, t_engine / t_cached
    ok = shared_ratio >= 3 and cache_ratio >= 20 and not diffs
    payload = {
        "items": len(paths),
        "operators": OPERATORS,
        "sampling": SAMPLING,
        "seconds": {"naive": round(t_naive, 3), "naive_lean": round(t_lean, 3), "engine_cold": round(t_engine, 3), "engine_cached": round(t_cached, 4)},
        "ratios": {"naive_over_engine": round(shared_ratio, 2), "naive_lean_over_engine": round(t_lean / t_engine, 2), "first_over_cached": round(cache_ratio, 1)},
        "targets": {"naive_over_engine": 3, "first_over_cached": 20},
        "factor_differences": diffs,
        "passed": ok,
    }
    write_result("shared_decode", payload)
    update_readme_row(
        "shared_decode",
        f"{len(OPERATORS)} operators over {len(paths)} sample videos: engine vs naive per-operator decoding; cached re-run vs first run",
        "≥3x; ≥20x",
        f"{shared_ratio:.1f}x (lean naive {t_lean / t_engine:.1f}x); {cache_ratio:.0f}x",
        "pass" if ok else "FAIL",
    )
    print(json.dumps(payload, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
