"""Structured channel pruning with torch-pruning: channels are removed, not masked.

torch-pruning traces the network once into a dependency graph, so that removing an output
channel of one convolution also removes the matching input channel of every layer that reads
it (BatchNorm, the next convolution, a depthwise convolution and its ``groups``, both sides of
a residual addition). Channels are ranked per coupled group by the L2 norm of their weights
(``MagnitudeImportance(p=2)``) and ``ratio`` of each group's channels go. The head and the
last feature convolution are kept whole, so the feature size and the classes do not change.

The pruned network is physically smaller (fewer parameters, smaller ``model.safetensors``,
fewer multiply-adds) and is then fine-tuned for a few epochs by distillation against its
unpruned parent's outputs (``distill.fit``), which recovers most of what pruning lost.
"""

from __future__ import annotations

import copy
import warnings

from ..contract.errors import ConfigError
from ..models.nets import Net, parameter_count


def prune(net: Net, ratio: float, size: int) -> tuple[Net, int, int]:
    """(pruned copy of ``net``, parameters before, parameters after)."""
    import torch

    if not 0.0 < ratio < 1.0:
        raise ConfigError(f"--prune expects a ratio of channels to remove in (0, 1), found {ratio}", path="--prune")
    try:
        import torch_pruning as tp
    except ImportError as exc:  # pragma: no cover - a dependency
        raise ConfigError("--prune needs torch-pruning: pip install torch-pruning", path="--prune", cause=exc) from exc
    pruned = copy.deepcopy(net).eval()
    before = parameter_count(pruned)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pruner = tp.pruner.MagnitudePruner(pruned, torch.zeros(1, 3, size, size), importance=tp.importance.MagnitudeImportance(p=2),
                                           pruning_ratio=ratio, ignored_layers=pruned.protected())
        pruner.step()
    return pruned.eval(), before, parameter_count(pruned)
