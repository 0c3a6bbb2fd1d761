"""Counting agreement: confusion matrices, precision/recall/F1 with intervals, rule precision.

Precision and recall are proportions, so their intervals are Wilson score intervals (good at
small counts and at 0 or 1, unlike the normal approximation). F1 is not a proportion: its
interval is a percentile bootstrap over items with a fixed seed, so reruns give the same
numbers. An undefined ratio (nothing predicted, nothing expected) is None, never 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

BOOTSTRAP_ROUNDS = 1000
_CHUNK = 100  # bootstrap rounds per numpy batch: bounds memory to _CHUNK x items


def z_value(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval of k successes in n trials (None when n == 0)."""
    if n <= 0:
        return None
    z, p = z_value(confidence), k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At k == 0 (k == n) the bound is exactly 0 (1); say so rather than leave rounding noise.
    return (0.0 if k == 0 else centre - half), (1.0 if k == n else centre + half)


def ratio(k: int, n: int) -> float | None:
    return k / n if n else None


def f1_score(tp: int, predicted: int, actual: int) -> float | None:
    return 2 * tp / (predicted + actual) if predicted + actual else None


def classes_of(expected: Sequence[str], predicted: Sequence[str], first: Sequence[str] = ()) -> list[str]:
    """Every class seen, ``first`` (the table's outcomes in rule order) leading."""
    seen = set(expected) | set(predicted)
    return [c for c in dict.fromkeys(first) if c in seen] + sorted(seen - set(first))


def confusion(expected: Sequence[str], predicted: Sequence[str], classes: Sequence[str]) -> list[list[int]]:
    """``matrix[i][j]``: items expected ``classes[i]`` and predicted ``classes[j]``."""
    at = {c: i for i, c in enumerate(classes)}
    matrix = [[0] * len(classes) for _ in classes]
    for e, p in zip(expected, predicted):
        matrix[at[e]][at[p]] += 1
    return matrix


def class_scores(matrix: list[list[int]], classes: Sequence[str], confidence: float = 0.95) -> dict[str, dict]:
    """Per class: tp, predicted, support (expected), precision, recall, F1, Wilson intervals."""
    out = {}
    for i, c in enumerate(classes):
        tp = matrix[i][i]
        predicted = sum(row[i] for row in matrix)
        support = sum(matrix[i])
        out[c] = {
            "tp": tp, "predicted": predicted, "support": support,
            "precision": ratio(tp, predicted), "precision_ci": wilson(tp, predicted, confidence),
            "recall": ratio(tp, support), "recall_ci": wilson(tp, support, confidence),
            "f1": f1_score(tp, predicted, support),
        }
    return out


def bootstrap_f1(
    expected: Sequence[str], predicted: Sequence[str], classes: Sequence[str], *,
    confidence: float = 0.95, rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0,
) -> dict[str, tuple[float, float] | None]:
    """Percentile bootstrap interval of each class's F1 (items resampled with replacement)."""
    n = len(expected)
    if n == 0:
        return {c: None for c in classes}
    at = {c: i for i, c in enumerate(classes)}
    e = np.array([at[x] for x in expected])
    p = np.array([at[x] for x in predicted])
    rng = np.random.default_rng(seed)
    scores = {c: [] for c in classes}
    for start in range(0, rounds, _CHUNK):
        idx = rng.integers(0, n, size=(min(_CHUNK, rounds - start), n))
        es, ps = e[idx], p[idx]
        for c, k in at.items():
            tp = np.sum((es == k) & (ps == k), axis=1)
            both = np.sum(es == k, axis=1) + np.sum(ps == k, axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                scores[c].append(np.where(both > 0, 2 * tp / np.maximum(both, 1), np.nan))
    tail = 100 * (1 - confidence) / 2
    out = {}
    for c, parts in scores.items():
        values = np.concatenate(parts)
        values = values[~np.isnan(values)]
        out[c] = (float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))) if len(values) else None
    return out


def rule_precision(fired: Sequence[tuple[str, str, str]], confidence: float = 0.95) -> dict[str, dict]:
    """From (rule, its outcome, expected outcome) per firing: how often each rule was right."""
    out: dict[str, dict] = {}
    for rule, outcome, expected in fired:
        row = out.setdefault(rule, {"outcome": outcome, "fired": 0, "agreed": 0})
        row["fired"] += 1
        row["agreed"] += outcome == expected
    for row in out.values():
        row["precision"] = ratio(row["agreed"], row["fired"])
        row["precision_ci"] = wilson(row["agreed"], row["fired"], confidence)
    return out


def binary_scores(expected: Sequence[str], predicted: Sequence[str], positive: str) -> dict:
    """Precision, recall and F1 of one outcome (the sweep's points)."""
    tp = sum(e == positive and p == positive for e, p in zip(expected, predicted))
    pp = sum(p == positive for p in predicted)
    ap = sum(e == positive for e in expected)
    return {"tp": tp, "fp": pp - tp, "fn": ap - tp, "precision": ratio(tp, pp), "recall": ratio(tp, ap),
            "f1": f1_score(tp, pp, ap)}
