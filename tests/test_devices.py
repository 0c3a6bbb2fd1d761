"""Device selection: CPU by default, CUDA/TensorRT when asked and present, a clear fallback when not."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

from factorline.contract.errors import ConfigError
from factorline.models import devices
from factorline.models.devices import DeviceWarning, choose_providers, choose_torch_device, requested_device

CPU_ONLY = ["AzureExecutionProvider", "CPUExecutionProvider"]
WITH_GPU = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.delenv("FACTORLINE_DEVICE", raising=False)
    monkeypatch.delenv("FACTORLINE_PROVIDERS", raising=False)
    monkeypatch.setattr(devices, "_WARNED", set())


def test_default_is_cpu_and_bad_values_say_what_is_allowed(monkeypatch):
    assert requested_device() == "cpu" and choose_providers("cpu", WITH_GPU) == ["CPUExecutionProvider"]
    assert choose_torch_device("cpu", cuda=True) == "cpu"
    monkeypatch.setenv("FACTORLINE_DEVICE", "GPU")
    with pytest.raises(ConfigError, match=r"device 'gpu': expected one of cpu, auto, cuda \(FACTORLINE_DEVICE or --device\)"):
        requested_device()


def test_cuda_is_used_when_present():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning when the GPU is there
        assert choose_providers("cuda", WITH_GPU) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
        assert choose_providers("auto", WITH_GPU) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
        assert choose_torch_device("cuda", cuda=True) == "cuda" and choose_torch_device("auto", cuda=True) == "cuda"


def test_missing_cuda_falls_back_to_cpu_with_one_clear_warning():
    with pytest.warns(DeviceWarning, match=r"FACTORLINE_DEVICE=cuda but onnxruntime offers no CUDAExecutionProvider .* "
                      r"running ONNX models on the CPU\. Install onnxruntime-gpu"):
        assert choose_providers("cuda", CPU_ONLY) == ["CPUExecutionProvider"]
    with pytest.warns(DeviceWarning, match=r"torch sees no CUDA device .* running torch models on the CPU"):
        assert choose_torch_device("cuda", cuda=False) == "cpu"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert choose_providers("cuda", CPU_ONLY) == ["CPUExecutionProvider"]  # said once per process
        assert choose_providers("auto", CPU_ONLY) == ["CPUExecutionProvider"]  # auto: quietly
        assert choose_torch_device("auto", cuda=False) == "cpu"


def test_explicit_providers_keep_their_order_and_drop_missing_ones_with_a_warning():
    order = ["TensorrtExecutionProvider", "CUDAExecutionProvider"]
    assert choose_providers("cpu", WITH_GPU, order) == order + ["CPUExecutionProvider"]
    with pytest.warns(DeviceWarning, match=r"FACTORLINE_PROVIDERS asks for TensorrtExecutionProvider, CUDAExecutionProvider, "
                      r"which this onnxruntime lacks .* using CPUExecutionProvider"):
        assert choose_providers("cpu", CPU_ONLY, order) == ["CPUExecutionProvider"]


def test_this_machine_runs_onnx_and_torch_on_cpu_when_cuda_is_asked_for(monkeypatch, tmp_path):
    """No GPU here: sessions and the torch device fall back, and embeddings still come out."""
    import torch

    from factorline.models.backbones import onnx_runner, onnx_session, runtime_name

    monkeypatch.setenv("FACTORLINE_DEVICE", "cuda")
    if "CUDAExecutionProvider" in devices.available_providers() or torch.cuda.is_available():
        pytest.fail("this test describes a machine without CUDA; on a GPU machine test_cuda_is_used_when_present covers it")
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()).eval()
    torch.onnx.export(net, (torch.zeros(1, 3, 16, 16),), str(tmp_path / "m.onnx"), input_names=["x"],
                      dynamic_axes={"x": {0: "n"}}, dynamo=False)
    with pytest.warns(DeviceWarning, match="running ONNX models on the CPU"):
        session = onnx_session(tmp_path / "m.onnx")
    assert session.get_providers() == ["CPUExecutionProvider"] and runtime_name("onnxruntime", session) == "onnxruntime"
    assert onnx_runner(session)(np.zeros((2, 3, 16, 16), np.float32)).shape == (2, 4)
    with pytest.warns(DeviceWarning, match="running torch models on the CPU"):
        assert devices.torch_device() == "cpu"
    assert runtime_name("torch", "cuda") == "torch:cuda" and runtime_name("torch", "cpu") == "torch"


def test_cli_device_option_sets_the_setting_and_refuses_bad_values(monkeypatch):
    import os

    from factorline.cli import app

    monkeypatch.setenv("FACTORLINE_DEVICE", "cpu")  # restored after the test: the CLI writes the setting
    bad = CliRunner().invoke(app, ["--device", "tpu", "operators"])
    assert bad.exit_code == 2 and "device 'tpu': expected one of cpu, auto, cuda" in bad.output
    good = CliRunner().invoke(app, ["--device", "auto", "operators", "--json"])
    assert good.exit_code == 0 and os.environ["FACTORLINE_DEVICE"] == "auto"
