"""Fit heads on frozen embeddings: logistic regression, a small MLP, and the two baselines.

Embeddings are L2-normalised first (the head repeats that at inference). Rows are frames;
``w`` gives each row 1 / frames-of-its-item, so a long video does not outweigh a photo.

- ``logreg``: scikit-learn's L2-regularised LogisticRegression (lbfgs, deterministic),
  converted to a linear softmax head, never pickled.
- ``mlp``: one hidden ReLU layer trained in torch (full batch AdamW, seeded, single thread so
  the sums run in one order), saved as its weights.
- ``prototype``: the mean normalised embedding of each class; cosine to it, softmax.
- ``majority``: always the most frequent training class.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..models.heads import Head, l2_normalize, linear_from_sklearn, prototype_head

HEADS = ("logreg", "mlp")


@dataclass(frozen=True)
class HeadParams:
    head: str = "logreg"
    # Inverse L2 strength on unit-norm inputs. Unit-norm logits are small, so a weak penalty
    # fits best: on effnet-lite0 digits (16/class) C=10 gave 0.62, 100 0.72, 1000 0.74, 1e4 0.71.
    C: float = 1000.0
    hidden: int = 256
    epochs: int = 300
    lr: float = 1e-3
    weight_decay: float = 1e-2

    def to_dict(self) -> dict:
        return asdict(self)


def fit_head(params: HeadParams, x: np.ndarray, y: np.ndarray, w: np.ndarray, classes: list[str], seed: int) -> Head:
    if params.head == "logreg":
        return _logreg(params, x, y, w, classes, seed)
    if params.head == "mlp":
        return _mlp(params, x, y, w, classes, seed)
    raise ValueError(f"unknown head {params.head!r}; expected one of {HEADS}")


def _logreg(params: HeadParams, x, y, w, classes, seed) -> Head:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=params.C, max_iter=5000, random_state=seed)
    model.fit(l2_normalize(np.asarray(x, np.float64)), y, sample_weight=w * len(w) / w.sum())
    # scikit-learn drops classes absent from a fold's training rows: map back to all classes.
    head = linear_from_sklearn(model, [classes[int(c)] for c in model.classes_])
    return _expand(head, classes)


def _expand(head: Head, classes: list[str]) -> Head:
    if head.classes == classes:
        return head
    weight = np.zeros((len(classes), head.dim), np.float32)
    bias = np.full(len(classes), -1e4, np.float32)  # an unseen class gets no probability
    for row, name in enumerate(head.classes):
        weight[classes.index(name)] = head.tensors["weight"][row]
        bias[classes.index(name)] = head.tensors["bias"][row]
    return Head("linear", classes, {"weight": weight, "bias": bias}, head.normalize)


def _mlp(params: HeadParams, x, y, w, classes, seed) -> Head:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gen = torch.Generator().manual_seed(seed)
        xt = torch.from_numpy(l2_normalize(np.asarray(x, np.float32)).astype(np.float32))
        yt = torch.from_numpy(np.asarray(y, np.int64))
        wt = torch.from_numpy((w / w.sum()).astype(np.float32))
        first = torch.nn.Linear(xt.shape[1], params.hidden)
        second = torch.nn.Linear(params.hidden, len(classes))
        for layer in (first, second):
            bound = 1 / np.sqrt(layer.in_features)
            with torch.no_grad():
                layer.weight.uniform_(-bound, bound, generator=gen)
                layer.bias.uniform_(-bound, bound, generator=gen)
        net = torch.nn.Sequential(first, torch.nn.ReLU(), second)
        opt = torch.optim.AdamW(net.parameters(), lr=params.lr, weight_decay=params.weight_decay)
        # Unit-norm inputs are small: a fixed input gain lets a 1e-3 learning rate converge.
        scale = float(np.sqrt(xt.shape[1]))
        for _ in range(params.epochs):
            opt.zero_grad()
            loss = (torch.nn.functional.cross_entropy(net(xt * scale), yt, reduction="none") * wt).sum()
            loss.backward()
            opt.step()
        tensors = {"w1": first.weight.detach().numpy() * scale, "b1": first.bias.detach().numpy(),
                   "w2": second.weight.detach().numpy(), "b2": second.bias.detach().numpy()}
    finally:
        torch.set_num_threads(threads)
    return Head("mlp", list(classes), tensors, "l2")


def prototype_baseline(x: np.ndarray, y: np.ndarray, w: np.ndarray, classes: list[str]) -> Head:
    """Nearest class prototype; a class missing from ``y`` gets a zero prototype."""
    present = [c for c in range(len(classes)) if np.any(y == c)]
    xw = l2_normalize(np.asarray(x, np.float64)) * w[:, None]
    protos = np.zeros((len(classes), x.shape[1]))
    for c in present:
        protos[c] = xw[y == c].sum(axis=0) / w[y == c].sum()
    head = prototype_head(protos, np.arange(len(classes)), classes)
    return head


def majority_proba(y_train: np.ndarray, n_items: int, n_classes: int) -> np.ndarray:
    counts = np.bincount(y_train, minlength=n_classes)
    proba = np.zeros((n_items, n_classes))
    proba[:, int(np.argmax(counts))] = 1.0
    return proba


def item_proba(head: Head, x: np.ndarray, item: np.ndarray, items: np.ndarray) -> np.ndarray:
    """(len(items), classes): the mean frame probability of each listed item."""
    rows = np.isin(item, items)
    proba = head.predict_proba(x[rows])
    out = np.zeros((len(items), len(head.classes)))
    position = {int(i): k for k, i in enumerate(items)}
    counts = np.zeros(len(items))
    for p, i in zip(proba, item[rows]):
        out[position[int(i)]] += p
        counts[position[int(i)]] += 1
    return out / counts[:, None]
