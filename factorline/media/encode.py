"""Writing media: used to build the sample set and test fixtures, never on the analysis path."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from functools import cache
from pathlib import Path

import av
import numpy as np


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    *,
    fps: float = 25.0,
    times: Sequence[float] | None = None,
    audio: np.ndarray | None = None,
    audio_rate: int = 16000,
    codec: str = "libx264",
    crf: int = 23,
    preset: str = "veryfast",
) -> Path:
    """Encode RGB uint8 frames (H, W, 3; even sizes) to an MP4, optionally with mono audio.

    ``times`` gives each frame's presentation time in seconds (variable frame rate);
    otherwise frames are spaced 1/fps apart. ``audio`` is float32 mono in [-1, 1].
    RGB -> YUV 4:2:0 runs in OpenCV when it is installed (BT.601 limited range, the same
    values as swscale's default, ~20x faster); otherwise in PyAV's swscale.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    time_base = Fraction(1, 1000) if times is not None else Fraction(1, int(round(fps * 1000))) * 1000
    with av.open(str(path), mode="w") as container:
        stream = None
        for index, frame in enumerate(frames):
            if stream is None:
                height, width = frame.shape[:2]
                stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
                stream.width, stream.height = width, height
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(crf), "preset": preset}
                stream.time_base = time_base
                stream.codec_context.time_base = time_base
                audio_stream = _add_audio_stream(container, audio_rate) if audio is not None else None
            video_frame = _video_frame(frame)
            t = times[index] if times is not None else index / fps
            video_frame.pts = int(round(t / float(time_base)))
            video_frame.time_base = time_base
            # Without a duration the MP4 muxer under-reports a VFR stream's length.
            next_t = times[index + 1] if times is not None and index + 1 < len(times) else t + 1.0 / fps
            video_frame.duration = max(1, int(round((next_t - t) / float(time_base))))
            container.mux(stream.encode(video_frame))
        if stream is None:
            raise ValueError("write_video needs at least one frame")
        container.mux(stream.encode(None))
        if audio is not None:
            _mux_audio(container, audio_stream, audio, audio_rate)
    return path


def _video_frame(frame: np.ndarray) -> av.VideoFrame:
    height, width = frame.shape[:2]
    cv2 = _opencv()
    if cv2 is not None and width % 2 == 0 and height % 2 == 0:
        yuv = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2YUV_I420)
        return av.VideoFrame.from_ndarray(yuv, format="yuv420p")
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")


@cache
def _opencv():
    """OpenCV if installed (rapidocr's opencv-python is, with `make setup`), else None: PyAV converts."""
    try:
        import cv2
    except ImportError:  # pragma: no cover
        return None
    return cv2


def _add_audio_stream(container, rate: int):
    stream = container.add_stream("aac", rate=rate)
    stream.layout = "mono"
    return stream


def _mux_audio(container, stream, samples: np.ndarray, rate: int, chunk: int = 1024) -> None:
    samples = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    for start in range(0, len(samples), chunk):
        block = samples[start : start + chunk][None, :]
        frame = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
