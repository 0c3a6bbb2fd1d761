"""What a bad file's error says: the file, what it is, what went wrong, what to do.

Damaged images are named as damaged images (not as a container 'png_pipe' that is not
accepted), FFmpeg's error numbers are put in words, AVIF and HEIC are recognised as images.
"""

from __future__ import annotations

import av.error
import media_fixtures as fx
import numpy as np
import pytest
from PIL import Image

from factorline.contract.errors import CorruptMediaError, UnsupportedMediaError
from factorline.contract.items import Limits, Sampling
from factorline.media import decode_frames, probe
from factorline.media.reasons import ffmpeg_reason

FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP", "tif": "TIFF"}


def _picture(path):
    pixels = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _decode(path):
    info = probe(path)
    return info, decode_frames(path, info, Sampling(), Limits())


@pytest.mark.parametrize("suffix", sorted(FORMATS))
@pytest.mark.parametrize("damage", ["zeroed", "cut"])
def test_a_damaged_image_is_named_as_one(tmp_path, suffix, damage):
    data = _picture(tmp_path / f"good.{suffix}").read_bytes()
    path = tmp_path / f"{damage}.{suffix}"
    path.write_bytes(data[:16] + bytes(len(data) - 16) if damage == "zeroed" else data[: len(data) // 3])
    with pytest.raises(CorruptMediaError) as err:
        _decode(path)
    message = err.value.message
    assert message.startswith(f"{path} is a damaged {FORMATS[suffix]} image: ")
    assert message.endswith("; re-export or re-download it")
    assert "not accepted" not in message and "_pipe" not in message and "Errno" not in message


def test_a_truncated_image_says_it_was_cut_short(tmp_path):
    data = _picture(tmp_path / "good.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 3])
    with pytest.raises(CorruptMediaError, match=r"cut.png is a damaged PNG image: the file ends before its picture data "
                                                r"does \(it was cut short\); re-export or re-download it"):
        _decode(tmp_path / "cut.png")


def test_ffmpeg_error_numbers_are_put_in_words(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(500))
    with pytest.raises(CorruptMediaError) as err:
        probe(junk)
    assert err.value.message == (
        f"{junk} looks like MP4/QuickTime but cannot be opened: FFmpeg found invalid data (the file is damaged, "
        "cut short, or not the format it looks like); re-export or re-download it")


@pytest.mark.parametrize(("error", "words"), [
    (av.error.InvalidDataError(1094995529, "Invalid data found when processing input"), "FFmpeg found invalid data"),
    (av.error.EOFError(541478725, "End of file"), "the file ends before the data it announces (it was cut short); copy"),
    (av.error.PatchWelcomeError(1163346256, "Not yet implemented in FFmpeg, patches welcome"), "FFmpeg does not implement"),
    (av.error.UndefinedError(-1, "boom"), "FFmpeg: boom; re-export the file or convert it"),
])
def test_every_ffmpeg_error_says_what_it_means_and_what_to_do(error, words):
    reason = ffmpeg_reason(error)
    assert words in reason and "Errno" not in reason and "; " in reason


def test_a_stream_without_a_decodable_frame_reports_the_first_error_in_words(tmp_path):
    clip = fx.faststart_copy(fx.make_video(tmp_path / "n.mp4", 1.5, fps=10.0, noise=True), tmp_path / "fs.mp4")
    stub = fx.truncate(clip, tmp_path / "stub.mp4", 0.05)  # the index survives, the first frame does not
    with pytest.raises(CorruptMediaError) as err:
        probe(stub)
    assert err.value.message.startswith(f"{stub}: no decodable video frame found; the video stream is empty or damaged "
                                        "(first error: FFmpeg found invalid data")
    assert "Errno" not in err.value.message


def test_avif_is_an_image(tmp_path):
    path = _picture(tmp_path / "photo.avif")
    info, batch = _decode(path)
    assert (info.kind, info.container, info.duration_s) == ("image", "AVIF", None)
    assert batch.images.shape == (1, 64, 96, 3)


def test_heic_is_recognised_as_an_image_this_installation_cannot_decode(tmp_path):
    path = tmp_path / "phone.heic"
    path.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(400))
    with pytest.raises(UnsupportedMediaError, match=r"phone.heic is a HEIC image, which this installation cannot decode "
                                                    r"\(Pillow has no HEIC support\); convert it to JPEG, PNG or AVIF"):
        probe(path)
