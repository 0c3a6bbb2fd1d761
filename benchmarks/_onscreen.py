"""onscreen_text on a ``factorline synth`` set, next to two baselines read from the same OCR.

The accuracy set (``_accuracy_set.py``) knows no text classes, so ``factor_accuracy.py`` builds a
small synth set (kinds subtitles, title_card, lower_third, scene_text, watermark: one drawn text
per clip, its class in ``truth.onscreen_text``; seed :data:`SEED`, which no training run of
``text_lines.json`` used) and scores, per class, the item-level precision / recall of
``has_<class>`` against "the truth has a text of that class". Baselines, from the same lines the
operator read (same OCR, so only the classification differs):

- ``any_text``: full-frame OCR read some text (``has_text``): what one knew before classes;
- ``layout_rule``: a hand-written position rule per line (:func:`layout_label`): small text in a
  corner is a watermark, large centred text mid-frame a title card, text in the lower-left
  third a lower third, bottom-centre text a subtitle, anything else scene text.
"""

from __future__ import annotations

import json
from pathlib import Path

from _metrics import binary_f1

KINDS = ("subtitles", "title_card", "lower_third", "scene_text", "watermark")
CLASSES = ("title_card", "lower_third", "scene_text", "watermark")
COUNT, SEED = 60, 13
BASELINES = ("any_text", "layout_rule")


def layout_label(box: list, size: tuple[int, int]) -> str:
    """The class a position rule gives a line's box [x, y, w, h] in a frame of ``size`` (w, h)."""
    w, h = size
    cx, cy, bh = (box[0] + box[2] / 2) / w, (box[1] + box[3] / 2) / h, box[3] / h
    corner = (box[0] < 0.12 * w or box[0] + box[2] > 0.88 * w) and (box[1] < 0.15 * h or box[1] + box[3] > 0.85 * h)
    if corner and bh < 0.1 and abs(cx - 0.5) > 0.2:
        return "watermark"
    if abs(cx - 0.5) < 0.1 and cy > 0.75:
        return "subtitle"
    if abs(cx - 0.5) < 0.1 and 0.25 < cy < 0.75 and bh > 0.08:
        return "title_card"
    if cx < 0.4 and cy > 0.6:
        return "lower_third"
    return "scene_text"


def predictions(factor: dict, size: tuple[int, int]) -> dict[str, dict[str, bool]]:
    """method -> class -> has_<class>, for the operator and each baseline."""
    rule = {layout_label(ln["box"], size) for ln in factor["lines"]}
    return {
        "ours": {c: bool(factor[f"has_{c}"]) for c in CLASSES},
        "any_text": {c: bool(factor["has_text"]) for c in CLASSES},
        "layout_rule": {c: c in rule for c in CLASSES},
    }


def score_onscreen(items: list[dict]) -> dict:
    """Per class and method, item-level P/R/F1 of has_<class>; ``items``: [{id, kind, size, truth
    (truth.onscreen_text), factor (the onscreen_text record)}]. Macro = mean over classes."""
    pairs = {m: {c: [] for c in CLASSES} for m in ("ours", *BASELINES)}
    per_item = []
    for item in items:
        truth = {c: any(t["class"] == c for t in item["truth"]) for c in CLASSES}
        pred = predictions(item["factor"], tuple(item["size"]))
        for method, by_class in pred.items():
            for c in CLASSES:
                pairs[method][c].append((truth[c], by_class[c]))
        if any(pred["ours"][c] != truth[c] for c in CLASSES):
            per_item.append({"id": item["id"], "kind": item["kind"], "truth": [c for c in CLASSES if truth[c]],
                             "ours": [c for c in CLASSES if pred["ours"][c]],
                             "lines": [(ln["label"], ln["confidence"], ln["text"][:60])
                                       for ln in item["factor"]["lines"]]})
    out: dict = {"items": len(items), "classes": list(CLASSES)}
    for method, by_class in pairs.items():
        scores = {c: binary_f1(p) for c, p in by_class.items()}
        macro = {k: round(sum(s[k] for s in scores.values()) / len(scores), 4) for k in ("precision", "recall", "f1")}
        out[method] = {"per_class": scores, "macro": macro}
    out["baselines"] = {
        "any_text": "full-frame OCR read any text (has_text) counts as every class",
        "layout_rule": "a position rule on the same lines' boxes (benchmarks/_onscreen.py layout_label)",
    }
    timed = [i for i in items if "ms" in i and i.get("frames")]
    if timed:
        out["ms_per_frame"] = round(sum(i["ms"] for i in timed) / sum(i["frames"] for i in timed), 1)
    out["mistakes"] = per_item
    return out


def build_and_run(dest: Path, sampling: dict, count: int = COUNT, workers: int = 1) -> list[dict]:
    """Write the synth set under ``dest`` and run onscreen_text on every clip; the scored items."""
    from factorline.engine.compiler import compile_pipeline
    from factorline.engine.executor import Engine
    from factorline.media import target_times
    from factorline.synth import SynthOptions, generate

    generate(dest, SynthOptions(KINDS, count, seed=SEED), workers=workers)
    doc = {"name": "onscreen_accuracy", "input": "video", "sampling": sampling,
           "steps": {"text": {"op": "onscreen_text"}}}
    engine = Engine(compile_pipeline(doc))
    lines = (dest / "labels.jsonl").read_text(encoding="utf-8").splitlines()
    engine.run_item(str(dest / json.loads(lines[0])["path"]))  # warm-up: the OCR engine loads once
    items = []
    for line in lines:
        record = json.loads(line)
        rec = engine.run_item(str(dest / record["path"]))
        if rec["error"]:
            raise SystemExit(f"onscreen_text failed on {record['id']}: {rec['error']}")
        size = [record["media"]["width"], record["media"]["height"]]
        items.append({"id": record["id"], "kind": record["kind"], "size": size,
                      "truth": record["truth"]["onscreen_text"], "factor": rec["factors"]["text"],
                      "ms": rec["timings_ms"]["text"],
                      "frames": len(target_times(record["media"]["duration_s"], sampling["fps"], sampling["max_frames"],
                                                 record["media"]["fps"], sampling.get("min_frames", 4)))})
    return items
