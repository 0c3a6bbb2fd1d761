"""slideshow@2: slide decks and photo slideshows from static spans, distinct pictures and text; a calibrated confidence."""

import json

import media_fixtures as fx
import numpy as np
import pytest
import skimage.data
from pydantic import ValidationError

from factorline.contract.errors import ResourceError
from factorline.contract.items import FrameBatch, Limits, MediaInfo, Sampling
from factorline.contract.registry import known_resources, resource_fingerprint
from factorline.engine.pool import GLOBAL_POOL
from factorline.media import decode_frames, probe
from factorline.media.encode import write_video
from factorline.operators.temporal import (
    CALIBRATION_FORMAT,
    CALIBRATION_PATH,
    STILL_FACTOR,
    SlideshowCalibration,
    SlideshowParams,
    frame_ends,
    load_calibration,
    runs,
    slideshow_score,
    stillness,
    text_amount,
    thumbnails,
)
from factorline.plugins import get_operator
from factorline.samples import transforms as tf

SIZE = (320, 180)
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def photo(name: str, size=SIZE) -> np.ndarray:
    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return tf.cover(np.ascontiguousarray(img[..., :3]), size)


def run_op(images: np.ndarray, times=None, text=None, duration=None, **params) -> dict:
    spec = get_operator("slideshow")
    n, h, w = images.shape[:3]
    times = np.arange(n, dtype=float) if times is None else np.asarray(times, float)
    frames = FrameBatch(np.ascontiguousarray(images), times, w, h)
    item = MediaInfo(
        id="sha256:t",
        path="t.mp4",
        kind="video" if n > 1 else "image",
        duration_s=duration,
        width=w,
        height=h,
        fps=25.0,
    )
    inputs = {"frames": frames} if text is None else {"frames": frames, "text": text}
    out = spec.run(inputs, spec.params(**params), item=item, resources=GLOBAL_POOL.get(spec.resources))
    assert spec.check_output(out) == []
    return out


@pytest.fixture(scope="module")
def bbb() -> FrameBatch:
    """Big Buck Bunny sampled at 1 fps (6 frames, 640x360): a moving shot."""
    path = fx.bigbuckbunny_path()
    return decode_frames(path, probe(path), Sampling(fps=1.0, max_side=640), Limits())


# ------------------------------------------------------------------ pure functions


def test_runs_and_frame_ends():
    assert runs(np.array([1, 1, 0, 1, 0, 0, 1], bool)) == [(0, 1), (3, 3), (6, 6)]
    assert runs(np.zeros(0, bool)) == []
    assert frame_ends(np.array([0.0, 1.0, 2.0])).tolist() == [1.0, 2.0, 3.0]
    assert frame_ends(np.array([0.0, 1.0, 2.0]), duration=2.4).tolist() == [1.0, 2.0, 2.4]
    assert frame_ends(np.array([5.0])).tolist() == [5.0]


def test_text_amount_counts_non_space_characters_of_strings_and_lines():
    assert text_amount("Breaking news 突发新闻") == 16
    assert text_amount([{"text": "ab c", "start_s": 0, "end_s": 1}, "de"]) == 5
    assert text_amount(None) == 0 and text_amount(0.5) == 0


def test_slideshow_score_rules():
    assert slideshow_score(1.0, 4) == 1.0
    assert slideshow_score(1.0, 1) == pytest.approx(STILL_FACTOR)  # one still picture: not a slideshow
    assert slideshow_score(0.0, 0) == 0.0
    assert slideshow_score(0.0, 0, 10_000) == pytest.approx(0.3)  # text alone never reaches 0.5
    assert slideshow_score(1.0, 1, 80) == pytest.approx(0.4 + 0.3 * 0.6)


def test_given_still_runs_when_stillness_then_spans_and_distinct_pictures():
    images = np.stack([photo(n) for n in ("astronaut", "astronaut", "coffee", "coffee", "coffee")])
    still = stillness(thumbnails(images), np.arange(5.0))
    assert still.spans == [(0, 1), (2, 4)] and still.pictures == 2 and still.static_ratio == 1.0
    # a span must last min_static_s: at 1 fps two frames span 1 s
    assert stillness(thumbnails(images), np.arange(5.0), min_static_s=1.5).spans == [(2, 4)]


# ------------------------------------------------------------------ decisions


def test_given_photos_held_for_three_samples_then_slideshow_with_segments():
    # given 4 photos, 3 s each, sampled at 1 fps
    images = np.stack([photo(n) for n in PHOTOS for _ in range(3)])
    out = run_op(images, duration=12.0)
    assert out["is_slideshow"] and out["score"] == 1.0
    assert (out["pictures"], out["static_ratio"]) == (4, 1.0)
    assert out["segments"] == [{"start_s": float(a), "end_s": float(a + 3)} for a in (0, 3, 6, 9)]
    assert [e["t"] for e in out["evidence"]] == [0.0, 3.0, 6.0, 9.0]


def test_given_real_moving_clip_then_not_a_slideshow(bbb):
    out = run_op(bbb.images, bbb.times)
    assert not out["is_slideshow"] and out["score"] < 0.2 and out["segments"] == []


def test_given_moving_clip_with_lots_of_subtitle_text_then_still_not_a_slideshow(bbb):
    out = run_op(bbb.images, bbb.times, text="a long subtitle line " * 20)
    assert not out["is_slideshow"] and out["score"] == pytest.approx(0.3)


def test_given_single_still_image_then_not_a_slideshow():
    out = run_op(photo("astronaut")[None])
    assert out == {
        "is_slideshow": False,
        "score": 0.0,
        "confidence": round(load_calibration().probability(0.0, 0.0, 0), 4),
        "static_ratio": 0.0,
        "pictures": 0,
        "segments": [],
        "evidence": [],
    }


def test_given_static_video_of_one_picture_then_still_video_not_slideshow_unless_text_heavy():
    images = np.stack([photo("coffee")] * 8)
    out = run_op(images)
    assert (out["is_slideshow"], out["pictures"], out["static_ratio"]) == (False, 1, 1.0)
    assert out["score"] == pytest.approx(STILL_FACTOR)
    # a single slide full of text (a lecture slide with narration OCR'd) is slide-like
    slide = run_op(images, text="Quarterly results: revenue up 12 percent, costs down 3 percent, outlook stable")
    assert slide["is_slideshow"] and slide["score"] > 0.5


def test_given_encoded_slideshow_when_sampled_by_pipeline_then_slideshow(tmp_path):
    # given a real encoded slideshow: 4 photos, 2 s each, 25 fps, hard cuts
    frames = [photo(n, (640, 360)) for n in PHOTOS for _ in range(50)]
    path = write_video(tmp_path / "slides.mp4", frames, fps=25.0)
    batch = decode_frames(path, probe(path), Sampling(fps=1.0), Limits())
    out = run_op(batch.images, batch.times, duration=8.0)
    assert out["is_slideshow"] and out["pictures"] == 4 and out["static_ratio"] == 1.0
    assert [s["start_s"] for s in out["segments"]] == [0.0, 2.0, 4.0, 6.0]


def test_given_slides_shorter_than_two_samples_then_not_seen_as_static():
    # documented limit: each picture shown for one sample only looks like a montage
    images = np.stack([photo(n) for n in PHOTOS])
    assert not run_op(images)["is_slideshow"]


def test_given_grey_and_tiny_frames_then_handled():
    grey = run_op(np.full((5, 90, 160, 3), 128, np.uint8))
    assert (grey["is_slideshow"], grey["pictures"]) == (False, 1)
    tiny = np.zeros((6, 16, 16, 3), np.uint8)
    tiny[3:] = 200
    out = run_op(tiny)
    assert out["is_slideshow"] and out["pictures"] == 2


def test_operator_declared_serializable_and_deterministic():
    spec = get_operator("slideshow@2")
    assert spec.group == "temporal"
    assert list(spec.fields)[:2] == ["is_slideshow", "score"]
    assert spec.inputs["text"].optional
    json.dumps(spec.schema())
    images = np.stack([photo(n) for n in PHOTOS[:2] for _ in range(3)])
    assert run_op(images, text="x") == run_op(images, text="x")


@pytest.mark.parametrize(
    "params, match",
    [
        ({"static_diff": 0}, "greater than 0"),
        ({"min_score": 2}, "less than or equal to 1"),
        ({"text_full_chars": 0}, "greater than or equal to 1"),
        ({"static": 1}, "Extra inputs are not permitted"),
    ],
)
def test_given_bad_params_then_validation_error(params, match):
    with pytest.raises(ValidationError, match=match):
        SlideshowParams(**params)


# ------------------------------------------------------------------ calibrated confidence


def test_calibration_maps_the_score_monotonically_into_0_1():
    cal = load_calibration()
    scores = np.linspace(0.0, 1.0, 101)
    for static_ratio, pictures in ((0.0, 0), (0.5, 1), (1.0, 1), (0.7, 3)):
        probs = cal.probability(scores, static_ratio, pictures)
        assert np.all((probs > 0) & (probs < 1)) and np.all(np.diff(probs) > 0)
    assert cal.probability(0.0) < 0.5 < cal.probability(1.0, 1.0, 4)
    # a still video (one picture, static throughout: score 0.4) is less likely a slideshow than a
    # deck seen as static half of the time (score 0.5)
    assert cal.probability(STILL_FACTOR, 1.0, 1) < 0.5 < cal.probability(0.5, 0.5, 3)
    doc = json.loads(CALIBRATION_PATH.read_text(encoding="utf-8"))
    assert doc["format"] == CALIBRATION_FORMAT and doc["provenance"]["features_sha256"].startswith("sha256:")
    assert doc["provenance"]["synth"]["labels_sha256"].startswith("sha256:")
    assert {"brier", "ece", "accuracy"} <= set(doc["metrics"]["held_out"]["calibrated"])


def test_calibration_json_round_trip_and_malformed_files(tmp_path):
    doc = json.loads(CALIBRATION_PATH.read_text(encoding="utf-8"))
    again = tmp_path / "again.json"
    again.write_text(json.dumps(doc))
    assert load_calibration(str(again)).probability(0.7) == load_calibration().probability(0.7)
    platt = doc["platt"]
    bad = [
        ({**doc, "format": "other/1"}, "format 'other/1'"),
        ({**doc, "platt": {**platt, "weights": [-2.0] + platt["weights"][1:]}}, "weight of the score must be positive"),
        ({**doc, "platt": {**platt, "bias": "x"}}, "finite numbers"),
        ({**doc, "platt": {**platt, "bias": float("nan")}}, "finite numbers"),
        ({**doc, "platt": {**platt, "weights": platt["weights"] + [1.0]}}, "one per input"),
        ({**doc, "platt": {**platt, "inputs": ["static_ratio"]}}, "must start with 'score'"),
        ({**doc, "platt": {**platt, "inputs": ["score", "motion"], "weights": [1.0, 1.0]}}, "among score, still_ratio"),
        ({k: v for k, v in doc.items() if k != "platt"}, "platt must be an object"),
    ]
    for i, (content, match) in enumerate(bad):
        path = tmp_path / f"bad{i}.json"
        path.write_text(json.dumps(content))
        with pytest.raises(ResourceError, match=match):
            load_calibration(str(path))
    torn = tmp_path / "torn.json"
    torn.write_text('{"format": ')
    with pytest.raises(ResourceError, match="slideshow calibration: cannot read .*torn.json.*train_slideshow.py"):
        load_calibration(str(torn))
    with pytest.raises(TypeError, match="expected a JSON object"):
        SlideshowCalibration.from_dict([1, 2])


def test_calibration_file_is_a_resource_in_the_cache_key():
    spec = get_operator("slideshow")
    assert spec.resources == ("slideshow_calibration",)
    assert str(CALIBRATION_PATH) in known_resources()["slideshow_calibration"].files
    assert resource_fingerprint("slideshow_calibration") != "unregistered"


def test_given_encoded_slideshow_and_moving_clip_then_confidence_follows_is_slideshow(tmp_path, bbb):
    frames = [photo(n, (640, 360)) for n in PHOTOS for _ in range(75)]  # 4 photos, 3 s each
    path = write_video(tmp_path / "deck.mp4", frames, fps=25.0)
    batch = decode_frames(path, probe(path), Sampling(fps=1.0), Limits())
    deck = run_op(batch.images, batch.times, duration=12.0)
    moving = run_op(bbb.images, bbb.times)
    assert deck["is_slideshow"] and deck["confidence"] > 0.5
    assert not moving["is_slideshow"] and moving["confidence"] < 0.5
    assert deck["confidence"] == round(load_calibration().probability(deck["score"], 1.0, 4), 4)
    still = run_op(np.stack([photo("coffee")] * 8))  # a still video: not a slideshow, low confidence
    assert not still["is_slideshow"] and still["confidence"] < 0.5
