"""Probing: decide what an item is from its bytes and refuse what the limits forbid.

Everything here reads headers only (plus, for video, the first decoded frame, because
PyAV exposes the display matrix on frames and not on streams), so a hostile file is
refused before anything large is allocated. The helpers that open files and translate
decoder exceptions into factorline errors are shared with ``decode``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import av
import av.error
from PIL import Image, UnidentifiedImageError

from factorline.contract.errors import CorruptMediaError, MediaError, MediaLimitError, UnsupportedMediaError
from factorline.contract.items import Limits, MediaInfo
from factorline.media.reasons import (
    IMAGE_ERRORS,
    IMAGE_SIGNATURES,
    content,
    damaged_image,
    ffmpeg_reason,
    head,
    known_signature,
    not_a_file,
    translate_errors,
    unreadable_image,
)

_CHUNK = 1 << 20
_FIRST_FRAME_PACKETS = 512  # a stream that yields no picture in this many packets is broken

# EXIF orientation -> clockwise rotation part (2, 4, 5, 7 also mirror; decode honours that).
EXIF_ROTATION = {1: 0, 2: 0, 3: 180, 4: 180, 5: 90, 6: 90, 7: 270, 8: 270}



def file_digest(path: str | Path) -> str:
    """``"sha256:<hex>"`` of the file bytes, read in chunks so size does not matter."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(chunk)
    except OSError as exc:
        raise MediaError(f"cannot read {path}: {exc.strerror or exc}", cause=exc) from exc
    return f"sha256:{digest.hexdigest()}"


def probe(path: str | Path, limits: Limits = Limits(), *, digest: str | None = None) -> MediaInfo:
    """Describe one item, refusing it with a MediaError when it is unusable or over a cap.

    ``digest``: the item's ``file_digest`` when the caller already has it (saves a re-read).
    """
    path = Path(path)
    check_size(path, limits)
    with open_image(path, limits) as image:
        still = image is not None and not _is_animated_gif(image, limits)
        info = _probe_image(path, image, limits) if still else None
    info = info or _probe_video(path, limits)
    # Hashed last: no point reading all of a file that is refused.
    return dataclasses.replace(info, id=digest or file_digest(path))


def check_size(path: Path, limits: Limits) -> int:
    try:
        size = path.stat().st_size
    except OSError as exc:
        detail = f"it is {not_a_file(path)}" if path.is_symlink() else exc.strerror or str(exc)
        raise MediaError(f"cannot read {path}: {detail}", cause=exc) from exc
    what = not_a_file(path)
    if what:
        raise UnsupportedMediaError(f"{path} is not a regular file: it is {what}; give the media file itself")
    if size == 0:
        raise CorruptMediaError(f"{path} is empty (0 bytes); expected an image or a video")
    if size > limits.max_file_bytes:
        raise MediaLimitError(f"{path} is {size} bytes, over the cap of {limits.max_file_bytes} bytes")
    return size


# ---------------------------------------------------------------- images


@contextlib.contextmanager
def open_image(path: Path, limits: Limits) -> Iterator[Image.Image | None]:
    """Yield the lazily opened image when Pillow recognises an accepted format, else None.

    Pillow's own bomb guard is aligned with ``limits.max_pixels`` and its warning made an
    error, so even a caller that skips our pixel check cannot allocate a huge image.
    """
    Image.MAX_IMAGE_PIXELS = limits.max_pixels  # global in Pillow: the last caller's cap wins
    try:
        with warnings.catch_warnings():  # not thread-safe: kept to the header read only
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path, formats=sorted(limits.image_formats))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _pixel_error(path, _bomb_size(exc), limits, exc) from exc
    except UnidentifiedImageError as exc:
        _check_not_an_image(path, limits, exc)
        image = None
    except IMAGE_ERRORS as exc:
        raise damaged_image(path, known_signature(head(path)) or "image", exc) from exc
    try:
        yield image
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaLimitError(f"{path}: {exc}", cause=exc) from exc
    except IMAGE_ERRORS as exc:
        if isinstance(exc, MediaError):
            raise
        raise damaged_image(path, image.format if image is not None else "image", exc) from exc
    finally:
        if image is not None:
            image.close()


def _check_not_an_image(path: Path, limits: Limits, exc: BaseException) -> None:
    """Pillow did not take the file: refuse it here when its bytes say it is a still image
    (damaged, undecodable here, or of a format outside the allowlist); FFmpeg would read a
    damaged PNG as 'png_pipe' and an AVIF as an MP4 movie."""
    announced = known_signature(head(path))
    if announced not in IMAGE_SIGNATURES:
        return
    if announced in limits.image_formats and _pillow_decodes(announced):
        raise damaged_image(path, announced, exc) from exc
    if not _pillow_decodes(announced):
        raise unreadable_image(path, announced) from exc
    raise UnsupportedMediaError(f"{path}: image format {announced} is not accepted; accepted: {_accepted(limits)}", cause=exc)


def _pillow_decodes(image_format: str) -> bool:
    """Whether this Pillow build has a decoder for ``image_format`` (HEIC needs a plugin; AVIF
    needs a Pillow built with libavif)."""
    Image.init()
    if image_format == "AVIF":
        from PIL import AvifImagePlugin

        return bool(getattr(AvifImagePlugin, "SUPPORTED", False))
    return image_format in Image.OPEN


def _is_animated_gif(image: Image.Image, limits: Limits) -> bool:
    """Animated GIFs are videos (if the gif container is accepted); other formats use frame 0."""
    return image.format == "GIF" and "gif" in limits.containers and bool(getattr(image, "is_animated", False))


def _probe_image(path: Path, image: Image.Image, limits: Limits) -> MediaInfo:
    width, height = image.size
    check_pixels(path, width, height, limits)
    rotation = EXIF_ROTATION.get(exif_orientation(image), 0)
    if rotation in (90, 270):
        width, height = height, width
    return MediaInfo(
        id="",  # filled in by probe()
        path=str(path),
        kind="image",
        duration_s=None,
        width=width,
        height=height,
        fps=None,
        rotation=rotation,
        container=image.format or "",
        frame_count=1,
    )


def exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation tag (1 when absent or unreadable: bad EXIF must not sink a photo)."""
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - EXIF parsers raise anything on garbage
        return 1
    return value if value in EXIF_ROTATION else 1


def check_pixels(path: Path, width: int, height: int, limits: Limits) -> None:
    if width * height > limits.max_pixels:
        raise _pixel_error(path, f"{width}x{height} = {width * height} pixels", limits)


def _bomb_size(exc: BaseException) -> str:
    """'N pixels' out of Pillow's bomb message (it does not expose the size otherwise)."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    return f"{found.group(1)} pixels" if found else str(exc)


def _pixel_error(path: Path, found: str, limits: Limits, cause: BaseException | None = None) -> MediaLimitError:
    return MediaLimitError(
        f"{path}: frame size {found} is over the cap of {limits.max_pixels} pixels; refused from its header, before "
        "decoding: downscale it, or raise the cap (factorline run --max-pixels) if such frames are expected",
        cause=cause,
    )


# ---------------------------------------------------------------- video


def _probe_video(path: Path, limits: Limits) -> MediaInfo:
    with open_container(path, limits) as container:
        stream = video_stream(container, path)
        width, height = stream.codec_context.width, stream.codec_context.height
        if not width or not height:
            raise CorruptMediaError(f"{path}: video stream declares no frame size ({width}x{height})")
        check_pixels(path, width, height, limits)
        duration = stream_duration(container, stream)
        if duration is not None and duration > limits.max_duration_s:
            raise MediaLimitError(
                f"{path} lasts {duration:.1f} s, over the cap of {limits.max_duration_s:.0f} s: cut it into parts, "
                "or raise the cap (factorline run --max-duration)"
            )
        rotation = _first_frame_rotation(container, stream, path)
        rate = stream.average_rate or stream.guessed_rate
        if rotation in (90, 270):
            width, height = height, width
        return MediaInfo(
            id="",  # filled in by probe()
            path=str(path),
            kind="video",
            duration_s=duration,
            width=width,
            height=height,
            fps=float(rate) if rate else None,
            has_audio=bool(container.streams.audio),
            rotation=rotation,
            container=container.format.name,
            frame_count=stream.frames or None,
            pixel_aspect=pixel_aspect(stream),
        )


# Pixel aspect ratios outside this range are broken tags, not pictures (FFmpeg itself warns
# about them): such an item is treated as square-pixelled.
PIXEL_ASPECT_RANGE = (0.1, 10.0)


def pixel_aspect(stream) -> float:
    """The stream's sample aspect ratio as a float (1.0 when absent, 0:1 or out of
    :data:`PIXEL_ASPECT_RANGE`): the container's value first, then the codec's, as FFmpeg's
    ``av_guess_sample_aspect_ratio`` does."""
    for value in (getattr(stream, "sample_aspect_ratio", None), stream.codec_context.sample_aspect_ratio):
        if value and value.denominator:
            ratio = float(value)
            if PIXEL_ASPECT_RANGE[0] <= ratio <= PIXEL_ASPECT_RANGE[1]:
                return round(ratio, 6)
    return 1.0


@contextlib.contextmanager
def open_container(path: Path, limits: Limits) -> Iterator[av.container.InputContainer]:
    """Open ``path`` with PyAV, refusing containers outside ``limits.containers``."""
    with translate_errors(path, "opening"):
        try:
            container = av.open(str(path), metadata_errors="ignore")
        except av.error.FFmpegError as exc:
            raise _unreadable(path, limits, exc) from exc
    try:
        name = container.format.name
        if name not in limits.containers:
            image_format = _foreign_image_format(path)
            found = f"image format {image_format}" if image_format else f"container '{name}' ({content(path)})"
            raise UnsupportedMediaError(f"{path}: {found} is not accepted; accepted: {_accepted(limits)}")
        with translate_errors(path, "reading"):
            yield container
    finally:
        container.close()


def video_stream(container, path: Path):
    """The first real video stream (cover art in audio files does not count)."""
    if not container.streams:
        raise CorruptMediaError(f"{path}: the container holds no streams; the file is damaged or truncated")
    for stream in container.streams.video:
        if stream.disposition & av.stream.Disposition.attached_pic:
            continue
        if stream.codec_context is None:
            raise UnsupportedMediaError(f"{path}: no decoder for its video stream (codec id unknown or damaged)")
        return stream
    found = ", ".join(f"{s.type} ({s.codec_context.name if s.codec_context else '?'})" for s in container.streams)
    raise UnsupportedMediaError(f"{path} has no video stream (found: {found}); expected a video")


def stream_duration(container, stream) -> float | None:
    """Seconds: the longer of the stream's and the container's durations, else frames / rate.

    The longer one, because muxers derive the stream duration from decode timestamps, which
    undercount variable-frame-rate video with B-frames; an overcount (a longer audio track)
    only costs a few targets past the last frame, which sampling tolerates.
    """
    found = []
    if stream.duration is not None and stream.time_base:
        found.append(float(stream.duration * stream.time_base))
    if container.duration is not None:
        found.append(container.duration / av.time_base)
    if found:
        return max(found)
    rate = stream.average_rate
    return float(stream.frames / rate) if stream.frames and rate else None


def _first_frame_rotation(container, stream, path: Path) -> int:
    """Clockwise display rotation, read from the first frame's display matrix.

    PyAV reports ``frame.rotation`` counter-clockwise (FFmpeg's convention); we store the
    clockwise turn to apply, which is what ffmpeg's autorotate does for the same file.
    Damaged packets are skipped: a picture later in the stream still makes the item usable.
    """
    error: BaseException | None = None
    packets = container.demux(stream)
    for _ in range(_FIRST_FRAME_PACKETS):
        try:
            packet = next(packets, None)
            if packet is None:
                break
            frames = packet.decode()
        except av.error.FFmpegError as exc:
            error = error or exc
            if isinstance(exc, av.error.EOFError):
                break
            continue
        if frames:
            return int(round(-frames[0].rotation / 90.0)) % 4 * 90
    detail = f" (first error: {ffmpeg_reason(error)})" if error else ""
    raise CorruptMediaError(f"{path}: no decodable video frame found; the video stream is empty or damaged{detail}")


def _foreign_image_format(path: Path) -> str | None:
    """Pillow's name for an image format outside the allowlist (FFmpeg would say 'jpeg_pipe')."""
    try:
        with Image.open(path) as image:
            return image.format
    except Exception:  # noqa: BLE001 - only used to word an error message
        return None


def _accepted(limits: Limits) -> str:
    return f"images {', '.join(sorted(limits.image_formats))}; videos in {' | '.join(sorted(limits.containers))}"


def _unreadable(path: Path, limits: Limits, exc: BaseException) -> MediaError:
    """Neither Pillow nor FFmpeg could open the file: damaged if it looks like media, else foreign."""
    known = known_signature(head(path))
    if known:
        return CorruptMediaError(f"{path} looks like {known} but cannot be opened: {ffmpeg_reason(exc)}", cause=exc)
    return UnsupportedMediaError(
        f"{path} is not a recognised image or video: found {content(path)}; accepted: {_accepted(limits)}",
        cause=exc,
    )
