"""Scoring shared by the accuracy benchmarks: precision/recall/F1, event and segment matching, IoU."""

from __future__ import annotations

import numpy as np


def prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "tp": tp, "fp": fp, "fn": fn}


def binary_f1(pairs: list[tuple[bool, bool]]) -> dict:
    """F1 of (truth, predicted) booleans."""
    tp = sum(t and p for t, p in pairs)
    fp = sum(p and not t for t, p in pairs)
    fn = sum(t and not p for t, p in pairs)
    return prf(tp, fp, fn)


def match_times(pred: list[float], truth: list[float], tol: float) -> tuple[int, int, int, list[float]]:
    """Greedy one-to-one matching of event times within ``tol``, closest pairs first."""
    pairs = sorted(
        (abs(p - t), i, j) for i, p in enumerate(pred) for j, t in enumerate(truth) if abs(p - t) <= tol + 1e-9
    )
    used_p, used_t, errors = set(), set(), []
    for d, i, j in pairs:
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
            errors.append(d)
    tp = len(errors)
    return tp, len(pred) - tp, len(truth) - tp, errors


def match_segments(pred: list[dict], truth: list[dict], tol: float) -> tuple[int, int, int]:
    """Segments match one to one when both ends are within ``tol``."""
    used, tp = set(), 0
    for seg in truth:
        for i, p in enumerate(pred):
            if (
                i not in used
                and abs(p["start_s"] - seg["start_s"]) <= tol + 1e-9
                and abs(p["end_s"] - seg["end_s"]) <= tol + 1e-9
            ):
                used.add(i)
                tp += 1
                break
    return tp, len(pred) - tp, len(truth) - tp


def interval_iou(a: list[dict], b: list[dict], duration: float, step: float = 0.01) -> float:
    grid = np.arange(0.0, duration, step) + step / 2

    def mask(segs):
        m = np.zeros(grid.shape, bool)
        for s in segs:
            m |= (grid >= s["start_s"]) & (grid < s["end_s"])
        return m

    ma, mb = mask(a), mask(b)
    union = np.count_nonzero(ma | mb)
    return float(np.count_nonzero(ma & mb) / union) if union else 1.0


def box_iou(a: list[int], b: list[int]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union else 0.0


def spearman(x: list[float], y: list[float]) -> float:
    from scipy.stats import spearmanr

    if len(set(x)) < 2 or len(set(y)) < 2:
        return 0.0
    return float(spearmanr(x, y).statistic)


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(float(np.mean(values)), 4) if values else None
