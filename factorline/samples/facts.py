"""Ground-truth records: factor facts keyed by operator name, with DESIGN.md's field names.

Every item gets every fact known about it (a clean clip says ``has_subtitles: false`` and
zero borders) so an evaluation can count false positives as well as misses. A factor that
is absent from an item's record is unknown or does not apply (no ``speech`` for an image).
"""

from __future__ import annotations

from collections.abc import Sequence

from factorline.samples.audio import speech_ratio
from factorline.samples.transforms import Size, border_area_ratio

# The demo's ``moderation`` decision table: send framed or blurry media to a human.
REVIEW_BORDER_RATIO = 0.2  # border.area_ratio above this is "letterboxed/pillarboxed"
REVIEW_BLUR_SIGMA = 4.0  # Gaussian blur at or above this many px reads as "blurry"


def border(size: Size, top: int = 0, bottom: int = 0, left: int = 0, right: int = 0, fill: str = "black") -> dict:
    """``black_border`` facts; ``fill`` is black/blurred, forced to "none" when there are no bars."""
    ratio = border_area_ratio(size, top, bottom, left, right)
    return {
        "top": top,
        "bottom": bottom,
        "left": left,
        "right": right,
        "area_ratio": ratio,
        "fill": fill if ratio > 0 else "none",
    }


def subtitle_lines(lines: Sequence[dict], duration_s: float, language: str | None = None) -> dict:
    """``subtitles`` facts from lines [{text, start_s, end_s, box}]; coverage is share of time shown."""
    shown = sum(line["end_s"] - line["start_s"] for line in lines)
    return {
        "has_subtitles": bool(lines),
        "coverage": round(shown / duration_s, 4) if duration_s else 0.0,
        "text": "\n".join(line["text"] for line in lines),
        "lines": [dict(line) for line in lines],
        "language": language,
    }


def logo(box: Sequence[int] | None = None) -> dict:
    """``logo`` facts: a static logo is present in every frame, hence persistence 1."""
    if box is None:
        return {"has_logo": False, "box": None, "persistence": 0.0}
    return {"has_logo": True, "box": [int(v) for v in box], "persistence": 1.0}


def speech(segments: Sequence[dict], duration_s: float, language: str | None = None, *, words: bool = True) -> dict:
    """``speech`` facts; ``segments`` are where a voice is audible. ``words=False``: a voice
    without words (a yawn, a laugh): voice activity in ``segments``, but no speech."""
    return {
        "has_speech": bool(segments) and words,
        "speech_ratio": speech_ratio(list(segments), duration_s),
        "segments": [dict(seg) for seg in segments],
        "language": language,
    }


def shot_cuts(cuts_s: Sequence[float]) -> dict:
    """``shot_cuts`` facts: times (s) of the first frame of each new shot."""
    return {"cuts_s": [round(float(t), 3) for t in cuts_s], "count": len(cuts_s)}


def black_frames(segments: Sequence[dict], duration_s: float) -> dict:
    """``black_frames`` facts from black spans [{start_s, end_s}]; ratio is the share of time black."""
    black = sum(seg["end_s"] - seg["start_s"] for seg in segments)
    return {"ratio": round(black / duration_s, 4) if duration_s else 0.0,
            "segments": [{"start_s": round(float(s["start_s"]), 3), "end_s": round(float(s["end_s"]), 3)} for s in segments]}


def onscreen_text(cls: str, text: str, box: Sequence[int], start_s: float, end_s: float, language: str) -> dict:
    """One drawn text: its class (subtitle, title_card, lower_third, scene_text, watermark, logo),
    inked box [x, y, w, h] and the time span it is shown."""
    return {"class": cls, "text": text, "box": [int(v) for v in box], "start_s": round(float(start_s), 3),
            "end_s": round(float(end_s), 3), "language": language}


def video_facts(
    size: Size,
    duration_s: float,
    *,
    black_border: dict | None = None,
    blur_sigma: float = 0.0,
    subtitles: dict | None = None,
    logo_box: Sequence[int] | None = None,
    slideshow: bool = False,
    speech_facts: dict | None = None,
    cuts_s: Sequence[float] = (),
) -> dict:
    """The full set of known facts for a video item; defaults describe a clean, silent clip."""
    return {
        "black_border": black_border or border(size),
        "clarity": {"blur_sigma": float(blur_sigma)},
        "subtitles": subtitles or subtitle_lines([], duration_s),
        "logo": logo(logo_box),
        "slideshow": {"is_slideshow": bool(slideshow)},
        "speech": speech_facts or speech([], duration_s),
        "shot_cuts": shot_cuts(cuts_s),
    }


def image_facts(size: Size, *, black_border: dict | None = None, blur_sigma: float = 0.0) -> dict:
    """The known facts for a still image (no time-based factors apply)."""
    return {
        "black_border": black_border or border(size),
        "clarity": {"blur_sigma": float(blur_sigma)},
        "subtitles": subtitle_lines([], 0.0),
        "logo": logo(None),
    }


def expected_outcomes(factors: dict) -> dict:
    """What the demo pipeline's decision tables should say about an item with these facts."""
    framed = factors["black_border"]["area_ratio"] > REVIEW_BORDER_RATIO
    blurry = factors["clarity"]["blur_sigma"] >= REVIEW_BLUR_SIGMA
    return {"moderation": "review" if framed or blurry else "accept"}
