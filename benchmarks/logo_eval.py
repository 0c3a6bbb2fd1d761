"""logo: recall / precision / box IoU / confidence / time per frame on real and synthetic sets, with
the old ``logo@2`` behaviour (persistence only) as the baseline in the same run.

Every clip is decoded like the example pipelines do (1 frame per second, at most 64 frames,
max side 1280) and the registered ``logo`` operator runs on the batch; the baseline is
:func:`~factorline.operators.overlay.detect_logo` on the same frames with the same parameters
(``logo@3``'s persistence path is ``logo@2`` unchanged: on stills and static shots it said "no
logo"). Sets:

- ``shared=DIR`` / ``own=DIR``: folders in the shared real set's format (``media/`` +
  ``labels.json``; clips without a ``logo`` key are not scored; ``own`` clips are filtered by
  ``--split``, or by the split named in ``own:holdout=DIR``);
- ``synth=DIR``: a ``factorline synth`` folder of clips (``labels.jsonl``, ``truth.logo``); logos
  drawn "anywhere" (``params.where``) are scored apart (the operator looks in corners only), and
  the clips are scored apart by background: ``moving`` (a clip, or a pan) and ``static`` (a photo
  held still: a static video);
- ``stills=DIR``: a ``factorline synth --stills`` folder, each picture run as an image (one frame);
  ``static=DIR``: the same pictures encoded as static H.264 videos (6 s at 4 fps, cached under
  ``--work``) and decoded like a clip. Truth: an overlay (a logo, or a corner text watermark)
  with half its box in a corner crop (:func:`_logo_data.item_truth`); pictures with an overlay
  elsewhere are not scored.

    python benchmarks/logo_eval.py shared=../shared/realset own:dev=data/realset-own own:holdout=data/realset-own \\
        synth=/tmp/logo/s7 synth=/tmp/logo/n7 stills=/tmp/lg/test_logo stills=/tmp/lg/test_wm \\
        stills=/tmp/lg/test_neg static=/tmp/lg/test_logo static=/tmp/lg/test_wm static=/tmp/lg/test_neg \\
        --write logo_eval

``--write NAME`` stores ``results/NAME.json`` and the README row. Sets of one category (``stills``,
``static``, the synth clips' ``moving``/``static`` parts) are pooled in the summary.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import update_readme_row, write_result
from _logo_data import item_truth, load_rgb, read_stills, share_in

from factorline.contract.items import FrameBatch, Limits, MediaInfo, Sampling
from factorline.media import decode_frames, probe
from factorline.operators.logo_model import CORNERS, corner_region, load_model
from factorline.operators.overlay import detect_logo
from factorline.plugins import get_operator

SAMPLING = Sampling(fps=1.0, max_frames=64, max_side=1280)
STATIC_FPS, STATIC_FRAMES = 4.0, 24


def iou(a, b) -> float:
    if len(a) != 4 or len(b) != 4:
        return 0.0
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def clip_category(r: dict) -> str:
    source = ((r.get("params") or {}).get("background") or {}).get("source", "")
    return "static" if source.startswith(("skimage:", "sklearn:")) else "moving"


def rows_of(kind: str, folder: Path, split: str | None, work: Path):
    """(name, batch or path, truth, truth box, category, scored) per item of a set."""
    if kind in ("stills", "static"):
        for still in read_stills(folder):
            frame = load_rgb(still.path)
            truth = item_truth(still, frame.shape[1], frame.shape[0])
            if truth is None:
                yield still.id, None, False, [], kind, False
                continue
            corners = [corner_region(c, frame.shape[1], frame.shape[0]) for c in CORNERS]
            box = next((list(b) for b in still.overlays if max(share_in(b, r) for r in corners) >= 0.5), [])
            if kind == "stills":
                batch = FrameBatch(frame[None], np.zeros(1), frame.shape[1], frame.shape[0])
                yield still.id, batch, truth, box, kind, True
            else:
                yield still.id, static_video(frame, still.id, work), truth, box, kind, True
        return
    if kind == "synth":
        for line in (folder / "labels.jsonl").read_text().splitlines():
            r = json.loads(line)
            t = r["truth"]["logo"]
            anywhere = (r.get("params") or {}).get("where", "") == "anywhere"
            yield r["id"], folder / r["path"], bool(t["has_logo"]), t.get("box") or [], clip_category(r), not anywhere
        return
    labels = json.loads((folder / "labels.json").read_text())
    for name, lab in labels.items():
        if name.startswith("_") or "logo" not in lab:
            continue
        if split and lab.get("split", split) != split:
            continue
        yield name, folder / "media" / name, bool(lab["logo"]), [], kind, True


def static_video(frame: np.ndarray, name: str, work: Path) -> Path:
    """The picture held for STATIC_FRAMES frames at STATIC_FPS, H.264 (cached)."""
    from factorline.media.encode import write_video

    path = work / f"{name}.mp4"
    if not path.exists():
        work.mkdir(parents=True, exist_ok=True)
        tmp = work / f".{name}.tmp.mp4"
        write_video(tmp, np.repeat(frame[None], STATIC_FRAMES, axis=0), fps=STATIC_FPS)
        tmp.rename(path)
    return path


def score(results: list[dict], key: str) -> dict:
    """Precision / recall of ``key`` (has_logo of the op or of the baseline) over scored items."""
    tp = sum(r["truth"] and r[key] for r in results)
    fp = sum(not r["truth"] and r[key] for r in results)
    fn = sum(r["truth"] and not r[key] for r in results)
    return {
        "items": len(results),
        "positives": sum(r["truth"] for r in results),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": round(tp / (tp + fp), 3) if tp + fp else None,
        "recall": round(tp / max(tp + fn, 1), 3),
    }


def reliability(results: list[dict], bins: int = 5) -> list[dict]:
    rows = []
    for lo in np.linspace(0, 1, bins, endpoint=False):
        hi = lo + 1 / bins
        sel = [r for r in results if lo <= r["confidence"] < hi or (hi >= 1 and r["confidence"] == 1.0)]
        if sel:
            rows.append(
                {
                    "bin": [round(lo, 2), round(hi, 2)],
                    "n": len(sel),
                    "predicted": round(float(np.mean([r["confidence"] for r in sel])), 3),
                    "observed": round(float(np.mean([r["truth"] for r in sel])), 3),
                }
            )
    return rows


def summarise(results: list[dict]) -> dict:
    scored = [r for r in results if r["scored"]]
    ious = [r["iou"] for r in scored if r["truth"] and r["has_logo"] and r["iou"] is not None]
    methods: dict[str, int] = {}
    for r in scored:
        methods[r["method"]] = methods.get(r["method"], 0) + 1
    table = reliability(scored)
    n = sum(row["n"] for row in table)
    return {
        "logo@3": score(scored, "has_logo"),
        "logo@2_baseline": score(scored, "baseline"),
        "methods": methods,
        "mean_iou": round(float(np.mean(ious)), 3) if ious else None,
        "reliability": table,
        "ece": round(sum(row["n"] * abs(row["predicted"] - row["observed"]) for row in table) / max(n, 1), 4),
        "not_scored_found": f"{sum(r['has_logo'] for r in results if not r['scored'])}/"
        f"{sum(not r['scored'] for r in results)}",
        "misses": [r["name"] for r in scored if r["truth"] and not r["has_logo"]][:20],
        "false": [[r["name"], r["box"], r["method"]] for r in scored if r["has_logo"] and not r["truth"]][:20],
    }


def run_set(kind: str, folder: Path, split: str | None, op: str, work: Path, verbose: bool) -> list[dict]:
    spec = get_operator(op)
    params = spec.params()
    out = []
    for name, source, truth, box, category, scored in rows_of(kind, folder, split, work):
        if source is None:
            out.append({"name": name, "scored": False, "has_logo": False, "category": category})
            continue
        if isinstance(source, FrameBatch):
            batch = source
            info = MediaInfo(
                id=name,
                path=name,
                kind="image",
                duration_s=0.0,
                width=batch.source_width,
                height=batch.source_height,
                fps=None,
            )
        else:
            info = probe(source)
            batch = decode_frames(source, info, SAMPLING, Limits())
        start = time.perf_counter()
        got = spec.run({"frames": batch}, params, item=info, resources={})
        secs = time.perf_counter() - start
        base = detect_logo(
            batch.images,
            corner_share=params.corner_share,
            min_persistence=params.min_persistence,
            min_frames=params.min_frames,
        )
        row = {
            "name": name,
            "set": kind,
            "category": category,
            "scored": scored,
            "truth": truth,
            "has_logo": got["has_logo"],
            "baseline": bool(base.box),
            "confidence": got["confidence"],
            "method": got["method"],
            "box": got["box"],
            "iou": round(iou(got["box"], box), 3) if box else None,
            "seconds": secs,
            "frames": len(batch.images),
        }
        out.append(row)
        if verbose:
            print(
                f"  {name}: truth={truth} got={got['has_logo']} ({got['method']}, {got['confidence']}) "
                f"base={row['baseline']} box={got['box']} truth_box={box}",
                flush=True,
            )
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("sets", nargs="+", help="KIND=DIR with KIND in shared, own, synth, stills, static")
    ap.add_argument("--split", default="dev")
    ap.add_argument("--op", default="logo")
    ap.add_argument("--work", type=Path, default=Path("/tmp/lg/static"))
    ap.add_argument("--write", default="", help="store results/NAME.json and the README row")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.time()
    per_set, pooled = {}, {}
    for item in args.sets:
        kind, folder = item.split("=", 1)
        kind, _, split = kind.partition(":")  # own:holdout=DIR picks the split of that set
        split = (split or args.split) if kind == "own" else None
        rows = run_set(kind, Path(folder), split, args.op, args.work, args.v)
        res = summarise(rows)
        frames = sum(r.get("frames", 0) for r in rows)
        res["ms_per_frame"] = round(1000 * sum(r.get("seconds", 0.0) for r in rows) / max(frames, 1), 2)
        per_set[item] = res
        print(item, json.dumps({k: v for k, v in res.items() if k not in ("reliability",)}), flush=True)
        for r in rows:
            category = {"shared": "real_shared", "own": f"real_own_{split}"}.get(kind, r["category"])
            pooled.setdefault(category, []).append(r)
    summary = {category: summarise(rows) for category, rows in pooled.items()}
    for category, res in summary.items():
        print(
            f"== {category}:",
            json.dumps({k: res[k] for k in ("logo@3", "logo@2_baseline", "methods", "mean_iou", "ece")}),
            flush=True,
        )
    if args.write:
        model = load_model()
        payload = {
            "sets": args.sets,
            "split": args.split,
            "summary": summary,
            "per_set": per_set,
            "model": {
                "threshold": model.threshold,
                "calibration": model.doc["calibration"]["appearance"],
                "trained_on": [d["folder"] for d in model.doc["data"]["train"]],
            },
            "seconds": round(time.time() - t0, 1),
        }
        write_result(args.write, payload)
        update_readme_row(args.write, *readme_cells(summary))
    return {"summary": summary, "per_set": per_set}


def readme_cells(summary: dict) -> tuple[str, str, str, str]:
    def pr(res: dict, key: str) -> str:
        s = res[key]
        return f"P {s['precision'] if s['precision'] is not None else '-'} R {s['recall']}"

    parts, fails = [], []
    for category in ("stills", "static", "moving"):
        if category in summary:
            res = summary[category]
            parts.append(
                f"{category} ({res['logo@3']['items']}): {pr(res, 'logo@3')} vs logo@2 {pr(res, 'logo@2_baseline')}, "
                f"ECE {res['ece']}"
            )
            if category != "moving" and (res["logo@3"]["precision"] or 0) < 0.9:
                fails.append(f"{category} precision < 0.9")
    for category, res in summary.items():
        if category.startswith("real"):
            new, old = res["logo@3"], res["logo@2_baseline"]
            parts.append(f"{category} ({new['items']}): {pr(res, 'logo@3')} vs logo@2 {pr(res, 'logo@2_baseline')}")
            if new["recall"] < old["recall"] or new["fp"] > old["fp"]:
                fails.append(f"{category} worse than logo@2")
    verdict = "PASS" if not fails else "FAIL: " + "; ".join(fails)
    what = (
        "logo@3 on held-out synth stills, static videos and moving clips, and real sets, next to logo@2 "
        "(persistence only) in the same run"
    )
    target = "stills/static precision ≥ 0.9 with recall > 0 (logo@2: 0); real sets no worse than logo@2"
    return what, target, "; ".join(parts), verdict


if __name__ == "__main__":
    main(sys.argv[1:])
