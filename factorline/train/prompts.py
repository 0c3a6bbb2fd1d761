"""Calibration of zero-shot prompt labels from a few labelled items (``factorline prompts calibrate``).

For every label, the item's raw prompt similarity ``x`` (the cosine of each sampled frame
with the label's prompt ensemble, aggregated over frames as the operator aggregates) is
mapped to a probability ``sigmoid(a * x + b)`` fitted by logistic regression on the labelled
items (Platt scaling: ``a`` is the inverse temperature, ``-b / a`` the cosine of even odds),
and the decision threshold on that probability is the one with the best F1 on those items.

An item labelled ``L`` is a positive of label ``L`` and a negative of every other label;
items whose label names no prompt label (``none``, ``other``) are negatives of all.

The result is JSON (never pickle): :data:`FORMAT`, the backbone and its revision, the labels
with their prompts, the aggregate, and per label ``a``, ``b``, ``threshold`` and the counts
and F1 it was fitted on. The ``prompts`` operator refuses a file whose backbone or prompts
differ from its own parameters, since its numbers would not apply.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ..contract.errors import ConfigError, DataError

FORMAT = "factorline.prompt-calibration/1"


def fit_label(x: np.ndarray, y: np.ndarray) -> dict:
    """``{a, b, threshold, f1, positives, negatives}`` for one label from item scores ``x`` and 0/1 ``y``."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.int64)
    pos, neg = int(y.sum()), int(len(y) - y.sum())
    if pos == 0 or neg == 0:
        raise DataError(f"calibrating a label needs labelled positives and negatives; found {pos} positive(s), "
                        f"{neg} negative(s): add items of the label and of other labels")
    from sklearn.linear_model import LogisticRegression

    spread = float(x.std()) or 1.0
    model = LogisticRegression(C=100.0).fit(((x - x.mean()) / spread).reshape(-1, 1), y)
    a = float(model.coef_[0, 0]) / spread
    b = float(model.intercept_[0]) - a * float(x.mean())
    p = 1.0 / (1.0 + np.exp(-(a * x + b)))
    threshold, f1 = best_threshold(p, y)
    return {"a": round(a, 6), "b": round(b, 6), "threshold": round(threshold, 6), "f1": round(f1, 4),
            "positives": pos, "negatives": neg}


def best_threshold(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The probability cut with the best F1 (ties: the one nearest 0.5), midway between scores."""
    values = np.unique(p)
    cuts = np.concatenate([[0.5], (values[:-1] + values[1:]) / 2]) if len(values) > 1 else np.array([0.5])
    best = (-1.0, 0.5)
    for cut in cuts:
        hit = p >= cut
        tp = int((hit & (y == 1)).sum())
        f1 = 2 * tp / max(1, int(hit.sum()) + int(y.sum()))
        if f1 > best[0] + 1e-12 or (abs(f1 - best[0]) <= 1e-12 and abs(cut - 0.5) < abs(best[1] - 0.5)):
            best = (f1, float(cut))
    return best[1], best[0]


def calibrate(item_cosines: np.ndarray, item_labels: list[str], labels: dict[str, list[str]], *, backbone: str,
              revision: str, aggregate: str) -> dict:
    """The calibration document from (items, labels) aggregated cosines and each item's label."""
    names = list(labels)
    x = np.asarray(item_cosines, np.float64).reshape(len(item_labels), len(names))
    per_label = {}
    for j, name in enumerate(names):
        y = np.array([label == name for label in item_labels], np.int64)
        try:
            per_label[name] = fit_label(x[:, j], y)
        except DataError as exc:
            raise DataError(f"label {name!r}: {exc.message}", path=f"labels.{name}") from exc
    return {"format": FORMAT, "backbone": backbone, "revision": revision, "aggregate": aggregate,
            "labels": {k: list(v) for k, v in labels.items()}, "items": len(item_labels), "per_label": per_label}


def save_calibration(doc: dict, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def load_calibration(path: str | Path) -> tuple[dict, str]:
    """(document, ``sha256:<hex>`` of its bytes); ConfigError saying what is wrong otherwise."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"calibration file {path}: expected a JSON file written by `factorline prompts calibrate`, "
                          "found nothing there", path=str(path))
    data = path.read_bytes()
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise ConfigError(f"calibration file {path} is not JSON ({exc}); rewrite it with `factorline prompts calibrate`",
                          path=str(path)) from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ConfigError(f"calibration file {path}: expected format {FORMAT!r}, found {found!r}", path=str(path))
    for name, entry in (doc.get("per_label") or {}).items():
        if not all(isinstance(entry.get(k), (int, float)) for k in ("a", "b", "threshold")):
            raise ConfigError(f"calibration file {path}: label {name!r} lacks numeric a, b, threshold", path=str(path))
    return doc, "sha256:" + hashlib.sha256(data).hexdigest()
