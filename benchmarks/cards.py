"""Write every built-in operator's factor card from the two accuracy benchmarks' results.

    make cards      # = factor_accuracy.py (synthetic set) + real_media.py (real sets) + this script

Reads ``results/real_media.json`` and ``results/factor_accuracy.json`` (their dates and git
commits go into each card) and, for the operators measured by a benchmark of their own,
``results/aesthetics.json`` and ``results/face_match.json`` (``make cards`` runs those too), writes ``factorline/cards/<operator>.json`` and ``docs/cards.md``.
Nothing here is typed by hand but the mapping from an operator to the metric that judges it;
the known limits come from the operators' declarations.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from factorline.cards import CARDS_DIR, REGENERATE, render_markdown
from factorline.plugins import list_operators

# operator -> (label key in the real sets, metric name, the value compared, reference tools)
REAL = {
    "black_border": ("bars", "bars present", "f1", ("cropdetect",)),
    "subtitles": ("subtitles", "has_subtitles", "f1", ("full_frame_ocr",)),
    "logo": ("logo", "has_logo", "f1", ()),
    "slideshow": ("slideshow", "is_slideshow", "f1", ()),
    "speech": ("speech", "has_speech", "f1", ()),
    "shot_cuts": ("cuts", "cuts within 0.25 s", "f1", ("adaptive_detector", "content_detector")),
    "black_frames": ("black", "black time", "mean_iou", ("blackdetect",)),
}
MEASURED_ELSEWHERE = {
    "learned": "A head trained with `factorline train`: its accuracy is measured on its own held-out split "
    "and written on its model card (`factorline eval MODEL` recomputes it).",
    "text_classifier": "A text head (or the zero-shot MiniLM default): a trained head's accuracy is on its "
    "model card (`factorline eval MODEL`); the zero-shot default is not measured on labelled text.",
}


# The card of an operator that no benchmark result covers yet says so (instead of holding no number).
NOT_MEASURED = ("Not measured yet: no benchmark result covers this operator; rerun `make cards` "
                "(benchmarks/factor_accuracy.py, then this script).")


def synthetic_metric(op: str, acc: dict) -> dict | None:
    """The synthetic set's headline metric of ``op`` from factor_accuracy.json (None when it holds none)."""
    f, clips = acc["factors"], acc["clips"]

    def binary(block: dict, refs: dict | None = None, name: str = "F1") -> dict:
        return {"name": name, "clips": clips, "ours": block["ours"], "references": refs or {}, "compare": "f1"}

    if op == "black_border":
        ref = {k: v for k, v in f[op]["cropdetect"].items() if k != "note"}
        return {"name": "bar px MAE", "clips": clips, "ours": f[op]["ours"], "references": {"cropdetect": ref}, "compare": "mae_px"}
    if op == "clarity":
        return {"name": "Spearman rho with -blur", "clips": clips, "ours": f[op]["ours"],
                "references": {"blurdetect": f[op]["blurdetect"]}, "compare": "mean_rho"}
    if op == "shot_cuts":
        s = f[op]
        return binary({"ours": s["ours"]}, {"content_detector": s["content_detector"], "scdet": s["scdet"]}, "cuts within 1 s")
    if op == "subtitles":
        s = f[op]
        ours = s["ours"]["has_subtitles"] | {"char_accuracy": s["ours"]["char_accuracy"]}
        ref = s["full_frame_ocr"]["has_subtitles"] | {"char_accuracy": s["full_frame_ocr"]["char_accuracy"]}
        return binary({"ours": ours}, {"full_frame_ocr": ref}, "has_subtitles")
    if op == "black_frames":
        return binary({"ours": f[op]["ours"]}, {"blackdetect": f[op]["blackdetect"]}, "black segments")
    if op == "onscreen_text":
        s = f.get(op)
        if not s:
            return None  # a result written before the operator existed
        ours = s["ours"]["macro"] | {"per_class_f1": {c: v["f1"] for c, v in s["ours"]["per_class"].items()}}
        refs = {b: s[b]["macro"] for b in s["baselines"]}
        return {"name": "has_<class> macro P/R/F1 (title_card, lower_third, scene_text, watermark)", "clips": s["items"],
                "ours": ours, "references": refs, "compare": "f1"}
    if op in PAIR_RESULTS:
        return pairs_metric(op)
    if op == "face_match":
        return face_match_metric()
    if op in ("logo", "slideshow", "text_policy", "speech"):
        return binary({"ours": f[op]["ours"]})
    if op == "upscaled":
        return {"name": "upscale ratio within 15 %", "clips": f[op]["ours"]["clips"], "ours": f[op]["ours"], "references": {},
                "compare": "ratio_accuracy"}
    if op == "faces":
        people = f["people"]
        return {"name": "face count on the astronaut clips", "clips": len(people["faces_astronaut"]),
                "ours": {"right": sum(x["ours"] == x["truth"] for x in people["faces_astronaut"])}, "references": {}}
    if op == "nsfw":
        return {"name": "hits on a safe set", "clips": clips,
                "ours": {"false_hits": len(f["people"]["nsfw_hits_on_safe_set"])}, "references": {}}
    return None


# operators measured by a benchmark of their own (results/<name>.json): its name, what is compared
PAIR_RESULTS = {"aesthetics": ("pairwise agreement on held-out pairs (original vs degraded copy)", "agreement")}
FACE_MATCH = "face pairs built offline (held-out half; same person = transformed copies of one photo)"


def pairs_metric(op: str) -> dict | None:
    """The headline of ``results/<op>.json`` written by ``benchmarks/<op>.py`` (None before it ran)."""
    path = HERE / "results" / f"{op}.json"
    if not path.is_file():
        return None
    res = json.loads(path.read_text(encoding="utf-8"))
    name, key = PAIR_RESULTS[op]
    values = res[key]
    return {"name": name, "clips": res["pairs"], "ours": {key: values[op], **res[f"{key}_by_kind"][op]},
            "references": {b: {key: v} for b, v in values.items() if b != op}, "compare": key,
            "date": res.get("date"), "command": f".venv/bin/python benchmarks/{op}.py"}


def face_match_metric() -> dict | None:
    """The headline of ``results/face_match.json`` (benchmarks/face_match.py); None before it ran."""
    path = HERE / "results" / "face_match.json"
    if not path.is_file():
        return None
    res = json.loads(path.read_text(encoding="utf-8"))
    held = res["held_out"]
    ours = held["embeddings_default"]
    return {"name": FACE_MATCH, "clips": ours["same_pairs"] + ours["different_pairs"], "ours": ours,
            "references": {"dlib_0.6": held["embeddings_dlib_0.6"], "raw_pixels": held["pixels_calibrated"]},
            "date": res.get("date"), "command": ".venv/bin/python benchmarks/face_match.py"}


def real_metrics(op: str, real: dict) -> dict:
    if op not in REAL:
        return {}
    key, name, compare, refs = REAL[op]
    out = {}
    for set_name, res in real["results"].items():
        summary = res["factors"].get(key)
        if not summary:
            continue
        ours = summary["ours"]
        out[set_name] = {"name": name, "clips": ours.get("clips", res["clips"]), "ours": ours,
                         "references": {r: summary[r] for r in refs if r in summary}, "compare": compare}
    return out


def source(result: dict) -> dict:
    return {"date": result.get("date"), "git_commit": (result.get("versions") or {}).get("git_commit"),
            "machine": (result.get("machine") or {}).get("cpu")}


def main() -> int:
    results = HERE / "results"
    real = json.loads((results / "real_media.json").read_text(encoding="utf-8"))
    acc = json.loads((results / "factor_accuracy.json").read_text(encoding="utf-8"))
    docs = ["# Factor cards", "",
            f"Generated by `{REGENERATE}` on {time.strftime('%Y-%m-%d')} from `benchmarks/results/real_media.json` and "
            "`benchmarks/results/factor_accuracy.json`; do not edit by hand. Real sets: `shared` is the shared "
            "development set, `own-dev` / `own-holdout` the project's own real set (`benchmarks/realset`; holdout "
            "clips are never used to tune a factor). The synthetic set is `benchmarks/_accuracy_set.py` "
            "(onscreen_text's text classes: a `factorline synth` set, `benchmarks/_onscreen.py`).", ""]
    for spec in sorted(list_operators(), key=lambda s: s.name):
        card = {
            "operator": spec.id,
            "title": spec.title,
            "command": REGENERATE,
            "sources": {"real_media": source(real), "factor_accuracy": source(acc)},
            "real": real_metrics(spec.name, real),
            "synthetic": synthetic_metric(spec.name, acc),
            "worse_than_reference": [w for w in real.get("worse_than_reference", []) if w["factor"] == spec.name],
            "limits": list(spec.limits),
        }
        if spec.name in MEASURED_ELSEWHERE:
            card["measured_elsewhere"] = MEASURED_ELSEWHERE[spec.name]
        elif not card["real"] and not card["synthetic"]:
            card["not_measured"] = NOT_MEASURED
        (CARDS_DIR / f"{spec.name}.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        docs.append(render_markdown(card, spec.limits))
        print(f"card: {spec.id}")
    (ROOT / "docs" / "cards.md").write_text("\n".join(docs), encoding="utf-8")
    print(f"wrote {CARDS_DIR} and docs/cards.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
