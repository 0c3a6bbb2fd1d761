"""logo: recall / precision / box IoU / time per frame on real and synthetic sets, in one run.

Every clip is decoded like the example pipelines do (1 frame per second, at most 64 frames,
max side 1280) and the registered ``logo`` operator runs on the batch. Sets:

- ``shared=DIR`` / ``own=DIR``: folders in the shared real set's format (``media/`` +
  ``labels.json``; clips without a ``logo`` key are not scored; ``own`` clips are filtered by
  ``--split``);
- ``synth=DIR``: a ``factorline synth`` folder (``labels.jsonl``, ``truth.logo``); logos drawn
  "anywhere" (``params.where``) are scored apart: the operator looks in corners only.

    python benchmarks/logo_eval.py shared=../shared/realset own=data/realset-own \
        synth=/tmp/logo/s7 synth=/tmp/logo/n7 [--split dev] [--trace]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from factorline.core.items import Limits, Sampling
from factorline.core.registry import get_operator
from factorline.media import decode_frames, probe

SAMPLING = Sampling(fps=1.0, max_frames=64, max_side=1280)


def iou(a, b) -> float:
    if len(a) != 4 or len(b) != 4:
        return 0.0
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def rows_of(kind: str, folder: Path, split: str | None):
    if kind == "synth":
        for line in (folder / "labels.jsonl").read_text().splitlines():
            r = json.loads(line)
            t = r["truth"]["logo"]
            where = (r.get("params") or {}).get("where", "")
            yield r["id"], folder / r["path"], bool(t["has_logo"]), t.get("box") or [], where
        return
    labels = json.loads((folder / "labels.json").read_text())
    for name, lab in labels.items():
        if name.startswith("_") or "logo" not in lab:
            continue
        if split and lab.get("split", split) != split:
            continue
        yield name, folder / "media" / name, bool(lab["logo"]), [], ""


def run_set(kind: str, folder: Path, split: str | None, op: str, verbose: bool) -> dict:
    spec = get_operator(op)
    params = spec.params()
    tp = fp = fn = tn = 0
    far_found = far = 0
    ious, secs, frames = [], 0.0, 0
    misses, false = [], []
    for name, path, truth, box, where in rows_of(kind, folder, split):
        info = probe(path)
        batch = decode_frames(path, info, SAMPLING, Limits())
        start = time.perf_counter()
        out = spec.run({"frames": batch}, params, item=info, resources={})
        secs += time.perf_counter() - start
        frames += len(batch.images)
        got = out["has_logo"]
        if truth and where == "anywhere":
            far += 1
            far_found += got
            continue
        if truth and got:
            tp += 1
            if box:
                ious.append(iou(out["box"], box))
        elif truth:
            fn += 1
            misses.append(name)
        elif got:
            fp += 1
            false.append((name, out["box"], out["corner"]))
        else:
            tn += 1
        if verbose:
            print(f"  {name}: truth={truth} got={got} box={out['box']} truth_box={box} n={len(batch.images)}")
    res = {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "recall": round(tp / max(tp + fn, 1), 3),
        "precision": round(tp / max(tp + fp, 1), 3) if tp + fp else None,
        "mean_iou": round(float(np.mean(ious)), 3) if ious else None,
        "anywhere_found": f"{far_found}/{far}",
        "ms_per_frame": round(1000 * secs / max(frames, 1), 2),
        "misses": misses[:30],
        "false": false[:30],
    }
    return res


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sets", nargs="+", help="KIND=DIR with KIND in shared, own, synth")
    ap.add_argument("--split", default="dev")
    ap.add_argument("--op", default="logo")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args(argv)
    out = {}
    for item in args.sets:
        kind, folder = item.split("=", 1)
        res = run_set(kind, Path(folder), args.split if kind == "own" else None, args.op, args.v)
        out[item] = res
        print(item, json.dumps(res), flush=True)
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
