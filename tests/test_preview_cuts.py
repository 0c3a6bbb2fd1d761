"""Decoder previews (every decoded frame at thumbnail size) and the frame-level cuts built on them."""

import av
import media_fixtures as fx
import numpy as np
import pytest
import skimage.data

from factorline.contract.items import FrameBatch, Limits, MediaInfo, Sampling
from factorline.media import decode_frames, probe
from factorline.media import preview as pv
from factorline.media.encode import write_video
from factorline.operators import frame_cuts as fc
from factorline.plugins import get_operator
from factorline.samples import transforms as tf

SIZE = (320, 180)
FPS = 25


def photo(name: str) -> np.ndarray:
    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return tf.cover(np.ascontiguousarray(img[..., :3]), SIZE)


def held(*spans: tuple[str, int]) -> list[np.ndarray]:
    """Each photo repeated for a number of frames, with a little noise so H.264 codes every frame."""
    rng = np.random.default_rng(0)
    out = []
    for name, count in spans:
        base = photo(name).astype(np.int16)
        out += [np.clip(base + rng.integers(-3, 4, base.shape), 0, 255).astype(np.uint8) for _ in range(count)]
    return out


def run_shot_cuts(path) -> dict:
    info = probe(path)
    batch = decode_frames(path, info, Sampling(), Limits())
    spec = get_operator("shot_cuts")
    out = spec.run({"frames": batch}, spec.params(), item=info, resources={})
    assert spec.check_output(out) == []
    return out


# ------------------------------------------------------------------ previews from the decoder


def test_given_encoded_video_when_decoded_then_preview_has_every_frame_to_the_end(tmp_path):
    path = write_video(tmp_path / "v.mp4", held(("astronaut", 88)), fps=FPS)  # 3.52 s
    batch = decode_frames(path, probe(path), Sampling(), Limits())
    assert len(batch) == 4  # 0, 1, 2, 3 s
    assert batch.preview is not None and len(batch.preview) == 88
    assert np.allclose(np.diff(batch.preview.times), 1 / FPS)
    assert batch.preview.times[-1] == pytest.approx(87 / FPS)  # past the last sample
    assert batch.preview.thumbs.shape == (88, 36, 64, 3) and batch.preview.thumbs.dtype == np.uint8


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuvj420p", "yuv444p"])
def test_given_solid_colours_when_preview_then_rgb_within_a_few_levels(tmp_path, pix_fmt):
    colours = [(200, 40, 30), (20, 180, 60), (30, 60, 210), (128, 128, 128)]
    frames = [np.full((SIZE[1], SIZE[0], 3), c, np.uint8) for c in colours for _ in range(5)]
    path = tmp_path / f"solid-{pix_fmt}.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS, options={"crf": "10"})
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], pix_fmt
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    batch = decode_frames(path, probe(path), Sampling(), Limits())
    means = batch.preview.thumbs[2::5].reshape(4, -1, 3).mean(axis=1)
    assert np.abs(means - np.asarray(colours)).max() < 6, means


def test_given_non_planar_pixels_when_preview_then_swscale_fallback_gives_same_size(tmp_path):
    path = tmp_path / "rgb.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "bgr0"
        for image in held(("coffee", 10)):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    batch = decode_frames(path, probe(path), Sampling(), Limits())
    assert batch.preview.thumbs.shape == (10, 36, 64, 3)
    expected = photo("coffee")[2::5, 2::5][:36, :64].astype(float)
    assert np.abs(batch.preview.thumbs[0].astype(float) - expected).mean() < 20


def test_given_rotated_video_when_preview_then_display_orientation(tmp_path):
    src = write_video(tmp_path / "v.mp4", held(("astronaut", 10)), fps=FPS)
    rotated = fx.rotate_with_pyav(src, tmp_path / "r.mp4", 90)
    batch = decode_frames(rotated, probe(rotated), Sampling(), Limits())
    assert batch.images.shape[1] > batch.images.shape[2]  # portrait
    assert batch.preview.thumbs.shape[1] > batch.preview.thumbs.shape[2]


def test_given_long_video_when_preview_cap_then_evenly_spaced_and_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(pv, "MAX_PREVIEW_FRAMES", 20)
    path = write_video(tmp_path / "v.mp4", held(("camera", 100)), fps=FPS)  # 4 s
    batch = decode_frames(path, probe(path), Sampling(), Limits())
    assert len(batch.preview) <= 20
    assert np.diff(batch.preview.times).min() >= 4.0 / 20 - 1e-6


def test_given_image_then_no_preview(tmp_path):
    path = fx.make_jpeg(tmp_path / "a.jpg", (64, 32))
    assert decode_frames(path, probe(path), Sampling(), Limits()).preview is None


# ------------------------------------------------------------------ frame-level cuts (pure)


COLOURS = np.array([[255, 0, 0], [0, 0, 255], [0, 255, 0]], np.uint8)


def solid(shots: list[int]) -> np.ndarray:
    """Solid thumbnails, one colour per shot number."""
    return np.ascontiguousarray(np.broadcast_to(COLOURS[shots][:, None, None, :], (len(shots), 4, 4, 3)))


def test_given_identical_and_changed_thumbnails_then_change_0_and_large():
    change = fc.frame_changes(solid([0, 0, 1]))
    assert change[0] == 0.0 and change[1] > 20  # red to blue: a third of the hue circle


def test_given_solid_shots_when_detect_then_cut_at_first_frame_of_each_new_shot():
    times = np.arange(12) * 0.04
    steps, changes, ok = fc.detect_frame_cuts(solid([0] * 4 + [1] * 4 + [2] * 4), times, min_gap_s=0.1)
    assert steps.tolist() == [3, 7] and [times[i + 1] for i in steps] == [0.16, pytest.approx(0.32)]
    assert ok.all() and (changes > 15).all()


def test_given_same_palette_other_picture_then_cut():
    # A photo and its mirror image have the same colour histogram: only structure tells them apart.
    a = photo("astronaut")
    b = np.ascontiguousarray(a[:, ::-1])
    thumbs = np.stack([tn(a)] * 6 + [tn(b)] * 6)
    steps, _, _ = fc.detect_frame_cuts(thumbs, np.arange(12) * 0.04)
    assert steps.tolist() == [5]


def test_given_flash_then_not_a_cut():
    a = tn(photo("astronaut"))
    flash = np.full_like(a, 250)
    steps, _, _ = fc.detect_frame_cuts(np.stack([a] * 6 + [flash] * 2 + [a] * 6), np.arange(14) * 0.04)
    assert steps.size == 0


def test_given_slow_pan_over_a_photo_then_no_cut():
    big = photo("astronaut")
    thumbs = np.stack([tn(np.roll(big, 3 * k, axis=1)) for k in range(20)])
    assert fc.detect_frame_cuts(thumbs, np.arange(20) * 0.04)[0].size == 0


def test_given_exposure_jump_of_one_picture_then_not_a_cut():
    # A cloud or the camera's auto exposure: the same picture, 30 % darker from one frame on.
    a = photo("astronaut").astype(np.float32)
    thumbs = np.stack([tn(a.astype(np.uint8))] * 6 + [tn((a * 0.7).astype(np.uint8))] * 6)
    assert fc.frame_changes(thumbs)[5] > 15  # a spike as large as a cut's...
    assert fc.same_picture(thumbs, 5)  # ...between two exposures of one picture
    assert fc.detect_frame_cuts(thumbs, np.arange(12) * 0.04)[0].size == 0


def test_given_other_picture_same_brightness_then_not_same_picture():
    thumbs = np.stack([tn(photo("astronaut")), tn(photo("coffee"))])
    assert not fc.same_picture(thumbs, 0)
    assert not fc.same_picture(solid([0, 1]), 0)  # flat pictures have no structure to compare


def test_given_animation_on_twos_then_baseline_skips_repeated_frames():
    # Drawn on twos: every other step repeats a frame. A step of 1.4x the motion around it is
    # motion, not a cut, although the zeros would halve a plain mean of its neighbours.
    change = np.array([10.0, 0.0, 11.0, 0.0, 15.0, 0.0, 12.0, 0.0, 9.0, 0.0])
    held = fc.neighbour_mean(change, held=fc.HELD_CHANGE)
    assert held[4] == pytest.approx((10 + 11 + 12 + 9) / 4)
    assert fc.neighbour_mean(change)[4] == pytest.approx((11 + 0 + 0 + 12) / 4)
    # A long run of repeats is a still picture: it counts as no motion.
    still = np.array([0.0, 0.0, 0.0, 0.0, 40.0, 0.0, 0.0, 0.0, 0.0])
    assert fc.neighbour_mean(still, held=fc.HELD_CHANGE)[4] == 0.0


def test_given_skipped_stretch_then_step_not_judged():
    times = np.array([0.0, 0.04, 0.08, 5.0, 5.04, 5.08])
    steps, _, ok = fc.detect_frame_cuts(solid([0, 0, 0, 1, 1, 1]), times)
    assert ok.tolist() == [True, True, False, True, True] and steps.size == 0


def tn(rgb: np.ndarray) -> np.ndarray:
    """A 64 x 36 thumbnail of a frame (block means), like the decoder's previews."""
    from factorline.operators.temporal import thumbnails

    return thumbnails(rgb[None])[0]


# ------------------------------------------------------------------ the operator on real video


def test_given_cuts_between_samples_when_shot_cuts_then_frame_exact_times(tmp_path):
    path = write_video(tmp_path / "v.mp4", held(("astronaut", 38), ("coffee", 42), ("rocket", 45)), fps=FPS)
    out = run_shot_cuts(path)
    assert out["cuts_s"] == [pytest.approx(1.52, abs=0.001), pytest.approx(3.2, abs=0.001)]
    assert [e["t"] for e in out["evidence"]] == out["cuts_s"]


def test_given_cut_after_last_sample_when_shot_cuts_then_found(tmp_path):
    path = write_video(tmp_path / "v.mp4", held(("astronaut", 50), ("chelsea", 87), ("rocket", 12)), fps=FPS)
    out = run_shot_cuts(path)  # samples at 0..5 s; the last cut at 5.48 s, 0.48 s after the last sample
    assert out["cuts_s"] == [pytest.approx(2.0, abs=0.001), pytest.approx(5.48, abs=0.001)]


def test_given_fade_out_after_last_sample_then_no_cut(tmp_path):
    frames = held(("astronaut", 100))
    frames += [(frames[-1] * (1 - k / 25)).astype(np.uint8) for k in range(1, 25)]  # 1 s fade to black
    out = run_shot_cuts(write_video(tmp_path / "v.mp4", frames, fps=FPS))
    assert out["count"] == 0


def test_given_batch_without_preview_then_midpoints_as_before():
    images = np.stack([photo(n) for n in ("astronaut",) * 2 + ("coffee",) * 2])
    batch = FrameBatch(images, np.arange(4.0), SIZE[0], SIZE[1])
    info = MediaInfo(id="sha256:t", path="t", kind="video", duration_s=4.0, width=SIZE[0], height=SIZE[1], fps=25.0)
    spec = get_operator("shot_cuts")
    assert spec.run({"frames": batch}, spec.params(), item=info, resources={})["cuts_s"] == [1.5]



def test_given_cut_between_shots_of_one_palette_when_shot_cuts_then_found(tmp_path):
    a = photo("astronaut")
    frames = [a] * 40 + [np.ascontiguousarray(a[:, ::-1])] * 40
    out = run_shot_cuts(write_video(tmp_path / "v.mp4", held_frames(frames), fps=FPS))
    assert out["cuts_s"] == [pytest.approx(1.6, abs=0.001)]


def test_given_static_camera_with_a_passing_object_then_no_cut(tmp_path):
    # a static shot where a bright car-sized block crosses the frame over 3 s
    base = photo("coffee")
    frames = []
    for k in range(75):
        f = base.copy()
        x = 4 * k
        f[60:100, x : x + 60] = (230, 40, 40)
        frames.append(f)
    out = run_shot_cuts(write_video(tmp_path / "v.mp4", held_frames(frames), fps=FPS))
    assert out["count"] == 0


def test_given_camera_flash_in_a_shot_then_no_cut(tmp_path):
    a = photo("astronaut")
    flash = np.clip(a.astype(np.int16) + 160, 0, 255).astype(np.uint8)
    out = run_shot_cuts(write_video(tmp_path / "v.mp4", held_frames([a] * 30 + [flash] * 2 + [a] * 30), fps=FPS))
    assert out["count"] == 0


def held_frames(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Frames with a little noise so H.264 codes every frame."""
    rng = np.random.default_rng(0)
    return [np.clip(f.astype(np.int16) + rng.integers(-3, 4, f.shape), 0, 255).astype(np.uint8) for f in frames]


def test_given_fast_fade_through_black_to_another_shot_then_one_cut_at_the_black():
    # 0.3 s fade out, one black frame, 0.3 s fade in to another picture: no single spike
    a, b = tn(photo("astronaut")), tn(photo("coffee"))
    ramp = [a * (1 - k / 8) for k in range(1, 8)] + [np.zeros_like(a)] + [b * (k / 8) for k in range(1, 8)]
    thumbs = np.stack([a] * 20 + ramp + [b] * 20)
    times = np.arange(len(thumbs)) / 24.0
    steps, _, _ = fc.detect_frame_cuts(thumbs, times)
    assert len(steps) == 1 and abs(times[steps[0] + 1] - 27 / 24.0) <= 1 / 24.0 + 1e-9  # the black frame, +-1


def test_given_fade_through_black_back_to_the_same_shot_then_no_cut():
    a = tn(photo("astronaut"))
    ramp = [a * (1 - k / 8) for k in range(1, 8)] + [np.zeros_like(a)] + [a * (k / 8) for k in range(1, 8)]
    thumbs = np.stack([a] * 20 + ramp + [a] * 20)
    assert fc.detect_frame_cuts(thumbs, np.arange(len(thumbs)) / 24.0)[0].size == 0


def test_given_change_in_the_first_or_last_frames_then_not_a_cut():
    # a codec's odd first frames, a last frame cut to black: too few frames of a shot to judge
    thumbs = solid([0, 0] + [1] * 20 + [2])
    assert fc.detect_frame_cuts(thumbs, np.arange(23) * 0.04, min_gap_s=0.1)[0].size == 0
