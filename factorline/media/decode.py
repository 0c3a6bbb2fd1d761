"""Decoding: sampled RGB frames and mono audio, decoded once per item and shared by operators.

Frames are chosen by time: targets spaced ``1/sampling.fps`` (or spread evenly when that
would exceed the frame cap), and each target takes the first frame whose own timestamp is
at or after it. Only those frames are converted to RGB. Long gaps are crossed by seeking to
the keyframe before the target instead of decoding everything in between.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from pathlib import Path

import av
import av.error
import numpy as np

from factorline.contract.errors import CorruptMediaError, ItemTimeoutError, MediaLimitError
from factorline.contract.items import AudioTrack, FrameBatch, Limits, MediaInfo, Sampling
from factorline.media.preview import PreviewCollector
from factorline.media.probe import open_container, video_stream
from factorline.media.reasons import ffmpeg_reason, translate_errors
from factorline.media.still import image_batch

log = logging.getLogger(__name__)

SEEK_GAP_S = 2.0  # below this, decoding forward is cheaper than a seek + keyframe decode
# Seek this far before a target: index times are decode times, which run up to the B-frame
# delay ahead of presentation times; landing later would skip the true first frame >= target.
SEEK_MARGIN_S = 0.5
# Containers whose seeks land on a keyframe at or before the asked time (sample index, cues).
# MPEG-TS/PS seek by byte search and land on the next keyframe after it: decode those forward.
SEEKABLE = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi"})
_MAX_BAD_PACKETS = 32  # tolerate some damaged packets, then give up on the rest of the file
_KEYFRAME_WAIT = 600  # packets dropped after a seek while waiting for a keyframe (a stream may flag none)

def decode_frames(
    path: str | Path,
    info: MediaInfo,
    sampling: Sampling,
    limits: Limits,
    deadline: float | None = None,
) -> FrameBatch:
    """Sampled frames of a probed item, in display orientation, max side <= sampling.max_side."""
    path = Path(path)
    check_deadline(deadline, path, "before decoding")
    if info.kind == "image":
        return image_batch(path, info, sampling, limits)
    cap = max(1, min(sampling.max_frames, limits.max_frames))
    targets = target_times(info.duration_s, sampling.fps, cap, info.fps, sampling.min_frames)
    with open_container(path, limits) as container:
        stream = video_stream(container, path)
        stream.thread_type = "AUTO"  # frame threads: ~1.4x faster on sequential decode
        preview = PreviewCollector(info.duration_s, info.rotation)
        sampler = _Sampler(container, stream, path, deadline, preview, max_pixels=limits.max_pixels)
        times, images = sampler.run(targets, _analysis_size(stream, sampling.max_side))
    if not images:
        raise CorruptMediaError(f"{path}: no frame could be decoded{sampler.first_error_text()}")
    batch = np.stack([_rotate(image, info.rotation) for image in images])
    scale = max(info.width, info.height) / max(batch.shape[1], batch.shape[2])
    times = np.asarray(times, dtype=np.float64)
    return FrameBatch(batch, times, info.width, info.height, float(scale), preview=preview.result(),
                      planned=len(targets), end_s=sampler.stream_end(info.fps))


def target_times(
    duration: float | None, fps: float, cap: int, source_fps: float | None = None, floor: int = 1
) -> list[float]:
    """Seconds to sample: every 1/fps; ``cap`` spread over the duration when that is more; at
    least ``floor`` spread over a short one (never more than ``cap``, nor than its frames)."""
    if fps <= 0:
        raise ValueError(f"sampling.fps must be > 0, got {fps}")
    if duration is None or duration <= 0:
        return [k / fps for k in range(cap)]  # unknown length: sample until the stream ends
    count = math.floor(duration * fps - 1e-9) + 1
    frame_s = 1.0 / (source_fps or 25.0)
    frames = max(1, math.floor(duration / frame_s + 1e-9))
    least = min(floor, cap, frames)
    if least <= count <= cap:
        return [k / fps for k in range(count)]
    # Spread up to the start of the last frame, so the last target can actually be met.
    end = max(0.0, duration - frame_s)
    return [float(t) for t in np.linspace(0.0, end, cap if count > cap else least)]


def check_deadline(deadline: float | None, path: Path, where: str) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise ItemTimeoutError(f"{path}: ran past its time budget {where}")


def _analysis_size(stream, max_side: int) -> tuple[int, int]:
    """(width, height) in coded orientation so that the longer side is <= max_side."""
    width, height = stream.codec_context.width, stream.codec_context.height
    factor = min(1.0, max_side / max(width, height))
    return max(1, round(width * factor)), max(1, round(height * factor))


def _rotate(image: np.ndarray, rotation: int) -> np.ndarray:
    """Turn a coded-orientation frame clockwise by ``rotation`` degrees (np.rot90 turns ccw)."""
    return np.ascontiguousarray(np.rot90(image, k=-(rotation // 90))) if rotation else image


class _Sampler:
    """Walks one video stream, seeking across long gaps, and picks the frames at the targets."""

    def __init__(self, container, stream, path: Path, deadline: float | None, preview: PreviewCollector | None = None,
                 *, max_pixels: int | None = None):
        self.container, self.stream, self.path, self.deadline = container, stream, path, deadline
        self.max_pixels = max_pixels
        self.preview = preview
        self.time_base = stream.time_base
        self.origin = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        # MP4/AVI index every sample when opened; Matroska and MPEG-TS fill the index while
        # reading (cues on first seek, keyframes found by a seek's search), so theirs is partial.
        self.full_index = len(stream.index_entries) > 1
        self.can_seek = container.format.name in SEEKABLE
        self.errors: list[BaseException] = []
        self.decoded = self.seeks = 0
        self.end_t: float | None = None  # time of the last frame decoded (the stream's end unless it broke off)
        self.packet_end = -math.inf  # end of the last packet read: a held frame (Theora, VFR) decodes to nothing

    def run(self, targets: list[float], size: tuple[int, int]) -> tuple[list[float], list[np.ndarray]]:
        times: list[float] = []
        images: list[np.ndarray] = []
        index, last, last_t, sought = 0, None, -math.inf, -1
        frames = self._frames()
        while index < len(targets):
            if sought < index and self._should_seek(max(last_t, 0.0), targets[index]):
                frames, sought = self._seek(targets[index], last_t), index  # one seek per target at most
            frame = next(frames, None)
            if frame is None:
                break
            last, last_t = frame, self._time(frame, last_t)
            if self.preview is not None:
                self.preview.add(frame, last_t)
            if last_t + 1e-6 < targets[index]:
                continue
            times.append(last_t)
            images.append(self._rgb(frame, size))
            while index < len(targets) and targets[index] <= last_t + 1e-6:
                index += 1  # a frame serves every target it covers: never the same frame twice
        if index < len(targets) and last is not None and self._end_matches(targets, index, times, last_t):
            times.append(last_t)
            images.append(self._rgb(last, size))
        elif self.preview is not None:  # the tail after the last sample: previews only
            for frame in frames:
                last_t = self._time(frame, last_t)
                self.preview.add(frame, last_t)
        self.end_t = last_t if last_t > -math.inf else None
        log.debug("%s: %d frames decoded, %d seeks, %d picked", self.path, self.decoded, self.seeks, len(images))
        return times, images

    def _end_matches(self, targets: list[float], index: int, times: list[float], last_t: float) -> bool:
        """The stream ended before a target: the last frame stands in when it is close to it."""
        if times and times[-1] >= last_t:
            return False
        spacing = targets[1] - targets[0] if len(targets) > 1 else math.inf
        return targets[index] - last_t < spacing / 2

    def _should_seek(self, position: float, target: float) -> bool:
        if not self.can_seek or target - position <= SEEK_GAP_S:
            return False
        keyframe = self._keyframe_before(target - SEEK_MARGIN_S)
        return keyframe is None or keyframe > position + SEEK_GAP_S / 2  # worth a decoder flush

    def _keyframe_before(self, target: float) -> float | None:
        """Time of the last keyframe at or before ``target`` when the index is complete, else None."""
        entries = self.stream.index_entries
        if not self.full_index or self._entry_time(entries[-1]) < target:
            return None
        at = entries.search_timestamp(int((target + self.origin) / self.time_base), backward=True)
        return self._entry_time(entries[at]) if at >= 0 else None

    def _entry_time(self, entry) -> float:
        return float(entry.timestamp * self.time_base) - self.origin

    def _seek(self, target: float, position: float):
        """Frames from a keyframe at or before ``target``.

        Should a demuxer still land after the target (Matroska without cues falls back to a
        search), retry further back, and at worst go back to where decoding already was.
        """
        goals = [target - back for back in (SEEK_MARGIN_S, 4 * SEEK_MARGIN_S) if target - back > position]
        goals.append(max(position, 0.0))
        for goal in goals:
            self.seeks += 1
            with translate_errors(self.path, f"seeking to {goal:.2f} s in"):
                offset = int((goal + self.origin) / self.time_base)
                self.container.seek(offset, stream=self.stream, backward=True)
            frames = self._frames(from_keyframe=True)
            first = next(frames, None)
            if first is not None and self._time(first, goal) <= target + 1e-6:
                break
        return itertools.chain([first] if first is not None else [], frames)

    def _frames(self, from_keyframe: bool = False):
        """Decoded frames, packet by packet, checking the deadline and skipping bad packets.

        ``from_keyframe``: after a seek, packets before the first keyframe are dropped: a demuxer
        without an index (Matroska without cues) may land between keyframes, and VP8/VP9 refuse
        such packets as invalid data, which is not damage (at most ``_KEYFRAME_WAIT`` of them)."""
        demuxer = self.container.demux(self.stream)
        waited = 0
        while True:
            check_deadline(self.deadline, self.path, f"after {self.decoded} decoded frames")
            try:
                packet = next(demuxer, None)
            except av.error.FFmpegError as exc:  # truncated or garbled container: stop here
                self.errors.append(exc)
                packet = None
            if packet is None:  # drain what the (threaded) decoder still holds
                yield from self._decode(None)
                return
            if packet.pts is not None:
                end = float((packet.pts + (packet.duration or 0)) * self.time_base) - self.origin
                self.packet_end = max(self.packet_end, end)
            waited = waited + 1 if from_keyframe else 0
            from_keyframe = from_keyframe and not packet.is_keyframe and waited < _KEYFRAME_WAIT
            if not from_keyframe and packet.size:  # an empty packet holds the previous frame (Theora)
                yield from self._decode(packet)
            if len(self.errors) > _MAX_BAD_PACKETS:
                return

    def _decode(self, packet) -> list:
        try:
            frames = self.stream.decode(packet)
        except av.error.FFmpegError as exc:  # damaged data costs this packet only
            if not isinstance(exc, av.error.EOFError):  # EOF: the decoder was already drained
                self.errors.append(exc)
            return []
        self.decoded += len(frames)
        if self.max_pixels is not None:
            # The header's size was checked by probe; a stream may change size mid-way (a TS
            # switching from 320x240 to 15360x8640), so every decoded frame is checked too.
            for frame in frames:
                if frame.width * frame.height > self.max_pixels:
                    raise MediaLimitError(
                        f"{self.path}: frame {self.decoded} is {frame.width}x{frame.height} = "
                        f"{frame.width * frame.height} pixels, over the cap of {self.max_pixels} pixels "
                        "(the stream changed size after its header); raise the cap (factorline run --max-pixels) "
                        "if such frames are expected"
                    )
        return frames

    def _time(self, frame, previous: float) -> float:
        if frame.pts is None:  # no timestamp: assume the nominal frame step
            rate = self.stream.average_rate or 25
            return previous + 1.0 / float(rate) if previous > -math.inf else 0.0
        return float(frame.pts * (frame.time_base or self.time_base)) - self.origin

    def _rgb(self, frame, size: tuple[int, int]) -> np.ndarray:
        width, height = size
        # AREA averages source pixels when shrinking, so fine detail does not alias.
        interpolation = "AREA" if width < frame.width else None
        with translate_errors(self.path, "converting a frame of"):
            return frame.to_ndarray(width=width, height=height, format="rgb24", interpolation=interpolation)

    def stream_end(self, fps: float | None) -> float | None:
        """Where the decoded stream ended: the last frame shown for one frame step, or the end of
        the last packet read when that is later."""
        ends = [self.packet_end] + ([self.end_t + (1.0 / fps if fps else 0.0)] if self.end_t is not None else [])
        end = max(ends)
        return round(end, 3) if end > -math.inf else None

    def first_error_text(self) -> str:
        return f" ({ffmpeg_reason(self.errors[0])})" if self.errors else ""


def decode_audio(
    path: str | Path,
    info: MediaInfo,
    sampling: Sampling,
    limits: Limits,
    deadline: float | None = None,
) -> AudioTrack:
    """The first audio stream as mono float32 at ``sampling.audio_rate``; silent when absent.

    ``start_s`` is on the same clock as frame times (zero = the video stream's start).
    """
    path = Path(path)
    rate = sampling.audio_rate
    if info.kind != "video" or not info.has_audio:
        return AudioTrack.silent(rate)
    check_deadline(deadline, path, "before decoding audio")
    with open_container(path, limits) as container:
        if not container.streams.audio:
            return AudioTrack.silent(rate)
        video = video_stream(container, path)
        origin = float(video.start_time * video.time_base) if video.start_time is not None else 0.0
        samples, start = _resample(container, container.streams.audio[0], origin, rate, limits, deadline, path)
    np.clip(samples, -1.0, 1.0, out=samples)
    return AudioTrack(samples, rate, max(0.0, start - origin))


def _resample(container, stream, origin: float, rate: int, limits: Limits, deadline: float | None, path: Path):
    """Decode + resample to mono float32; damaged packets are skipped, a broken tail ends it."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    budget = int(limits.max_duration_s * rate)  # headers can lie about the duration
    chunks: list[np.ndarray] = []
    total, start = 0, None
    demuxer = container.demux(stream)
    while total < budget:
        check_deadline(deadline, path, "while decoding audio")
        try:
            packet = next(demuxer, None)
        except av.error.FFmpegError:
            packet = None  # a broken tail ends the track; keep what came before
        try:
            frames = stream.decode(packet)  # None drains the decoder
        except av.error.FFmpegError:
            frames = []
        if start is None and frames and frames[0].time is not None:
            start = frames[0].time
        for frame in frames + ([None] if packet is None else []):  # None drains the resampler
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
                total += len(chunks[-1])
        if packet is None:
            break
    samples = np.concatenate(chunks)[:budget] if chunks else np.zeros(0, dtype=np.float32)
    return samples.astype(np.float32, copy=False), origin if start is None else start
