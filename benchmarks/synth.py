"""`factorline synth` throughput: mixed-kind samples with 2 workers vs 1 worker in the same run,
for 640x360 stills and 2 s clips; the two outputs must be identical (labels.jsonl bytes).

    .venv/bin/python benchmarks/synth.py [--stills 2000] [--clips 300]

Targets (from the brief): stills at hundreds per second, clips of 2-4 s at >= ~10/s per core.
The worker count changes nothing in the output; the speed ratio says how well it scales.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import update_readme_row, write_result

from factorline.synth import KINDS, TEMPORAL_KINDS, SynthOptions, generate

STILL_KINDS = tuple(k for k in KINDS if k not in TEMPORAL_KINDS)


def run(root: Path, options: SynthOptions, workers: int) -> dict:
    out = root / f"{'stills' if options.stills else 'clips'}-w{workers}"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    generate(out, options, workers=workers)
    seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in (out / "media").rglob("*") if p.is_file())
    return {"workers": workers, "seconds": round(seconds, 2), "per_s": round(options.count / seconds, 2),
            "labels": (out / "labels.jsonl").read_bytes(), "media_mb": round(size / 1e6, 1)}


def compare(root: Path, options: SynthOptions) -> dict:
    one, two = run(root, options, 1), run(root, options, 2)
    same = one.pop("labels") == two.pop("labels")
    return {"count": options.count, "clip_s": None if options.stills else options.clip_s, "one_worker": one,
            "two_workers": two, "speedup": round(one["seconds"] / two["seconds"], 2), "identical": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stills", type=int, default=2000)
    parser.add_argument("--clips", type=int, default=300)
    parser.add_argument("--clip-s", type=float, default=2.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="factorline-synth-bench-") as tmp:
        root = Path(tmp)
        stills = compare(root, SynthOptions(STILL_KINDS, args.stills, seed=1, stills=True))
        clips = compare(root, SynthOptions(tuple(KINDS), args.clips, seed=1, clip_s=args.clip_s))
    cores = 2
    still_rate, clip_rate = stills["two_workers"]["per_s"], clips["two_workers"]["per_s"]
    identical = stills["identical"] and clips["identical"]
    ok = identical and still_rate >= 100 and clip_rate / cores >= 10
    payload = {"stills_640x360": stills, "clips_640x360": clips, "targets": {"stills_per_s": 100, "clips_per_s_per_core": 10},
               "verdict": "pass" if ok else "FAIL"}
    path = write_result("synth", payload)
    measured = (f"stills {still_rate:.0f}/s with 2 workers ({stills['speedup']:.2f}x 1 worker); {args.clip_s:g} s clips "
                f"{clip_rate:.1f}/s ({clip_rate / cores:.1f}/s/core, {clips['speedup']:.2f}x); outputs identical: {identical}")
    problems = [] if identical else ["outputs differ"]
    if still_rate < 100:
        problems.append("stills below 100/s")
    if clip_rate / cores < 10:
        problems.append("clips below 10/s/core")
    update_readme_row("synth", f"{args.stills} mixed stills + {args.clips} mixed {args.clip_s:g} s clips at 640x360, "
                      "2 workers vs 1, same seed", "stills >= 100/s; clips >= 10/s/core; identical output", measured,
                      "pass" if ok else "FAIL: " + ", ".join(problems))
    print(measured)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
