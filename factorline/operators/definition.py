"""Definition: how much picture a viewer gets, in lines, whatever the stored size.

``clarity`` is resolution-independent on purpose (a sharp 320x240 clip is sharp), and
``upscaled`` says whether the stored size is real. A rule that wants "low definition" needs
both in one number: a 320x240 Cinepak clip and a 1080p upscale of it show the same picture.
``definition@1`` reports the **effective lines**: the shorter side, in px, that the picture
really resolves, the least of

1. the stored shorter side (coded size, rotation and pixel-aspect tags ignored);
2. the native shorter side estimated from the spatial spectrum
   (:func:`~factorline.operators.resolution.coded_estimate`, the ``upscaled`` measurement:
   an upscaled picture has no energy above its original's Nyquist frequency);
3. the blur limit: clarity's cut-off level ``c`` (:func:`~factorline.operators.quality.detail_levels`,
   median over frames with detail) says detail dies out at about ``2**c`` px of the working
   size (shorter side ``s`` <= 360 px), so the picture resolves about ``s / 2**c`` lines when
   ``c > 0`` (sharp pictures have ``c < 0`` and no blur limit).

``level`` names the band (``low`` under :data:`SD_LINES`, ``sd`` under :data:`HD_LINES`,
else ``hd``) and ``limited_by`` which of the three set the number. ``blockiness`` measures
compression blocks apart from that: the excess of luma steps on the 8-px coding grid over
steps elsewhere (0: none; 0.5: boundaries carry 1.5x the steps of block interiors), on the coded
grid at analysis size.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict
from pydantic import Field as P

from ..contract.items import FrameBatch, MediaInfo
from ..contract.operator import Output, operator
from .quality import detail_levels
from .resolution import coded_estimate, coded_luma

SD_LINES = 360  # under this many effective lines: low definition (below "360p")
HD_LINES = 720  # from this many: high definition ("720p" and up)
BLOCK = 8  # the DCT block size of MPEG-family codecs (H.264's 4x4 transforms sit inside it)
LEVELS = ("low", "sd", "hd")
# Luma steps (levels) added to both means: flat frames read 0, flat blocks still count.
STEP_FLOOR = 0.5


class DefinitionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    low_below: int = P(
        SD_LINES,
        ge=16,
        le=4320,
        title="Low below",
        description="Effective lines under this make low_definition true (360: below 360p).",
    )
    working_height: int = P(
        360, ge=64, le=1080, title="Working height",
        description="Shorter side (px) at which blur is measured, as in clarity.",
    )


# --------------------------------------------------------------------------- pure functions


def blur_lines(level: float, working_short: float) -> float:
    """Lines a picture whose detail dies out at ``2**level`` working px resolves (inf when
    ``level`` <= 0: detail reaches the finest band, blur sets no limit)."""
    if not math.isfinite(level):
        return 0.0 if level > 0 else math.inf
    return working_short / 2.0**level if level > 0 else math.inf


def grid_blockiness(luma: np.ndarray, block: int = BLOCK) -> float:
    """Excess of mean absolute luma steps across ``block``-px grid lines over the steps inside
    blocks, averaged over both axes of (N, H, W) frames, floored at 0 (0.0 for frames smaller
    than two blocks or without any step)."""
    excess = []
    for axis in (2, 1):
        if luma.shape[axis] < 2 * block:
            continue
        steps = np.abs(np.diff(luma.astype(np.float32), axis=axis))
        profile = steps.mean(axis=tuple(a for a in (0, 1, 2) if a != axis))
        usable = len(profile) // block * block
        cells = profile[:usable].reshape(-1, block)
        edges, inner = cells[:, block - 1].mean(), np.delete(cells, block - 1, axis=1).mean()
        excess.append((edges + STEP_FLOOR) / (inner + STEP_FLOOR) - 1.0)
    return round(max(0.0, float(np.mean(excess))), 4) if excess else 0.0


def effective_lines(stored_short: int, native_short: int, blur_limit: float) -> tuple[int, str]:
    """(lines, what limited them): the least of the three, ties going to the earlier cause."""
    candidates = (("frame size", float(stored_short)), ("upscaling", float(native_short)), ("blur", blur_limit))
    cause, value = min(candidates, key=lambda kv: kv[1])
    return max(1, int(round(value))), cause


def level_of(lines: int) -> str:
    return LEVELS[0] if lines < SD_LINES else LEVELS[1] if lines < HD_LINES else LEVELS[2]


# --------------------------------------------------------------------------- operator


@operator(
    name="definition",
    limits=(
        "The upscale estimate is made at analysis resolution: sources above max_side (1280 by default) can be shown to come from under about 400 lines, not from 720 rather than 1080; such sources read hd unless upscaled from far lower.",
        "Graphics and flat animation with little fine detail can read as upscaled, so as lower definition than they are.",
        "blockiness is a measurement, not a verdict: screen recordings and graphics with 8-px aligned edges read blocky, and block edges of sources larger than max_side are averaged away before it is measured.",
    ),
    version=1,
    title="Definition",
    group="quality",
    params=DefinitionParams,
    fields={
        "lines": Output("int", "shorter side (px) the picture really resolves: least of stored size, native size before upscaling, blur limit", unit="px"),
        "level": Output("str", "low (< 360 lines), sd (< 720) or hd", values=LEVELS),
        "low_definition": Output("bool", "lines under the low_below parameter"),
        "limited_by": Output("str", "what set lines: frame size, upscaling or blur", values=("frame size", "upscaling", "blur")),
        "stored_lines": Output("int", "the stored shorter side", unit="px"),
        "blockiness": Output("float", "excess of luma steps on the 8-px coding grid over block interiors (0: none)"),
    },
)
def definition(inputs: dict, params: DefinitionParams, *, item: MediaInfo, resources: dict) -> dict:
    """Effective resolution of the content: what a viewer sees, whatever size it is stored at.

    A 320x240 clip and a 1080p upscale of it both read about 240 lines (``low``); a sharp
    1080p original reads 1080 (``hd``).
    """
    frames: FrameBatch = inputs["frames"]
    coded = coded_luma(frames, item)  # turned back once, for the estimate and for blockiness
    native = coded_estimate(frames, item, coded=coded)
    stored_short = min(frames.source_width, frames.source_height)
    native_short = min(native["native_width"], native["native_height"])
    levels, flat, working_short = detail_levels(frames.gray, working_height=params.working_height)
    detailed = levels[~flat] if (~flat).any() else np.array([])
    level = float(np.median(detailed)) if detailed.size else -math.inf
    blur_limit = blur_lines(level, working_short)
    lines, cause = effective_lines(stored_short, native_short, blur_limit)
    evidence = []
    if len(frames):
        evidence.append({
            "t": round(float(np.asarray(frames.times, np.float64)[0]), 3),
            "score": float(lines),
            "text": f"stored {stored_short}, native {native_short}, blur limit "
            f"{round(blur_limit) if math.isfinite(blur_limit) else 'none'}"
            f" (detail to 2^{round(level, 2) if math.isfinite(level) else level} px at {round(working_short)} px)",
        })
    return {
        "lines": lines,
        "level": level_of(lines),
        "low_definition": lines < params.low_below,
        "limited_by": cause,
        "stored_lines": int(stored_short),
        "blockiness": grid_blockiness(coded[0]),
        "evidence": evidence,
    }
