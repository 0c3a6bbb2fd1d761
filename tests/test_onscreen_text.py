"""onscreen_text@2: every text on screen, each line classed by the text-line classifier.

Pure parts (blocks of one frame, places over time, the factor from readings, the benchmark's
scoring) run on hand-made boxes and readings; the operator runs the real PP-OCRv4 engine on
frames with a translucent watermark and changing subtitles rendered with Pillow over a photo.
The README's rule example is compiled and decided by both evaluators.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
import yaml
from needs import require
from PIL import Image, ImageDraw
from pydantic import ValidationError
from skimage import data as skdata
from test_op_subtitles import Counting

from factorline.contract.errors import ResourceError
from factorline.contract.items import FrameBatch, MediaInfo
from factorline.contract.kinds import arrow_type, value_fits
from factorline.engine.compiler import compile_pipeline
from factorline.engine.pool import GLOBAL_POOL
from factorline.operators._ocr import OcrBox
from factorline.operators.onscreen import (
    CLASSES,
    OnscreenTextParams,
    assign_places,
    check_classes,
    onscreen_factor,
    place_overlap,
    text_blocks,
)
from factorline.operators.text import FrameText, SubtitlesParams, similarity
from factorline.operators.text_lines import FEATURES, load_classifier
from factorline.plugins import get_operator
from factorline.samples import transforms as tf
from factorline.samples.sources import LATIN_FONTS, find_font

ROOT = Path(__file__).resolve().parent.parent
W, H = 640, 360
SUBS = ["The forest wakes up slowly.", "A big rabbit leaves his burrow.", "He stretches in the morning sun.",
        "Then he looks for breakfast."]
MARK = "www.example.com"


def box(x0, y0, x1, y1, text, score=0.95) -> OcrBox:
    return OcrBox(float(x0), float(y0), float(x1), float(y1), text, score)


def texts(blocks) -> list[str]:
    return [" ".join(b.text for b in sorted(block, key=lambda b: (b.y0, b.x0))) for block in blocks]


def watermark_and_subtitles(n: int = 8) -> list[list[FrameText]]:
    """n frames at 1 fps: a small watermark in the top-right corner throughout, and a centred
    subtitle near the bottom that changes every 2 frames."""
    return [[FrameText(MARK, 0.95, [414, 17, 214, 21], 1, 0.35),
             FrameText(SUBS[(i // 2) % 4], 0.98, [120, 302, 400, 30], 1, 0.95)] for i in range(n)]


class ByHeight:
    """A stand-in classifier: watermark near the top, subtitle near the bottom, an unsure
    title_card (0.3) in between; classes in another order than the operator's."""

    classes = ("other", "watermark", "subtitle", "title_card", "lower_third", "scene_text")

    def proba(self, x):
        out = np.zeros((len(x), len(self.classes)))
        for row, cy in zip(out, x[:, FEATURES.index("cy")]):
            if cy < 0.2:
                row[:] = [0.02, 0.9, 0.02, 0.02, 0.02, 0.02]
            elif cy > 0.75:
                row[:] = [0.04, 0.04, 0.8, 0.04, 0.04, 0.04]
            else:
                row[:] = [0.14, 0.14, 0.14, 0.3, 0.14, 0.14]
        return out


# ------------------------------------------------------------------ blocks of one frame


def test_given_stacked_rows_and_far_boxes_when_blocked_then_one_block_per_text():
    boxes = [
        box(200, 140, 440, 190, "The Last Harbour"),          # a two-row title, centred
        box(250, 196, 390, 216, "a film by Lena Park"),
        box(500, 10, 630, 30, "www.example.com"),            # a watermark in the corner
        box(120, 300, 380, 330, "The forest wakes"),         # a subtitle row ...
        box(388, 300, 520, 330, "up slowly."),               # ... in two boxes with a word gap
        box(600, 305, 636, 325, "HD"),                        # same row, far to the right: apart
        box(10, 200, 60, 215, "x", score=0.3),               # a weak box is still a box here
    ]
    blocks = text_blocks(boxes)
    assert texts(blocks) == ["www.example.com", "The Last Harbour a film by Lena Park", "x",
                             "The forest wakes up slowly.", "HD"]
    assert text_blocks([]) == []


def test_given_rows_far_apart_vertically_or_side_by_side_then_separate_blocks():
    title = box(200, 100, 440, 140, "TITLE")
    below_far = box(200, 190, 440, 220, "far below")   # gap 50 > one row height (40)
    beside = box(460, 100, 600, 140, "beside")          # same row, gap 20 < 2 heights: one row segment
    assert texts(text_blocks([title, below_far])) == ["TITLE", "far below"]
    assert texts(text_blocks([title, beside])) == ["TITLE beside"]


# ------------------------------------------------------------------ places over time


def test_place_overlap_is_shared_share_along_both_axes():
    assert place_overlap([0, 0, 100, 20], [0, 0, 100, 20]) == 1.0
    assert place_overlap([0, 0, 100, 20], [25, 0, 50, 20]) == 1.0  # a narrower line inside a wider one
    assert place_overlap([0, 0, 100, 20], [50, 10, 100, 20]) == pytest.approx(0.25)
    assert place_overlap([0, 0, 100, 20], [200, 0, 50, 20]) == 0.0


def test_given_changing_subtitle_and_fixed_watermark_when_placed_then_two_places_with_gaps():
    frames = watermark_and_subtitles(4)
    frames[1] = frames[1][:1]  # the subtitle is gone in frame 1
    late = FrameText("EXIT", 0.9, [300, 150, 60, 30], 1, 0.8)
    frames[3] = [*frames[3], late]  # a sign appears in frame 3
    wide = FrameText("A much longer subtitle line than before", 0.9, [60, 300, 520, 34], 1, 0.9)
    frames[2] = [frames[2][0], wide]  # the subtitle box grows: same place
    places = assign_places(frames)
    assert [[r.text if r else None for r in p] for p in places] == [
        [SUBS[0], None, wide.text, SUBS[1]],
        [MARK, MARK, MARK, MARK],
        [None, None, None, "EXIT"],
    ]
    assert assign_places([[], []]) == []


# ------------------------------------------------------------------ the factor


def test_given_readings_and_classifier_when_factor_built_then_fields_by_class_and_evidence():
    frames = watermark_and_subtitles(8)
    frames[3] = [*frames[3], FrameText("Chapter One", 0.9, [250, 150, 140, 40], 1, 0.8)]
    out = onscreen_factor(frames, np.arange(8.0), ByHeight(), size=(W, H), duration_s=8.0)
    assert get_operator("onscreen_text").check_output(out) == []
    assert out["has_text"] and out["has_watermark"] and out["watermark_text"] == MARK
    assert out["subtitle_lines"] == 4
    # the unsure title card (0.3 < min_confidence 0.4) is listed but counts for no field
    assert not out["has_title_card"] and out["title_text"] == ""
    assert not out["has_lower_third"] and not out["has_scene_text"] and out["scene_text"] == ""
    assert [(ln["label"], ln["text"], ln["start_s"], ln["end_s"]) for ln in out["lines"]] == [
        ("watermark", MARK, 0.0, 8.0),
        ("subtitle", SUBS[0], 0.0, 2.0),
        ("subtitle", SUBS[1], 2.0, 4.0),
        ("title_card", "Chapter One", 3.0, 4.0),
        ("subtitle", SUBS[2], 4.0, 6.0),
        ("subtitle", SUBS[3], 6.0, 8.0),
    ]
    assert out["lines"][0] == {"start_s": 0.0, "end_s": 8.0, "text": MARK, "label": "watermark", "confidence": 0.9,
                               "box": [414, 17, 214, 21]}
    assert out["evidence"][3] == {"t": 3.0, "box": [250, 150, 140, 40], "text": "title_card: Chapter One", "score": 0.3}
    counted = onscreen_factor(frames, np.arange(8.0), ByHeight(), size=(W, H), min_confidence=0.0)
    assert counted["has_title_card"] and counted["title_text"] == "Chapter One"


def test_given_no_text_then_empty_factor():
    out = onscreen_factor([[], [], []], np.arange(3.0), ByHeight(), size=(W, H))
    assert out == {"has_text": False, "lines": [], "has_title_card": False, "has_lower_third": False,
                   "has_scene_text": False, "has_watermark": False, "title_text": "", "lower_third_text": "",
                   "scene_text": "", "watermark_text": "", "subtitle_lines": 0, "evidence": []}


def test_stored_classifier_classes_hand_made_lines():
    model = load_classifier()
    assert check_classes(model) == [model.classes.index(c) for c in CLASSES]
    mixed = onscreen_factor(watermark_and_subtitles(8), np.arange(8.0), model, size=(W, H), duration_s=8.0)
    assert [ln["label"] for ln in mixed["lines"]] == ["watermark"] + ["subtitle"] * 4
    assert all(ln["confidence"] > 0.8 for ln in mixed["lines"])
    title = [[FrameText("The Last Harbour", 0.97, [170, 150, 300, 50], 1, 0.9)] if 1 <= i <= 5 else [] for i in range(8)]
    lower = [[FrameText("Marco Rossi Mayor of Riverside", 0.97, [38, 289, 198, 65], 2, 0.8)] if 1 <= i <= 5 else []
             for i in range(8)]
    out_title = onscreen_factor(title, np.arange(8.0), model, size=(W, H), duration_s=8.0)
    out_lower = onscreen_factor(lower, np.arange(8.0), model, size=(W, H), duration_s=8.0)
    assert out_title["title_text"] == "The Last Harbour" and not out_title["has_lower_third"]
    assert out_lower["lower_third_text"] == "Marco Rossi Mayor of Riverside" and not out_lower["has_title_card"]


def test_given_classifier_without_a_class_then_resource_error():
    class Partial(ByHeight):
        classes = ("subtitle", "title_card", "lower_third", "scene_text", "other")

    with pytest.raises(ResourceError, match=r"no class 'watermark'.*retrain with benchmarks/train_text_lines.py"):
        onscreen_factor(watermark_and_subtitles(2), np.arange(2.0), Partial(), size=(W, H))


# ------------------------------------------------------------------ declaration, params, dtype, rules


def test_operator_is_declared_with_its_fields_limits_and_resource():
    spec = get_operator("onscreen_text@2")
    assert spec.group == "text" and spec.resources == ("ocr", "text_line_classifier") and len(spec.limits) >= 4
    assert list(spec.fields) == ["has_text", "lines", "has_title_card", "has_lower_third", "has_scene_text",
                                 "has_watermark", "title_text", "lower_third_text", "scene_text", "watermark_text",
                                 "subtitle_lines"]
    assert spec.fields["lines"].dtype == "labeled_lines" and spec.fields["watermark_text"].dtype == "str"
    schema = json.loads(json.dumps(spec.schema()))
    assert schema["params"]["properties"]["max_width"]["default"] == 960 and "band" not in schema["params"]["properties"]
    assert OnscreenTextParams().band == 1.0  # read_bands reads the whole frame


@pytest.mark.parametrize(
    "params, match",
    [({"min_confidence": 1.5}, "less than or equal to 1"), ({"min_confidence": -0.1}, "greater than or equal to 0"),
     ({"max_width": 10}, "greater than or equal to 160"), ({"band": 0.3}, "Extra inputs are not permitted")],
)
def test_given_bad_params_then_validation_error(params, match):
    with pytest.raises(ValidationError, match=match):
        OnscreenTextParams(**params)


def test_reading_params_are_the_subtitle_operators_own():
    ours, subs = OnscreenTextParams.model_json_schema()["properties"], SubtitlesParams.model_json_schema()["properties"]
    shared = ["min_score", "max_width", "change_threshold", "min_chars", "merge_similarity"]
    assert [k for k in ours if k in subs] == shared and all(ours[k] == subs[k] for k in shared)


def test_labeled_lines_fit_their_dtype_and_arrow_type():
    line = {"start_s": 0.0, "end_s": 2.0, "text": MARK, "label": "watermark", "confidence": 0.9, "box": [1, 2, 3, 4]}
    assert value_fits("labeled_lines", [line]) and not value_fits("labeled_lines", [{**line, "class": "x"}])
    stored = pa.array([[line]], type=arrow_type("labeled_lines")).to_pylist()[0][0]
    assert stored == {**line, "box": [1.0, 2.0, 3.0, 4.0]}


def readme_pipeline() -> dict:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(name: text_audit\n.*?)```", readme, re.DOTALL)
    assert block, "the README's onscreen_text rule example is gone"
    return yaml.safe_load(block.group(1))


def test_readme_rule_reads_watermark_text_and_line_labels_in_both_evaluators():
    plan = compile_pipeline(readme_pipeline())
    lines = [{"start_s": 0.0, "end_s": 3.0, "text": "Chapter One", "label": "title_card", "confidence": 0.9,
              "box": [1, 2, 3, 4]}] * 2
    items = [
        {"text": {"watermark_text": "www.example.com", "lines": []}},
        {"text": {"watermark_text": "© 2024 @northwind", "lines": []}},
        {"text": {"watermark_text": "", "lines": lines}},
        {"text": {"watermark_text": "", "lines": lines[:1]}},
    ]
    expected = [("review", "foreign_watermark"), ("review", "foreign_watermark"), ("titled", "titled"), ("accept", "ok")]
    assert [(d["outcome"], d["rule"]) for d in (plan.decisions.decide(f)["branding"] for f in items)] == expected
    frame = pl.DataFrame({"text.watermark_text": [f["text"]["watermark_text"] for f in items],
                          "text.lines": [f["text"]["lines"] for f in items]})
    decided = plan.decisions.decide_frame(frame)
    assert list(zip(decided["branding.outcome"], decided["branding.rule"])) == expected


# ------------------------------------------------------------------ the operator on rendered frames


def rendered_frames() -> FrameBatch:
    """8 frames at 1 fps over a photo: a 50 % translucent watermark top right, a subtitle that
    changes every 2 frames."""
    found = find_font(LATIN_FONTS)
    require(found is not None, "a Latin font (fonts-dejavu-core)")
    sub_font, mark_font = tf.load_font(found[0], 24, index=found[1]), tf.load_font(found[0], 20, index=found[1])
    base = tf.cover(skdata.coffee(), (W, H))
    images = []
    for i in range(8):
        frame = Image.fromarray(tf.draw_subtitle(base, SUBS[i // 2], sub_font)).convert("RGBA")
        layer = Image.new("RGBA", frame.size, (0, 0, 0, 0))
        ImageDraw.Draw(layer).text((W - 14, 14), MARK, font=mark_font, fill=(255, 255, 255, 128), anchor="ra",
                                   stroke_width=1, stroke_fill=(0, 0, 0, 128))
        images.append(np.asarray(Image.alpha_composite(frame, layer).convert("RGB")))
    return FrameBatch(np.stack(images), np.arange(8, dtype=float), W, H, 1.0)


def test_given_a_long_changing_item_then_whole_frame_ocr_reads_at_most_max_ocr_frames_spread_over_it():
    """A text-dense screen costs seconds of OCR per frame: a 40-frame item that changes on every
    frame gets max_ocr_frames reads, evenly spread, and the other frames repeat the last one."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 90, 160, 3), dtype=np.uint8)  # every frame differs
    frames = FrameBatch(images, np.arange(40, dtype=float), 160, 90, 1.0)
    seen: list[int] = []

    def engine(rgb):
        seen.append(int(np.flatnonzero((images[:, : rgb.shape[0], : rgb.shape[1]] == rgb).all(axis=(1, 2, 3)))[0]))
        return []

    spec = get_operator("onscreen_text")
    item = MediaInfo(id="sha256:" + "2" * 64, path="x.mp4", kind="video", duration_s=40.0, width=160, height=90, fps=1.0)
    resources = {"ocr": engine, **GLOBAL_POOL.get(("text_line_classifier",))}
    out = spec.run({"frames": frames}, spec.params(max_ocr_frames=5), item=item, resources=resources)
    assert not out["has_text"] and seen == [0, 10, 20, 29, 39]
    seen.clear()
    spec.run({"frames": frames}, spec.params(), item=item, resources=resources)
    assert len(seen) == 16 and seen[0] == 0 and seen[-1] == 39  # the default budget


def test_given_rendered_watermark_and_subtitles_when_run_with_real_ocr_then_classed_and_ruled():
    spec = get_operator("onscreen_text")
    ocr = Counting(GLOBAL_POOL.get(("ocr",))["ocr"])
    item = MediaInfo(id="sha256:" + "0" * 64, path="x.mp4", kind="video", duration_s=8.0, width=W, height=H, fps=1.0)
    out = spec.run({"frames": rendered_frames()}, spec.params(), item=item, resources={"ocr": ocr, **GLOBAL_POOL.get(("text_line_classifier",))})
    assert spec.check_output(out) == []
    assert ocr.calls == 4  # the picture changes only when the subtitle does
    assert out["has_watermark"] and similarity(out["watermark_text"], MARK) >= 0.9, out["lines"]
    assert out["subtitle_lines"] == 4 and not out["has_title_card"] and not out["has_lower_third"]
    mark = next(ln for ln in out["lines"] if ln["label"] == "watermark")
    x, y, w, _ = mark["box"]
    assert x > W / 2 and y < 40 and x + w <= W and (mark["start_s"], mark["end_s"]) == (0.0, 8.0)
    subs = [ln for ln in out["lines"] if ln["label"] == "subtitle"]
    assert [similarity(ln["text"], s) >= 0.9 for ln, s in zip(subs, SUBS)] == [True] * 4
    decided = compile_pipeline(readme_pipeline()).decisions.decide({"text": out})["branding"]
    assert (decided["outcome"], decided["rule"]) == ("review", "foreign_watermark")


# ------------------------------------------------------------------ the benchmark's scoring


def _onscreen_bench():
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))  # _onscreen imports _metrics beside it
    return importlib.import_module("_onscreen")


def test_benchmark_scores_each_class_against_truth_next_to_both_baselines():
    bench = _onscreen_bench()
    assert bench.layout_label([500, 10, 120, 20], (W, H)) == "watermark"
    assert bench.layout_label([170, 150, 300, 50], (W, H)) == "title_card"
    assert bench.layout_label([30, 280, 200, 60], (W, H)) == "lower_third"
    assert bench.layout_label([120, 300, 400, 30], (W, H)) == "subtitle"

    def factor(*lines):
        out = {"has_text": bool(lines), "lines": [{"label": c, "confidence": 0.9, "text": t, "box": b} for c, t, b in lines]}
        return out | {f"has_{c}": any(ln["label"] == c for ln in out["lines"]) for c in bench.CLASSES}

    items = [
        {"id": "a", "kind": "watermark", "size": [W, H], "truth": [{"class": "watermark", "text": MARK}],
         "factor": factor(("watermark", MARK, [500, 10, 120, 20]))},
        {"id": "b", "kind": "title_card", "size": [W, H], "truth": [{"class": "title_card", "text": "T"}],
         "factor": factor(("scene_text", "T", [170, 150, 300, 50]))},          # ours wrong, the rule right
        {"id": "c", "kind": "subtitles", "size": [W, H], "truth": [{"class": "subtitle", "text": "S"}],
         "factor": factor(("subtitle", "S", [120, 300, 400, 30]))},
        {"id": "d", "kind": "watermark", "size": [W, H], "truth": [{"class": "watermark", "text": "x"}],
         "factor": factor(), "ms": 400.0, "frames": 4},                        # nothing read
    ]
    scored = bench.score_onscreen(items)
    ours, any_text, rule = (scored[m]["per_class"] for m in ("ours", "any_text", "layout_rule"))
    assert (ours["watermark"]["tp"], ours["watermark"]["fn"], ours["watermark"]["fp"]) == (1, 1, 0)
    assert (ours["title_card"]["fn"], ours["scene_text"]["fp"]) == (1, 1)
    assert (rule["title_card"]["tp"], rule["scene_text"]["fp"]) == (1, 0)
    assert any_text["watermark"] == {"precision": 0.3333, "recall": 0.5, "f1": 0.4, "tp": 1, "fp": 2, "fn": 1}
    assert scored["items"] == 4 and scored["ms_per_frame"] == 100.0
    assert [m["id"] for m in scored["mistakes"]] == ["b", "d"]
    assert set(scored["baselines"]) == {"any_text", "layout_rule"}
    # the factor card reads this block once factor_accuracy.json holds it, and says "not measured" before
    spec = importlib.util.spec_from_file_location("cards_generator", ROOT / "benchmarks" / "cards.py")
    cards = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cards)
    metric = cards.synthetic_metric("onscreen_text", {"factors": {"onscreen_text": scored}, "clips": 51})
    assert metric["clips"] == 4 and metric["ours"]["f1"] == scored["ours"]["macro"]["f1"]
    assert metric["references"]["layout_rule"] == scored["layout_rule"]["macro"]
    assert cards.synthetic_metric("onscreen_text", {"factors": {}, "clips": 51}) is None
