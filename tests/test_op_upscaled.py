"""upscaled@2: native resolution from the fall-off of the spatial spectrum."""

import json
import time

import media_fixtures as fx
import numpy as np
import pytest
import skimage.data
from pydantic import ValidationError

from factorline.contract.items import FrameBatch, Limits, MediaInfo, Sampling
from factorline.media import decode_frames, probe
from factorline.media.encode import write_video
from factorline.operators.resolution import (
    NATIVE_RATIO,
    UpscaledParams,
    cutoff_frequency,
    estimate,
    native_ratio,
    patch_spectrum,
)
from factorline.plugins import get_operator
from factorline.samples import transforms as tf

LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ LUMA


def run_op(images: np.ndarray, scale: float = 1.0, source=None, **params) -> dict:
    spec = get_operator("upscaled")
    n, h, w = images.shape[:3]
    width, height = source or (round(w * scale), round(h * scale))
    frames = FrameBatch(np.ascontiguousarray(images), np.arange(n, dtype=float), width, height, scale=scale)
    item = MediaInfo(
        id="sha256:t", path="t.mp4", kind="video", duration_s=float(n), width=width, height=height, fps=25.0
    )
    out = spec.run({"frames": frames}, spec.params(**params), item=item, resources={})
    assert spec.check_output(out) == []
    return out


@pytest.fixture(scope="module")
def bbb360() -> np.ndarray:
    """4 Big Buck Bunny frames (1 fps) reduced to 640x360 by area: a native 360p picture."""
    path = fx.bigbuckbunny_path()
    return decode_frames(path, probe(path), Sampling(fps=1.0, max_side=640, max_frames=4), Limits()).images


@pytest.fixture(scope="module")
def up1080(bbb360) -> np.ndarray:
    """The 360p frames upscaled 3x to 1920x1080 (bicubic, like most upload pipelines)."""
    return np.stack([tf.resize(f, (1920, 1080)) for f in bbb360])


# ------------------------------------------------------------------ pure functions


def test_given_power_law_spectrum_then_no_cutoff_and_with_a_wall_then_cutoff_there():
    f = np.arange(33) / 64.0
    power_law = 1.0 / np.maximum(f, 1 / 64) ** 2
    assert cutoff_frequency(power_law) == 0.5
    walled = np.where(f <= 0.125, power_law, power_law * 1e-3)
    assert cutoff_frequency(walled) == pytest.approx(0.125, abs=0.02)


def test_given_flat_frames_then_no_spectrum_and_native():
    grey = np.full((3, 256, 256), 128, np.float32)
    assert patch_spectrum(grey, 1) is None
    assert native_ratio(grey) == (1.0, 1.0)


# ------------------------------------------------------------------ upscaled pictures


def test_given_360p_clip_upscaled_to_1080p_then_ratio_about_3(up1080):
    out = estimate(luma(up1080))
    assert out["ratio"] == pytest.approx(3.0, abs=0.4)
    assert out["native_height"] == pytest.approx(360, abs=50)
    assert out["native_width"] == pytest.approx(640, abs=100)


def test_given_encoded_upscaled_clip_when_decoded_at_full_size_then_ratio_about_3(tmp_path, up1080):
    path = write_video(tmp_path / "up.mp4", up1080, fps=1.0)
    batch = decode_frames(path, probe(path), Sampling(fps=1.0, max_side=1920), Limits())
    out = run_op(batch.images, scale=batch.scale)
    assert out["ratio"] == pytest.approx(3.0, abs=0.4)
    assert out["evidence"][0]["score"] == pytest.approx(out["ratio"], abs=0.01)


def test_given_pipeline_default_max_side_then_upscale_recognised_at_720p_analysis(up1080):
    # the sampler shows a 1080p source at 1280x720 (scale 1.5): the estimate is capped at the
    # analysis resolution; a 3x upscale still reads as one (the AREA reduction softens it a bit)
    half = np.stack([tf.resize(f, (1280, 720)) for f in up1080])
    out = run_op(half, scale=1.5)
    assert out["ratio"] >= 2.6 and out["native_height"] <= 720 / NATIVE_RATIO


def test_given_letterboxed_upscaled_picture_then_bars_do_not_matter(up1080):
    boxed = up1080.copy()
    boxed[:, :140] = 0
    boxed[:, -140:] = 0
    assert estimate(luma(boxed))["ratio"] == pytest.approx(3.0, abs=0.5)


def test_given_2x_upscale_then_ratio_about_2(bbb360):
    up = np.stack([tf.resize(f, (1280, 720)) for f in bbb360])
    assert estimate(luma(up))["ratio"] == pytest.approx(2.2, abs=0.45)


# ------------------------------------------------------------------ native pictures


def test_given_native_360p_clip_then_ratio_1(bbb360):
    out = run_op(bbb360)
    assert (out["native_height"], out["ratio"], out["native_width"]) == (360, 1.0, 640)


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea", "camera", "rocket"])
def test_given_native_photos_then_ratio_1(name):
    img = getattr(skimage.data, name)()
    g = img.astype(np.float32) if img.ndim == 2 else luma(img)
    out = estimate(g[None])
    assert out["ratio"] == 1.0 and out["native_height"] == img.shape[0]


def test_given_native_720p_clip_at_full_size_then_ratio_1():
    path = fx.bigbuckbunny_path()
    batch = decode_frames(path, probe(path), Sampling(fps=1.0, max_frames=3), Limits())
    out = run_op(batch.images)
    assert out["ratio"] == 1.0 and out["native_height"] == 720


# ------------------------------------------------------------------ failure cases


def test_given_grey_tiny_and_single_frames_then_native():
    assert run_op(np.full((3, 360, 640, 3), 128, np.uint8))["ratio"] == 1.0
    rng = np.random.default_rng(0)
    tiny = run_op(rng.integers(0, 255, (2, 16, 16, 3), dtype=np.uint8))
    assert (tiny["native_height"], tiny["ratio"]) == (16, 1.0)
    assert run_op(skimage.data.astronaut()[None])["ratio"] == 1.0


def test_given_one_8k_frame_then_fast():
    # a native 8K mosaic of photo crops, and its upscale from 3840x2160
    tiles = [getattr(skimage.data, n)() for n in ("astronaut", "coffee", "chelsea", "rocket")]
    tiles = [np.ascontiguousarray(t[:256, :256, :3]) for t in tiles]
    row = np.concatenate([tiles[i % 4] for i in range(30)], axis=1)
    mosaic = np.concatenate([np.roll(row, 64 * j, axis=1) for j in range(17)], axis=0)[:4320, :7680]
    start = time.perf_counter()
    out = run_op(np.ascontiguousarray(mosaic[None]))
    assert time.perf_counter() - start < 4.0
    assert out["ratio"] == 1.0


def test_operator_declared_serializable_and_deterministic(bbb360):
    spec = get_operator("upscaled@2")
    assert spec.group == "quality"
    assert list(spec.fields)[:2] == ["native_height", "ratio"]
    json.dumps(spec.schema())
    assert run_op(bbb360[:2]) == run_op(bbb360[:2])


@pytest.mark.parametrize(
    "params, match",
    [
        ({"drop_db": 1}, "greater than or equal to 3"),
        ({"native_ratio": 0.5}, "greater than or equal to 1"),
        ({"ratio": 2}, "Extra inputs are not permitted"),
    ],
)
def test_given_bad_params_then_validation_error(params, match):
    with pytest.raises(ValidationError, match=match):
        UpscaledParams(**params)


def test_given_rotation_tag_then_same_verdict_and_sizes_in_display_orientation(tmp_path, bbb360):
    # a picture upscaled 2x along its coded height only (640x180 -> 640x360), and the same file
    # tagged to display rotated by 90 degrees: the verdict is the coded picture's in both
    frames = [tf.resize(tf.resize(f, (640, 180)), (640, 360)) for f in bbb360]
    plain = write_video(tmp_path / "plain.mp4", frames, fps=1.0)
    turned = fx.rotate_with_pyav(plain, tmp_path / "turned.mp4", 90)
    spec = get_operator("upscaled")
    outs = []
    for path in (plain, turned):
        info = probe(path)
        batch = decode_frames(path, info, Sampling(fps=1.0, max_side=640), Limits())
        outs.append(spec.run({"frames": batch}, spec.params(), item=info, resources={}))
    flat, rotated = outs
    assert flat["ratio"] == pytest.approx(2.0, abs=0.4) and rotated["ratio"] == flat["ratio"]
    assert (rotated["native_height"], rotated["native_width"]) == (flat["native_width"], flat["native_height"])


def test_given_pixel_aspect_tag_then_same_verdict_and_display_size_reported(tmp_path, bbb360):
    # the clip of the rotation test, tagged to play with 2:1 pixels (640x360 shown as
    # 1280x360), and that file turned as well: the verdict stays the coded picture's, the item
    # reports what a player shows next to the stored size
    import shutil
    import subprocess

    assert shutil.which("ffmpeg"), "Debian's ffmpeg is missing: run `make setup`"
    frames = [tf.resize(tf.resize(f, (640, 180)), (640, 360)) for f in bbb360]
    plain = write_video(tmp_path / "plain.mp4", frames, fps=1.0)

    def widen(src, dst):
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-c", "copy", "-aspect", "32:9", str(dst)],
                       check=True, timeout=60)
        return dst

    wide = widen(plain, tmp_path / "wide.mp4")
    turned = widen(fx.rotate_with_pyav(plain, tmp_path / "turned.mp4", 90), tmp_path / "wide_turned.mp4")
    spec = get_operator("upscaled")
    outs, items = [], []
    for path in (plain, wide, turned):
        info = probe(path)
        batch = decode_frames(path, info, Sampling(fps=1.0, max_side=640), Limits())
        outs.append(spec.run({"frames": batch}, spec.params(), item=info, resources={}))
        items.append(info.record())
    assert outs[0]["ratio"] == pytest.approx(2.0, abs=0.4)
    assert outs[1] == outs[0]
    assert outs[2]["ratio"] == outs[0]["ratio"]
    assert [(i["width"], i["height"], i["display_width"], i["display_height"], i["pixel_aspect"]) for i in items] == [
        (640, 360, 640, 360, 1.0), (640, 360, 1280, 360, 2.0), (360, 640, 360, 1280, 2.0)]
