"""Batch runs: the Ray engine's overhead over the local engine, and kill -9 + resume, in one run.

1. 200 items (6 tiny 2 s clips, one of them broken, under 200 names; no step cache, so every
   item is really probed, decoded and measured) through black_border + clarity:
   - local: `run_pipeline(workers=2)`, two killable worker processes;
   - ray: the same on a local Ray (`ray.init(num_cpus=2)`, two actors); Ray's start-up is
     timed apart, since a real cluster is already up.
   Ratio = ray / local wall time (also with Ray's start, and in steady state: from the first
   record on, start-up aside); both must write the same records (timings aside).
2. Crash and resume, 10 times: `factorline run` (the CLI) over the same 200 items in its own
   process group, SIGKILLed after a random number of finished items plus a random delay,
   then resumed; each resumed folder must equal the uninterrupted run (records minus
   timings, same order, no item twice), and count skipped = items kept from before the kill.

Targets: ray/local <= 1.5 on 2 CPUs; 10/10 resumes identical.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import update_readme_row, write_result

from factorline.batch import run_pipeline
from factorline.batch.parts import iter_part_records
from factorline.engine.records import read_jsonl
from factorline.media.encode import write_video

PIPELINE = {
    "name": "batch_bench",
    "input": "video",
    "sampling": {"fps": 2.0, "max_frames": 4},
    "steps": {"border": {"op": "black_border"}, "clarity": {"op": "clarity"}},
    "decisions": {"moderation": {"policy": "first", "on_missing": "review", "on_error": "error", "rules": [
        {"id": "bars", "when": "border.area_ratio > 0.2", "outcome": "review"},
        {"id": "ok", "default": True, "outcome": "accept"}]}},
}
RESUME = """
import json, sys
from factorline.batch import expand_inputs, run_pipeline
s = run_pipeline(json.load(open(sys.argv[1])), expand_inputs([sys.argv[2]]), sys.argv[3], workers=2, cache_dir=None, resume=True)
print(json.dumps(s.to_dict()))
"""


def _clip(path: Path, bar: int, blur: bool, seed: int) -> None:
    """2 s of a real photo panning under ``bar`` px black bars, 160x120 at 10 fps."""
    from skimage import data as skdata

    photo = skdata.astronaut()[::4, ::4][:, :, :3]  # 128x128
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(20):
        canvas = np.zeros((120, 160, 3), np.uint8)
        strip = np.roll(np.tile(photo, (1, 2, 1)), -i * 3 - seed * 7, axis=1)[: 120 - 2 * bar, :160]
        if blur:
            strip = ((strip[:-1].astype(np.uint16) + strip[1:]) // 2).astype(np.uint8)
            strip = np.vstack([strip, strip[-1:]])
        canvas[bar : 120 - bar] = strip
        canvas[bar : bar + 2] = np.clip(canvas[bar : bar + 2] + rng.integers(0, 3, canvas[bar : bar + 2].shape), 0, 255)
        frames.append(canvas)
    write_video(path, frames, fps=10.0)


def build_items(folder: Path, count: int = 200) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    sources = []
    for i, (bar, blur) in enumerate([(0, False), (12, False), (30, False), (0, True), (20, True)]):
        _clip(folder / f"src_{i}.mp4", bar, blur, i)
        sources.append(folder / f"src_{i}.mp4")
    (folder / "src_broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    sources.append(folder / "src_broken.mp4")
    lines = []
    for i in range(count):
        target = folder / f"item_{i:03d}.mp4"
        shutil.copyfile(sources[i % len(sources)], target)
        lines.append(str(target))
    manifest = folder / "items.txt"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def stable(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "timings_ms"} for r in read_jsonl(run_dir / "results.jsonl")]


def _timed_run(paths: list[str], out: Path, **kwargs) -> tuple[float, float]:
    """(wall seconds, seconds to the first record: worker start-up and model loading)."""
    first: list[float] = []
    t0 = time.perf_counter()
    run_pipeline(PIPELINE, paths, out, workers=2, cache_dir=None, on_record=lambda r: first or first.append(time.perf_counter()), **kwargs)
    return time.perf_counter() - t0, first[0] - t0


def engines(paths: list[str], tmp: Path) -> dict:
    import ray

    local, local_first = _timed_run(paths, tmp / "local")
    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - t0
    try:
        on_ray, ray_first = _timed_run(paths, tmp / "ray", engine="ray")
    finally:
        ray.shutdown()
    steady_local, steady_ray = len(paths) / (local - local_first), len(paths) / (on_ray - ray_first)
    return {"local_s": round(local, 2), "ray_s": round(on_ray, 2), "ray_init_s": round(ray_start, 2),
            "ratio_ray_over_local": round(on_ray / local, 3),
            "ratio_with_ray_init": round((on_ray + ray_start) / local, 3),
            "local_first_record_s": round(local_first, 2), "ray_first_record_s": round(ray_first, 2),
            "steady_items_per_s": {"local": round(steady_local, 1), "ray": round(steady_ray, 1)},
            "ratio_steady_ray_over_local": round(steady_local / steady_ray, 3),
            "same_records": stable(tmp / "local") == stable(tmp / "ray")}


def _lines(out: Path) -> int:
    parts = out / "parts"
    return sum(p.read_bytes().count(b"\n") for p in parts.glob("part-*")) if parts.is_dir() else 0


def _kill_after(command: list[str], out: Path, records: int, extra_s: float, limit_s: float) -> None:
    proc = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and _lines(out) < records and proc.poll() is None:
        time.sleep(0.005)
    time.sleep(extra_s)
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its workers at once
    except ProcessLookupError:
        pass  # it had finished
    proc.wait(timeout=30)


def crash_and_resume(manifest: Path, paths: list[str], tmp: Path, repeats: int, seed: int) -> dict:
    pipeline = tmp / "pipeline.json"
    pipeline.write_text(json.dumps(PIPELINE))
    cli = [sys.executable, "-m", "factorline.cli", "run", str(pipeline), str(manifest), "--no-cache", "--workers", "2", "--no-report-pictures"]
    t0 = time.perf_counter()
    subprocess.run([*cli, "--out", str(tmp / "reference")], check=True, capture_output=True)
    full = time.perf_counter() - t0
    reference = stable(tmp / "reference")
    rng = random.Random(seed)
    trials = []
    for i in range(repeats):
        out = tmp / f"killed_{i}"
        target, extra = rng.randint(0, len(paths)), rng.uniform(0.0, 0.05)
        _kill_after([*cli, "--out", str(out)], out, target, extra, 2 * full + 10)
        kept = [r["item"]["path"] for _, r in iter_part_records(out / "parts")] if out.exists() else []
        kept += [r["item"]["path"] for p in (out / "parts").glob("*.tmp") for r in read_jsonl(p)] if out.exists() else []
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", RESUME, str(pipeline), str(manifest), str(out)], check=True, capture_output=True, text=True)
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        trials.append({
            "kill_after_records": target, "extra_delay_s": round(extra, 3), "kept_before_kill": len(kept),
            "skipped": summary["skipped"], "recomputed": summary["succeeded"] + summary["failed"],
            "resume_s": round(time.perf_counter() - t0, 2), "duplicates_in_parts": len(kept) - len(set(kept)),
            "identical": stable(out) == reference and summary["skipped"] == len(kept)
            and summary["total"] == summary["skipped"] + summary["succeeded"] + summary["failed"],
        })
        print(json.dumps(trials[-1]), flush=True)
    return {"uninterrupted_cli_s": round(full, 2), "trials": trials, "identical": sum(t["identical"] for t in trials)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        manifest = build_items(tmp / "items", args.items)
        paths = manifest.read_text().split()
        started = time.perf_counter()
        compare = engines(paths, tmp)
        print(json.dumps(compare), flush=True)
        crashes = crash_and_resume(manifest, paths, tmp, args.repeats, args.seed)
    payload = {"items": len(paths), "distinct_files": 6, "pipeline": "black_border + clarity, no cache", "workers": 2,
               "engines": compare, "crash_resume": crashes, "seconds": round(time.perf_counter() - started, 1)}
    write_result("batch", payload)
    ratio = compare["ratio_ray_over_local"]
    passed = ratio <= 1.5 and compare["same_records"] and crashes["identical"] == args.repeats
    update_readme_row(
        "batch",
        f"{len(paths)} items, 2 workers: Ray engine vs local engine; `factorline run` SIGKILLed at random points then resumed, {args.repeats} times",
        "ray/local <= 1.5x, same records; every resume identical to an uninterrupted run",
        f"ray {compare['ray_s']:.1f} s vs local {compare['local_s']:.1f} s ({ratio:.2f}x; {compare['ratio_with_ray_init']:.2f}x with "
        f"Ray's {compare['ray_init_s']:.1f} s start; steady state {compare['ratio_steady_ray_over_local']:.2f}x); "
        f"{crashes['identical']}/{args.repeats} resumes identical",
        "pass" if passed else "FAIL",
    )
    print(json.dumps(payload, indent=2))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
