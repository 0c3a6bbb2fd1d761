"""Heads: small classifiers over frozen embeddings, run in numpy, stored as safetensors.

A head never goes through pickle. Each kind is a handful of named float32 tensors plus
string metadata (kind, classes, input normalisation) in one ``.safetensors`` file, and its
``predict_proba`` is re-implemented here in numpy, so a stored model loads without torch or
scikit-learn:

==========  ===========================================================================
linear      softmax(x W^T + b): multinomial logistic regression (a binary scikit-learn
            model is stored as the equivalent two-row softmax), and the ImageNet
            classifier of effnet-lite0 (``builtin:imagenet``)
mlp         softmax(relu(x W1^T + b1) W2^T + b2), trained in torch
prototype   softmax(cos(x, P_c) / temperature): the nearest-class-prototype baseline, and
            the zero-shot text head whose prototypes are label-text embeddings
==========  ===========================================================================

Inputs are first L2-normalised when ``normalize`` is ``"l2"`` (trained heads), as is at
training time; ``"none"`` passes raw features (the ImageNet classifier).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..contract.errors import StoreError

KINDS = ("linear", "mlp", "prototype")
TENSORS = {"linear": ("weight", "bias"), "mlp": ("w1", "b1", "w2", "b2"), "prototype": ("prototypes", "temperature")}


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


@dataclass
class Head:
    kind: str
    classes: list[str]
    tensors: dict[str, np.ndarray]
    normalize: str = "l2"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise StoreError(f"unknown head kind {self.kind!r}; expected one of {KINDS}")
        missing = [t for t in TENSORS[self.kind] if t not in self.tensors]
        if missing:
            raise StoreError(f"{self.kind} head misses tensor(s) {missing}; found {sorted(self.tensors)}")
        self.tensors = {k: np.asarray(v, dtype=np.float32) for k, v in self.tensors.items()}
        rows = self.tensors[{"linear": "weight", "mlp": "w2", "prototype": "prototypes"}[self.kind]].shape[0]
        if rows != len(self.classes):
            raise StoreError(f"{self.kind} head has {rows} output rows for {len(self.classes)} classes")

    @property
    def dim(self) -> int:
        return int(self.tensors[{"linear": "weight", "mlp": "w1", "prototype": "prototypes"}[self.kind]].shape[1])

    def logits(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"head expects (N, {self.dim}) embeddings, got {x.shape}")
        if self.normalize == "l2":
            x = l2_normalize(x)
        t = self.tensors
        if self.kind == "linear":
            return x @ t["weight"].T + t["bias"]
        if self.kind == "mlp":
            return np.maximum(x @ t["w1"].T + t["b1"], 0.0) @ t["w2"].T + t["b2"]
        return (x @ l2_normalize(t["prototypes"]).T) / float(t["temperature"].reshape(-1)[0])

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(N, classes) probabilities in float64 (summing to 1 per row)."""
        return softmax(self.logits(x).astype(np.float64))

    def metadata(self) -> dict[str, str]:
        return {"kind": self.kind, "classes": json.dumps(self.classes), "normalize": self.normalize}

    def save(self, path: Path) -> None:
        from safetensors.numpy import save_file

        save_file({k: np.ascontiguousarray(v) for k, v in self.tensors.items()}, str(path), metadata=self.metadata())

    @classmethod
    def load(cls, path: Path) -> Head:
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="numpy") as fh:
                meta = fh.metadata() or {}
                tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open is no dict)
        except Exception as exc:
            raise StoreError(f"{path}: not a readable safetensors head: {exc}", path=str(path), cause=exc) from exc
        try:
            return cls(meta["kind"], json.loads(meta["classes"]), tensors, meta.get("normalize", "l2"))
        except KeyError as exc:
            raise StoreError(f"{path}: head metadata lacks {exc}; expected kind, classes, normalize", path=str(path)) from exc


def linear_from_sklearn(model, classes: list[str]) -> Head:
    """A fitted scikit-learn LogisticRegression as a linear softmax head (no pickle).

    A binary model has one row w: p(class 1) = sigmoid(w.x + b), which equals the softmax of
    the two rows (0, 0) and (w, b), so both cases share one numpy ``predict_proba``.
    """
    coef = np.asarray(model.coef_, dtype=np.float64)
    intercept = np.asarray(model.intercept_, dtype=np.float64)
    if coef.shape[0] == 1:
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    return Head("linear", list(classes), {"weight": coef, "bias": intercept}, "l2")


def prototype_head(x: np.ndarray, y: np.ndarray, classes: list[str], temperature: float = 0.05) -> Head:
    """Nearest class prototype: the mean L2-normalised embedding of each class."""
    xn = l2_normalize(np.asarray(x, dtype=np.float64))
    protos = np.stack([xn[y == i].mean(axis=0) for i in range(len(classes))])
    return Head("prototype", list(classes), {"prototypes": protos, "temperature": np.array([temperature])}, "l2")
