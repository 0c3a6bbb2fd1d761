"""subtitles@5's text-line classifier: features of tracked lines, the stored weights, the operator.

Features run on hand-made readings (a centred two-row subtitle that changes, a static document of
many rows, a digits-only sign); the classifier is the one stored in text_lines.json; the operator
runs the real PP-OCRv4 engine on clips rendered with the project's fonts, encoded to H.264 and
decoded back.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from needs import require
from PIL import Image, ImageDraw

from factorline.contract.errors import ResourceError
from factorline.contract.items import Limits, MediaInfo, Sampling
from factorline.engine.pool import GLOBAL_POOL
from factorline.operators.text import FrameText, subtitle_factor, track_lines
from factorline.operators.text_lines import (
    FEATURES,
    MODEL_PATH,
    LineClassifier,
    box_contrast,
    char_shares,
    line_features,
    load_classifier,
)
from factorline.plugins import get_operator
from factorline.samples import transforms as tf
from factorline.samples.sources import LATIN_FONTS, find_font

W, H = 640, 360
SUBS = ["The forest wakes up slowly.", "A big rabbit leaves his burrow.", "He stretches in the morning sun.",
        "Then he looks for breakfast."]
DOC = ["Quarterly report 2023 - internal use only", "Revenue grew in every region but one,",
       "costs fell by four percent and the margin", "improved to eleven percent overall."]


def f(name: str) -> int:
    return FEATURES.index(name)


def subtitle_readings() -> list[FrameText | None]:
    """12 frames at 1 fps: four two-row lines of 3 s, centred near the bottom."""
    out = []
    for i in range(12):
        text = SUBS[i // 3]
        out.append(FrameText(f"{text} {text[:12]}", 0.95, [170, 290, 300, 48], rows=2, contrast=0.8))
    return out


def document_readings() -> list[FrameText | None]:
    """12 frames: the same five-row block of text, left of centre, for the whole item."""
    text = " ".join(DOC)
    return [FrameText(text, 0.97, [40 + i % 2, 250, 330, 100], rows=5, contrast=0.75) for i in range(12)]


def sign_readings() -> list[FrameText | None]:
    """12 frames: a number on a sign, static for the whole item."""
    return [FrameText("3190 3490", 0.9, [420, 270, 90, 24], rows=1, contrast=0.7) for _ in range(12)]


def features(readings):
    times = np.arange(len(readings), dtype=float)
    lines = track_lines(readings)
    return lines, line_features(lines, readings, times, (W, H), float(len(readings)))


# ------------------------------------------------------------------ features


def test_given_changing_two_row_subtitle_when_featurised_then_centred_changing_lines():
    lines, x = features(subtitle_readings())
    assert x.shape == (4, len(FEATURES)) and len(lines) == 4
    row = x[0]
    assert row[f("cx_offset")] == pytest.approx(abs((170 + 150) / W - 0.5))
    assert row[f("cy")] == pytest.approx((290 + 24) / H)
    assert row[f("rows")] == 2 and row[f("row_height")] == pytest.approx(24 / H)
    assert row[f("height")] == pytest.approx(48 / H) and row[f("width")] == pytest.approx(300 / W)
    assert row[f("letters")] > 0.8 and row[f("digits")] == 0.0
    assert row[f("log_frames")] == pytest.approx(np.log1p(3)) and row[f("log_seconds")] == pytest.approx(np.log1p(3))
    assert row[f("time_share")] == pytest.approx(0.25) and row[f("whole_item")] == 0.0
    assert row[f("log_lines")] == pytest.approx(np.log1p(4)) and row[f("log_rate")] == pytest.approx(np.log1p(20))
    assert row[f("jitter")] == 0.0 and row[f("size_change")] == 0.0 and row[f("doc_share")] == 0.0
    assert row[f("contrast")] == pytest.approx(0.8) and row[f("score")] == pytest.approx(0.95)


def test_given_static_document_when_featurised_then_many_rows_whole_item_and_jitter():
    lines, x = features(document_readings())
    assert len(lines) == 1
    row = x[0]
    assert row[f("rows")] == 4 and row[f("doc_share")] == 1.0 and row[f("whole_item")] == 1.0  # 5 rows, counted up to MAX_ROWS
    assert row[f("time_share")] == 1.0 and row[f("log_lines")] == pytest.approx(np.log1p(1))
    assert row[f("jitter")] == pytest.approx(0.5 / H)  # the box moves by 1 px every other frame


def test_given_number_sign_when_featurised_then_digits_only():
    _, x = features(sign_readings())
    assert x[0, f("digits")] == 1.0 and x[0, f("letters")] == 0.0 and x[0, f("digits_only")] == 1.0
    assert char_shares("") == (0.0, 0.0) and char_shares("ab 12") == (0.5, 0.5)
    _, clock = features(clock_readings())
    assert (clock[:, f("digits_only")] == 1.0).all()  # "00:12": digits and a colon, no letter


def test_given_lettered_text_when_featurised_then_not_digits_only():
    """A sign with a digit among letters ("Route 66") or a word without digits is not digits-only."""
    _, x = features(subtitle_readings())
    assert (x[:, f("digits_only")] == 0.0).all()
    _, x = features([FrameText("Route 66", 0.95, [200, 300, 120, 20], rows=1, contrast=0.7)] * 3)
    assert x[0, f("digits")] > 0 and x[0, f("digits_only")] == 0.0


def test_box_contrast_is_luma_spread_inside_the_box():
    gray = np.full((40, 100), 128, np.uint8)
    assert box_contrast(gray, (10, 10, 50, 30)) == 0.0
    gray[10:30, 10:30] = 255
    gray[10:30, 30:50] = 0
    assert box_contrast(gray, (10, 10, 50, 30)) == pytest.approx(1.0)
    assert box_contrast(gray, (60, 30, 60, 30)) == 0.0  # empty box


# ------------------------------------------------------------------ the stored classifier


def test_stored_classifier_loads_and_records_its_training():
    model = load_classifier()
    assert model.features == FEATURES and "subtitle" in model.classes
    doc = json.loads(MODEL_PATH.read_text())
    assert doc["trained_by"] == "benchmarks/train_text_lines.py"
    assert doc["seeds"] and doc["data"]["digests"] and doc["metrics"]["heldout_lines"]["lines"]["n"] > 0
    again = LineClassifier.from_dict(model.to_dict())
    assert np.allclose(again.coef, model.coef) and again.classes == model.classes


def test_classifier_keeps_the_subtitle_and_rejects_document_and_sign():
    model = load_classifier()
    _, subs = features(subtitle_readings())
    _, doc = features(document_readings())
    _, sign = features(sign_readings())
    assert (model.subtitle_proba(subs) >= 0.5).all(), model.subtitle_proba(subs)
    assert model.subtitle_proba(doc)[0] < 0.5 and model.subtitle_proba(sign)[0] < 0.5
    assert model.label(subs)[0] == "subtitle" and model.label(doc)[0] != "subtitle"


def short_clip_number_readings() -> tuple[list[FrameText | None], np.ndarray]:
    """A 1.3-s clip sampled at 4 frames (min_frames): a calendar's number read on one of them,
    small and right of centre in the bottom band (the shared set's mobile-calendar clip)."""
    readings = [None, None, None, FrameText("25262", 0.99, [197, 224, 44, 11], rows=1, contrast=0.6)]
    return readings, np.array([0.0, 0.322, 0.644, 0.967])


def clock_readings() -> list[FrameText | None]:
    """10 frames at 1 fps: a timer at the bottom centre that changes every second, like subtitles."""
    return [FrameText(f"00:{12 + i:02d}", 0.95, [296, 300, 48, 18], rows=1, contrast=0.8) for i in range(10)]


def test_classifier_rejects_digit_only_counters_that_come_and_go_like_subtitles():
    """Trained on rendered clocks, timestamps, scores, prices and calendar rows (counter kind)."""
    model = load_classifier()
    readings, times = short_clip_number_readings()
    lines = track_lines(readings)
    brief = line_features(lines, readings, times, (352, 288), 1.3)
    _, clock = features(clock_readings())
    assert model.subtitle_proba(brief)[0] < 0.5, model.subtitle_proba(brief)
    assert (model.subtitle_proba(clock) < 0.5).all(), model.subtitle_proba(clock)


def test_given_bad_weights_when_loaded_then_resource_error():
    doc = load_classifier().to_dict()
    with pytest.raises(ResourceError, match="format must be"):
        LineClassifier.from_dict({**doc, "format": "pickle"})
    with pytest.raises(ResourceError, match="retrain"):
        LineClassifier.from_dict({**doc, "features": doc["features"][:-1]})
    with pytest.raises(ResourceError, match="no 'subtitle' class"):
        LineClassifier.from_dict({**doc, "classes": ["a"] * len(doc["classes"])})
    with pytest.raises(ResourceError, match="shapes"):
        LineClassifier.from_dict({**doc, "intercept": [0.0]})
    with pytest.raises(ResourceError, match="cannot read"):
        load_classifier("/nonexistent/text_lines.json")


def test_given_classifier_when_factor_built_then_document_left_out_and_counted():
    model = load_classifier()
    readings = document_readings()
    times = np.arange(12, dtype=float)
    out = subtitle_factor(readings, times, 0.7, classifier=model, size=(W, H), duration_s=12.0)
    doc_p = model.subtitle_proba(line_features(track_lines(readings, min_similarity=0.7), readings, times, (W, H), 12.0))
    assert out == {"has_subtitles": False, "coverage": 0.0, "text": "", "lines": [], "scripts": [], "rejected": 1,
                   "confidence": round(float(doc_p.max()), 4), "evidence": []}
    assert out["confidence"] < 0.5  # the document's own probability: it was read, and rejected
    kept = subtitle_factor(subtitle_readings(), times, 0.7, classifier=model, size=(W, H), duration_s=12.0)
    assert kept["has_subtitles"] and len(kept["lines"]) == 4 and kept["rejected"] == 0 and kept["coverage"] == 1.0
    assert kept["confidence"] >= 0.5
    with pytest.raises(ValueError, match="frame size"):
        subtitle_factor(readings, times, 0.7, classifier=model)


# ------------------------------------------------------------------ the operator on encoded clips


@pytest.fixture(scope="module")
def engine():
    return GLOBAL_POOL.get(("ocr",))["ocr"]


def _font(size: int):
    found = find_font(LATIN_FONTS)
    require(found is not None, "a font (fonts-dejavu-core)")
    return tf.load_font(found[0], size, index=found[1])


def _clip(tmp_path, name, frames):
    from factorline.media import decode_frames, probe
    from factorline.media.encode import write_video

    video = write_video(tmp_path / name, frames, fps=4)
    info = probe(video)
    return info, decode_frames(video, info, Sampling(fps=1), Limits())


def _run(info, frames, ocr, **params) -> dict:
    spec = get_operator("subtitles@5")
    item = MediaInfo(id="sha256:" + "1" * 64, path=str(info.path) if hasattr(info, "path") else "x.mp4", kind="video",
                     duration_s=info.duration_s, width=frames.source_width, height=frames.source_height, fps=4.0)
    out = spec.run({"frames": frames}, spec.params(**params), item=item, resources={"ocr": ocr, **GLOBAL_POOL.get(("text_line_classifier",))})
    assert spec.check_output(out) == []
    return out


def _backgrounds(n: int) -> list[np.ndarray]:
    from skimage import data as skdata

    rng = np.random.default_rng(3)
    base = tf.cover(skdata.astronaut(), (W, H))
    return [np.clip(base + rng.normal(0, 2, base.shape), 0, 255).astype(np.uint8) for _ in range(n)]


def test_given_encoded_clip_with_changing_subtitles_when_run_then_lines_kept(tmp_path, engine):
    # given 12 s at 4 fps with a new subtitle every 3 s, encoded and sampled back at 1 fps
    font = _font(24)
    frames = [tf.draw_subtitle(bg, SUBS[i // 12], font) for i, bg in enumerate(_backgrounds(48))]
    info, decoded = _clip(tmp_path, "subs.mp4", frames)
    # when subtitles@5 runs with its classifier (the default)
    out = _run(info, decoded, engine)
    # then the subtitles are kept
    assert out["has_subtitles"] and out["rejected"] == 0, out
    assert len(out["lines"]) == 4 and out["coverage"] >= 0.9


def test_given_encoded_clip_with_static_document_when_run_then_dropped_but_read_without_classifier(tmp_path, engine):
    # given 12 s of a five-row document panel low in the frame, still for the whole clip
    font = _font(14)
    panel = Image.new("RGB", (380, 96), (245, 245, 240))
    draw = ImageDraw.Draw(panel)
    for k, row in enumerate(DOC + ["Table 3 shows the details per quarter."]):
        draw.text((8, 4 + k * 15), row, fill=(20, 20, 20), font=font)
    frames = []
    for bg in _backgrounds(48):
        image = Image.fromarray(bg)
        image.paste(panel, (30, 256))
        frames.append(np.asarray(image))
    info, decoded = _clip(tmp_path, "doc.mp4", frames)
    # when subtitles@5 runs: the document is read but rejected
    out = _run(info, decoded, engine)
    assert not out["has_subtitles"] and out["rejected"] >= 1 and out["lines"] == [] and out["coverage"] == 0.0, out
    # and with classify off it is called a subtitle, as version 1 did
    legacy = _run(info, decoded, engine, classify=False)
    assert legacy["has_subtitles"] and legacy["rejected"] == 0


def test_features_are_bounded_so_a_page_of_text_cannot_extrapolate_into_a_subtitle():
    from factorline.operators.text_lines import MAX_ROWS, RATE_MIN_S, Z_CLIP, LineClassifier

    model = load_classifier()
    assert model.meta["z_clip"] == Z_CLIP
    # a feature far outside the training range moves the probabilities no further than the clip
    x = np.tile(model.mean, (3, 1))
    rows = FEATURES.index("rows")
    x[1, rows] = model.mean[rows] + Z_CLIP * model.scale[rows]
    x[2, rows] = model.mean[rows] + 50 * model.scale[rows]
    p = model.proba(x)
    assert np.allclose(p[1], p[2]) and not np.allclose(p[0], p[1])
    unclipped = LineClassifier(model.features, model.classes, model.mean, model.scale, model.coef, model.intercept, {})
    assert not np.allclose(unclipped.proba(x)[1], unclipped.proba(x)[2])
    # 11 stacked rows count as MAX_ROWS; 3 lines in a 2-s item are not 90 lines a minute
    page = FrameText("a" * 300, 0.95, (10, 500, 900, 250), 11, 0.6)
    lines = track_lines([page, page])
    feats = line_features(lines, [page, page], [0.0, 1.0], (1024, 768), duration_s=2.0)
    assert feats[0, rows] == MAX_ROWS
    assert feats[0, FEATURES.index("log_rate")] == pytest.approx(np.log1p(60.0 / RATE_MIN_S))
