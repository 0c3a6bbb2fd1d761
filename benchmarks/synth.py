"""`factorline synth` throughput: mixed-kind samples with 2 workers vs 1 worker in the same run,
for 640x360 stills and 2 s clips; the two outputs must be identical (labels.jsonl bytes).

    .venv/bin/python benchmarks/synth.py [--stills 2000] [--clips 300]

Targets (the issue: "a few thousand labelled samples in minutes on 2 cores"): 3,000 stills in at
most 5 minutes (>= 10/s with 2 workers) and 2 s clips at >= 3/s (1,000 in under 6 minutes).
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

STILLS_PER_S = 10
CLIPS_PER_S = 3
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
    ok = identical and still_rate >= STILLS_PER_S and clip_rate >= CLIPS_PER_S
    payload = {"stills_640x360": stills, "clips_640x360": clips, "targets": {"stills_per_s": STILLS_PER_S, "clips_per_s": CLIPS_PER_S},
               "verdict": "pass" if ok else "FAIL"}
    path = write_result("synth", payload)
    measured = (f"stills {still_rate:.0f}/s with 2 workers ({stills['speedup']:.2f}x 1 worker); {args.clip_s:g} s clips "
                f"{clip_rate:.1f}/s ({clip_rate / cores:.1f}/s/core, {clips['speedup']:.2f}x); outputs identical: {identical}")
    problems = [] if identical else ["outputs differ"]
    if still_rate < STILLS_PER_S:
        problems.append(f"stills below {STILLS_PER_S}/s")
    if clip_rate < CLIPS_PER_S:
        problems.append(f"clips below {CLIPS_PER_S}/s")
    update_readme_row("synth", f"{args.stills} mixed stills + {args.clips} mixed {args.clip_s:g} s clips at 640x360, "
                      "2 workers vs 1, same seed", f"stills >= {STILLS_PER_S}/s (3,000 in 5 min); clips >= {CLIPS_PER_S}/s; identical output", measured,
                      "pass" if ok else "FAIL: " + ", ".join(problems))
    print(measured)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
