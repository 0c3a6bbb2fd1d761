"""Named aggregators that turn per-frame values into one value per item.

An operator that measures something per frame (clarity, a classifier score, ...) exposes an
``aggregate`` parameter typed with :data:`AggregatorName` (or a subset of it) and calls
:func:`aggregate` with the chosen name, so pipelines pick the summary by name:

=============  ====================================================================
``mean``       arithmetic mean of the values
``median``     median of the values (robust to a few odd frames)
``max``        largest value
``min``        smallest value
``share_above`` share of frames whose value is strictly above ``threshold`` (0..1)
``longest_run`` longest run of consecutive frames strictly above ``threshold``: a number
               of frames, or seconds when ``times`` is given (see :func:`longest_run`)
=============  ====================================================================

Conventions, the same for every aggregator:

- an empty input gives ``0.0`` (an item with no frames has no share, no run and no level,
  and a number keeps the rules layer simple);
- NaN values count as missing: they are dropped by ``mean``/``median``/``max``/``min``,
  left out of the denominator of ``share_above`` and break a run in ``longest_run``;
  when every value is missing the result is ``0.0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np

from ..contract.errors import ConfigError

AggregatorName = Literal["mean", "median", "max", "min", "share_above", "longest_run"]
"""Every aggregator name; use it (or a subset) as the type of an operator parameter."""

ScoreAggregatorName = Literal["mean", "median", "max", "min", "share_above"]
"""Aggregators whose result stays in 0..1 when the values do (``longest_run`` counts frames
or seconds, so a 0..1 score field must not offer it)."""

AGGREGATORS: tuple[str, ...] = get_args(AggregatorName)

DESCRIPTIONS: dict[str, str] = {
    "mean": "mean of the per-frame values",
    "median": "median of the per-frame values",
    "max": "largest per-frame value",
    "min": "smallest per-frame value",
    "share_above": "share of frames whose value is above the threshold",
    "longest_run": "longest run of consecutive frames above the threshold (frames, or seconds given times)",
}

_NEEDS_THRESHOLD = frozenset({"share_above", "longest_run"})


def aggregate(
    name: str,
    values: Sequence[float] | np.ndarray,
    *,
    threshold: float | None = None,
    times: Sequence[float] | np.ndarray | None = None,
) -> float:
    """Summarise per-frame ``values`` with the aggregator called ``name``.

    ``threshold`` is required by ``share_above`` and ``longest_run`` ("above" is strict);
    ``times`` (seconds, one per value) turns ``longest_run`` into seconds. Raises
    :class:`~factorline.contract.errors.ConfigError` for an unknown name or a missing threshold.
    """
    if name not in AGGREGATORS:
        raise ConfigError(f"unknown aggregator {name!r}; known aggregators: {', '.join(AGGREGATORS)}")
    if name in _NEEDS_THRESHOLD and threshold is None:
        raise ConfigError(f"aggregator {name!r} needs a threshold")
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if times is not None:
        times = np.asarray(times, dtype=np.float64).reshape(-1)
        if len(times) != len(arr):
            raise ValueError(f"{len(times)} times for {len(arr)} values")
    if name == "longest_run":
        return longest_run(arr, threshold, times=times)  # type: ignore[arg-type]
    present = arr[~np.isnan(arr)]
    if present.size == 0:
        return 0.0
    if name == "share_above":
        return float(np.count_nonzero(present > threshold) / present.size)
    return float({"mean": np.mean, "median": np.median, "max": np.max, "min": np.min}[name](present))


def longest_run(
    values: Sequence[float] | np.ndarray, threshold: float, *, times: Sequence[float] | np.ndarray | None = None
) -> float:
    """Longest run of consecutive values strictly above ``threshold``.

    Without ``times`` the run is counted in frames. With ``times`` it is in seconds: each
    frame stands for the interval up to the next frame's time, and the last frame for the
    median spacing of the frames (0 for a single frame), so a run covering frames i..j lasts
    ``times[j+1] - times[i]`` (or up to the end of the last frame's interval).
    """
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        return 0.0
    above = arr > threshold  # NaN compares False: a missing value breaks a run
    if times is None:
        weights = np.ones(arr.size)
    else:
        t = np.asarray(times, dtype=np.float64).reshape(-1)
        if len(t) != arr.size:
            raise ValueError(f"{len(t)} times for {arr.size} values")
        gaps = np.diff(t)
        last = float(np.median(gaps)) if gaps.size else 0.0
        weights = np.append(gaps, last)
    if not above.any():
        return 0.0
    # Frames of one run share an id: the number of non-above frames seen so far.
    run_ids = np.cumsum(~above)
    totals = np.bincount(run_ids[above], weights=weights[above])
    return float(totals.max())
