"""The bundled sample set: pure transforms on synthetic arrays, then one real build checked with PyAV."""

from __future__ import annotations

import json
import time
from functools import cache
from pathlib import Path

import av
import numpy as np
import pytest
from needs import require

from factorline.contract.errors import ResourceError
from factorline.samples import build as build_mod
from factorline.samples import build_sample_set, catalog, default_sample_dir, facts, is_current, load_ground_truth
from factorline.samples import transforms as tf
from factorline.samples.audio import active_segments, place, resample
from factorline.samples.sources import LATIN_FONTS, find_font


def _rng_frame(h: int = 60, w: int = 80, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(40, 216, size=(h, w, 3), dtype=np.uint8)


def _grad_energy(images: np.ndarray) -> float:
    """Mean absolute luma gradient of one (H, W, 3) image or a stack (..., H, W, 3): detail."""
    gray = images.astype(np.float32).mean(axis=-1)
    return float(np.mean(np.abs(np.diff(gray, axis=-2))) + np.mean(np.abs(np.diff(gray, axis=-1))))


@pytest.fixture(scope="module")
def latin_font():
    found = find_font(LATIN_FONTS)
    require(found is not None, "a Latin TrueType font (fonts-dejavu-core)")
    return tf.load_font(found[0], 20, index=found[1])


# ---------------------------------------------------------------- pure transforms


def test_letterbox_and_pillarbox_bars_are_exact():
    frame = _rng_frame()
    boxed = tf.letterbox(frame, (64, 48), 6)
    assert boxed.shape == (48, 64, 3)
    assert not boxed[:6].any() and not boxed[-6:].any()
    assert boxed[6:-6].min() > 0  # content fills the rest: cover() adds no bars of its own
    pillar = tf.pillarbox(frame, (64, 48), 8, color=(10, 20, 30))
    assert (pillar[:, :8] == (10, 20, 30)).all() and (pillar[:, -8:] == (10, 20, 30)).all()
    assert pillar[:, 8:-8].min() > 30
    assert frame.shape == (60, 80, 3)  # input untouched


def test_letterbox_rejects_bars_that_leave_no_content():
    with pytest.raises(ValueError, match="leave no content"):
        tf.letterbox(_rng_frame(), (64, 48), 24)


def test_cover_fills_the_target_from_wide_and_tall_sources():
    assert tf.cover(_rng_frame(20, 200), (40, 40)).shape == (40, 40, 3)
    assert tf.cover(_rng_frame(200, 20), (40, 30)).shape == (30, 40, 3)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        tf.cover(np.zeros((4, 4), np.uint8), (2, 2))


def test_border_area_ratio_matches_bar_geometry():
    assert tf.border_area_ratio((640, 360), top=45, bottom=45) == 0.25
    assert tf.border_area_ratio((640, 360)) == 0.0
    assert facts.border((640, 360))["fill"] == "none"
    assert facts.border((640, 360), left=80, right=80)["area_ratio"] == 0.25


def test_gaussian_blur_lowers_detail_and_keeps_channels_apart():
    frame = _rng_frame()
    assert _grad_energy(tf.gaussian_blur(frame, 1.5)) < _grad_energy(frame) / 2
    assert _grad_energy(tf.gaussian_blur(frame, 4.0)) < _grad_energy(tf.gaussian_blur(frame, 1.5))
    same = tf.gaussian_blur(frame, 0)
    assert same is not frame and np.array_equal(same, frame)
    red = np.zeros((20, 20, 3), np.uint8)
    red[5:15, 5:15, 0] = 255
    assert not tf.gaussian_blur(red, 3.0)[..., 1:].any()
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        tf.gaussian_blur(frame, -1)


def test_blurred_pillarbox_keeps_content_sharp_and_sides_soft():
    frame = _rng_frame(90, 160)
    out = tf.blurred_pillarbox(frame, (160, 90), 50)
    left, right = tf.side_bars(160, 50)
    assert (left, right) == (55, 55)
    assert np.array_equal(out[:, left : left + 50], tf.cover(frame, (50, 90)))
    sides = np.concatenate([out[:, :left], out[:, -right:]], axis=1)
    assert sides.mean() > 60  # blurred, not black
    assert _grad_energy(sides) < _grad_energy(out[:, left : left + 50]) / 5
    with pytest.raises(ValueError, match="does not fit"):
        tf.side_bars(100, 120)


def test_draw_subtitle_inks_only_its_box(latin_font):
    frame = np.full((120, 320, 3), 90, np.uint8)
    out = tf.draw_subtitle(frame, "Hello world", latin_font)
    x, y, w, h = tf.subtitle_box((320, 120), "Hello world", latin_font)
    changed = np.argwhere((out != frame).any(axis=-1))
    assert len(changed) > 50
    assert changed[:, 0].min() >= y - 1 and changed[:, 0].max() <= y + h
    assert changed[:, 1].min() >= x - 1 and changed[:, 1].max() <= x + w
    assert (out[y : y + h, x : x + w] == 255).all(axis=-1).any()  # white fill
    assert (out[y : y + h, x : x + w] == 0).all(axis=-1).any()  # black outline
    assert y + h <= 120 - round(0.08 * 120)  # sits in the bottom band, above the margin
    assert (frame == 90).all()


def test_draw_subtitle_rejects_text_wider_than_the_frame(latin_font):
    with pytest.raises(ValueError, match="px wide; the frame is only 60 px"):
        tf.draw_subtitle(np.zeros((40, 60, 3), np.uint8), "far too long a line", latin_font)


def test_missing_font_gives_a_clear_error(tmp_path):
    with pytest.raises(ResourceError, match="font file not found: .*nope.ttf"):
        tf.load_font(tmp_path / "nope.ttf", 20)
    (tmp_path / "bad.ttf").write_bytes(b"not a font")
    with pytest.raises(ResourceError, match="cannot load font"):
        tf.load_font(tmp_path / "bad.ttf", 20)


def test_missing_system_fonts_fall_back_or_skip(monkeypatch):
    monkeypatch.setattr(catalog.sources, "LATIN_FONTS", ())
    monkeypatch.setattr(catalog.sources, "CJK_FONTS", ())
    materials = catalog.Materials()
    assert materials.font(20).getbbox("Hi")[2] > 0  # Pillow's bundled Latin font
    with pytest.raises(catalog.Unavailable, match="no CJK font found"):
        catalog.subtitles_zh(materials)


def test_overlay_logo_blends_inside_box_only(latin_font):
    frame = _rng_frame()
    logo = tf.make_logo((20, 12), "FL", latin_font)
    assert logo.shape == (12, 20, 4) and logo[6, 10, 3] == 255
    out = tf.overlay_logo(frame, logo, [50, 4, 20, 12], 0.5)
    mask = np.zeros(frame.shape[:2], bool)
    mask[4:16, 50:70] = True
    assert np.array_equal(out[~mask], frame[~mask])
    expected = np.rint(frame[10, 55] * 0.5 + logo[6, 5, :3] * 0.5)
    assert np.abs(out[10, 55].astype(int) - expected).max() <= 1
    assert np.array_equal(tf.overlay_logo(frame, logo, [50, 4, 20, 12], 0.0), frame)


@pytest.mark.parametrize(
    ("box", "opacity", "message"),
    [([70, 4, 20, 12], 0.5, "outside the 80x60 frame"), ([0, 0, 10, 10], 0.5, r"must be \(10, 10, 4\)"),
     ([0, 0, 20, 12], 1.5, "opacity must be in")],
)
def test_overlay_logo_rejects_bad_arguments(box, opacity, message):
    logo = np.zeros((12, 20, 4), np.uint8)
    with pytest.raises(ValueError, match=message):
        tf.overlay_logo(_rng_frame(), logo, box, opacity)


def test_audio_helpers_find_spoken_spans():
    rate = 16000
    tone = (0.5 * np.sin(np.arange(int(0.5 * rate)) * 0.2)).astype(np.float32)
    track = place(3.0, rate, [(0.5, tone), (1.1, tone), (2.2, tone)])  # 0.1 s gap is bridged
    assert active_segments(track, rate) == [{"start_s": 0.5, "end_s": 1.6}, {"start_s": 2.2, "end_s": 2.7}]
    assert active_segments(np.zeros(rate, np.float32), rate) == []
    assert len(resample(np.ones(22050, np.float32), 22050, 16000)) == 16000
    with pytest.raises(ValueError, match="overruns a 1.00 s track"):
        place(1.0, rate, [(0.8, tone)])


def test_expected_moderation_follows_the_policy():
    clean = facts.video_facts((640, 360), 5.0)
    assert facts.expected_outcomes(clean) == {"moderation": "accept"}
    framed = facts.video_facts((640, 360), 5.0, black_border=facts.border((640, 360), top=45, bottom=45))
    assert facts.expected_outcomes(framed) == {"moderation": "review"}
    assert facts.expected_outcomes(facts.video_facts((640, 360), 5.0, blur_sigma=4.0)) == {"moderation": "review"}
    assert facts.expected_outcomes(facts.video_facts((640, 360), 5.0, blur_sigma=1.5)) == {"moderation": "accept"}


def test_default_sample_dir_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("FACTORLINE_SAMPLES", raising=False)
    assert default_sample_dir() == Path("data/samples")
    monkeypatch.setenv("FACTORLINE_SAMPLES", str(tmp_path))
    assert default_sample_dir() == tmp_path


def test_load_ground_truth_explains_a_missing_set(tmp_path):
    with pytest.raises(ResourceError, match="no sample ground truth at .*build_sample_set"):
        load_ground_truth(tmp_path)
    assert not is_current(tmp_path)


# ---------------------------------------------------------------- builder logic on a tiny recipe list


def _tiny(monkeypatch, *recipes):
    monkeypatch.setattr(catalog, "RECIPES", recipes)


def _missing_tool(m):
    raise catalog.Unavailable("espeak-ng with voice 'xx' is not available")


def test_rebuild_rules_on_a_tiny_set(monkeypatch, tmp_path):
    _tiny(monkeypatch, catalog.image_clean, catalog.image_letterbox, _missing_tool)
    messages: list[str] = []
    build_sample_set(tmp_path, progress=messages.append)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["skipped"] == [{"recipe": "_missing_tool", "reason": "espeak-ng with voice 'xx' is not available"}]
    assert any("skipped _missing_tool" in m for m in messages)
    assert "_missing_tool" in (tmp_path / "README.md").read_text()
    assert [row["path"] for row in load_ground_truth(tmp_path)] == ["images/clean.jpg", "images/letterbox.png"]

    (tmp_path / "images/clean.jpg").unlink()  # a listed file went missing: not current any more
    assert not is_current(tmp_path)
    build_sample_set(tmp_path)
    assert (tmp_path / "images/clean.jpg").is_file()

    monkeypatch.setattr(build_mod, "SAMPLE_SET_VERSION", build_mod.SAMPLE_SET_VERSION + 1)
    assert not is_current(tmp_path)  # a new version rebuilds

    _tiny(monkeypatch, catalog.image_clean)
    build_sample_set(tmp_path, force=True)
    assert not (tmp_path / "images/letterbox.png").exists()  # files the old set listed are removed
    assert not list(tmp_path.glob(".building-*"))


# ---------------------------------------------------------------- the real build, checked with PyAV


VIDEO_FACTORS = {"black_border", "clarity", "subtitles", "logo", "slideshow", "speech", "shot_cuts"}


@cache
def _decode(path: str) -> tuple[np.ndarray, np.ndarray]:
    with av.open(path) as container:
        frames = list(container.decode(video=0))
    return np.stack([f.to_ndarray(format="rgb24") for f in frames]), np.array([float(f.time) for f in frames])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    dest = tmp_path_factory.mktemp("samples")
    started = time.perf_counter()
    build_sample_set(dest)
    return dest, time.perf_counter() - started


@pytest.fixture(scope="module")
def truth(built):
    return {row["path"]: row for row in load_ground_truth(built[0])}


def _frames(built, rel: str) -> tuple[np.ndarray, np.ndarray]:
    return _decode(str(built[0] / rel))



@pytest.mark.slow
def test_every_item_exists_decodes_and_matches_its_record(built, truth):
    dest, seconds = built
    assert len(truth) >= 14 and seconds < 120
    total = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    assert total < 15 * 1024**2
    for rel, row in truth.items():
        media = row["media"]
        if row["kind"] == "image":
            from PIL import Image

            with Image.open(dest / rel) as image:
                assert image.size == (media["width"], media["height"])
            assert set(row["factors"]) == {"black_border", "clarity", "subtitles", "logo"}
            continue
        frames, times = _frames(built, rel)
        assert frames.shape[1:] == (media["height"], media["width"], 3), rel
        assert len(frames) == media["frames"], rel
        assert abs(times[-1] + 1 / media["fps"] - media["duration_s"]) < 0.05, rel
        with av.open(str(dest / rel)) as container:
            assert bool(container.streams.audio) == media["has_audio"], rel
        assert VIDEO_FACTORS <= set(row["factors"]), rel
        assert row["expected"] == facts.expected_outcomes(row["factors"])


@pytest.mark.slow
def test_letterbox_and_pillarbox_bars_are_black(built, truth):
    frames, _ = _frames(built, "videos/letterbox.mp4")
    bars = truth["videos/letterbox.mp4"]["factors"]["black_border"]
    assert bars["top"] == bars["bottom"] == 45 and bars["area_ratio"] == 0.25
    assert frames[:, : bars["top"] - 2].max() < 24 and frames[:, -(bars["bottom"] - 2) :].max() < 24
    assert frames[:, bars["top"] + 2 : -bars["bottom"] - 2].mean() > 60
    frames, _ = _frames(built, "videos/pillarbox.mp4")
    assert frames[:, :, :78].max() < 24 and frames[:, :, -78:].max() < 24
    assert truth["videos/pillarbox.mp4"]["expected"]["moderation"] == "review"


@pytest.mark.slow
def test_blurred_pillarbox_sides_are_soft_but_not_black(built, truth):
    frames, _ = _frames(built, "videos/blurred_pillarbox.mp4")
    border = truth["videos/blurred_pillarbox.mp4"]["factors"]["black_border"]
    assert border["fill"] == "blurred" and border["left"] == border["right"] == 219
    left, right = border["left"], border["right"]
    sides = np.concatenate([frames[:, :, : left - 4], frames[:, :, -(right - 4) :]], axis=2)
    center = frames[:, :, left + 4 : -right - 4]
    assert sides.mean() > 40
    assert _grad_energy(sides[::10]) < _grad_energy(center[::10]) / 4


@pytest.mark.slow
def test_blur_levels_are_ordered(built, truth):
    names = ("clean", "blur_light", "blur_heavy")
    energies = [_grad_energy(_frames(built, f"videos/{n}.mp4")[0][::25]) for n in names]
    assert energies[0] > energies[1] * 1.3 > energies[2] * 1.3
    outcomes = [truth[f"videos/{n}.mp4"]["expected"]["moderation"] for n in names]
    assert outcomes == ["accept", "accept", "review"]


@pytest.mark.slow
@pytest.mark.parametrize("language", ["en", "zh"])
def test_subtitle_band_differs_from_the_clean_clip_only_while_a_line_shows(built, truth, language):
    rel = f"videos/subtitles_{language}.mp4"
    subs = truth[rel]["factors"]["subtitles"]
    assert subs["has_subtitles"] and len(subs["lines"]) == 3 and subs["language"] == language
    assert not truth["videos/clean.mp4"]["factors"]["subtitles"]["has_subtitles"]
    clean, times = _frames(built, "videos/clean.mp4")
    subbed, _ = _frames(built, rel)
    for line in subs["lines"]:
        x, y, w, h = line["box"]
        inside = np.flatnonzero((times >= line["start_s"]) & (times < line["end_s"]))
        band = lambda f, idx: f[idx, y : y + h, x : x + w].astype(np.float32)
        assert np.abs(band(subbed, inside) - band(clean, inside)).mean() > 25, line
        gap = np.flatnonzero((times >= line["end_s"]) & (times < line["end_s"] + 0.16))  # before the next line
        assert np.abs(band(subbed, gap) - band(clean, gap)).mean() < 10
    assert np.abs(subbed[:, :200].astype(np.float32) - clean[:, :200]).mean() < 3  # above the band: untouched


@pytest.mark.slow
def test_logo_sits_in_its_recorded_box(built, truth):
    box = truth["videos/logo.mp4"]["factors"]["logo"]["box"]
    x, y, w, h = box
    clean, _ = _frames(built, "videos/clean.mp4")
    logo, _ = _frames(built, "videos/logo.mp4")
    diff = np.abs(logo.astype(np.float32) - clean).mean(axis=(0, 3))
    assert diff[y + 4 : y + h - 4, x + 4 : x + w - 4].mean() > 30
    diff[y - 4 : y + h + 4, x - 4 : x + w + 4] = 0
    assert diff.mean() < 2


@pytest.mark.slow
def test_slideshow_is_static_between_its_cuts(built, truth):
    row = truth["videos/slideshow.mp4"]
    assert row["factors"]["slideshow"]["is_slideshow"] and row["factors"]["shot_cuts"]["cuts_s"] == [2.0, 4.0, 6.0]
    frames, times = _frames(built, "videos/slideshow.mp4")
    steps = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
    cut_steps = {int(round(t * 25)) - 1 for t in row["factors"]["shot_cuts"]["cuts_s"]}
    assert all(steps[i] > 20 for i in cut_steps)
    assert max(s for i, s in enumerate(steps) if i not in cut_steps) < 3


@pytest.mark.slow
def test_speech_items_have_audio_where_the_voice_is(built, truth):
    rel = "videos/speech_en.mp4"
    require(rel in truth, "espeak-ng (the sample set's speech items)")
    speech = truth[rel]["factors"]["speech"]
    assert speech["has_speech"] and len(speech["segments"]) == 2
    clean = truth["videos/clean.mp4"]["factors"]["speech"]  # the bunny's yawn: a voice, but no words
    assert not clean["has_speech"] and clean["segments"] == [{"start_s": 2.7, "end_s": 5.0}]
    from factorline.samples.sources import read_audio

    audio = read_audio(built[0] / rel)
    assert audio is not None and abs(len(audio) / 16000 - 5.0) < 0.1
    rms = lambda a, b: float(np.sqrt(np.mean(audio[int(a * 16000) : int(b * 16000)] ** 2)))
    seg = speech["segments"][0]
    assert rms(seg["start_s"], seg["end_s"]) > 4 * rms(0.0, seg["start_s"] - 0.1)
    with av.open(str(built[0] / "videos/slideshow.mp4")) as container:
        assert not container.streams.audio


@pytest.mark.slow
def test_second_call_is_a_no_op_and_force_rebuilds(built, truth):
    dest, _ = built
    files = [p for p in dest.rglob("*") if p.is_file()]
    before = {p: p.stat().st_mtime_ns for p in files}
    messages: list[str] = []
    started = time.perf_counter()
    assert build_sample_set(dest, progress=messages.append) == dest
    assert time.perf_counter() - started < 1.0
    assert {p: p.stat().st_mtime_ns for p in files} == before
    assert messages and "already built" in messages[0]
    old_truth = (dest / "ground_truth.jsonl").read_text()
    build_sample_set(dest, force=True)
    assert all(p.stat().st_mtime_ns != before[p] for p in files)
    assert (dest / "ground_truth.jsonl").read_text() == old_truth  # ground truth is reproducible
    _decode.cache_clear()
