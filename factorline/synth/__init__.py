"""``factorline synth``: labelled training media composited onto real footage and photos.

Kinds: subtitles, title_card, lower_third, scene_text, watermark (text, :mod:`.kinds_text`);
logo, bars, cuts, fades, flashes, slideshow (picture, :mod:`.kinds_video`). Each sample draws its
parameters from its own seeded generator and carries its exact truth with DESIGN.md's factor
field names (:mod:`.truth`); :mod:`.engine` runs the plan over worker processes, atomically and
resumably; :mod:`.dataset` lets `factorline train` and `compress --data` read the output (and is
imported by them without loading the engine: names below load lazily).
"""

from __future__ import annotations

import importlib

__all__ = ["KINDS", "SYNTH_VERSION", "TEMPORAL_KINDS", "SynthOptions", "SynthResult", "generate"]


def __getattr__(name: str):
    if name in __all__:
        return getattr(importlib.import_module("factorline.synth.engine"), name)
    raise AttributeError(f"module 'factorline.synth' has no attribute {name!r}")
