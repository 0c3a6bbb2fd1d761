"""subtitles@5's second reading: each kept line re-read by recognition alone on its crop at full
analysis resolution (:func:`~factorline.operators.text.refine_lines`).

The rule, the box mapping, the cap and ``refine: false`` run on fakes; one test reads a small
rendered subtitle of a 1080p frame, downscaled to the analysis size, with the real PP-OCRv4.
"""

from __future__ import annotations

import numpy as np
import pytest
from needs import require
from PIL import Image
from skimage import data as skdata

from factorline.contract.items import FrameBatch, MediaInfo
from factorline.engine.pool import GLOBAL_POOL
from factorline.operators._ocr import OcrBox, Recognition
from factorline.operators.text import (
    MAX_REFINE_LINES,
    REC_HEIGHT,
    REFINE_PAD,
    FrameText,
    Line,
    SubtitlesParams,
    accept_rereading,
    frame_reading,
    refine_lines,
    reread,
    row_crop_box,
    similarity,
    subtitle_factor,
    upscale_for_rec,
)
from factorline.plugins import get_operator
from factorline.samples import transforms as tf
from factorline.samples.sources import CJK_FONTS, find_font

# ------------------------------------------------------------------ the rule (pure)


def test_second_reading_replaces_the_first_only_when_confident_complete_and_a_correction():
    # a fix that scores at least as high as the first reading (and min_score) replaces it
    assert accept_rereading("The forest wakes up slowIy.", 0.80, "The forest wakes up slowly.", 0.80, 0.6)
    assert accept_rereading("我的辣妹天亮前就走了", 0.85, "我的妹妹天亮前就走了。", 0.97, 0.6)
    # a less confident one does not, nor one under min_score even if higher than the first
    assert not accept_rereading("slowIy", 0.90, "slowly", 0.89, 0.6)
    assert not accept_rereading("slowIy", 0.40, "slowly", 0.55, 0.6)
    # nor one that drops a letter or digit (OCR drops more often than it invents)
    assert not accept_rereading("will call you", 0.90, "wll call you", 0.95, 0.6)
    # nor another text (the crop caught something else), nor an empty or punctuation-only reading
    assert not accept_rereading("The forest", 0.70, "Exit 12 North", 0.99, 0.6)
    assert not accept_rereading("slowly", 0.70, "...", 0.99, 0.6)
    assert not accept_rereading("slowly", 0.70, "", 0.99, 0.6)


# ------------------------------------------------------------------ crop and upscale


def test_row_box_in_source_px_maps_to_a_padded_analysis_crop_clipped_to_the_frame():
    # a 1920x1080 source analysed at 1280x720 (scale 1.5); a row 30 px high at (600, 900) in source px
    x0, y0, x1, y1 = row_crop_box([600, 900, 720, 30], 1.5, 1280, 720)
    pad = max(2.0, REFINE_PAD * 20)  # 20 analysis px high
    assert (x0, y0, x1, y1) == (int(np.floor(400 - pad)), int(np.floor(600 - pad)), int(np.ceil(880 + pad)),
                                int(np.ceil(620 + pad)))
    # a row at the frame's edge is clipped to it
    assert row_crop_box([0, 1060, 1920, 20], 1.5, 1280, 720) == (0, int(np.floor(1060 / 1.5 - 2)), 1280, 720)


def test_crop_is_upscaled_cubic_to_the_recogniser_height_never_more_than_4x_nor_down():
    low = np.zeros((16, 100, 3), np.uint8)
    assert upscale_for_rec(low).shape == (REC_HEIGHT, 300, 3)  # 3x
    assert upscale_for_rec(np.zeros((6, 50, 3), np.uint8)).shape == (24, 200, 3)  # capped at 4x
    tall = np.zeros((60, 300, 3), np.uint8)
    assert upscale_for_rec(tall).shape == tall.shape  # never downscaled


# ------------------------------------------------------------------ re-reading with fakes


class FakeOcr:
    """An OCR engine that reads fixed boxes and answers ``recognize`` from a list (in call order),
    recording the crops it was given."""

    def __init__(self, boxes=(), answers=()):
        self.boxes, self.answers, self.crops = list(boxes), list(answers), []

    def __call__(self, rgb):
        return list(self.boxes)

    def recognize(self, rgb):
        self.crops.append(rgb.shape)
        return self.answers[len(self.crops) - 1] if len(self.crops) <= len(self.answers) else Recognition("", 0.0)


def _frames(n=1, size=(1280, 720), scale=1.5) -> FrameBatch:
    w, h = size
    return FrameBatch(np.zeros((n, h, w, 3), np.uint8), np.arange(n, dtype=np.float64),
                      round(w * scale), round(h * scale), scale)


def test_frame_reading_keeps_each_rows_box_and_score():
    boxes = [OcrBox(100, 10, 300, 40, "First", 0.9), OcrBox(320, 12, 400, 40, "row", 0.7),
             OcrBox(120, 50, 380, 80, "second row", 1.0)]
    found = frame_reading(boxes, min_score=0.5, min_chars=2)
    assert found.row_texts == ("First row", "second row")
    assert found.row_boxes == ((100, 10, 400, 40), (120, 50, 380, 80))
    assert found.row_scores == pytest.approx((np.average([0.9, 0.7], weights=[5, 3]), 1.0))


def test_two_row_caption_is_re_read_row_by_row_and_only_the_confident_row_changes():
    # a two-row caption whose first row was misread; the recogniser reads each row's crop
    first = FrameText("Tbe forest wakes up A big rabbit", 0.8, [300, 900, 1200, 100], 2, 0.8,
                      ("Tbe forest wakes up", "A big rabbit"), ((300, 900, 1200, 40), (450, 960, 900, 40)), (0.75, 0.9))
    fake = FakeOcr(answers=[Recognition("The forest wakes up", 0.95), Recognition("A big rabbir", 0.85)])
    second = reread(first, np.zeros((720, 1280, 3), np.uint8), 1.5, fake.recognize, 0.6)
    # then one crop per row, each 40 / 1.5 px high plus padding, upscaled to the recogniser's height
    assert len(fake.crops) == 2 and all(shape[0] >= REC_HEIGHT for shape in fake.crops)
    # and only the row whose second reading scores at least as high as its first changed
    assert second.row_texts == ("The forest wakes up", "A big rabbit")
    assert second.text == "The forest wakes up A big rabbit" and second.row_scores == (0.95, 0.9)
    # (the evidence and the two lines of the caption follow)
    out = subtitle_factor([second, None], [0.0, 1.0], 0.7)
    assert [ln["text"] for ln in out["lines"]] == ["The forest wakes up", "A big rabbit"]


def test_several_rows_without_row_boxes_are_not_re_read_but_one_row_uses_the_line_box():
    fake = FakeOcr(answers=[Recognition("The forest", 0.99)] * 3)
    image = np.zeros((720, 1280, 3), np.uint8)
    two = FrameText("Tbe forest A rabbit", 0.8, [300, 900, 1200, 100], 2, 0.8, ("Tbe forest", "A rabbit"))
    assert reread(two, image, 1.5, fake.recognize, 0.6) is None and fake.crops == []
    one = FrameText("Tbe forest", 0.8, [300, 900, 1200, 40])  # a hand-made reading: no rows at all
    assert reread(one, image, 1.5, fake.recognize, 0.6).text == "The forest"
    # a plain (text, score) pair answers as well as a Recognition
    assert reread(one, image, 1.5, lambda rgb: ("The forest", 0.99), 0.6).text == "The forest"


def test_refine_re_reads_at_most_the_cap_lowest_scored_first_and_leaves_inputs_alone():
    n = MAX_REFINE_LINES + 4
    readings = [FrameText(f"line number {i:02d}", 0.7 + i * 0.01, [300, 900, 1200, 40]) for i in range(n)]
    lines = [Line(i, i, r.text, r.score, i) for i, r in enumerate(readings)]
    fake = FakeOcr(answers=[Recognition(f"Line number {i:02d}", 0.99) for i in range(n)])
    out_lines, out_readings = refine_lines(lines, readings, _frames(n), fake, min_score=0.6)
    assert len(fake.crops) == MAX_REFINE_LINES
    changed = [i for i in range(n) if out_lines[i].text != lines[i].text]
    assert changed == list(range(MAX_REFINE_LINES))  # the lowest-scored 16
    assert out_readings[0].text == out_lines[0].text == "Line number 00"
    assert readings[0].text == "line number 00" and lines[0].text == "line number 00"  # inputs unchanged
    # an engine without recognize (a plain callable) re-reads nothing
    assert refine_lines(lines, readings, _frames(n), lambda rgb: [], min_score=0.6) == (lines, readings)
    assert refine_lines(lines, readings, _frames(n), fake, min_score=0.6, max_lines=0) == (lines, readings)


def _run(frames: FrameBatch, ocr, **params) -> dict:
    spec = get_operator("subtitles@5")
    item = MediaInfo(id="sha256:" + "0" * 64, path="x.mp4", kind="video", duration_s=float(len(frames)),
                     width=frames.source_width, height=frames.source_height, fps=1.0)
    out = spec.run({"frames": frames}, spec.params(**params), item=item,
                   resources={"ocr": ocr, **GLOBAL_POOL.get(("text_line_classifier",))})
    assert spec.check_output(out) == []
    return out


def test_refine_off_or_an_engine_without_recognize_gives_the_one_reading_of_version_4():
    frames = _frames(3, size=(640, 360), scale=1.0)
    frames.images[:, 300:330] = 255  # a change in the band, so each frame is read
    boxes = [OcrBox(120, 40, 520, 70, "Tbe forest wakes up slowly.", 0.8)]
    off = FakeOcr(boxes, answers=[Recognition("The forest wakes up slowly.", 0.99)])
    out_off = _run(frames, off, refine=False, classify=False)
    assert off.crops == [] and out_off["lines"][0]["text"] == "Tbe forest wakes up slowly."
    # what subtitle_factor (the pure one-reading path) gives, field for field
    params = SubtitlesParams(classify=False)
    from factorline.operators.text import read_bands

    assert out_off == subtitle_factor(read_bands(frames, off, params), frames.times, params.merge_similarity)
    plain = _run(frames, lambda rgb: list(boxes), classify=False)  # refine on, but nothing to re-read with
    assert plain == out_off
    on = FakeOcr(boxes, answers=[Recognition("The forest wakes up slowly.", 0.99)])
    out_on = _run(frames, on, classify=False)
    assert len(on.crops) == 1 and out_on["lines"][0]["text"] == "The forest wakes up slowly."
    assert out_on["evidence"][0]["text"] == "The forest wakes up slowly." and out_on["evidence"][0]["score"] == 0.99
    assert out_on["lines"][0]["score"] == out_off["lines"][0]["score"]  # a line's score: its frames' first readings


def test_recognize_reads_one_row_and_checks_its_input():
    engine = GLOBAL_POOL.get(("ocr",))["ocr"]
    found = find_font(CJK_FONTS)
    require(found is not None, "a CJK font (fonts-noto-cjk)")
    font = tf.load_font(found[0], 30, index=found[1])
    row = Image.new("RGB", (320, 48), (20, 20, 20))
    from PIL import ImageDraw

    ImageDraw.Draw(row).text((8, 6), "Hello 世界", font=font, fill=(255, 255, 255))
    got = engine.recognize(np.asarray(row))
    assert isinstance(got, Recognition) and similarity(got.text, "Hello 世界") >= 0.8 and 0.6 <= got.score <= 1
    assert engine.recognize(np.zeros((0, 10, 3), np.uint8)) == Recognition("", 0.0)
    with pytest.raises(ValueError, match="uint8 RGB"):
        engine.recognize(np.zeros((10, 10), np.uint8))


# ------------------------------------------------------------------ real OCR


def test_given_small_subtitle_of_a_1080p_frame_read_at_analysis_size_then_refine_reads_it_at_least_as_well():
    # given a subtitle whose ideographs are about 13 px high at 1080p (9 px at the 1280x720
    # analysis size, 7 px in the 960 px band the first reading sees), over a real photo (with
    # PP-OCRv4 as shipped, the first reading gives 退 for 迟; the second reads the line right)
    engine = GLOBAL_POOL.get(("ocr",))["ocr"]
    found = find_font(CJK_FONTS)
    require(found is not None, "a CJK font (fonts-noto-cjk)")
    text = "我的妹妹又迟到了。"
    font = tf.load_font(found[0], 15, index=found[1])
    source = tf.draw_subtitle(tf.cover(skdata.coffee(), (1920, 1080)), text, font, margin=0.06, stroke=2)
    small = np.asarray(Image.fromarray(source).resize((1280, 720), Image.Resampling.BOX))
    frames = FrameBatch(np.stack([small, small]), np.array([0.0, 1.0]), 1920, 1080, 1.5)
    # when read once and with the second reading
    once = _run(frames, engine, refine=False, classify=False)
    twice = _run(frames, engine, classify=False)

    def accuracy(out):
        return max((similarity(ln["text"], text) for ln in out["lines"]), default=0.0)

    # then the second reading is at least as right, and the line's times and box do not move
    assert accuracy(twice) >= accuracy(once) and accuracy(twice) >= 0.9, (once["lines"], twice["lines"])
    assert [ln["start_s"] for ln in twice["lines"]] == [ln["start_s"] for ln in once["lines"]]
    assert [e["box"] for e in twice["evidence"]] == [e["box"] for e in once["evidence"]]
