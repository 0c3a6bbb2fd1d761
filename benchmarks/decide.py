"""`decide` on a 10,000-item run vs re-running the pipeline, in one run.

1. Run examples/video_audit.yaml on the sample videos with no cache: the real cost per item of
   a full re-run (probe, decode, every operator, decide).
2. Make a 10,000-item run folder from those records (factor values jittered per item, so the
   decisions vary) and time `decide_run` on it with changed thresholds: read the JSONL,
   re-decide every item, write JSONL and Parquet.
3. Ratio = (per-item full run x 10,000) / decide time. The full re-run of 10,000 items is
   extrapolated from the measured per-item cost (running it would take most of an hour here).
"""

from __future__ import annotations

import copy
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import update_readme_row, write_result  # noqa: E402

from factorline.batch import run_pipeline  # noqa: E402
from factorline.batch.decide import decide_run  # noqa: E402
from factorline.engine.compiler import compile_pipeline  # noqa: E402
from factorline.engine.document import load_text  # noqa: E402
from factorline.engine.records import read_jsonl, write_jsonl  # noqa: E402
from factorline.samples import build_sample_set, default_sample_dir  # noqa: E402

ITEMS = 10_000
PIPELINE = Path(__file__).resolve().parent.parent / "examples" / "video_audit.yaml"


def jittered(records: list[dict], count: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        record = copy.deepcopy(records[i % len(records)])
        record["item"]["path"] = f"synthetic/{i:05d}.mp4"
        record["item"]["id"] = f"sha256:{i:064x}"
        if not record["error"]:
            record["factors"]["border"]["area_ratio"] = round(rng.random() * 0.5, 4)
            record["factors"]["clarity"]["score"] = round(rng.random(), 4)
        out.append(record)
    return out


def main() -> int:
    samples = build_sample_set(default_sample_dir())
    doc = load_text(PIPELINE)
    paths = sorted(str(p) for p in (samples / "videos").glob("*.mp4"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        summary = run_pipeline(doc, paths, tmp / "real", cache_dir=None)
        per_item = (time.perf_counter() - t0) / len(paths)
        run_dir = tmp / "big"
        run_dir.mkdir()
        write_jsonl(jittered(list(read_jsonl(tmp / "real" / "results.jsonl")), ITEMS), run_dir / "results.jsonl")
        meta = json.loads((tmp / "real" / "run.json").read_text())
        (run_dir / "run.json").write_text(json.dumps({**meta, "total": ITEMS}))
        changed = copy.deepcopy(doc)
        changed["decisions"]["moderation"]["rules"][0]["when"] = "border.area_ratio > 0.3"
        changed["decisions"]["moderation"]["cases"] = []
        plan = compile_pipeline(changed)
        t0 = time.perf_counter()
        result = decide_run(plan, run_dir, tmp / "decided")
        t_decide = time.perf_counter() - t0
    full = per_item * ITEMS
    ratio = full / t_decide
    payload = {
        "items": ITEMS,
        "full_run_seconds_per_item": round(per_item, 4),
        "full_rerun_seconds_extrapolated": round(full, 1),
        "decide_seconds": round(t_decide, 3),
        "decisions_changed": len(result.changes),
        "ratio_full_over_decide": round(ratio, 1),
        "sample_run": summary.to_dict(),
    }
    write_result("decide", payload)
    update_readme_row(
        "decide",
        f"`factorline decide` on a {ITEMS:,}-item run vs a full re-run (extrapolated from {len(paths)} real items)",
        "much faster than re-running",
        f"{t_decide:.2f} s vs {full:.0f} s ({ratio:.0f}x)",
        "pass" if ratio > 100 else "FAIL",
    )
    print(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
