"""Knowledge distillation: a student network learns the teacher's soft labels (and hard ones).

Loss per frame: ``(1 - a) * T^2 * KL(p_T || q_T) + a * CE(student, label)`` where ``p_T`` is the
teacher's probability vector sharpened or softened by temperature ``T`` (``softmax(log p / T)``,
which is the tempered softmax of the teacher's logits), ``q_T`` the student's tempered softmax,
and ``a`` the ``hard_weight`` for frames whose item has a hard label (0 for the others). The
``T^2`` factor keeps the soft term's gradients on the scale of the hard one (Hinton et al.).
Frames are weighted so that every teacher class weighs the same in total (a rare class is not
drowned), AdamW with a cosine learning rate, seeded: the same data gives the same student.

The same loop fine-tunes a pruned network against its unpruned parent (``prune.py``).
EfficientNet-Lite0 students start from the ImageNet weights with the stem and the first
:data:`EFFNET_FROZEN_BLOCKS` blocks frozen (features that transfer; 2-3x faster epochs on CPU).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..models.backbones import ImagePreprocess

EFFNET_FROZEN_BLOCKS = 10  # of 16


@dataclass(frozen=True)
class FitParams:
    epochs: int = 20
    lr: float = 3e-3
    batch_size: int = 64
    temperature: float = 4.0
    hard_weight: float = 0.5
    weight_decay: float = 1e-4
    seed: int = 0
    balance: bool = True
    freeze_blocks: int = 0  # effnet-lite0: stem + this many blocks stay frozen

    def to_dict(self) -> dict:
        return asdict(self)


def tempered(proba: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T) row by row: the teacher's tempered distribution (pure)."""
    logp = np.log(np.clip(proba, 1e-8, 1.0)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    e = np.exp(logp)
    return e / e.sum(axis=1, keepdims=True)


def class_weights(targets: np.ndarray) -> np.ndarray:
    """Per row, 1 / rows of its (argmax) class, scaled to mean 1 (pure)."""
    cls = np.argmax(targets, axis=1)
    counts = np.bincount(cls, minlength=targets.shape[1]).astype(np.float64)
    w = 1.0 / counts[cls]
    return w * len(w) / w.sum()


def freeze(net, blocks: int) -> None:
    """Freeze an effnet-lite0 network's stem and first ``blocks`` blocks (BatchNorm statistics too)."""
    inner = getattr(net.features, "net", None)
    if inner is None or blocks <= 0:
        return
    for module in [inner._conv_stem, inner._bn0, *inner._blocks[:blocks]]:
        for p in module.parameters():
            p.requires_grad_(False)


def _train_mode(net) -> None:
    """train() except frozen modules, whose BatchNorm keeps its running statistics."""
    import torch

    net.train()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d) and not any(p.requires_grad for p in m.parameters()):
            m.eval()


def fit(net, x: np.ndarray, prep: ImagePreprocess, targets: np.ndarray, labels: np.ndarray, params: FitParams,
        *, progress: bool = False, title: str = "distilling"):
    """Train ``net`` in place on compact inputs ``x`` (rows, S, S, 3) uint8 against teacher
    probabilities ``targets`` (rows, C) and hard labels ``labels`` (rows,; -1 none); returns it in eval mode."""
    import torch
    from torch.nn import functional as F

    from .data import progress_bar

    torch.manual_seed(params.seed)
    gen = torch.Generator().manual_seed(params.seed)
    soft = torch.from_numpy(tempered(targets, params.temperature).astype(np.float32))
    y = torch.from_numpy(np.asarray(labels, np.int64))
    w = torch.from_numpy((class_weights(targets) if params.balance else np.ones(len(targets))).astype(np.float32))
    freeze(net, params.freeze_blocks)
    trainable = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=params.lr, weight_decay=params.weight_decay)
    steps_per_epoch = max(1, int(np.ceil(len(x) / params.batch_size)))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=params.epochs * steps_per_epoch)
    t, a = params.temperature, params.hard_weight
    with progress_bar(progress) as bar:
        task = bar.add_task(title, total=params.epochs * steps_per_epoch)
        for _ in range(params.epochs):
            _train_mode(net)
            order = torch.randperm(len(x), generator=gen)
            for start in range(0, len(x), params.batch_size):
                idx = order[start : start + params.batch_size]
                if len(idx) < 2:  # BatchNorm needs two rows
                    bar.advance(task)
                    continue
                xb = torch.from_numpy(prep.normalize(x[idx.numpy()]))
                logits = net(xb)
                kl = (soft[idx] * (torch.log(soft[idx].clamp_min(1e-8)) - F.log_softmax(logits / t, dim=1))).sum(1) * t * t
                labelled = y[idx] >= 0
                ce = F.cross_entropy(logits, y[idx].clamp_min(0), reduction="none") * labelled
                alpha = a * labelled.float()
                loss = (w[idx] * ((1 - alpha) * kl + alpha * ce)).sum() / w[idx].sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                bar.advance(task)
    for p in net.parameters():
        p.requires_grad_(True)
    return net.eval()
