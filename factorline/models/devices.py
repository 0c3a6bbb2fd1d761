"""Where models run: CPU by default, CUDA (and TensorRT for ONNX) when asked and present.

Settings, read when a model is loaded (so worker processes inherit them):

=========================  ===============================================================
``FACTORLINE_DEVICE``      ``cpu`` (default) | ``auto`` (CUDA when this machine has it, else
                           CPU, quietly) | ``cuda`` (CUDA; where it is missing, CPU with a
                           warning saying what is missing and how to fix it). ``factorline
                           --device ...`` sets it for one command.
``FACTORLINE_PROVIDERS``   onnxruntime execution providers in order, comma-separated (e.g.
                           ``TensorrtExecutionProvider,CUDAExecutionProvider``); overrides the
                           device for ONNX sessions. ``CPUExecutionProvider`` is always
                           appended last, so an operator the GPU lacks still runs.
=========================  ===============================================================

Pure selection (:func:`choose_providers`, :func:`choose_torch_device`) is separated from what
the machine offers (:func:`available_providers`, :func:`cuda_available`), so the fallback logic
is tested on machines without a GPU.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

DEVICES = ("cpu", "auto", "cuda")
CPU = "CPUExecutionProvider"
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
_WARNED: set[str] = set()


class DeviceWarning(RuntimeWarning):
    """A GPU was asked for and is not there: the model runs on the CPU."""


def requested_device(value: str | None = None) -> str:
    """The device setting (argument, else $FACTORLINE_DEVICE, else cpu), checked."""
    device = (value if value is not None else os.environ.get("FACTORLINE_DEVICE", "cpu")).strip().lower() or "cpu"
    if device not in DEVICES:
        from ..contract.errors import ConfigError

        raise ConfigError(f"device {device!r}: expected one of {', '.join(DEVICES)} (FACTORLINE_DEVICE or --device)",
                          path="FACTORLINE_DEVICE")
    return device


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        warnings.warn(message, DeviceWarning, stacklevel=3)


def choose_providers(device: str, available: Sequence[str], explicit: Sequence[str] = ()) -> list[str]:
    """onnxruntime providers for ``device`` given what is ``available``; warns when CUDA was asked
    for (by device or by name) and is missing."""
    available = list(available)
    if explicit:
        unknown = [p for p in explicit if p not in available and p != CPU]
        if unknown:
            _warn_once(f"FACTORLINE_PROVIDERS asks for {', '.join(unknown)}, which this onnxruntime lacks (available: "
                       f"{', '.join(available)}); using {', '.join([p for p in explicit if p in available and p != CPU] + [CPU])}. "
                       "Install onnxruntime-gpu (with CUDA/TensorRT libraries) or drop them from FACTORLINE_PROVIDERS")
        return [p for p in explicit if p in available and p != CPU] + [CPU]
    if device == "cpu":
        return [CPU]
    gpu = [p for p in ("CUDAExecutionProvider",) if p in available]
    if not gpu and device == "cuda":
        _warn_once(f"FACTORLINE_DEVICE=cuda but onnxruntime offers no CUDAExecutionProvider here (available: "
                   f"{', '.join(available)}); running ONNX models on the CPU. Install onnxruntime-gpu on a machine with "
                   "an NVIDIA GPU, or set FACTORLINE_DEVICE=cpu to silence this")
    return gpu + [CPU]


def choose_torch_device(device: str, cuda: bool) -> str:
    """``cuda`` or ``cpu`` for torch models; warns when CUDA was asked for and is missing."""
    if device == "cpu":
        return "cpu"
    if cuda:
        return "cuda"
    if device == "cuda":
        _warn_once("FACTORLINE_DEVICE=cuda but torch sees no CUDA device (torch.cuda.is_available() is False: a CPU "
                   "build of torch, or no NVIDIA driver); running torch models on the CPU. Install a CUDA build of torch "
                   "on a GPU machine, or set FACTORLINE_DEVICE=cpu to silence this")
    return "cpu"


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def onnx_providers(device: str | None = None) -> list[str]:
    """The providers an ONNX session of this process should use."""
    explicit = [p.strip() for p in os.environ.get("FACTORLINE_PROVIDERS", "").split(",") if p.strip()]
    return choose_providers(requested_device(device), available_providers(), explicit)


def torch_device(device: str | None = None) -> str:
    """The torch device of this process (``cpu`` without asking torch when the setting is cpu)."""
    device = requested_device(device)
    return "cpu" if device == "cpu" else choose_torch_device(device, cuda_available())
