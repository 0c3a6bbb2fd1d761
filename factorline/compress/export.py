"""ONNX export with preprocessing metadata, and int8 quantization with onnxruntime.

- Image networks export through ``torch.onnx.export`` (TorchScript exporter, opset 17):
  input ``pixels`` (N, 3, S, S) float32, output ``logits``, dynamic batch. EfficientNet's
  "SAME" paddings are frozen for S first (constant pads, no shape arithmetic in the graph).
- Text models (a head on MiniLM or another local BERT-like encoder) export the encoder, the
  masked mean pooling, the L2 normalisation and the head as one graph: inputs ``input_ids``
  and ``attention_mask``, dynamic batch and sequence; the tokenizer is saved beside it.
- Static int8 (images): ``quant_pre_process`` (shape inference and graph optimisation: BatchNorm
  folded into convolutions), then ``quantize_static`` in the QDQ format with per-channel int8
  weights and uint8 activations whose ranges come from calibration frames (MinMax over up to
  ``--calibration`` held-in frames, never held-out ones).
- Dynamic int8 (text transformers): ``quantize_dynamic``, int8 weights, activations quantized
  on the fly per batch (no calibration; what transformer encoders tolerate well).

Every file gets the :func:`factorline.models.compressed.onnx_metadata` properties, so the
``learned`` operator (or any onnxruntime user) knows how to feed it.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..contract.errors import ResourceError

OPSET = 17


def _need_onnx() -> None:
    import importlib.util

    if importlib.util.find_spec("onnx") is None:
        raise ResourceError("ONNX export and quantization need the onnx package: pip install onnx", path="--export")


def set_metadata(path: Path, meta: dict[str, str]) -> None:
    """Replace the ``factorline.*`` metadata_props of an ONNX file in place (atomically)."""
    import onnx

    model = onnx.load(str(path))
    kept = [p for p in model.metadata_props if not p.key.startswith("factorline.")]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in sorted(meta.items()):
        model.metadata_props.add(key=key, value=value)
    tmp = path.with_name(f".{path.name}.tmp")
    onnx.save(model, str(tmp))
    os.replace(tmp, path)


def export_image(net, size: int, out: Path, meta: dict[str, str]) -> Path:
    """Export an image network (pixels -> logits) to ``out`` with ``meta``."""
    import torch

    from ..models.effnet import SameConv, freeze_padding

    _need_onnx()
    net = copy.deepcopy(net).eval()
    if any(isinstance(m, SameConv) for m in net.modules()):
        freeze_padding(net, size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 3, size, size),), str(out), input_names=["pixels"], output_names=["logits"],
                          dynamic_axes={"pixels": {0: "n"}, "logits": {0: "n"}}, opset_version=OPSET, dynamo=False)
    set_metadata(out, meta)
    return out


def text_folder(backbone_id: str) -> Path:
    """The local transformers folder of a text backbone that can be exported."""
    if backbone_id == "minilm":
        from ..models.hf import minilm_folder

        return minilm_folder()
    if backbone_id.startswith("hf:") and "#" not in backbone_id and Path(backbone_id[3:]).is_dir():
        return Path(backbone_id[3:])
    raise ResourceError(f"text backbone {backbone_id!r} cannot be exported here; expected minilm or hf:<local folder> "
                        "of a BERT-like encoder", path="backbone")


def export_text(backbone_id: str, head, out: Path, meta: dict[str, str], tokenizer_dir: Path) -> Path:
    """Export encoder + mean pooling + L2 normalisation + head as one graph; save the tokenizer."""
    import torch
    from torch.nn import functional as F
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging

    from ..models.nets import TorchHead

    _need_onnx()
    logging.set_verbosity_error()
    folder = text_folder(backbone_id)
    encoder = AutoModel.from_pretrained(str(folder), local_files_only=True, attn_implementation="eager").eval()
    AutoTokenizer.from_pretrained(str(folder), local_files_only=True).save_pretrained(str(tokenizer_dir))

    class TextNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder, self.head = encoder, TorchHead.from_head(head)

        def forward(self, input_ids, attention_mask):
            states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return self.head(F.normalize(pooled, dim=-1))

    ids = torch.ones(2, 8, dtype=torch.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(TextNet().eval(), (ids, torch.ones_like(ids)), str(out), input_names=["input_ids", "attention_mask"],
                          output_names=["logits"], opset_version=OPSET, dynamo=False,
                          dynamic_axes={"input_ids": {0: "n", 1: "tokens"}, "attention_mask": {0: "n", 1: "tokens"},
                                        "logits": {0: "n"}})
    set_metadata(out, meta)
    return out


class _Calibration:
    """A CalibrationDataReader over prepared batches."""

    def __init__(self, name: str, batches: Iterator[np.ndarray]):
        self.name, self.batches = name, iter(batches)

    def get_next(self):
        batch = next(self.batches, None)
        return None if batch is None else {self.name: np.ascontiguousarray(batch, dtype=np.float32)}

    def rewind(self):  # pragma: no cover - only for calibrators that pass twice
        pass


def _quantize(src: Path, out: Path, meta: dict[str, str], quantize) -> Path:
    """``quant_pre_process`` (ONNX shape inference only: onnxruntime's symbolic one gives up on
    some graphs and then drops a temporary file into the current folder), ``quantize(pre, out)``,
    then the metadata."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    _need_onnx()
    with tempfile.TemporaryDirectory(prefix="factorline-quant-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
            quantize(str(pre), str(out))
    set_metadata(out, meta)
    return out


def quantize_static_int8(src: Path, out: Path, batches: Iterator[np.ndarray], meta: dict[str, str]) -> Path:
    """Static int8, QDQ format, per-channel weights, calibrated on ``batches`` of prepared input."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    return _quantize(src, out, meta, lambda pre, dst: quantize_static(
        pre, dst, _Calibration("pixels", batches), quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax))


def quantize_dynamic_int8(src: Path, out: Path, meta: dict[str, str]) -> Path:
    """Dynamic int8 (transformer text models): int8 weights, activations quantized per batch."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    return _quantize(src, out, meta, lambda pre, dst: quantize_dynamic(pre, dst, weight_type=QuantType.QInt8))


def onnx_parameters(path: Path) -> int:
    """Weights in an ONNX file: initializer elements, except quantization scales and zero points."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    qparams = {name for node in model.graph.node if node.op_type in {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}
               for name in list(node.input)[1:]}
    qparams |= {name for node in model.graph.node if node.op_type in {"MatMulInteger", "ConvInteger", "QLinearConv", "QLinearMatMul"}
                for name in list(node.input) if name.endswith(("_scale", "_zero_point"))}
    return int(sum(int(np.prod(t.dims)) for t in model.graph.initializer if t.name not in qparams))


def op_counts(path: Path) -> dict[str, int]:
    """Node counts by op type (what a test or a report checks: QuantizeLinear, DequantizeLinear...)."""
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load(str(path), load_external_data=False).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def copy_tree(src: Path, dst: Path) -> list[str]:
    """Copy a folder; the relative paths of its files (for the card's checksums)."""
    shutil.copytree(src, dst)
    return sorted(str(p.relative_to(dst.parent)) for p in dst.rglob("*") if p.is_file())
