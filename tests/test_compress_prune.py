"""Pruning: channels physically removed (torch-pruning), the network rebuilt from its weights alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from compress_data import bars_set, fast

from factorline.cache import StepCache
from factorline.compress import compress
from factorline.compress.prune import prune
from factorline.contract.errors import ConfigError
from factorline.models.hub import ModelHub
from factorline.models.nets import (
    EffNetFeatures,
    Net,
    TorchHead,
    build,
    parameter_count,
    rebuild,
    save_weights,
    student_arch,
)
from factorline.models.store import ModelStore


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    root = tmp_path_factory.mktemp("prune")
    data = bars_set(root / "data")
    store, cache = ModelStore(root / "models"), StepCache(root / "cache")
    (result,) = compress("op:black_border.fill", data=data, options=fast(distill="tiny-cnn"), store=store, cache=cache)
    return store, cache, result


def test_pruning_a_stored_student_shrinks_it_and_it_still_runs(student):
    store, cache, parent = student
    (child,) = compress(parent.ref, options=fast(prune=0.3, finetune_epochs=15), store=store, cache=cache)
    assert child.ref == "black_border.fill-tiny-cnn-p30@1" and child.verdict == "published"
    step = store.read_card(child.ref)["steps"][-1]
    assert step["step"] == "prune" and step["ratio"] == 0.3
    assert step["parameters_after"] < 0.6 * step["parameters_before"]  # channels gone, not masked: ~0.7^2
    assert child.report["child"]["parameters"] == step["parameters_after"]
    assert child.report["child"]["size_bytes"] < 0.6 * child.report["parent"]["size_bytes"]
    assert (child.path / "model.safetensors").stat().st_size < (parent.path / "model.safetensors").stat().st_size
    # The stored, smaller network loads from its weights and architecture alone and classifies.
    model = ModelHub(store).model(child.ref)
    frames = np.random.default_rng(0).integers(0, 255, (3, 64, 96, 3), dtype=np.uint8)
    proba = model.head.predict_proba(model.backbone.embed(frames))
    assert proba.shape == (3, 2) and np.allclose(proba.sum(1), 1)
    assert child.report["agreement"]["frame"]["agreement"] >= 0.8  # fine-tuned back against its parent
    assert 0.0 <= step["held_out_agreement_before_finetune"] <= 1.0


def test_prune_keeps_the_head_and_the_feature_width():
    torch.manual_seed(0)
    net = build(student_arch("tiny-cnn", 3)).eval()
    pruned, before, after = prune(net, 0.3, 32)
    assert after < before and parameter_count(net) == before  # a copy: the parent is untouched
    assert pruned.head.fc.weight.shape == (3, 96)  # classes and feature size unchanged
    assert pruned(torch.zeros(2, 3, 32, 32)).shape == (2, 3)


def test_pruned_effnet_keeps_depthwise_groups_and_rebuilds_exactly(tmp_path):
    torch.manual_seed(0)
    net = Net(EffNetFeatures(pretrained=False), TorchHead("linear", 1280, 2)).eval()
    pruned, before, after = prune(net, 0.25, 64)
    assert after < 0.8 * before
    dw = pruned.features.net._blocks[1]._depthwise_conv
    assert dw.groups == dw.out_channels == dw.in_channels < 96
    save_weights(pruned, tmp_path / "model.safetensors")
    again = rebuild({"features": {"name": "effnet-lite0"}, "head": {"kind": "linear", "dim": 1280, "classes": 2}},
                    tmp_path / "model.safetensors")
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(again(x), pruned(x), atol=1e-5)


def test_bad_prune_requests_say_how_to_fix_them(student, tmp_path):
    store, cache, parent = student
    with pytest.raises(ConfigError, match=r"is an operator, not a network: --prune needs one. Distill it first: add --distill"):
        compress("op:black_border.fill", data=tmp_path, options=fast(prune=0.3), store=store, cache=cache)
    with pytest.raises(ConfigError, match=r"share of channels to remove, in \(0, 1\)"):
        compress(parent.ref, options=fast(prune=1.5), store=store, cache=cache)
    (onnx,) = compress(parent.ref, options=fast(export="onnx"), store=store, cache=cache)
    with pytest.raises(ConfigError, match=r"is an ONNX model \(fp32\).*Prune its torch parent instead \(black_border.fill-tiny-cnn@1\)"):
        compress(onnx.ref, options=fast(prune=0.3), store=store, cache=cache)
