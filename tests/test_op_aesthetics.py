"""aesthetics@1: measured parts (exposure, contrast, colour, noise, composition, shake) and the trained head."""

from __future__ import annotations

import json

import numpy as np
import pytest
import skimage.data
from scipy import ndimage

from factorline.cache import StepCache
from factorline.contract.errors import ResourceError
from factorline.contract.items import FrameBatch, MediaInfo
from factorline.engine.compiler import compile_pipeline
from factorline.engine.executor import Engine
from factorline.media.encode import write_video
from factorline.operators import _aesthetic_features as af
from factorline.operators.aesthetics import (
    HEAD_FEATURES,
    HEAD_PATH,
    AestheticsParams,
    aesthetics,
    head_features,
    load_head,
    parse_head,
)
from factorline.testing import check_operator

ASTRONAUT = skimage.data.astronaut()[::2, ::2].copy()  # 256 px
HEAD = load_head()
IMAGE = MediaInfo(id="sha256:" + "1" * 64, path="a.png", kind="image", duration_s=0.0, width=256, height=256, fps=0.0)


def run(images: list[np.ndarray], times=None, kind: str = "image") -> dict:
    frames = FrameBatch(images=np.stack(images), times=np.asarray(times if times is not None else range(len(images)), float),
                        source_width=images[0].shape[1], source_height=images[0].shape[0])
    item = IMAGE if kind == "image" else MediaInfo(**{**IMAGE.__dict__, "kind": "video"})
    return aesthetics({"frames": frames}, AestheticsParams(), item=item, resources={"aesthetics_head": HEAD})


def u8(x) -> np.ndarray:
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- the parts


def test_exposure_levels_follow_darkening_and_brightening():
    base = af.frame_measures(ASTRONAUT)
    dark = af.frame_measures(u8(ASTRONAUT * 0.3))
    bright = af.frame_measures(u8(ASTRONAUT * 2.2 + 50))
    assert dark["brightness"] < 0.2 < base["brightness"] < bright["brightness"]
    assert dark["white_level"] < 0.4 < base["white_level"]  # a dark picture has no white
    assert bright["black_level"] > base["black_level"] + 0.1 and bright["clipped"] > base["clipped"] + 0.2
    assert base["dynamic_range"] == pytest.approx(base["white_level"] - base["black_level"])


def test_colourfulness_is_zero_on_grey_and_high_on_a_colourful_photo():
    grey = np.repeat(af.luma_of(ASTRONAUT)[..., None], 3, axis=2)
    assert af.frame_measures(u8(grey))["colourfulness"] == pytest.approx(0.0, abs=0.5)
    assert af.frame_measures(ASTRONAUT)["colourfulness"] > 50  # Hasler-Suesstrunk: "highly colourful"
    m, _cast, sat, _clipped = af.colour(np.full((16, 16, 3), (200.0, 100.0, 50.0)), np.full((16, 16), 120.0))
    assert m == pytest.approx(0.3 * np.hypot(100.0, 100.0)) and sat == pytest.approx(0.75)  # flat colour: only the mean term


def test_colour_cast_and_clipped_saturation_grow_with_their_degradation():
    base = af.frame_measures(ASTRONAUT)
    cast = af.frame_measures(u8(ASTRONAUT + np.array([60.0, 0.0, -60.0])))
    grey = af.luma_of(ASTRONAUT)[..., None]
    over = af.frame_measures(u8(grey + (ASTRONAUT - grey) * 3.0))
    assert cast["colour_cast"] > base["colour_cast"] + 30
    assert over["saturation_clipped"] > base["saturation_clipped"] + 0.1


def test_noise_and_sharpness_read_noise_and_blur():
    rng = np.random.default_rng(0)
    base = af.frame_measures(ASTRONAUT)
    noisy = af.frame_measures(u8(ASTRONAUT + rng.normal(0, 20, ASTRONAUT.shape)))
    blurred = af.frame_measures(u8(ndimage.gaussian_filter(ASTRONAUT.astype(float), (3, 3, 0))))
    luma_sigma = 20.0 * float(np.linalg.norm([0.299, 0.587, 0.114]))  # independent noise per channel, seen in luma
    assert noisy["noise"] == pytest.approx(luma_sigma, rel=0.15) and base["noise"] < 3
    assert blurred["sharpness"] < 0.3 < base["sharpness"]


@pytest.mark.parametrize("angle", [-10.0, -5.0, 5.0, 10.0])
def test_tilt_turns_with_the_picture(angle):
    full = skimage.data.astronaut()
    crop = (slice(150, 362), slice(150, 362))
    level = af.frame_measures(full[crop])["tilt"]
    turned = af.frame_measures(ndimage.rotate(full, angle, reshape=False, order=1)[crop])["tilt"]
    assert np.sign(turned - level) == np.sign(angle)  # counter-clockwise (scipy's positive angle) is positive
    assert abs(turned - level) == pytest.approx(abs(angle), abs=4.0)


def test_a_straight_horizon_has_no_tilt_and_a_turned_one_has_its_angle():
    sky = np.zeros((200, 300, 3), np.uint8)
    sky[:100] = (120, 160, 230)
    sky[100:] = (60, 120, 40)
    flat = af.frame_measures(sky)
    turned = af.frame_measures(ndimage.rotate(sky, 7.0, reshape=False, order=1, mode="nearest")[40:160, 60:240])
    assert flat["tilt"] == pytest.approx(0.0, abs=0.5) and flat["tilt_confidence"] > 0.9
    assert turned["tilt"] == pytest.approx(7.0, abs=1.5)


def test_clutter_grows_with_shapes_pasted_over_the_picture():
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(1)
    pic = Image.fromarray(skimage.data.chelsea())
    draw = ImageDraw.Draw(pic)
    for _ in range(80):
        x, y, s = rng.uniform(0, 450), rng.uniform(0, 300), rng.uniform(10, 40)
        draw.rectangle([x, y, x + s, y + s], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    assert af.frame_measures(np.asarray(pic))["clutter"] > af.frame_measures(skimage.data.chelsea())["clutter"] + 0.1


def test_subject_placement_follows_the_subject():
    canvas = np.full((180, 320, 3), 40, np.uint8)
    canvas[45:75, 90:125] = 230  # a bright square on a thirds crossing (x 1/3, y 1/3)
    m = af.frame_measures(canvas)
    assert m["subject_x"] == pytest.approx(1 / 3, abs=0.06) and m["subject_y"] < 0.45  # left third, above the middle
    assert m["placement"] < 0.1
    corner = np.full((180, 320, 3), 40, np.uint8)
    corner[5:30, 5:40] = 230
    assert af.frame_measures(corner)["placement"] > 0.15 > m["placement"] + 0.05


def test_shake_separates_jitter_from_a_smooth_pan():
    rng = np.random.default_rng(3)
    big = skimage.data.astronaut()[::4, ::4]  # 128 px
    pan = np.stack([big[20:84, 10 + i : 74 + i] for i in range(24)])
    jitter = np.stack([big[20 + dy : 84 + dy, 30 + dx : 94 + dx] for dy, dx in rng.integers(-6, 7, (24, 2))])
    times = np.arange(24) / 25.0
    assert af.shake(pan, times) < 0.5 < af.shake(jitter, times)
    assert af.shake(pan[:3], times[:3]) is None  # too few steps to tell
    assert af.shake(pan, np.arange(24) * 1.0) is None  # samples a second apart are not consecutive frames


# --------------------------------------------------------------------------- the head and the operator


def test_head_file_is_plain_json_with_its_training_record():
    data = json.loads(HEAD_PATH.read_text(encoding="utf-8"))
    assert data["features"] == list(HEAD_FEATURES) and len(data["weights"]) == len(HEAD_FEATURES)
    assert data["trained"]["command"].endswith("benchmarks/train_aesthetics.py")
    assert set(data["trained"]["held_out_sources"]).isdisjoint(data["trained"]["sources"])


def test_every_weight_keeps_the_sign_its_part_has():
    from factorline.operators.aesthetics import DIRECTIONS

    assert set(DIRECTIONS) == set(HEAD_FEATURES)
    for name, weight in zip(HEAD_FEATURES, HEAD.weights):
        assert weight * DIRECTIONS[name] >= 0, f"{name} weighs {weight:+.3f} against its direction"


def test_the_held_out_benchmark_beats_each_single_measure():
    from pathlib import Path

    result = json.loads((Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "aesthetics.json").read_text())
    agreement = result["agreement"]
    assert all(agreement["aesthetics"] > v for k, v in agreement.items() if k != "aesthetics")
    assert result["pairs"] >= 400 and result["head"]["trained"] == HEAD.trained["date"]  # measured on the stored head
    a = result["held_out_a"]  # the first held-out list, measured in the same run
    assert a["pairs"] >= 400 and set(a["agreement"]) == set(agreement)
    trained = set(HEAD.trained["sources"])
    assert trained.isdisjoint(result["sources"]) and trained.isdisjoint(a["sources"])


def test_a_broken_head_says_what_was_expected_and_how_to_fix_it(tmp_path):
    with pytest.raises(ResourceError, match=r"missing; train it with .*train_aesthetics\.py"):
        load_head(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ResourceError, match="not readable JSON"):
        load_head(bad)
    good = HEAD.to_json()
    with pytest.raises(ResourceError, match="expected features"):
        parse_head({"features": ["brightness"], "weights": [1.0], "feature_set": good["feature_set"]})
    assert parse_head({k: v for k, v in good.items() if k != "feature_set"}).features == HEAD_FEATURES  # set 1
    with pytest.raises(ResourceError, match=r"trained for feature set 7, this code computes feature set 1"):
        parse_head({**good, "feature_set": 7})
    with pytest.raises(ResourceError, match=rf"expected {len(HEAD_FEATURES)} finite numbers .* scale \(> 0\)"):
        parse_head({**good, "scale": [0.0] * len(HEAD_FEATURES)})


@pytest.mark.parametrize("kind", ["dark", "blur", "noise", "desaturate", "contrast"])
def test_the_original_scores_above_its_degraded_copy(kind):
    x = ASTRONAUT.astype(float)
    grey = af.luma_of(x)[..., None]
    worse = {"dark": x * 0.25, "blur": ndimage.gaussian_filter(x, (4, 4, 0)), "desaturate": grey + 0 * x,
             "noise": x + np.random.default_rng(0).normal(0, 25, x.shape), "contrast": x.mean() + (x - x.mean()) * 0.25}[kind]
    original, degraded = run([ASTRONAUT]), run([u8(worse)])
    assert 0.0 <= degraded["score"] < original["score"] - 0.05 and original["score"] <= 1.0


def test_weakest_part_names_the_degradation_and_evidence_has_best_and_worst():
    blurred = u8(ndimage.gaussian_filter(ASTRONAUT.astype(float), (5, 5, 0)))
    out = run([ASTRONAUT, blurred, ASTRONAUT], times=[0.0, 1.0, 2.0], kind="video")
    assert out["frame_scores"][1] < min(out["frame_scores"][0], out["frame_scores"][2])
    assert [e["text"].split(" (")[0] for e in out["evidence"]] == ["best-looking frame", "worst-looking frame"]
    assert out["evidence"][1]["t"] == 1.0 and "weakest: sharpness" in out["evidence"][1]["text"]
    assert run([blurred])["weakest"] == "sharpness"
    assert out["shake"] is None  # three samples a second apart cannot show shake
    assert run([ASTRONAUT])["shake"] == 0.0  # a still does not shake


@pytest.mark.parametrize("shape,value", [((1, 1, 3), 0), ((2, 3, 3), 128), ((7, 300, 3), 255), ((64, 64, 3), 128),
                                         ((64, 64, 3), 0)])
def test_tiny_flat_and_grey_frames_never_crash(shape, value):
    out = run([np.full(shape, value, np.uint8)])
    assert 0.0 <= out["score"] <= 1.0 and out["clutter"] == 0.0 and out["noise"] == 0.0
    assert all(v is None or np.isfinite(v) for v in out.values() if isinstance(v, float))


def test_a_huge_frame_is_measured_at_working_size():
    huge = np.asarray(np.kron(ASTRONAUT, np.ones((12, 12, 1), np.uint8)))  # 3072 x 3072, the same picture
    out, small = run([huge]), run([ASTRONAUT])
    assert out["score"] == pytest.approx(small["score"], abs=0.05)
    assert out["noise"] == pytest.approx(small["noise"], abs=0.2) and out["colourfulness"] == pytest.approx(small["colourfulness"], abs=1)


def test_no_frames_gives_missing_values():
    frames = FrameBatch(images=np.zeros((0, 8, 8, 3), np.uint8), times=np.zeros(0), source_width=8, source_height=8)
    out = aesthetics({"frames": frames}, AestheticsParams(), item=IMAGE, resources={"aesthetics_head": HEAD})
    assert out["score"] is None and out["frame_scores"] == [] and out["evidence"] == []


def test_head_features_match_their_names():
    m = {**af.frame_measures(ASTRONAUT), "shake": None}
    x = dict(zip(HEAD_FEATURES, head_features(m)))
    assert x["white_gap"] == pytest.approx(max(0.0, 0.9 - m["white_level"])) and x["shake"] == 0.0
    assert x["black_level"] == pytest.approx(max(0.0, m["black_level"] - 0.08))
    assert x["exposure_error"] == pytest.approx(abs(m["brightness"] - 0.45))


def test_keeps_the_contract():
    out = check_operator("aesthetics")
    assert set(out) >= {"score", "weakest", "shake", "tilt", "colourfulness"}


def test_a_shaken_video_shakes_more_than_a_steady_one_through_the_engine(tmp_path):
    rng = np.random.default_rng(5)
    big = skimage.data.astronaut()  # 512 px; 256 px windows
    steady = [big[100:356, 100:356] for _ in range(30)]
    shaken = [big[100 + dy : 356 + dy, 100 + dx : 356 + dx] for dy, dx in rng.integers(-25, 26, (30, 2))]
    doc = {"name": "look", "input": "video", "sampling": {"fps": 2.0}, "steps": {"look": {"op": "aesthetics"}}}
    engine = Engine(compile_pipeline(doc), cache=StepCache(tmp_path / "cache"))
    results = {}
    for name, frames in (("steady", steady), ("shaken", shaken)):
        path = write_video(tmp_path / f"{name}.mp4", frames, fps=25.0, crf=18)
        record = engine.run_item(path)
        assert record["error"] is None, record["error"]
        results[name] = record["factors"]["look"]
    assert results["steady"]["shake"] < 0.3 < results["shaken"]["shake"]
    assert results["shaken"]["score"] < results["steady"]["score"]
