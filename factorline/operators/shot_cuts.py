"""``shot_cuts@2``: hard cuts between sampled frames (:mod:`.cuts`), timed to the frame on the
decoder's previews and completed after the last sample (:mod:`.cut_timing`)."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict
from pydantic import Field as P

from ..core.items import FrameBatch, MediaInfo, Preview
from ..core.operator import Field, operator
from .cut_timing import PreviewTrack, crop_fraction, refine_cut_times, strongest_step, tail_pair
from .cuts import PAN_CORRELATION, SURE_CUT, Cuts, colour_histograms, detect_cuts, histogram_distances, pan_correlations
from .temporal import batch_thumbnails


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
        "Cuts come from colour-histogram changes: cuts between shots of similar palette (dark dialogue scenes) can be missed.",
        "Moving objects in a static camera and large detail changes can give false cuts (CCTV with passing cars, the foreman sequence's pan).",
    ),
    version=2,
    title="Shot cuts",
    group="temporal",
    params=ShotCutsParams,
    fields={
        "cuts_s": Field("list[float]", "time of each hard cut: the first decoded frame of the new shot (the midpoint of the two sampled frames around it for a batch without previews)", unit="s"),
        "count": Field("int", "number of hard cuts"),
    },
)
def shot_cuts(inputs: dict, params: ShotCutsParams, *, item: MediaInfo, resources: dict) -> dict:
    """Hard cuts between consecutive sampled frames, by colour histograms with an adaptive
    threshold, timed and completed with the decoder's previews when the batch has them.

    With previews (decoded videos) a cut is placed on the first frame of the new shot and a
    cut after the last sample is found too; without (hand-made batches) a cut is the
    midpoint of its two samples. Evidence points at the first frame of the new shot.
    """
    frames: FrameBatch = inputs["frames"]
    cuts = detect_cuts(
        frames.images,
        frames.times,
        thumbs=batch_thumbnails(frames),
        luma=frames.gray,
        threshold=params.threshold,
        adaptive_ratio=params.adaptive_ratio,
        min_gap_s=params.min_gap_s,
    )
    times = np.asarray(frames.times, dtype=float)
    if frames.preview is None or len(frames.preview) < 2:
        found = [(float((times[i] + times[i + 1]) / 2), float(t), float(d)) for i, t, d in zip(cuts.pairs, cuts.times, cuts.scores)]
    else:
        track = frames.memo("preview_track", lambda: preview_track(frames.preview, cuts))
        found = [(t, t, float(d)) for t, d in zip(refine_cut_times(cuts.pairs, times, track), cuts.scores)]
        found += _tail_cut(times, track, params, [t for t, _, _ in found])
    return {
        "cuts_s": [round(t, 3) for t, _, _ in found],
        "count": len(found),
        "evidence": [{"t": round(t, 3), "score": round(d, 4)} for _, t, d in found],
    }


def preview_track(preview: Preview, cuts: Cuts) -> PreviewTrack:
    """The preview's thumbnails with the same bars left out as the sampled frames'."""
    thumbs = preview.thumbs
    if cuts.box is not None:
        thumbs = crop_fraction(thumbs, cuts.box, cuts.box_size)
    return PreviewTrack(np.asarray(preview.times, np.float64), thumbs)


def _tail_cut(times: np.ndarray, track: PreviewTrack, params: ShotCutsParams, found: list[float]) -> list:
    """[(time, evidence time, score)] for a cut after the last sample (see :mod:`.cuts`)."""
    stretch = tail_pair(times, track)
    if stretch is None:
        return []
    first, last = stretch
    ends = track.thumbs[[first, last]]
    change = float(histogram_distances(colour_histograms(ends))[0])
    step, jump, shot_change = strongest_step(track, first, last)
    clear = jump >= params.adaptive_ratio * shot_change or jump >= SURE_CUT
    if change < params.threshold or jump < params.threshold or not clear:
        return []
    if pan_correlations(ends)[0] >= PAN_CORRELATION:
        return []
    t = float(track.times[step + 1])
    if any(abs(t - other) < params.min_gap_s for other in found):
        return []
    return [(t, t, jump)]
