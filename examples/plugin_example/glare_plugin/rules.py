"""``between(x, lo, hi)`` for the rule language: one declaration, both evaluators."""

from __future__ import annotations

from factorline.sdk import rule_function


@rule_function(args=("number", "number", "number"), returns="bool", constant=(1, 2),
               vector=lambda x, lo, hi: x.is_between(lo, hi), example="between(glare.ratio, 0.05, 0.5)")
def between(x: float, lo: float, hi: float) -> bool:
    """Whether lo <= x <= hi."""
    return lo <= x <= hi
