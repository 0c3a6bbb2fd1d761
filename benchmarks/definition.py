"""Does ``definition`` say "low" for low-definition pictures whatever size they are stored at?

    python benchmarks/definition.py [--sets shared=../shared/realset own=data/realset-own] [--frames 4]

Data: every real clip of the given sets (``media/``) whose stored shorter side is at least 480
px is a source. Four frames per clip (evenly spread) are decoded at stored size, and each
source gives these variants, made in memory with OpenCV (no re-encode): the original; copies
reduced (area) to a shorter side of 144, 240, 360 and 480 px and scaled back (bicubic) to the
stored size, the usual "upload in HD" path; and a Gaussian blur of sigma 0.5, 2 and 6 px at
720 lines (scaled with the stored size). Truth: a variant is low definition when the lines it
carries are under 360: a reduction to 144 or 240, and the blurs of sigma 2 and 6 (a Gaussian
of sigma s keeps about 720 / (2.5 s) lines of detail: 144 and 48); the original, the 360 and
480 reductions and the sigma-0.5 blur (about 576 lines) are not. Frames are then reduced to the pipelines' default
analysis size (max_side 1280) and ``definition@1`` runs on them as in a pipeline.

Baselines in the same run: **stored size** (shorter side under 360: what a rule on the item's
height says) and **clarity** (``clarity@1`` score under 0.5: resolution-independent sharpness).
Reports precision / recall / accuracy of ``low_definition`` per method, per variant, and the
``lines`` read per variant. Writes ``benchmarks/results/definition.json`` and a README row.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import update_readme_row, write_result  # noqa: E402
from benchmarks._metrics import binary_f1  # noqa: E402

VARIANTS = ("original", "via144", "via240", "via360", "via480", "blur0.5", "blur2", "blur6")
LOW = {"via144", "via240", "blur2", "blur6"}
MIN_SOURCE_SHORT = 480
ANALYSIS_MAX_SIDE = 1280


def variant(frame: np.ndarray, name: str) -> np.ndarray:
    import cv2

    h, w = frame.shape[:2]
    if name == "original":
        return frame
    if name.startswith("via"):
        short = int(name[3:])
        k = short / min(h, w)
        small = cv2.resize(frame, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    sigma = float(name[4:]) * min(h, w) / 720.0
    return cv2.GaussianBlur(frame, (0, 0), sigma)


def analysis_batch(frames: list[np.ndarray], times: np.ndarray):
    import cv2

    from factorline.contract.items import FrameBatch

    h, w = frames[0].shape[:2]
    k = min(1.0, ANALYSIS_MAX_SIDE / max(h, w))
    size = (max(1, round(w * k)), max(1, round(h * k)))
    small = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) if k < 1.0 else f for f in frames]
    return FrameBatch(np.stack(small), times, w, h, scale=1.0 / k)


def source_frames(path: Path, count: int):
    from factorline.contract.items import Limits, Sampling
    from factorline.media import decode_frames, probe

    info = probe(path)
    if min(info.width, info.height) < MIN_SOURCE_SHORT:
        return None, None
    fps = count / info.duration_s if info.duration_s else 1.0
    batch = decode_frames(path, info, Sampling(fps=fps, max_frames=count, max_side=max(info.width, info.height)), Limits())
    return info, batch


def evaluate(sets: dict[str, Path], count: int) -> dict:
    from factorline.contract.items import MediaInfo
    from factorline.plugins import get_operator

    definition, clarity = get_operator("definition"), get_operator("clarity")
    rows = []
    for set_name, root in sets.items():
        for path in sorted((root / "media").iterdir()):
            if path.name.startswith("."):
                continue
            try:
                info, batch = source_frames(path, count)
            except Exception as exc:  # a clip this benchmark cannot read is reported, not fatal
                print(f"  skip {path.name}: {exc}", file=sys.stderr)
                continue
            if info is None:
                continue
            for name in VARIANTS:
                frames = analysis_batch([variant(f, name) for f in batch.images], np.asarray(batch.times))
                item = MediaInfo(id=f"{path.name}#{name}", path=str(path), kind="video", duration_s=info.duration_s,
                                 width=frames.source_width, height=frames.source_height, fps=info.fps)
                ours = definition.run({"frames": frames}, definition.params(), item=item, resources={})
                sharp = clarity.run({"frames": frames}, clarity.params(), item=item, resources={})
                rows.append({"set": set_name, "clip": path.name, "variant": name, "truth_low": name in LOW,
                             "lines": ours["lines"], "limited_by": ours["limited_by"],
                             "ours": ours["low_definition"], "stored_size": min(info.width, info.height) < 360,
                             "clarity": sharp["score"] < 0.5, "clarity_score": sharp["score"]})
            print(f"  {set_name}/{path.name}: " + ", ".join(f"{r['variant']} {r['lines']}" for r in rows[-len(VARIANTS):]))
    return summarize(rows)


def summarize(rows: list[dict]) -> dict:
    methods = ("ours", "stored_size", "clarity")
    truth = [r["truth_low"] for r in rows]
    scores = {}
    for m in methods:
        pred = [r[m] for r in rows]
        s = binary_f1(list(zip(truth, pred)))
        s["accuracy"] = round(sum(p == t for p, t in zip(pred, truth)) / len(rows), 4) if rows else None
        scores[m] = s
    per_variant = {
        v: {"lines_median": int(np.median([r["lines"] for r in rows if r["variant"] == v])),
            **{m: sum(r[m] for r in rows if r["variant"] == v) for m in methods},
            "n": sum(r["variant"] == v for r in rows)}
        for v in VARIANTS if any(r["variant"] == v for r in rows)
    }
    return {"scores": scores, "per_variant": per_variant, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", default=[f"shared={ROOT.parent / 'shared' / 'realset'}",
                                                       f"own={ROOT / 'data' / 'realset-own'}"])
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--no-record", action="store_true", help="print only; no results JSON or README row")
    args = parser.parse_args(argv)
    sets = {}
    for spec in args.sets:
        name, _, folder = spec.partition("=")
        if not (Path(folder) / "media").is_dir():
            parser.error(f"--sets {spec}: expected NAME=DIR with DIR/media/ (fetch the own set with benchmarks/realset/fetch.py)")
        sets[name] = Path(folder)
    t0 = time.perf_counter()
    result = evaluate(sets, args.frames)
    seconds = round(time.perf_counter() - t0, 1)
    ours, stored, sharp = (result["scores"][m] for m in ("ours", "stored_size", "clarity"))
    sources = len({(r["set"], r["clip"]) for r in result["rows"]})
    passed = ours["f1"] > max(stored["f1"], sharp["f1"])
    print(f"{sources} sources x {len(VARIANTS)} variants: low_definition F1 ours {ours['f1']} "
          f"(P {ours['precision']} R {ours['recall']}), stored size {stored['f1']}, clarity<0.5 {sharp['f1']}")
    for v, row in result["per_variant"].items():
        print(f"  {v:9s} lines {row['lines_median']:5d}  low: ours {row['ours']}/{row['n']}, stored {row['stored_size']}, clarity {row['clarity']}")
    if not args.no_record:
        write_result("definition", {"sources": sources, "variants": list(VARIANTS), "low_truth": sorted(LOW),
                                    "seconds": seconds, "passed": passed, **result})
        update_readme_row("definition", "low definition whatever the stored size (real clips reduced and scaled back, blurred)",
                          "F1 above stored size and clarity", f"F1 {ours['f1']} vs stored size {stored['f1']}, clarity {sharp['f1']}",
                          "pass" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
