"""Whole image networks (pixels -> logits) that ``factorline compress`` trains, prunes and exports.

A network is ``Net(features, head)``: a feature extractor and a :class:`TorchHead`, described by
an *architecture* dict that a model card stores next to the weights (``model.safetensors``,
never a pickle), so it can be rebuilt:

================  ===========================================================================
``tiny-cnn``      a few 3x3 conv + BatchNorm + ReLU layers, stride 2 every other layer,
                  global average pooling: ~0.1 M parameters at 96-160 px, under a millisecond
                  per frame on one core (``widths`` and ``strides`` in the arch)
``effnet-lite0``  EfficientNet-Lite0 (:mod:`factorline.models.effnet`), ImageNet weights as
                  the starting point, 1280-d pooled features
================  ===========================================================================

The head mirrors :class:`~factorline.models.heads.Head` in torch (linear, mlp, prototype, with
the same optional L2 normalisation), so a stored head on a frozen backbone becomes one network
whose logits equal the numpy head's on the backbone's features.

Pruned networks have fewer channels than their architecture's defaults: :func:`rebuild` builds
the default network and then resizes every convolution, BatchNorm and linear layer to the
shapes found in the saved weights (a depthwise convolution keeps ``groups == channels``), so
no per-layer channel list has to be kept in the card.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..contract.errors import StoreError
from .heads import Head

STUDENTS = ("tiny-cnn", "effnet-lite0")
TINY_WIDTHS = (16, 32, 32, 64, 64, 96)
TINY_STRIDES = (2, 2, 1, 2, 1, 2)


class TinyCNN(nn.Module):
    def __init__(self, widths=TINY_WIDTHS, strides=TINY_STRIDES):
        super().__init__()
        if len(widths) != len(strides):
            raise ValueError(f"tiny-cnn: {len(widths)} widths for {len(strides)} strides")
        layers: list[nn.Module] = []
        cin = 3
        for cout, stride in zip(widths, strides):
            layers += [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.dim = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).mean(dim=(2, 3))

    def last_conv(self) -> nn.Module:
        return [m for m in self.layers if isinstance(m, nn.Conv2d)][-1]


class EffNetFeatures(nn.Module):
    """EfficientNet-Lite0 up to its 1280-d pooled features (no ImageNet classifier)."""

    def __init__(self, pretrained: bool = True):
        super().__init__()
        from . import effnet

        net = effnet.load_effnet_lite0() if pretrained else effnet.EfficientNetLite0()
        del net._fc
        self.net = net
        self.dim = effnet.FEATURES

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_features(x)

    def last_conv(self) -> nn.Module:
        return self.net._conv_head


class TorchHead(nn.Module):
    """A :class:`Head` in torch: same kinds, same normalisation, same logits."""

    def __init__(self, kind: str, dim: int, classes: int, normalize: str = "none", hidden: int = 256):
        super().__init__()
        self.kind, self.normalize = kind, normalize
        if kind == "linear":
            self.fc = nn.Linear(dim, classes)
        elif kind == "mlp":
            self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, classes)
        elif kind == "prototype":
            self.prototypes = nn.Parameter(torch.zeros(classes, dim))
            self.register_buffer("temperature", torch.ones(1))
        else:
            raise ValueError(f"unknown head kind {kind!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalize == "l2":
            x = F.normalize(x, dim=1, eps=1e-12)
        if self.kind == "linear":
            return self.fc(x)
        if self.kind == "mlp":
            return self.fc2(F.relu(self.fc1(x)))
        return F.linear(x, F.normalize(self.prototypes, dim=1, eps=1e-12)) / self.temperature

    @classmethod
    def from_head(cls, head: Head) -> TorchHead:
        t = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in head.tensors.items()}
        hidden = int(t["w1"].shape[0]) if head.kind == "mlp" else 256
        out = cls(head.kind, head.dim, len(head.classes), head.normalize, hidden)
        with torch.no_grad():
            if head.kind == "linear":
                out.fc.weight.copy_(t["weight"])
                out.fc.bias.copy_(t["bias"])
            elif head.kind == "mlp":
                out.fc1.weight.copy_(t["w1"])
                out.fc1.bias.copy_(t["b1"])
                out.fc2.weight.copy_(t["w2"])
                out.fc2.bias.copy_(t["b2"])
            else:
                out.prototypes.copy_(t["prototypes"])
                out.temperature.copy_(t["temperature"].reshape(1))
        return out


class Net(nn.Module):
    """pixels (N, 3, S, S) float32, normalised -> logits (N, classes)."""

    def __init__(self, features: nn.Module, head: TorchHead):
        super().__init__()
        self.features, self.head = features, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def protected(self) -> list[nn.Module]:
        """Layers whose output channels pruning must keep: the head and the last feature conv."""
        return [self.head, self.features.last_conv()]  # type: ignore[operator]


def student_arch(student: str, classes: int, *, widths=TINY_WIDTHS, strides=TINY_STRIDES) -> dict:
    """The architecture dict of a new student network."""
    if student == "tiny-cnn":
        features: dict = {"name": "tiny-cnn", "widths": list(widths), "strides": list(strides)}
        dim = widths[-1]
    elif student == "effnet-lite0":
        features, dim = {"name": "effnet-lite0"}, 1280
    else:
        raise ValueError(f"unknown student {student!r}; expected one of {', '.join(STUDENTS)}")
    return {"features": features, "head": {"kind": "linear", "dim": dim, "classes": classes, "normalize": "none"}}


def head_arch(head: Head, features: str = "effnet-lite0") -> dict:
    """The architecture dict of a stored head on a frozen backbone, as one network."""
    hidden = int(head.tensors["w1"].shape[0]) if head.kind == "mlp" else None
    spec = {"kind": head.kind, "dim": head.dim, "classes": len(head.classes), "normalize": head.normalize}
    if hidden:
        spec["hidden"] = hidden
    return {"features": {"name": features}, "head": spec}


def build(arch: dict, *, pretrained: bool = True) -> Net:
    """A network of ``arch`` (effnet-lite0 starts from its ImageNet weights when ``pretrained``)."""
    f = arch["features"]
    if f["name"] == "tiny-cnn":
        features: nn.Module = TinyCNN(tuple(f["widths"]), tuple(f["strides"]))
    elif f["name"] == "effnet-lite0":
        features = EffNetFeatures(pretrained)
    else:
        raise StoreError(f"unknown network features {f['name']!r}; expected one of {', '.join(STUDENTS)}", path="arch")
    h = arch["head"]
    return Net(features, TorchHead(h["kind"], h["dim"], h["classes"], h.get("normalize", "none"), h.get("hidden", 256)))


def fit_shapes(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Resize conv / BatchNorm / linear layers of ``module`` to the shapes in ``state`` (pruned weights)."""
    for name, layer in module.named_modules():
        weight = state.get(f"{name}.weight" if name else "weight")
        if weight is None:
            continue
        if isinstance(layer, nn.Conv2d) and tuple(weight.shape) != tuple(layer.weight.shape):
            depthwise = layer.groups > 1 and layer.groups == layer.in_channels
            layer.out_channels = int(weight.shape[0])
            layer.groups = int(weight.shape[0]) if depthwise else layer.groups
            layer.in_channels = int(weight.shape[1]) * layer.groups
            layer.weight = nn.Parameter(torch.empty_like(weight))
            if layer.bias is not None:
                layer.bias = nn.Parameter(torch.empty(weight.shape[0]))
        elif isinstance(layer, nn.BatchNorm2d) and weight.shape[0] != layer.num_features:
            n = int(weight.shape[0])
            layer.num_features = n
            layer.weight, layer.bias = nn.Parameter(torch.empty(n)), nn.Parameter(torch.empty(n))
            layer.running_mean, layer.running_var = torch.zeros(n), torch.ones(n)
        elif isinstance(layer, nn.Linear) and tuple(weight.shape) != tuple(layer.weight.shape):
            layer.out_features, layer.in_features = int(weight.shape[0]), int(weight.shape[1])
            layer.weight = nn.Parameter(torch.empty_like(weight))
            if layer.bias is not None:
                layer.bias = nn.Parameter(torch.empty(weight.shape[0]))
    if isinstance(module, Net) and hasattr(module.head, "prototypes"):
        module.head.prototypes = nn.Parameter(torch.empty_like(state["head.prototypes"]))


def parameter_count(module: nn.Module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def save_weights(module: nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().clone() for k, v in module.state_dict().items()}
    save_file(state, str(path), metadata={"format": "factorline.net/1"})


def rebuild(arch: dict, path: Path) -> Net:
    """The network of ``arch`` with the weights of a ``model.safetensors`` file (eval mode)."""
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except Exception as exc:
        raise StoreError(f"{path}: not a readable safetensors network: {exc}", path=str(path), cause=exc) from exc
    net = build(arch, pretrained=False)
    fit_shapes(net, state)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise StoreError(f"{path}: weights do not fit the architecture {arch['features']['name']}: {exc}",
                         path=str(path), cause=exc) from exc
    return net.eval()
