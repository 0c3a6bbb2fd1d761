"""Calibrate ``slideshow@2``'s confidence (factorline/operators/slideshow_calibration.json).

    .venv/bin/python benchmarks/train_slideshow.py --out /tmp/slideshow_synth --real data/realset-own

Data: ``--count`` (240) clips of the synth engine's ``slideshow`` kind (about half slideshows of
2-8 real photos and text slides, 1.5-6 s each, cuts or crossfades, some black between slides,
some Ken Burns zooms and corner marks; negatives: moving footage, a static shot with a logo or
watermark, one photo held, a montage of static shots (or full-screen slides) and moving footage, slides filmed off a
screen with camera shake), ``--size`` 320x180,
``--clip-s`` 12 s, encoded at ``--fps`` 10 (the operator samples at 1 fps: only the frames it
reads matter, and 10 fps keeps the run to a few minutes on one core), seed ``--seed``. Each clip
is decoded as a pipeline decodes it (:class:`~factorline.contract.items.Sampling`'s defaults: 1
fps, at least 4 frames) and scored by the operator's own functions (``batch_thumbnails``,
``stillness``, ``slideshow_score`` with the default parameters, no wired text).

Fit: clips with ``index % 5 < 3`` train, the others are held out. Platt scaling (a logistic
regression, Newton's method on the log loss with Platt's smoothed targets ``(N+ + 1) / (N+ + 2)``
and ``1 / (N- + 2)``, which keeps the weights finite when the training data separate the
classes) of the operator's calibration inputs (``calibration_inputs``: the score alone, or the
score and ``still_ratio``, the static ratio of a still video of one picture). The two-input fit
is kept when it is clearly better on the held-out clips (Brier lower by 0.01 or more) and its
score weight is positive; otherwise the score alone. (A still video scores 0.4, like a deck
half of whose slides went by too fast for 1 fps: on the score alone, Platt scaling can only
call both ~0.5.)

Reported on the held-out clips: Brier score, ECE (10 equal-width bins) and accuracy at 0.5 of
the raw score used as a probability and of the calibrated confidence; on the real clips of
``--real``'s ``dev`` split labelled ``slideshow: false`` (never the holdout): how many the raw
score and the confidence call slideshows (false positives), and their largest confidence.

Writes the constants with their provenance (seed, counts, sha256 of the synth labels, of the
sources, of the real labels and of the scored feature table, metrics) to the operator's JSON
(``--write-model``, default on), ``benchmarks/results/slideshow_calibration.json`` and the
README row.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import update_readme_row, write_result

from factorline.contract.items import Limits, Sampling
from factorline.media import decode_frames, probe
from factorline.operators.temporal import (
    CALIBRATION_FORMAT,
    CALIBRATION_PATH,
    SlideshowCalibration,
    SlideshowParams,
    batch_thumbnails,
    calibration_inputs,
    slideshow_score,
    stillness,
)
from factorline.synth.engine import SynthOptions, generate

NAME = "slideshow_calibration"


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def features(path: Path, params: SlideshowParams) -> dict:
    """The operator's pure parts on one media file, sampled as a pipeline samples it."""
    batch = decode_frames(path, probe(path), Sampling(), Limits())
    times = np.asarray(batch.times, np.float64)
    still = stillness(batch_thumbnails(batch), times, static_diff=params.static_diff, min_static_s=params.min_static_s)
    score = slideshow_score(still.static_ratio, still.pictures, 0, text_weight=params.text_weight,
                            text_full_chars=params.text_full_chars)
    return {"score": round(float(score), 6), "static_ratio": round(float(still.static_ratio), 6),
            "pictures": int(still.pictures), "frames": len(times)}


def design(rows: list[dict], columns: tuple[str, ...]) -> np.ndarray:
    """(n, k) of the operator's calibration inputs ``columns`` for the scored rows."""
    values = calibration_inputs([r["score"] for r in rows], [r["static_ratio"] for r in rows],
                                [r["pictures"] for r in rows])
    return np.stack([values[c] for c in columns], axis=1).reshape(len(rows), len(columns))


def platt_fit(x: np.ndarray, y: np.ndarray, iterations: int = 100, ridge: float = 1e-6) -> np.ndarray:
    """Weights (k + 1,) (last: the bias) of a logistic regression of ``y`` on ``x`` (n, k) with
    Platt's smoothed targets, by Newton's method."""
    pos, neg = float(y.sum()), float(len(y) - y.sum())
    target = np.where(y > 0, (pos + 1) / (pos + 2), 1 / (neg + 2))
    X = np.c_[x, np.ones(len(x))]
    w = np.zeros(X.shape[1])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-(X @ w)))
        grad = X.T @ (p - target) + ridge * w
        hess = (X * (p * (1 - p))[:, None]).T @ X + ridge * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return w


def predict(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(np.c_[x, np.ones(len(x))] @ w)))


def metrics(p: np.ndarray, y: np.ndarray, bins: int = 10) -> dict:
    p, y = np.clip(np.asarray(p, np.float64), 0, 1), np.asarray(y, np.float64)
    which = np.minimum((p * bins).astype(int), bins - 1)
    ece, table = 0.0, []
    for b in range(bins):
        m = which == b
        if m.any():
            ece += m.sum() / len(p) * abs(p[m].mean() - y[m].mean())
            table.append({"bin": [b / bins, (b + 1) / bins], "n": int(m.sum()), "mean_p": round(float(p[m].mean()), 4),
                          "rate": round(float(y[m].mean()), 4)})
    return {"n": len(p), "brier": round(float(np.mean((p - y) ** 2)), 4), "ece": round(float(ece), 4),
            "accuracy": round(float(np.mean((p >= 0.5) == (y > 0))), 4), "reliability": table}


def real_clips(folder: Path) -> list[tuple[str, Path]]:
    labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
    return [(name, folder / "media" / name) for name, v in sorted(labels.items())
            if isinstance(v, dict) and v.get("split") == "dev" and v.get("slideshow") is False]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="/tmp/slideshow_synth", help="folder of the synth set (made or resumed)")
    parser.add_argument("--count", type=int, default=240)
    parser.add_argument("--seed", type=int, default=301)
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--clip-s", type=float, default=12.0)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--real", type=Path, default=ROOT / "data" / "realset-own",
                        help="a real set with labels.json; only its dev split, clips labelled slideshow: false")
    parser.add_argument("--no-write-model", action="store_true", help="measure only; leave the operator's JSON")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    options = SynthOptions(("slideshow",), args.count, args.seed, size, args.clip_s, fps=args.fps)
    synth = generate(args.out, options, workers=1)
    made_s = time.perf_counter() - started
    records = [json.loads(line) for line in (Path(args.out) / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
    params = SlideshowParams()
    rows = []
    for r in records:
        f = features(Path(args.out) / r["path"], params)
        rows.append({"id": r["id"], "index": r["index"], "y": int(r["truth"]["slideshow"]["is_slideshow"]),
                     "mode": r["params"].get("mode", "slideshow"), "ken_burns": bool(r["params"].get("ken_burns")), **f})
    real = [{"id": name, "y": 0, **features(path, params)} for name, path in real_clips(args.real)]
    scored_s = time.perf_counter() - started - made_s

    train = [r for r in rows if r["index"] % 5 < 3]
    test = [r for r in rows if r["index"] % 5 >= 3]
    y_train, y_test = np.array([r["y"] for r in train]), np.array([r["y"] for r in test])
    one, two = ("score",), ("score", "still_ratio")
    w1 = platt_fit(design(train, one), y_train)
    w2 = platt_fit(design(train, two), y_train)
    raw = metrics(design(test, one)[:, 0], y_test)
    cal1 = metrics(predict(w1, design(test, one)), y_test)
    cal2 = metrics(predict(w2, design(test, two)), y_test)
    use_two = cal2["brier"] <= cal1["brier"] - 0.01 and w2[0] > 0
    inputs, w = (two, w2) if use_two else (one, w1)
    cal = cal2 if use_two else cal1
    platt = {"inputs": list(inputs), "weights": [round(float(v), 6) for v in w[:-1]], "bias": round(float(w[-1]), 6),
             "method": "Newton on the log loss, Platt's smoothed targets"}
    calibration = SlideshowCalibration.from_dict({"format": CALIBRATION_FORMAT, "platt": platt})
    real_scores = np.array([r["score"] for r in real])
    real_conf = (calibration.probability(real_scores, [r["static_ratio"] for r in real], [r["pictures"] for r in real])
                 if len(real) else np.zeros(0))
    real_report = {"clips": len(real), "split": "dev", "label": "slideshow: false",
                   "fp_raw": int(np.sum(real_scores >= params.min_score)), "fp_confidence": int(np.sum(real_conf >= 0.5)),
                   "max_confidence": round(float(real_conf.max()), 4) if len(real) else None,
                   "mean_confidence": round(float(real_conf.mean()), 4) if len(real) else None,
                   "brier_raw": round(float(np.mean(real_scores**2)), 4) if len(real) else None,
                   "brier_confidence": round(float(np.mean(real_conf**2)), 4) if len(real) else None,
                   "clips_scored": [{**r, "confidence": round(float(c), 4)} for r, c in zip(real, real_conf)]}
    by_mode = {}
    for r in test:
        key = ("slideshow+ken_burns" if r["ken_burns"] else "slideshow") if r["y"] else r["mode"]
        p = float(calibration.probability(r["score"], r["static_ratio"], r["pictures"]))
        entry = by_mode.setdefault(key, {"n": 0, "correct": 0, "mean_confidence": 0.0})
        entry["n"] += 1
        entry["correct"] += int((p >= 0.5) == bool(r["y"]))
        entry["mean_confidence"] += p
    for entry in by_mode.values():
        entry["mean_confidence"] = round(entry["mean_confidence"] / entry["n"], 4)

    table = json.dumps([{k: r[k] for k in ("id", "y", "score", "static_ratio", "pictures")} for r in rows + real],
                       sort_keys=True).encode("utf-8")
    real_labels = args.real / "labels.json"
    provenance = {
        "command": "benchmarks/train_slideshow.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "synth": {"kind": "slideshow", "seed": args.seed, "count": args.count, "size": list(size), "clip_s": args.clip_s,
                  "fps": args.fps, "labels_sha256": synth.stamp["labels_sha256"],
                  "sources_sha256": sha256_bytes(json.dumps(synth.stamp["sources"], sort_keys=True).encode("utf-8")),
                  "positives": int(sum(r["y"] for r in rows))},
        "split": {"train": "index % 5 < 3", "held_out": "index % 5 >= 3", "train_n": len(train), "held_out_n": len(test)},
        "sampling": "Sampling() defaults (1 fps, min 4 frames), SlideshowParams() defaults, no wired text",
        "real": {"set": str(args.real.relative_to(ROOT)) if args.real.is_relative_to(ROOT) else str(args.real),
                 "labels_sha256": sha256_bytes(real_labels.read_bytes()), "clips": len(real)},
        "features_sha256": sha256_bytes(table),
    }
    held_out = {"raw_score": raw, "calibrated": cal,
                "candidates": {"score": {**cal1, "weights": [round(float(v), 4) for v in w1]},
                               "score+still_ratio": {**cal2, "weights": [round(float(v), 4) for v in w2]}},
                "chosen": "+".join(inputs), "by_case": by_mode}
    doc = {
        "format": CALIBRATION_FORMAT,
        "about": "Platt scaling of slideshow@2's score: confidence = sigmoid(sum(weights * inputs) + bias), inputs "
                 "as factorline.operators.temporal.calibration_inputs computes them; built by "
                 "benchmarks/train_slideshow.py on synth slideshow clips (see provenance), checked on held-out clips "
                 "and on real non-slideshow clips of the dev split.",
        "platt": platt,
        "provenance": provenance,
        "metrics": {"held_out": {"raw_score": {k: v for k, v in raw.items() if k != "reliability"},
                                 "calibrated": {k: v for k, v in cal.items() if k != "reliability"},
                                 "score_only": {k: v for k, v in cal1.items() if k != "reliability"}},
                    "reliability": cal["reliability"],
                    "real_dev": {k: v for k, v in real_report.items() if k != "clips_scored"}},
    }
    if not args.no_write_model:
        CALIBRATION_PATH.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    seconds = time.perf_counter() - started
    write_result(NAME, {"platt": doc["platt"], "provenance": provenance, "held_out": held_out, "real_dev": real_report,
                        "seconds": {"synth": round(made_s, 1), "scoring": round(scored_s, 1), "total": round(seconds, 1)}})
    measured = (f"held-out {len(test)}: Brier {raw['brier']} -> {cal['brier']}, ECE {raw['ece']} -> {cal['ece']}, "
                f"acc {raw['accuracy']} -> {cal['accuracy']} ({'+'.join(inputs)}); real dev non-slideshows {len(real)}: "
                f"FP {real_report['fp_confidence']}, max conf {real_report['max_confidence']}")
    good = cal["brier"] <= raw["brier"] and cal["ece"] <= raw["ece"] and real_report["fp_confidence"] == 0
    update_readme_row(NAME, "slideshow@2 confidence: Platt calibration of the score on synth slideshow clips",
                      "Brier and ECE not worse than the raw score, no real FP", measured, "pass" if good else "fail")
    print(json.dumps({"platt": doc["platt"], "held_out_raw": {k: raw[k] for k in ("brier", "ece", "accuracy")},
                      "held_out_calibrated": {k: cal[k] for k in ("brier", "ece", "accuracy")},
                      "score_only": {k: cal1[k] for k in ("brier", "ece", "accuracy")}, "by_case": by_mode,
                      "real_dev": {k: v for k, v in real_report.items() if k != "clips_scored"},
                      "seconds": round(seconds, 1)}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
