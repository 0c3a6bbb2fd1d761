"""Run folders at catalogue scale: assembly, `decide`, and the report, against the per-item path.

A fabricated run (factorline.batch.fabricate: every factor field of examples/video_audit.yaml
plus a 12-rule table, 20 rules in all, drawn values, 0.2% missing, 1% failed items, 1% ended
early; the change moves two thresholds of the 12-rule table) is written as part files the way `factorline run` writes them. Each stage runs in its own
process so that its peak RSS (ru_maxrss from wait4, plus the helper process `decide` starts on big
runs) and wall time are its own, after an ``os.sync()`` so that the previous stage's writes do
not land in its time:

1. assemble ITEMS items from their parts (results.jsonl, results.parquet, manifest.jsonl);
2. `decide` them with changed thresholds (vectorized, streaming);
3. the per-item reference: every item of the run and of the re-decided run is decided again by
   the per-item evaluator and compared field by field (outcome, rule, explanation, hits);
4. the baseline, in the same run: the previous `decide` (every record loaded into a list,
   re-decided item by item, written in one piece) on BASELINE_ITEMS items, next to the new
   `decide` on the same items;
5. report.html of a REPORT_ITEMS-item run.

    .venv/bin/python benchmarks/scale.py [--items 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import orjson
from _common import update_readme_row, write_result

from factorline.engine.document import load_text

ROOT = Path(__file__).resolve().parent.parent
ITEMS, BASELINE_ITEMS, REPORT_ITEMS = 1_000_000, 100_000, 100_000
_QUALITY = [  # each fires on a few % of the drawn values, as review rules do on a real catalogue
    ("wide_bars", "border.area_ratio > 0.98", "review"),
    ("top_bar", "border.top > 98 and border.bottom < 5", "review"),
    ("soft", "clarity.score < 0.02", "review"),
    ("noisy_subs", "subs.coverage > 0.99 and subs.rejected > 50", "review"),
    ("many_scripts", "count(subs.scripts) >= 2 and subs.coverage > 0.95", "review"),
    ("logo_sure", "logo.has_logo and logo.confidence > 0.98", "brand"),
    ("slideshow", "slides.is_slideshow and slides.pictures < 2", "slides"),
    ("cut_heavy", "cuts.count > 98", "busy"),
    ("talky", "speech.has_speech and speech.speech_ratio > 0.97", "talk"),
    ("dark", "black.ratio > 0.99 or black.longest_s > 0.99", "dark"),
    ("upscaled", "upscaled.ratio < 0.01", "soft"),
    ("short_partial", "item.partial and item.duration_s < 60", "review"),
]


def pipeline(changed: bool = False) -> dict:
    doc = load_text(ROOT / "examples" / "video_audit.yaml")
    rules = [{"id": i, "when": w, "outcome": o} for i, w, o in _QUALITY]
    doc["decisions"]["quality"] = {"policy": "first", "on_missing": "review", "on_error": "failed",
                                   "rules": [*rules, {"id": "fine", "default": True, "outcome": "fine"}]}
    if changed:  # a policy change: two thresholds of the quality table move
        doc = copy.deepcopy(doc)
        doc["decisions"]["quality"]["rules"][0]["when"] = "border.area_ratio > 0.97"
        doc["decisions"]["quality"]["rules"][2]["when"] = "clarity.score < 0.03"
    for table in doc["decisions"].values():
        table["cases"] = []
    return doc


# -- stages (each in its own process) ---------------------------------------------------------
def stage_parts(folder: Path, items: int) -> dict:
    from factorline.batch.fabricate import fabricate_records
    from factorline.batch.parts import PartWriter
    from factorline.batch.rundir import open_run
    from factorline.engine.compiler import compile_pipeline
    from factorline.engine.records import record_schema

    doc = pipeline()
    plan = compile_pipeline(doc)
    folder.mkdir(parents=True, exist_ok=True)
    state = open_run(folder, plan, resume=False)
    with PartWriter(state.parts, max_records=500, max_seconds=float("inf"), schema=record_schema(plan)) as writer:
        for record in fabricate_records(doc, items, seed=7, missing=0.002, failed=0.01):
            writer.add_line(orjson.dumps(record).decode())
    return {}


def stage_assemble(folder: Path, items: int) -> dict:
    from factorline.batch.rundir import RunState, assemble
    from factorline.engine.compiler import compile_pipeline

    plan = compile_pipeline(pipeline())
    paths = [f"fabricated/{i:08d}.mp4" for i in range(items)]
    done = assemble(RunState(folder, 1, set(), time.strftime("%Y-%m-%dT%H:%M:%S")), plan, paths,
                    {"pipeline": plan.name, "total": items}, {})
    return {"items": done.items, "failed": done.failed}


def stage_decide(folder: Path, items: int) -> dict:
    import resource

    from factorline.batch.decide import decide_run
    from factorline.engine.compiler import compile_pipeline

    summary = decide_run(compile_pipeline(pipeline(changed=True)), folder, folder.parent / f"{folder.name}-decided")
    # decide writes the Parquet in a helper process on big runs: its peak counts too (wait4 in
    # measure() sees only this process).
    helper = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    return {"items": summary.items, "changed": summary.changed, "transitions": summary.transitions[:6],
            "helper_peak_rss_gb": round(helper, 3)}


def stage_reference(folder: Path, items: int) -> dict:
    """Every item decided again per item, compared with the assembled and the re-decided run."""
    from factorline.cache import jsonable
    from factorline.engine.compiler import compile_pipeline
    from factorline.engine.records import read_jsonl

    checked = {}
    for name, run_dir, doc in (("run", folder, pipeline()), ("decide", folder.parent / f"{folder.name}-decided", pipeline(True))):
        plan = compile_pipeline(doc)
        differ = count = 0
        for record in read_jsonl(run_dir / "results.jsonl"):
            want = jsonable(plan.decisions.decide(record["factors"], error=record["error"], item=record["item"]))
            differ += record["decisions"] != want
            count += 1
        checked[name] = {"items": count, "differ": differ}
    return checked


def stage_baseline(folder: Path, items: int) -> dict:
    """The previous `decide`: every record in one list, re-decided item by item, written at once."""
    from factorline.engine.compiler import compile_pipeline
    from factorline.engine.records import read_jsonl, write_jsonl, write_parquet
    from factorline.rules import redecide

    plan = compile_pipeline(pipeline(changed=True))
    records = list(read_jsonl(folder / "results.jsonl"))
    new, changes = redecide(plan.decisions, records)
    out = folder.parent / f"{folder.name}-baseline"
    out.mkdir(exist_ok=True)
    write_jsonl(new, out / "results.jsonl")
    write_parquet(new, out / "results.parquet", plan)
    return {"items": len(new), "changed": len(changes)}


def stage_fabricate(folder: Path, items: int) -> dict:
    from factorline.batch.fabricate import fabricate_run

    fabricate_run(pipeline(), items, folder, seed=11)
    return {}


def stage_report(folder: Path, items: int) -> dict:
    from factorline.report import build_report

    summary = build_report(folder, pictures=False)
    return {"bytes": summary.bytes, "detailed": summary.detailed}


STAGES = {f.__name__[6:]: f for f in (stage_parts, stage_assemble, stage_decide, stage_reference, stage_baseline,
                                      stage_fabricate, stage_report)}


def measure(stage: str, folder: Path, items: int) -> dict:
    """Run one stage in a fresh process: its wall time, peak RSS and what it returned."""
    out = folder.parent / f".{folder.name}.{stage}.json"
    os.sync()  # the previous stage's gigabytes reach the disk first: each stage is timed on a quiet disk
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--stage", stage, "--folder", str(folder), "--items", str(items),
                             "--result", str(out)])
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"stage {stage} failed")
    result = json.loads(out.read_text())
    peak = usage.ru_maxrss / 2**20 + result.get("helper_peak_rss_gb", 0.0)  # both processes at once, at worst
    print(f"{stage:>10}: {items:>9,} items {wall:7.1f} s  peak {peak:5.2f} GB", flush=True)
    return {"items": items, "seconds": round(wall, 2), "peak_rss_gb": round(peak, 3), **result}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=ITEMS)
    parser.add_argument("--baseline-items", type=int, default=BASELINE_ITEMS)
    parser.add_argument("--report-items", type=int, default=REPORT_ITEMS)
    parser.add_argument("--stage")
    parser.add_argument("--folder")
    parser.add_argument("--result")
    parser.add_argument("--keep", help="work in this folder and keep it; a later run with the same --keep reuses its "
                        "fabricated parts (their writing is not a target and takes minutes at a million items)")
    args = parser.parse_args()
    if args.stage:
        result = STAGES[args.stage](Path(args.folder), args.items)
        Path(args.result).write_text(json.dumps(result))
        return 0
    with contextlib.ExitStack() as stack:
        if args.keep:
            tmp = Path(args.keep)
            tmp.mkdir(parents=True, exist_ok=True)
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=os.environ.get("FACTORLINE_SCALE_TMP"))))
        big, small, rep = tmp / f"big-{args.items}", tmp / f"small-{args.baseline_items}", tmp / f"report-{args.report_items}"
        # Kept parts are reused only when they hold records of today's pipeline: records of another
        # fingerprint (e.g. from before a sampling field was added) would all be re-decided per
        # item by the assembly, which measures something else.
        from factorline.engine.compiler import compile_pipeline

        stamp = f"{compile_pipeline(pipeline()).fingerprint} {{}}"
        for folder, items in ((big, args.items), (small, args.baseline_items)):
            complete = folder / "parts" / ".complete"
            if not complete.is_file() or complete.read_text() != stamp.format(items):
                shutil.rmtree(folder, ignore_errors=True)
                measure("parts", folder, items)
                complete.write_text(stamp.format(items))
        for old in (big.parent / f"{big.name}-decided", small.parent / f"{small.name}-decided", small.parent / f"{small.name}-baseline"):
            shutil.rmtree(old, ignore_errors=True)  # outputs of an earlier run with the same --keep
        assembled = measure("assemble", big, args.items)
        decided = measure("decide", big, args.items)
        reference = measure("reference", big, args.items)
        measure("assemble", small, args.baseline_items)
        new_small = measure("decide", small, args.baseline_items)
        baseline = measure("baseline", small, args.baseline_items)
        if not (rep / "results.parquet").is_file():
            measure("fabricate", rep, args.report_items)
        report = measure("report", rep, args.report_items)
    compared = [reference["run"], reference["decide"]]
    agree = all(v["differ"] == 0 and v["items"] == args.items for v in compared)
    # Below a million items the time target is checked on the per-item rate scaled to a million
    # (memory is bounded by the batch, not the run); the JSON says which.
    per_million = decided["seconds"] * 1_000_000 / args.items
    checks = {
        "decide_under_20s_per_million": per_million < 20,
        "decide_under_2gb": decided["peak_rss_gb"] < 2,
        "assemble_under_2gb": assembled["peak_rss_gb"] < 2,
        "identical_to_per_item": agree,
        "report_under_20mb": report["bytes"] < 20 * 2**20,
        "report_under_60s": report["seconds"] < 60,
    }
    payload = {"rules": 20, "items": args.items, "extrapolated_to_million": args.items < 1_000_000,
               "decide_seconds_per_million": round(per_million, 1), "assemble": assembled, "decide": decided, "reference": reference,
               "baseline_same_items": {"previous_decide": baseline, "decide": new_small}, "report": report, "checks": checks}
    write_result("scale", payload)
    update_readme_row(
        "scale",
        f"`decide` ({args.items:,} items x 20 rules), assembly, report of {args.report_items:,} items; previous decide on "
        f"{args.baseline_items:,} items as baseline",
        "decide < 20 s and < 2 GB, assembly < 2 GB, identical to per-item, report < 20 MB / 60 s",
        f"{args.items:,} items: decide {decided['seconds']:.1f} s ({per_million:.0f} s per million) / {decided['peak_rss_gb']:.2f} GB; assembly {assembled['seconds']:.0f} s / "
        f"{assembled['peak_rss_gb']:.2f} GB; {args.baseline_items // 1000}k: {new_small['seconds']:.1f} s / {new_small['peak_rss_gb']:.2f} GB vs "
        f"previous {baseline['seconds']:.1f} s / {baseline['peak_rss_gb']:.2f} GB; report {report['bytes'] / 2**20:.1f} MB in "
        f"{report['seconds']:.0f} s; per-item differences {sum(v['differ'] for v in compared)}",
        "pass" if all(checks.values()) else "FAIL",
    )
    print(json.dumps(payload, indent=2))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
