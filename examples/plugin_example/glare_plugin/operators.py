"""The ``glare`` operator: how much of the picture is blown out to white."""

from __future__ import annotations

from factorline.sdk import Output, Param, Params, operator

from . import levels  # noqa: F401  (registers the glare_levels resource when imported directly)
from .measure import glare_ratios


class GlareParams(Params):
    level: str = Param("white", title="Level", description="Which grey level counts as glare: white or near_white.",
                       pattern="^(white|near_white)$")
    min_ratio: float = Param(0.05, ge=0, le=1, title="Minimum share",
                             description="A frame has glare when at least this share of its pixels is blown out.")


@operator(name="glare", version=1, title="Glare", group="quality", params=GlareParams, resources=("glare_levels",),
          fields={"ratio": Output("float", "mean share of blown-out pixels over the sampled frames", unit="ratio"),
                  "frame_ratios": Output("list[float]", "share of blown-out pixels per sampled frame"),
                  "has_glare": Output("bool", "whether any frame has at least min_ratio blown out")},
          limits=("white walls and snow count as glare",))
def glare(inputs, params: GlareParams, *, item, resources) -> dict:
    """Share of blown-out (white) pixels per frame and over the item."""
    frames = inputs["frames"]
    ratios = glare_ratios(frames.images, resources["glare_levels"][params.level])
    flagged = ratios >= params.min_ratio
    return {
        "ratio": ratios.mean() if len(ratios) else None,   # numpy values are fine: converted before the check
        "frame_ratios": ratios,
        "has_glare": flagged.any(),
        "evidence": [{"t": float(t), "score": float(r)} for t, r, f in zip(frames.times, ratios, flagged) if f],
    }
