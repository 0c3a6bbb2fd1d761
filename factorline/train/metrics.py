"""Classification metrics with confidence intervals, and threshold calibration.

Proportions (accuracy, per-class precision and recall) get Wilson score intervals, which stay
inside 0..1 and behave on the tiny test sets of few-shot training; macro F1 gets a seeded
percentile bootstrap over test items. Every number is rounded to :data:`DIGITS` places, so a
card compares equal to its recomputation when the predictions are the same.
"""

from __future__ import annotations

import math

import numpy as np

DIGITS = 6
Z95 = 1.959964
BOOTSTRAP = 1000


def _r(x: float) -> float:
    return round(float(x), DIGITS)


def wilson(k: int, n: int, z: float = Z95) -> list[float]:
    """95% Wilson score interval of a proportion k/n ([0, 1] when n is 0)."""
    if n == 0:
        return [0.0, 1.0]
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return [_r(max(0.0, centre - half)), _r(min(1.0, centre + half))]


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Macro F1 over the last axis (works on a (B, n) stack of resamples at once)."""
    scores = []
    for c in range(n_classes):
        tp = np.sum((y_true == c) & (y_pred == c), axis=-1)
        fp = np.sum((y_true != c) & (y_pred == c), axis=-1)
        fn = np.sum((y_true == c) & (y_pred != c), axis=-1)
        denom = 2 * tp + fp + fn
        scores.append(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0))
    return np.mean(scores, axis=0)


def predict(proba: np.ndarray, positive: int | None = None, threshold: float | None = None) -> np.ndarray:
    """Class indices: argmax, or for a binary task positive iff its probability >= threshold."""
    if positive is None or threshold is None:
        return np.argmax(proba, axis=1)
    other = 1 - positive
    return np.where(proba[:, positive] >= threshold, positive, other)


def classification_metrics(y: np.ndarray, proba: np.ndarray, classes: list[str], *, positive: int | None = None,
                           threshold: float | None = None, seed: int = 0) -> dict:
    """Headline and per-class metrics of item-level probabilities against labels ``y``."""
    y = np.asarray(y, dtype=np.int64)
    pred = predict(proba, positive, threshold)
    n, k = len(y), len(classes)
    correct = int(np.sum(pred == y))
    recalls = [np.mean(pred[y == c] == c) for c in range(k) if np.any(y == c)]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(BOOTSTRAP, n)) if n else np.zeros((BOOTSTRAP, 0), np.int64)
    boot = macro_f1(y[idx], pred[idx], k)
    clipped = np.clip(proba[np.arange(n), y], 1e-12, 1.0) if n else np.ones(0)
    out = {
        "n": n,
        "accuracy": _r(correct / n) if n else 0.0,
        "accuracy_ci": wilson(correct, n),
        "balanced_accuracy": _r(np.mean(recalls)) if recalls else 0.0,
        "macro_f1": _r(macro_f1(y, pred, k)),
        "macro_f1_ci": [_r(np.percentile(boot, 2.5)), _r(np.percentile(boot, 97.5))],
        "log_loss": _r(-np.mean(np.log(clipped))) if n else 0.0,
        "per_class": per_class(y, pred, classes),
    }
    if k == 2 and positive is not None:
        out.update(binary_metrics(y == positive, proba[:, positive]))
    return out


def per_class(y: np.ndarray, pred: np.ndarray, classes: list[str]) -> dict:
    out = {}
    for c, name in enumerate(classes):
        tp = int(np.sum((y == c) & (pred == c)))
        predicted, support = int(np.sum(pred == c)), int(np.sum(y == c))
        p = tp / predicted if predicted else 0.0
        r = tp / support if support else 0.0
        out[name] = {"precision": _r(p), "precision_ci": wilson(tp, predicted), "recall": _r(r),
                     "recall_ci": wilson(tp, support), "f1": _r(2 * p * r / (p + r) if p + r else 0.0), "support": support}
    return out


def binary_metrics(is_pos: np.ndarray, score: np.ndarray) -> dict:
    """Threshold-free ranking quality of the positive-class score."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    if is_pos.all() or not is_pos.any():
        return {"roc_auc": None, "average_precision": None}
    return {"roc_auc": _r(roc_auc_score(is_pos, score)), "average_precision": _r(average_precision_score(is_pos, score))}


def calibrate_threshold(is_pos: np.ndarray, score: np.ndarray, target: str, value: float) -> tuple[float, float, bool]:
    """(threshold, achieved value, reached) for "precision >= value" or "recall >= value".

    Precision target: the lowest threshold whose precision reaches it (most recall kept).
    Recall target: the highest threshold whose recall reaches it (most precision kept).
    When no threshold reaches the target, the best achievable one is returned, reached False.
    Thresholds are the candidates' own scores (a rule "score >= t").
    """
    is_pos = np.asarray(is_pos, dtype=bool)
    candidates = np.unique(np.round(score, DIGITS))
    rows = []
    for t in candidates:
        chosen = score >= t
        tp = int(np.sum(chosen & is_pos))
        precision = tp / int(chosen.sum()) if chosen.any() else 0.0
        recall = tp / int(is_pos.sum()) if is_pos.any() else 0.0
        rows.append((float(t), precision, recall))
    if target == "precision":
        good = [r for r in rows if r[1] >= value]
        best = min(good, key=lambda r: r[0]) if good else max(rows, key=lambda r: (r[1], -r[0]))
        return _r(best[0]), _r(best[1]), bool(good)
    good = [r for r in rows if r[2] >= value]
    best = max(good, key=lambda r: r[0]) if good else max(rows, key=lambda r: (r[2], r[0]))
    return _r(best[0]), _r(best[2]), bool(good)


def mean_std(values: list[float]) -> dict:
    arr = np.asarray(values, dtype=np.float64)
    return {"mean": _r(arr.mean()), "std": _r(arr.std()), "values": [_r(v) for v in arr]}
