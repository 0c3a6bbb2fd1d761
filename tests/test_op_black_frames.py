"""black_frames@3: share and runs of black sampled frames; bars never make a frame black."""

import json
import time

import media_fixtures as fx
import numpy as np
import pytest
from pydantic import ValidationError

from factorline.contract.items import FrameBatch, Limits, MediaInfo, Sampling
from factorline.media import decode_frames, probe
from factorline.media.encode import write_video
from factorline.operators.temporal import BlackFramesParams, black_shares
from factorline.plugins import get_operator
from factorline.samples import transforms as tf

LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def run_op(images: np.ndarray, times=None, duration=None, **params) -> dict:
    spec = get_operator("black_frames")
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
    out = spec.run({"frames": frames}, spec.params(**params), item=item, resources={})
    assert spec.check_output(out) == []
    return out


@pytest.fixture(scope="module")
def bbb() -> FrameBatch:
    """Big Buck Bunny sampled at 2 fps (11 frames, 640x360)."""
    path = fx.bigbuckbunny_path()
    return decode_frames(path, probe(path), Sampling(fps=2.0, max_side=640), Limits())


def test_given_black_frames_inside_a_real_clip_then_ratio_segments_and_evidence(bbb):
    # given the real clip with frames 3-4 and 8 replaced by (noisy, compressed-looking) black
    images = bbb.images.copy()
    rng = np.random.default_rng(0)
    for i in (3, 4, 8):
        images[i] = rng.integers(0, 12, images[i].shape, dtype=np.uint8)
    times = np.arange(11) * 0.5
    out = run_op(images, times, duration=5.5)
    # then 3 of 11 frames are black, in two runs spanning their sampling intervals
    assert out["ratio"] == pytest.approx(3 / 11, abs=1e-4)
    assert out["segments"] == [{"start_s": 1.5, "end_s": 2.5}, {"start_s": 4.0, "end_s": 4.5}]
    assert out["longest_s"] == 1.0
    assert [e["t"] for e in out["evidence"]] == [1.5, 4.0] and all(e["score"] == 1.0 for e in out["evidence"])


def test_given_dark_letterboxed_scene_then_bars_do_not_make_frames_black(bbb):
    # given a night scene (the clip at 12 % brightness, one lit stripe) letterboxed by two
    # 100 px bars, so that bars and the dark scene together cover over 98 % of the frame
    scene = np.stack([tf.resize(f, (640, 160)) for f in bbb.images]).astype(np.float32) * 0.12
    scene[:, :, 300:320] = bbb.images[:, 100:260, 300:320]
    images = np.zeros((11, 360, 640, 3), np.uint8)
    images[:, 100:260] = np.clip(scene, 0, 255).astype(np.uint8)
    images[6] = 0  # and one truly black frame
    assert float(np.mean(images[0].astype(np.float32) @ LUMA <= 32)) > 0.98  # a naive count says black
    # when the operator runs, then only the black frame is black: the picture inside the bars is judged
    out = run_op(images)
    assert out["ratio"] == pytest.approx(1 / 11, abs=1e-4)
    assert out["segments"] == [{"start_s": 6.0, "end_s": 7.0}]


def test_given_letterbox_and_pillarbox_bars_then_content_judged(bbb):
    boxed = np.stack([tf.letterbox(f, (640, 360), 90) for f in bbb.images[:4]])
    assert run_op(boxed)["ratio"] == 0.0
    shares = black_shares(boxed.astype(np.float32) @ LUMA)
    assert shares.max() < 0.5


def test_given_encoded_fade_to_black_when_sampled_then_black_run_found(tmp_path, bbb):
    # given 1 s of the clip, 1 s of black, 1 s of the clip, encoded at 25 fps (real codec noise)
    frames = [bbb.images[0]] * 25 + [np.zeros_like(bbb.images[0])] * 25 + [bbb.images[5]] * 25
    path = write_video(tmp_path / "black.mp4", frames, fps=25.0)
    batch = decode_frames(path, probe(path), Sampling(fps=2.0), Limits())
    out = run_op(batch.images, batch.times, duration=3.0)
    assert out["segments"] == [{"start_s": 1.0, "end_s": 2.0}]
    assert out["ratio"] == pytest.approx(2 / 6, abs=1e-4)


def test_given_black_span_between_samples_when_decoded_then_frame_exact_like_blackdetect(tmp_path, bbb):
    # given black from frame 37 to 61 (1.48 s to 2.48 s at 25 fps), sampled at 1 fps
    frames = [bbb.images[0]] * 37 + [np.zeros_like(bbb.images[0])] * 25 + [bbb.images[5]] * 38
    path = write_video(tmp_path / "black.mp4", frames, fps=25.0)
    info = probe(path)
    batch = decode_frames(path, info, Sampling(fps=1.0), Limits())
    spec = get_operator("black_frames")
    out = spec.run({"frames": batch}, spec.params(), item=info, resources={})
    # then the run starts at its first black frame and ends at the first frame after it
    assert out["segments"] == [{"start_s": 1.48, "end_s": 2.48}]
    assert out["evidence"][0]["t"] == 1.48


def test_given_dark_grey_frame_then_threshold_decides():
    dark = np.full((2, 90, 160, 3), 24, np.uint8)
    assert run_op(dark)["ratio"] == 1.0  # default level 25, blackdetect's
    assert run_op(np.full((2, 90, 160, 3), 28, np.uint8))["ratio"] == 0.0
    assert run_op(dark, threshold=16)["ratio"] == 0.0


def test_given_runs_shorter_than_min_duration_then_not_segments():
    # 10 fps: one black frame at 0.0 (0.1 s: kept at the 0.1 s floor), two at 1.0-1.2 (kept),
    # and with a 0.25 s floor only... none; the ratio still counts every sampled black frame
    frames = np.full((20, 36, 64, 3), 128, np.uint8)
    frames[[0, 10, 11]] = 0
    times = np.arange(20) / 10.0
    out = run_op(frames, times=times, duration=2.0)
    assert out["segments"] == [{"start_s": 0.0, "end_s": 0.1}, {"start_s": 1.0, "end_s": 1.2}]
    strict = run_op(frames, times=times, duration=2.0, min_duration_s=0.25)
    assert strict["segments"] == [] and strict["evidence"] == [] and strict["ratio"] == 0.15
    assert run_op(frames, times=times, duration=2.0, min_duration_s=0.15)["segments"] == [{"start_s": 1.0, "end_s": 1.2}]


def test_given_small_bright_object_then_min_pixel_share_decides():
    frame = np.zeros((1, 100, 100, 3), np.uint8)
    frame[0, 40:45, 40:45] = 255  # 0.25 % bright: a star in the night
    assert run_op(frame)["ratio"] == 1.0
    assert run_op(frame, min_pixel_share=0.999)["ratio"] == 0.0


def test_given_single_black_image_and_grey_frames_and_tiny_frames():
    out = run_op(np.zeros((1, 64, 64, 3), np.uint8))
    assert out["ratio"] == 1.0 and out["segments"] == [{"start_s": 0.0, "end_s": 0.0}]
    assert run_op(np.full((4, 64, 64, 3), 128, np.uint8))["ratio"] == 0.0
    tiny = np.zeros((3, 16, 16, 3), np.uint8)
    tiny[1] = 200
    assert run_op(tiny)["segments"] == [{"start_s": 0.0, "end_s": 1.0}, {"start_s": 2.0, "end_s": 3.0}]


def test_given_one_8k_frame_then_fast():
    frame = np.zeros((1, 4320, 7680, 3), np.uint8)
    frame[:, 1000:3000, 2000:5000] = 90
    start = time.process_time()  # CPU time: the work done, not how busy the machine is
    out = run_op(frame)
    assert time.process_time() - start < 8.0  # includes the luma of 33 Mpx
    assert out["ratio"] == 0.0


def test_operator_declared_serializable_and_deterministic(bbb):
    spec = get_operator("black_frames@3")
    assert spec.group == "temporal"
    assert list(spec.fields)[:2] == ["ratio", "segments"]
    json.dumps(spec.schema())
    images = bbb.images[:4].copy()
    images[2] = 0
    assert run_op(images) == run_op(images)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"threshold": 256}, "less than or equal to 255"),
        ({"min_pixel_share": 0}, "greater than 0"),
        ({"min_pixel_share": 1.1}, "less than or equal to 1"),
        ({"level": 3}, "Extra inputs are not permitted"),
    ],
)
def test_given_bad_params_then_validation_error(params, match):
    with pytest.raises(ValidationError, match=match):
        BlackFramesParams(**params)
