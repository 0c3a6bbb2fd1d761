"""``shot_cuts@4``: hard cuts on every decoded frame's thumbnail (:mod:`.frame_cuts`), frame-exact;
between sampled frames (:mod:`.cuts`) where no preview covers the stretch (images, hand-made
batches, stretches the decoder skipped or past the preview cap)."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict
from pydantic import Field as P

from ..contract.items import FrameBatch, MediaInfo, Preview
from ..contract.operator import Output, operator
from .cuts import detect_cuts
from .frame_cuts import detect_frame_cuts
from .layout import detect_bars
from .temporal import batch_thumbnails, crop_fraction


class ShotCutsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    threshold: float = P(
        0.4,
        gt=0.0,
        le=1.0,
        title="Cut threshold",
        description="Colour histogram distance (0 = same colours, 1 = none in common) between two consecutive "
        "sampled frames from which a change counts as a cut.",
    )
    adaptive_ratio: float = P(
        1.8,
        ge=0.0,
        le=20.0,
        title="Adaptive ratio",
        description="A cut's distance must also be this many times the lower quartile of its neighbours' "
        "distances (two pairs on each side), so fast motion needs a clearer jump; 0 turns the check off.",
    )
    min_change: float = P(
        15.0,
        ge=0.0,
        le=255.0,
        title="Frame change",
        description="Smallest change between two consecutive decoded frames (mean hue/saturation/value "
        "difference, 0-255) that can be a cut.",
    )
    change_ratio: float = P(
        3.0,
        ge=1.0,
        le=50.0,
        title="Frame change ratio",
        description="A cut's frame-to-frame change must also be this many times the mean change of the two "
        "steps on each side: camera and subject motion raise every step alike, a cut is a spike.",
    )
    min_gap_s: float = P(
        0.5,
        ge=0.0,
        le=3600.0,
        title="Minimum gap",
        description="Cuts closer than this (seconds) are merged, keeping the strongest.",
    )


@operator(
    name="shot_cuts",
    limits=(
        "Hard cuts only: dissolves, wipes and slow fades spread their change over many frames and are not reported.",
        "Where no decoded-frame preview covers a stretch (images, over 4096 decoded frames, skipped stretches) cuts come from colour histograms between sampled frames: timed to their midpoint, blind to cuts between shots of one palette.",
        "A flash or strobe lasting more than 3 frames can be reported as two cuts.",
        "A cut between two framings of one picture whose brightness alone differs (luma correlation >= 0.9 across the cut) is taken for an exposure change and not reported.",
    ),
    version=4,
    title="Shot cuts",
    group="temporal",
    params=ShotCutsParams,
    fields={
        "cuts_s": Output("list[float]", "time of each hard cut: the first decoded frame of the new shot (the midpoint of the two sampled frames around it where no preview covers them)", unit="s"),
        "count": Output("int", "number of hard cuts"),
    },
)
def shot_cuts(inputs: dict, params: ShotCutsParams, *, item: MediaInfo, resources: dict) -> dict:
    """Hard cuts, found on every decoded frame: a spike of frame-to-frame change against the steps
    around it, flashes left out, each timed to the first frame of the new shot.

    Stretches with no decoder preview (images, hand-made batches, skipped stretches) fall back to
    colour histograms between consecutive sampled frames with an adaptive threshold.
    """
    frames: FrameBatch = inputs["frames"]
    times = np.asarray(frames.times, dtype=float)
    found: list[tuple[float, float, float]] = []  # (time, evidence time, score 0..1)
    seen: list[tuple[float, float]] = []
    preview = frames.preview
    if preview is not None and len(preview) >= 2:
        # Bars (found on the sampled frames, like the fallback's) are left out of every comparison.
        luma = frames.gray
        bars = detect_bars(luma) if len(frames) >= 2 else None
        box = bars.content_box(*luma.shape[1:3]) if bars is not None and bars.any else None
        ptimes, thumbs = preview_thumbs(preview, box, luma.shape[1:3])
        steps, changes, ok = detect_frame_cuts(thumbs, ptimes, min_change=params.min_change,
                                               ratio=params.change_ratio, min_gap_s=params.min_gap_s)
        found = [(float(ptimes[i + 1]), float(ptimes[i + 1]), float(c) / 255.0) for i, c in zip(steps, changes)]
        seen = covered_spans(ptimes, ok)
    uncovered = [i for i in range(len(times) - 1) if not any(a <= times[i] and times[i + 1] <= b for a, b in seen)]
    if uncovered:  # the sampled-frame histograms only where no preview covers a pair (work not done twice)
        cuts = detect_cuts(frames.images, frames.times, thumbs=batch_thumbnails(frames), luma=frames.gray,
                           threshold=params.threshold, adaptive_ratio=params.adaptive_ratio, min_gap_s=params.min_gap_s)
        for i, d in zip(cuts.pairs, cuts.scores):
            if i in uncovered:
                # timed to the midpoint; the evidence is the first sampled frame of the new shot
                found.append((float((times[i] + times[i + 1]) / 2), float(times[i + 1]), float(d)))
    found.sort()
    return {
        "cuts_s": [round(t, 3) for t, _, _ in found],
        "count": len(found),
        "evidence": [{"t": round(t, 3), "score": round(d, 4)} for _, t, d in found],
    }


def preview_thumbs(preview: Preview, box: tuple[int, int, int, int] | None, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The preview's times and thumbnails with the bars (``box``: the picture inside them in a
    frame of ``size``) left out."""
    thumbs = preview.thumbs
    if box is not None:
        thumbs = crop_fraction(thumbs, box, size)
    return np.asarray(preview.times, np.float64), thumbs


def covered_spans(times: np.ndarray, ok: np.ndarray) -> list[tuple[float, float]]:
    """[(start, end)] seconds of the runs of consecutive preview steps with no skipped frame."""
    spans, start = [], None
    for i, good in enumerate(ok):
        if good and start is None:
            start = float(times[i])
        if not good and start is not None:
            spans.append((start, float(times[i])))
            start = None
    if start is not None:
        spans.append((start, float(times[-1])))
    return spans
