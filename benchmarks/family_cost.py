"""What the factor families cost per sampled frame now, against the code the factor issues started from.

    python benchmarks/family_cost.py [--baseline bd5f4eb] [--media DIR] [--fps 1] [--max-frames 30] [--rounds 2]

The issues on real-media factors set a cost budget: each family stays within 1.5x of its time
per sampled frame at the commit the work started from (``--baseline``, default ``bd5f4eb``,
the tree the issues were filed against). Both trees run **in this run, on this machine**: the
baseline's ``factorline/`` is taken out of git (``git archive``) into a temporary folder and
run with the same virtual environment through its own CLI (``factorline.cli.main``: ``run
--no-cache --workers 1``), alternating with the current tree for ``--rounds`` rounds; each
step's time comes from the records' ``timings_ms`` (decoding is shared and not counted), the
fastest round per item and step is kept (the least disturbed by a noisy machine).

Families (steps that exist in the tree; new operators are reported apart, so the budget
compares like with like, and with them included):

- text and overlay: subtitles, logo, slideshow (new: onscreen_text)
- layout, temporal, audio, resolution: black_border, shot_cuts, black_frames, speech,
  clarity, upscaled (new: definition)

Clips: every file in ``--media`` (default: the shared real set). Writes
``benchmarks/results/family_cost.json`` and a README row.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import update_readme_row, write_result  # noqa: E402

BASELINE = "bd5f4eb"
BUDGET = 1.5
FAMILIES = {
    "text_overlay": (("subtitles", "logo", "slideshow"), ("onscreen_text",)),
    "layout_temporal_audio": (("black_border", "shot_cuts", "black_frames", "speech", "clarity", "upscaled"), ("definition",)),
}


def extract_tree(rev: str, dest: Path) -> Path:
    """``factorline/`` of git revision ``rev`` under ``dest`` (a clear error when git or the rev is missing)."""
    try:
        blob = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev, "factorline"],
                              check=True, capture_output=True, timeout=120).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        raise SystemExit(f"--baseline {rev}: cannot take factorline/ out of git ({detail.decode(errors='replace').strip() or exc}); "
                         "run from a git clone with full history") from exc
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(dest, filter="data")
    return dest


# The virtual environment holds factorline as an editable install, whose import finder would
# fill in, from this checkout, any module a tree lacks (factorline.plugins for the baseline):
# each tree runs with that finder taken out, so it imports only its own code.
OWN_CODE_ONLY = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path "
                 "if getattr(f, '__name__', type(f).__name__) != '_EditableFinder']\n")  # installed as a class


def operators_of(tree: Path) -> set[str]:
    code = OWN_CODE_ONLY + (
        "import json, factorline.operators\n"
        "try:\n    from factorline.plugins import list_operators\n"
        "except ImportError:  # trees before the catalogue moved to plugins.py\n"
        "    from factorline.core.registry import list_operators\n"
        "print(json.dumps(sorted({s.name for s in list_operators()})))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(tree)}, cwd=tree, timeout=300).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def run_tree(tree: Path, steps: list[str], media: list[Path], sampling: dict, out: Path) -> list[dict]:
    """Records of ``python -m factorline run`` of a pipeline of ``steps`` in ``tree``."""
    doc = {"name": "family_cost", "input": "video", "sampling": sampling, "steps": {s: {"op": s} for s in steps}}
    out.mkdir(parents=True, exist_ok=True)
    pipeline = out / "pipeline.json"
    pipeline.write_text(json.dumps(doc))
    cmd = [sys.executable, "-c", OWN_CODE_ONLY + "from factorline.cli import main; main()", "run", str(pipeline), *map(str, media), "--out", str(out / "run"),
           "--no-cache", "--workers", "1"]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(tree)},
                          cwd=tree, timeout=3600)
    results = out / "run" / "results.jsonl"
    if not results.exists():
        raise SystemExit(f"{tree}: the run wrote no results (exit {done.returncode}): {done.stderr[-2000:]}")
    return [json.loads(line) for line in results.read_text().splitlines() if line.strip()]


def sampled_frames(record: dict) -> int:
    return len((record.get("factors") or {}).get("clarity", {}).get("frame_scores") or [])


def per_frame_ms(rounds: list[list[dict]], steps: tuple[str, ...]) -> tuple[float | None, int]:
    """Mean ms per sampled frame of ``steps`` together, fastest round per item and step."""
    best: dict[tuple[str, str], float] = {}
    frames: dict[str, int] = {}
    for records in rounds:
        for r in records:
            if r.get("error"):
                continue
            path = r["item"]["path"]
            frames[path] = sampled_frames(r)
            for step in steps:
                ms = (r.get("timings_ms") or {}).get(step)
                if ms is not None:
                    key = (path, step)
                    best[key] = min(best.get(key, ms), ms)
    total_frames = sum(frames.values())
    if not total_frames or not any(k[1] in steps for k in best):
        return None, total_frames
    return round(sum(best.values()) / total_frames, 3), total_frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--media", type=Path, default=ROOT.parent / "shared" / "realset" / "media")
    parser.add_argument("--fps", type=float, default=1.0)
    parser.add_argument("--max-frames", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    media = sorted(p for p in args.media.iterdir() if p.is_file() and not p.name.startswith(".")) if args.media.is_dir() else []
    if not media:
        parser.error(f"--media {args.media}: expected a folder of clips")
    sampling = {"fps": args.fps, "max_frames": args.max_frames}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="family_cost_") as tmp:
        trees = {"baseline": extract_tree(args.baseline, Path(tmp) / "baseline"), "current": ROOT}
        ops = {name: operators_of(tree) for name, tree in trees.items()}
        wanted = sorted({s for base, new in FAMILIES.values() for s in (*base, *new)})
        rounds: dict[str, list[list[dict]]] = {name: [] for name in trees}
        for i in range(args.rounds):
            for name, tree in trees.items():
                steps = [s for s in wanted if s in ops[name]]
                print(f"round {i + 1}/{args.rounds}: {name} ({len(steps)} steps, {len(media)} clips)", flush=True)
                rounds[name].append(run_tree(tree, steps, media, sampling, Path(tmp) / f"{name}-{i}"))
    families = {}
    for family, (base_steps, new_steps) in FAMILIES.items():
        before, frames = per_frame_ms(rounds["baseline"], base_steps)
        now, _ = per_frame_ms(rounds["current"], base_steps)
        with_new, _ = per_frame_ms(rounds["current"], base_steps + new_steps)
        steps_now = {s: per_frame_ms(rounds["current"], (s,))[0] for s in base_steps + new_steps}
        steps_before = {s: per_frame_ms(rounds["baseline"], (s,))[0] for s in base_steps}
        ratio = round(now / before, 3) if before and now else None
        families[family] = {"baseline_ms_per_frame": before, "current_ms_per_frame": now, "ratio": ratio,
                            "current_with_new_ms_per_frame": with_new,
                            "ratio_with_new": round(with_new / before, 3) if before and with_new else None,
                            "steps_baseline": steps_before, "steps_current": steps_now, "sampled_frames": frames}
        print(f"{family}: {before} -> {now} ms/frame ({ratio}x; with {', '.join(new_steps)}: {with_new} ms/frame)")
    passed = all(f["ratio"] is not None and f["ratio"] <= BUDGET for f in families.values())
    if not args.no_record:
        write_result("family_cost", {"baseline": args.baseline, "budget": BUDGET, "clips": [p.name for p in media],
                                     "sampling": sampling, "rounds": args.rounds, "families": families,
                                     "seconds": round(time.perf_counter() - t0, 1), "passed": passed})
        measured = "; ".join(f"{k} {v['ratio']}x ({v['baseline_ms_per_frame']} -> {v['current_ms_per_frame']} ms/frame; "
                             f"{v['ratio_with_new']}x with the new operators)" for k, v in families.items())
        update_readme_row("family_cost", f"time per sampled frame of each factor family vs {args.baseline} (same run, same clips)",
                          f"<= {BUDGET}x", measured, "pass" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
