"""The training protocol: one pure function from embeddings and labels to a head and its metrics.

Items are first put in a canonical order (by content digest), so the same data gives the same
splits wherever it lives. For the first seed:

1. a stratified held-out split of items (``test_size``);
2. stratified k-fold cross-validation on the training part (k lowered to the smallest class
   count when needed), whose out-of-fold probabilities also calibrate the decision threshold
   of a binary task for the target precision or recall;
3. the head fitted on the whole training part, scored on the held-out part with per-class
   metrics and intervals, next to the two baselines fitted on the same part.

Every other seed repeats the split and the fit, giving the spread of test accuracy and macro
F1 across seeds. ``factorline eval`` runs this same function again and compares every number.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from ..models.heads import Head
from .features import Features
from .fit import HeadParams, fit_head, item_proba, majority_proba, prototype_baseline
from .metrics import calibrate_threshold, classification_metrics, macro_f1, mean_std, predict


@dataclass(frozen=True)
class Protocol:
    head: HeadParams = field(default_factory=HeadParams)
    seeds: tuple[int, ...] = (0, 1, 2)
    folds: int = 5
    test_size: float = 0.25
    positive: str | None = None  # binary tasks: the class the score is about
    target: tuple[str, float] | None = None  # ("precision" | "recall", value)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["seeds"], out["target"] = list(self.seeds), list(self.target) if self.target else None
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Protocol:
        return cls(HeadParams(**data["head"]), tuple(data["seeds"]), data["folds"], data["test_size"], data["positive"],
                   tuple(data["target"]) if data.get("target") else None)  # type: ignore[arg-type]


@dataclass
class Outcome:
    head: Head
    classes: list[str]
    splits: dict[str, list[int]]  # split name -> item indices (canonical order)
    metrics: dict
    decision: dict  # positive, threshold, threshold_rule


def split_digest(items: list[tuple[str, str]]) -> str:
    """sha256 of a split's sorted (content digest, label) pairs."""
    body = json.dumps(sorted(items), separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(body).hexdigest()


def canonical(features: Features) -> Features:
    """Features with items sorted by digest (rows follow their items)."""
    order = sorted(range(len(features.examples)), key=lambda i: features.examples[i].digest)
    new_index = np.empty(len(order), np.int64)
    new_index[order] = np.arange(len(order))
    rows = np.argsort(new_index[features.item], kind="stable")
    return Features(features.x[rows], new_index[features.item][rows], [features.examples[i] for i in order], features.bad)


def _split(y: np.ndarray, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    n_test = max(int(round(test_size * len(y))), len(set(y.tolist())))
    train, test = train_test_split(idx, test_size=n_test, stratify=y, random_state=seed)
    return np.sort(train), np.sort(test)


def _rows(features: Features, items: np.ndarray) -> np.ndarray:
    return np.isin(features.item, items)


def _fit(protocol: Protocol, f: Features, y_items: np.ndarray, items: np.ndarray, classes: list[str], seed: int) -> Head:
    rows = _rows(f, items)
    return fit_head(protocol.head, f.x[rows], y_items[f.item[rows]], f.weights()[rows], classes, seed)


def run(features: Features, protocol: Protocol, tick: Callable[[str], None] = lambda _: None) -> Outcome:
    """Fit and score the head as the module docstring says (``tick`` reports progress)."""
    f = canonical(features)
    classes = sorted({e.label for e in f.examples})
    y = np.array([classes.index(e.label) for e in f.examples])
    binary = len(classes) == 2
    positive = classes.index(protocol.positive) if binary and protocol.positive else (1 if binary else None)
    seed = protocol.seeds[0]
    train, test = _split(y, protocol.test_size, seed)
    cv, oof = _cross_validate(f, y, train, classes, protocol, seed, tick)
    decision = _decision(classes, positive, y[train] if binary else None, oof, protocol)
    head = _fit(protocol, f, y, train, classes, seed)
    tick("final head")
    threshold = decision.get("threshold")
    test_metrics = classification_metrics(y[test], item_proba(head, f.x, f.item, test), classes, positive=positive,
                                          threshold=threshold, seed=seed)
    metrics = {"test": test_metrics, "cv": cv, "folds": cv.pop("k"),
               "baselines": _baselines(f, y, train, test, classes, seed),
               "seeds": _seeds(f, y, classes, protocol, (positive, threshold),
                               (test_metrics["accuracy"], test_metrics["macro_f1"]), tick)}
    return Outcome(head, classes, {"train": train.tolist(), "test": test.tolist()}, metrics, decision)


def _cross_validate(f, y, train, classes, protocol, seed, tick) -> tuple[dict, np.ndarray]:
    from sklearn.model_selection import StratifiedKFold

    k = min(protocol.folds, int(np.bincount(y[train]).min()))
    oof = np.zeros((len(train), len(classes)))
    acc, f1 = [], []
    if k < 2:  # too few examples for folds: no CV, no calibration
        return {"k": 0, "accuracy": mean_std([0.0]), "macro_f1": mean_std([0.0])}, oof
    for fit_idx, val_idx in StratifiedKFold(k, shuffle=True, random_state=seed).split(train, y[train]):
        head = _fit(protocol, f, y, train[fit_idx], classes, seed)
        proba = item_proba(head, f.x, f.item, train[val_idx])
        oof[val_idx] = proba
        pred = np.argmax(proba, axis=1)
        acc.append(float(np.mean(pred == y[train[val_idx]])))
        f1.append(float(macro_f1(y[train[val_idx]], pred, len(classes))))
        tick("cross-validation fold")
    return {"k": k, "accuracy": mean_std(acc), "macro_f1": mean_std(f1)}, oof


def _decision(classes, positive, y_train, oof, protocol: Protocol) -> dict:
    if positive is None:
        return {"positive": None, "threshold": None, "threshold_rule": "argmax (more than two classes)"}
    if protocol.target is None or not oof.any():
        return {"positive": classes[positive], "threshold": 0.5, "threshold_rule": "0.5 (no target given)"}
    target, value = protocol.target
    threshold, achieved, reached = calibrate_threshold(y_train == positive, oof[:, positive], target, value)
    rule = f"{target} >= {value} on out-of-fold training predictions: {achieved:.4f}" + ("" if reached else " (target not reached)")
    return {"positive": classes[positive], "threshold": threshold, "threshold_rule": rule}


def _baselines(f, y, train, test, classes, seed) -> dict:
    rows = _rows(f, train)
    proto = prototype_baseline(f.x[rows], y[f.item[rows]], f.weights()[rows], classes)
    out = {}
    for name, proba in (("majority", majority_proba(y[train], len(test), len(classes))),
                        ("prototype", item_proba(proto, f.x, f.item, test))):
        m = classification_metrics(y[test], proba, classes, seed=seed)
        out[name] = {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "balanced_accuracy": m["balanced_accuracy"]}
    return out


def _seeds(f, y, classes, protocol: Protocol, decision: tuple, first: tuple[float, float], tick) -> dict:
    acc, f1 = [first[0]], [first[1]]
    for seed in protocol.seeds[1:]:
        train, test = _split(y, protocol.test_size, seed)
        head = _fit(protocol, f, y, train, classes, seed)
        pred = predict(item_proba(head, f.x, f.item, test), *decision)
        acc.append(float(np.mean(pred == y[test])))
        f1.append(float(macro_f1(y[test], pred, len(classes))))
        tick(f"seed {seed}")
    return {"accuracy": mean_std(acc), "macro_f1": mean_std(f1)}
