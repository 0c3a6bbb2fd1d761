"""What one sample is (:class:`Spec` in, :class:`Sample` out) and its truth record.

The truth holds every fact known about the sample with DESIGN.md's factor field names, negatives
included (a clip without bars says so), plus ``onscreen_text`` (every text drawn, with its class,
box and time span) and, for clips, ``flashes`` and ``fades``. Factors that do not apply to a still
(``shot_cuts``, ``black_frames``, ``flashes``, ``fades``) are absent from its record; a still's texts
have ``start_s = end_s = 0``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from factorline.samples import facts

TEXT_CLASSES = ("subtitle", "title_card", "lower_third", "scene_text", "watermark", "logo")


@dataclass(frozen=True)
class Spec:
    """The shape of one sample: output size (w, h), frame count (1 for a still), frame rate."""

    size: tuple[int, int]
    frames: int
    fps: float
    still: bool = False

    @property
    def duration_s(self) -> float:
        return 0.0 if self.still else self.frames / self.fps

    @property
    def scale(self) -> float:
        """Pixel sizes are drawn for a 360-px-high frame and scaled by this."""
        return self.size[1] / 360.0

    def t(self, frame: int) -> float:
        """Time (s) of the start of ``frame``; 0 for a still."""
        return 0.0 if self.still else round(frame / self.fps, 3)

    def px(self, rng: np.random.Generator, low: float, high: float) -> int:
        """A pixel size drawn in [low, high] at 360 px and scaled to the frame (at least 8)."""
        return max(8, int(round(rng.uniform(low, high) * self.scale)))


@dataclass
class Sample:
    """Frames to write (lazy for clips; one for a still), the drawn parameters and the truth."""

    frames: Iterable[np.ndarray]
    params: dict
    truth: dict


@dataclass
class Facts:
    """Facts collected while a sample is composed; :meth:`record` turns them into the truth."""

    spec: Spec
    border: dict | None = None
    subtitle_lines: list[dict] = field(default_factory=list)
    subtitle_language: str | None = None
    logo_box: list[int] | None = None
    cuts: list[int] = field(default_factory=list)  # frame indices of new shots
    black: list[tuple[int, int]] = field(default_factory=list)  # (first, end) frame spans, pure black
    flashes: list[tuple[int, int]] = field(default_factory=list)  # (first, end) frame spans
    fades: list[dict] = field(default_factory=list)  # {type: in|out, first, end}
    texts: list[dict] = field(default_factory=list)
    slideshow: bool | None = None  # recorded (``slideshow.is_slideshow``) only by kinds that decide it

    def text(self, cls: str, text: str, box: Sequence[int], span: tuple[int, int], language: str) -> None:
        self.texts.append(facts.onscreen_text(cls, text, box, self.spec.t(span[0]), self.spec.t(span[1]), language))

    def subtitle(self, text: str, box: Sequence[int], span: tuple[int, int]) -> None:
        self.subtitle_lines.append({"start_s": self.spec.t(span[0]), "end_s": self.spec.t(span[1]), "text": text,
                                    "box": [int(v) for v in box]})

    def record(self) -> dict:
        spec = self.spec
        subtitles = facts.subtitle_lines(self.subtitle_lines, spec.duration_s, self.subtitle_language)
        if spec.still:
            subtitles["coverage"] = 1.0 if self.subtitle_lines else 0.0
        out = {
            "black_border": self.border or facts.border(spec.size),
            "subtitles": subtitles,
            "logo": facts.logo(self.logo_box),
            "onscreen_text": self.texts,
        }
        if self.slideshow is not None:
            out["slideshow"] = {"is_slideshow": bool(self.slideshow)}
        if not spec.still:
            out["shot_cuts"] = facts.shot_cuts([spec.t(i) for i in sorted(set(self.cuts))])
            out["black_frames"] = facts.black_frames(
                [{"start_s": spec.t(a), "end_s": spec.t(b)} for a, b in self.black], spec.duration_s)
            out["flashes"] = {"count": len(self.flashes), "times_s": [spec.t(a) for a, _ in self.flashes],
                              "segments": [{"start_s": spec.t(a), "end_s": spec.t(b)} for a, b in self.flashes]}
            out["fades"] = [{"type": f["type"], "start_s": spec.t(f["first"]), "end_s": spec.t(f["end"])} for f in self.fades]
        return out


def union_box(boxes: Sequence[Sequence[int]]) -> list[int]:
    """The smallest [x, y, w, h] holding every box."""
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    return [int(x0), int(y0), int(x1 - x0), int(y1 - y0)]


def plain(value):
    """``value`` with numpy scalars and tuples turned into JSON's plain types (params are recorded)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, float):
        return round(value, 4)
    return value
