"""Named frame -> item aggregators (factorline.operators.aggregate)."""

from typing import get_args

import numpy as np
import pytest

from factorline.contract.errors import ConfigError
from factorline.operators.aggregate import (
    AGGREGATORS,
    DESCRIPTIONS,
    AggregatorName,
    ScoreAggregatorName,
    aggregate,
    longest_run,
)

VALUES = [0.2, 0.9, 0.8, 0.1, 0.7, 0.95, 0.6]


@pytest.mark.parametrize(
    "name, expected",
    [("mean", np.mean(VALUES)), ("median", 0.7), ("max", 0.95), ("min", 0.1)],
)
def test_given_values_when_statistic_aggregated_then_numpy_statistic(name, expected):
    assert aggregate(name, VALUES) == pytest.approx(expected)


def test_given_threshold_when_share_above_then_strict_share():
    # 0.9, 0.8, 0.7, 0.95 are above 0.6; 0.6 itself is not ("above" is strict)
    assert aggregate("share_above", VALUES, threshold=0.6) == pytest.approx(4 / 7)


def test_given_runs_when_longest_run_in_frames_then_count_of_longest():
    # above 0.5: F T T F T T T  -> longest run is 3 frames
    assert aggregate("longest_run", VALUES, threshold=0.5) == 3.0


def test_given_times_when_longest_run_then_seconds_until_next_frame():
    times = [0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 7.0]
    # run covers frames 4..6: from t=4 to the end of the last frame (7 + median gap 1) = 4 s
    assert aggregate("longest_run", VALUES, threshold=0.5, times=times) == pytest.approx(4.0)
    # run in the middle: frames 1..2 last from t=1 to t=3
    assert longest_run([0, 1, 1, 0], 0.5, times=[0.0, 1.0, 2.0, 3.0]) == pytest.approx(2.0)


def test_given_one_frame_with_times_when_longest_run_then_zero_seconds():
    assert longest_run([1.0], 0.5, times=[3.0]) == 0.0
    assert longest_run([1.0], 0.5) == 1.0


@pytest.mark.parametrize("name", AGGREGATORS)
def test_given_empty_input_when_aggregated_then_zero(name):
    assert aggregate(name, [], threshold=0.5) == 0.0
    assert aggregate(name, [], threshold=0.5, times=[]) == 0.0


def test_given_nan_values_when_aggregated_then_treated_as_missing():
    values = [0.2, float("nan"), 0.8, 0.9]
    assert aggregate("mean", values) == pytest.approx((0.2 + 0.8 + 0.9) / 3)
    assert aggregate("min", values) == pytest.approx(0.2)
    assert aggregate("share_above", values, threshold=0.5) == pytest.approx(2 / 3)
    # NaN breaks a run: 0.8, 0.9 is the longest
    assert aggregate("longest_run", [0.9, float("nan"), 0.8, 0.9], threshold=0.5) == 2.0
    assert aggregate("median", [float("nan")]) == 0.0


def test_given_numpy_array_when_aggregated_then_returns_python_float():
    out = aggregate("max", np.array([1, 2, 3], dtype=np.int64))
    assert type(out) is float and out == 3.0


def test_given_unknown_name_when_aggregated_then_error_lists_known_names():
    with pytest.raises(ConfigError, match=r"unknown aggregator 'avg'; known aggregators: mean, median, max, min"):
        aggregate("avg", VALUES)
    with pytest.raises(ConfigError, match="share_above, longest_run"):
        aggregate("p90", VALUES)


@pytest.mark.parametrize("name", ["share_above", "longest_run"])
def test_given_threshold_aggregator_without_threshold_then_clear_error(name):
    with pytest.raises(ConfigError, match=f"aggregator '{name}' needs a threshold"):
        aggregate(name, VALUES)


def test_given_times_of_wrong_length_then_value_error():
    with pytest.raises(ValueError, match="3 times for 7 values"):
        aggregate("longest_run", VALUES, threshold=0.5, times=[0, 1, 2])


def test_literal_types_match_the_registry_and_descriptions():
    assert get_args(AggregatorName) == AGGREGATORS
    assert set(get_args(ScoreAggregatorName)) == set(AGGREGATORS) - {"longest_run"}
    assert set(DESCRIPTIONS) == set(AGGREGATORS)
