"""Words for what went wrong with a file: its format from its first bytes, and decoder errors
(FFmpeg's error numbers, Pillow's exceptions) turned into what they mean and what to do.

A user never sees ``[Errno 1094995529]``: every message built here names the file, says what
the decoder found, and how to get a usable file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import av.error
from PIL import Image, UnidentifiedImageError

from factorline.contract.errors import CorruptMediaError, FactorlineError, MediaLimitError, UnsupportedMediaError

# Magic bytes of containers we accept: a file that starts like one of these but cannot be
# opened is damaged (CorruptMediaError), not merely of the wrong kind. Images first: a RIFF
# file is a WebP image when its bytes 8-12 say so (see ``known_signature``).
_SIGNATURES = {
    b"\x1a\x45\xdf\xa3": "Matroska/WebM",
    b"RIFF": "RIFF/AVI",
    b"FLV": "FLV",
    b"OggS": "Ogg",
    b"GIF8": "GIF",
    b"\x00\x00\x01\xba": "MPEG-PS",
    b"\x89PNG": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}
# ISO base media files: the brand at bytes 8-12 tells a still image (HEIF family) from a movie.
_IMAGE_BRANDS = {b"avif": "AVIF", b"avis": "AVIF", b"heic": "HEIC", b"heix": "HEIC", b"heim": "HEIC",
                 b"heis": "HEIC", b"mif1": "HEIF", b"msf1": "HEIF", b"hevc": "HEIC"}
# Formats named by ``known_signature`` that are still images (Pillow's names where it has one).
IMAGE_SIGNATURES = frozenset({"PNG", "JPEG", "WEBP", "TIFF", "BMP", "AVIF", "HEIC", "HEIF"})

# Pillow raises all of these on damaged image data.
IMAGE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError)

# FFmpeg error class -> (what it means, what to do). Checked in order: the first match wins.
_FFMPEG_MEANINGS: tuple[tuple[type, str, str], ...] = (
    (av.error.InvalidDataError, "FFmpeg found invalid data (the file is damaged, cut short, or not the format it looks like)",
     "re-export or re-download it"),
    (av.error.EOFError, "the file ends before the data it announces (it was cut short)", "copy or download it again"),
    (av.error.DecoderNotFoundError, "this FFmpeg build has no decoder for its codec", "convert it to H.264 or VP9"),
    (av.error.DemuxerNotFoundError, "this FFmpeg build cannot read its container", "remux it to MP4 or MKV"),
    (av.error.PatchWelcomeError, "it uses a codec feature FFmpeg does not implement", "convert it to H.264 or VP9"),
    (av.error.MemoryError, "the decoder ran out of memory", "run fewer workers or give the machine more memory"),
    (av.error.PermissionError, "permission denied", "make the file readable by this user"),
    (av.error.FileNotFoundError, "the file does not exist any more", "check that it was not moved or deleted"),
    (av.error.BugError, "FFmpeg hit an internal error on it", "convert it with the ffmpeg command line"),
)


def not_a_file(path: Path) -> str | None:
    """None for a regular file (links followed); else what ``path`` is, in words."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if not path.is_symlink():
            return f"unreadable ({exc.strerror or exc})"
        if exc.errno == errno.ELOOP:
            return "a symbolic link that loops back on itself"
        return f"a broken symbolic link (it points to {os.readlink(path)}, which does not exist)"
    if stat.S_ISREG(mode):
        return None
    link = f"a symbolic link to {os.readlink(path)}, which is " if path.is_symlink() else ""
    if stat.S_ISDIR(mode):
        return link + "a folder"
    if stat.S_ISFIFO(mode):
        return link + "a named pipe (FIFO): reading it could wait forever"
    if stat.S_ISSOCK(mode):
        return link + "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return link + "a device: reading it may never end"
    return link + "not a regular file"


def head(path: Path, size: int = 64) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(size)


def known_signature(first: bytes) -> str | None:
    """The media format the first bytes announce (``"PNG"``, ``"MP4/QuickTime"``...), else None."""
    if first[4:8] == b"ftyp" and first[8:12] in _IMAGE_BRANDS:
        return _IMAGE_BRANDS[first[8:12]]
    if first[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide"):
        return "MP4/QuickTime"
    if first.startswith(b"RIFF") and first[8:12] == b"WEBP":
        return "WEBP"
    if first.startswith(b"BM") and first[6:10] == bytes(4):  # "BM", file size, 4 reserved zero bytes
        return "BMP"
    return next((name for magic, name in _SIGNATURES.items() if first.startswith(magic)), None)


def content(path: Path) -> str:
    first = head(path)
    return known_signature(first) or describe_bytes(first)


def describe_bytes(first: bytes) -> str:
    """A short human description of unknown content, for error messages."""
    text = first.decode("utf-8", "ignore")  # "ignore": the 64-byte cut may split a character
    if len(text) >= len(first) // 2 and all(ch.isprintable() or ch in "\r\n\t" for ch in text):
        return f"text ({text[:32].replace(chr(10), ' ')!r}...)"
    return f"unrecognised binary data starting with {first[:8].hex(' ')}"


def ffmpeg_reason(exc: BaseException) -> str:
    """What an FFmpeg (PyAV) error means and what to do about it, without its error number."""
    for kind, meaning, todo in _FFMPEG_MEANINGS:
        if isinstance(exc, kind):
            return f"{meaning}; {todo}"
    words = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return f"FFmpeg: {words}; re-export the file or convert it with the ffmpeg command line"


def pillow_reason(exc: BaseException) -> str:
    """Pillow's complaint in words (its 'cannot identify' names the file again: say what it means)."""
    if isinstance(exc, UnidentifiedImageError):
        return "its header cannot be parsed"
    text = str(exc).strip() or type(exc).__name__
    return "the file ends before its picture data does (it was cut short)" if "truncated" in text.lower() else text


def damaged_image(path: Path, image_format: str, exc: BaseException) -> CorruptMediaError:
    """``path`` announces ``image_format`` but Pillow cannot decode it."""
    return CorruptMediaError(
        f"{path} is a damaged {image_format} image: {pillow_reason(exc)}; re-export or re-download it", cause=exc)


def unreadable_image(path: Path, image_format: str) -> UnsupportedMediaError:
    """An image format this installation recognises but cannot decode (HEIC without a HEIF plugin)."""
    return UnsupportedMediaError(
        f"{path} is a {image_format} image, which this installation cannot decode (Pillow has no {image_format} "
        "support); convert it to JPEG, PNG or AVIF first")


@contextlib.contextmanager
def translate_errors(path: Path, doing: str, errors: tuple = (av.error.FFmpegError,)) -> Iterator[None]:
    """Turn decoder exceptions into a CorruptMediaError naming the file and the step.

    Only the decoder's own exception types are caught, so a bug of ours still surfaces as one.
    """
    try:
        yield
    except FactorlineError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaLimitError(f"{path}: {exc}", cause=exc) from exc
    except av.error.FFmpegError as exc:
        raise CorruptMediaError(f"{doing} {path} failed: {ffmpeg_reason(exc)}", cause=exc) from exc
    except (*errors, MemoryError) as exc:
        reason = "out of memory" if isinstance(exc, MemoryError) else pillow_reason(exc)
        raise CorruptMediaError(f"{doing} {path} failed: {reason}", cause=exc) from exc
