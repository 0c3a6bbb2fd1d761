"""The plugin's own tests: factorline's contract battery plus its math."""

from __future__ import annotations

import numpy as np
from glare_plugin.measure import glare_ratios
from glare_plugin.operators import glare

from factorline.testing import check_operator, check_rule_function, operator_cases


@operator_cases([glare])
def test_glare_keeps_the_contract(spec):
    out = check_operator(spec)
    assert 0.0 <= out["ratio"] <= 1.0


def test_white_pixels_are_glare_and_saturated_red_is_not():
    frame = np.zeros((2, 2, 3), np.uint8)
    frame[0, 0] = 255          # white
    frame[0, 1] = (255, 0, 0)  # saturated red
    assert glare_ratios(frame[None], 250).tolist() == [0.25]


def test_between_agrees_in_both_evaluators():
    check_rule_function("between", [(0.1, 0.05, 0.5), (0.6, 0.05, 0.5), (0.05, 0.05, 0.5), (None, 0.0, 1.0)])
