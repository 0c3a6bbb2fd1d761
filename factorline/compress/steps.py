"""The four steps, each building a child :class:`~.stages.Stage` from its parent: distill,
prune (then fine-tune), export to ONNX fp32, quantize to int8. Gating and storing are not
theirs: the chain hands every child to measure.py and publish.py.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from . import data as D
from . import gate as G
from .stages import Options, Stage, student_prep
from .teachers import StoredTeacher

STUDENT_EPOCHS = {"tiny-cnn": 30, "effnet-lite0": 4}
STUDENT_LR = {"tiny-cnn": 3e-3, "effnet-lite0": 5e-4}
FINETUNE_LR = {"tiny-cnn": 1e-3, "effnet-lite0": 2e-4}


def _fit_params(options: Options, student: str, finetune: bool):
    from .distill import EFFNET_FROZEN_BLOCKS, FitParams

    epochs = options.finetune_epochs if finetune else (options.epochs or STUDENT_EPOCHS[student])
    lr = options.lr or (FINETUNE_LR if finetune else STUDENT_LR)[student]
    return FitParams(epochs=epochs, lr=lr, batch_size=options.batch_size, temperature=options.temperature,
                     hard_weight=options.hard_weight, seed=options.seed,
                     freeze_blocks=EFFNET_FROZEN_BLOCKS if student == "effnet-lite0" and not finetune else 0)


def _features_name(stage: Stage) -> str:
    return (stage.arch or {}).get("features", {}).get("name", "tiny-cnn")


def run_distill(parent: Stage, fs: D.FrameSet, student: str, options: Options, progress: bool) -> Stage:
    import torch

    from ..models.nets import build, parameter_count, student_arch
    from .distill import fit
    from .runners import torch_runner

    prep = student_prep(student, options.size)
    torch.manual_seed(options.seed)
    arch = student_arch(student, len(fs.classes))
    net = build(arch, pretrained=True)
    params = _fit_params(options, student, finetune=False)
    train = fs.train_rows
    fit(net, fs.inputs[D.prep_key(prep)][train], prep, parent.proba(fs, train), fs.row_labels()[train], params,
        progress=progress, title=f"distilling {parent.ref} into {student}")
    step = {"step": "distill", "student": student, "teacher": parent.ref, "input": prep.to_dict(), "frames": int(train.sum()),
            "fit": params.to_dict()}
    return Stage(ref="", lineage={}, kind="torch", task="image", classes=fs.classes, positive=parent.positive,
                 threshold=parent.threshold, level="frame", name=parent.name, steps=[*parent.steps, step], prep=prep,
                 runner=torch_runner(net, prep), net=net, arch=arch, parameters=parameter_count(net),
                 summary=f"{student} student")


def _network(stage: Stage):
    """The torch network of a stage (a stored effnet head becomes backbone + head in one net)."""
    if stage.net is None and stage.kind == "head":
        from ..models.nets import EffNetFeatures, Net, TorchHead

        head = stage.teacher.model.head  # type: ignore[union-attr]
        stage.net = Net(EffNetFeatures(pretrained=True), TorchHead.from_head(head)).eval()
    return stage.net


def run_prune(parent: Stage, fs: D.FrameSet, ratio: float, options: Options, progress: bool) -> Stage:
    from .distill import fit
    from .prune import prune
    from .runners import torch_runner

    assert parent.prep is not None
    net, before, after = prune(_network(parent), ratio, parent.prep.size)  # type: ignore[arg-type]
    params = _fit_params(options, _features_name(parent), finetune=True)
    train, held = fs.train_rows, fs.test_rows
    x_held = fs.inputs[D.prep_key(parent.prep)][held]
    recovered_from = _frame_agreement(parent.proba(fs, held), torch_runner(net, parent.prep).proba(x_held), parent)
    if params.epochs > 0:
        fit(net, fs.inputs[D.prep_key(parent.prep)][train], parent.prep, parent.proba(fs, train), fs.row_labels()[train], params,
            progress=progress, title=f"fine-tuning after pruning {ratio:.0%}")
    step = {"step": "prune", "ratio": ratio, "importance": "magnitude L2 (torch-pruning)", "parameters_before": before,
            "parameters_after": after, "held_out_agreement_before_finetune": recovered_from, "fit": params.to_dict()}
    return Stage(ref="", lineage={}, kind="torch", task="image", classes=fs.classes, positive=parent.positive,
                 threshold=parent.threshold, level="frame", name=parent.name, steps=[*parent.steps, step], prep=parent.prep,
                 runner=torch_runner(net, parent.prep), net=net, arch=parent.arch, parameters=after,
                 summary=f"{_features_name(parent)} pruned {ratio:.0%}")


def _frame_agreement(parent_p: np.ndarray, child_p: np.ndarray, parent: Stage) -> float | None:
    a = G.decisions(parent_p, parent.classes, parent.positive, parent.threshold)
    b = G.decisions(child_p, parent.classes, parent.positive, parent.threshold)
    return round(float(np.mean(a == b)), 6) if len(a) else None


def _meta(stage: Stage, fs: D.FrameSet, precision: str) -> dict[str, str]:
    from ..models.compressed import onnx_metadata

    return onnx_metadata(task=stage.task, classes=fs.classes, positive=stage.positive, threshold=stage.threshold,
                         preprocess=stage.prep, extra={"precision": precision})


def run_export(parent: Stage, fs: D.FrameSet, work: Path) -> Stage:
    from .export import export_image, export_text, onnx_parameters
    from .runners import onnx_image_runner, onnx_text_runner

    folder = Path(tempfile.mkdtemp(prefix="export-", dir=work))
    out = folder / "model.onnx"
    step = {"step": "export", "format": "onnx", "opset": 17, "precision": "fp32"}
    common = dict(ref="", lineage={}, kind="onnx", task=parent.task, classes=fs.classes, positive=parent.positive,
                  threshold=parent.threshold, level="frame", name=parent.name, steps=[*parent.steps, step], onnx=out,
                  precision="fp32")
    if parent.task == "text":
        from ..models.compressed import MAX_TOKENS, onnx_metadata

        teacher = parent.teacher
        assert isinstance(teacher, StoredTeacher)
        meta = onnx_metadata(task="text", classes=fs.classes, positive=parent.positive, threshold=parent.threshold,
                             extra={"precision": "fp32"})
        tok = folder / "tokenizer"
        export_text(teacher.stored.card["backbone"]["id"], teacher.model.head, out, meta, tok)
        return Stage(runner=onnx_text_runner(out, tok, MAX_TOKENS), tokenizer=tok, parameters=onnx_parameters(out),
                     summary=f"{parent.summary} (text, onnx)", **common)
    net = _network(parent)
    assert parent.prep is not None and net is not None
    export_image(net, parent.prep.size, out, _meta(parent, fs, "fp32"))
    return Stage(prep=parent.prep, runner=onnx_image_runner(out, parent.prep), arch=parent.arch, parameters=onnx_parameters(out),
                 summary=f"{parent.summary}, onnx", **common)


def run_quantize(parent: Stage, fs: D.FrameSet, options: Options, work: Path, progress: bool) -> Stage:
    from .export import onnx_parameters, op_counts, quantize_dynamic_int8, quantize_static_int8
    from .runners import onnx_image_runner, onnx_text_runner

    assert parent.onnx is not None
    folder = Path(tempfile.mkdtemp(prefix="int8-", dir=work))
    out = folder / "model.onnx"
    if parent.task == "text":
        import shutil

        from ..models.compressed import MAX_TOKENS, onnx_metadata

        meta = onnx_metadata(task="text", classes=fs.classes, positive=parent.positive, threshold=parent.threshold,
                             extra={"precision": "int8 dynamic"})
        quantize_dynamic_int8(parent.onnx, out, meta)
        tok = folder / "tokenizer"
        shutil.copytree(parent.tokenizer, tok)  # type: ignore[arg-type]
        step = {"step": "quantize", "mode": "dynamic", "weights": "int8", "activations": "uint8, per batch at run time"}
        runner = onnx_text_runner(out, tok, MAX_TOKENS)
        precision = "int8 dynamic"
    else:
        assert parent.prep is not None
        train = np.flatnonzero(fs.train_rows)
        rng = np.random.default_rng(options.seed)
        chosen = np.sort(rng.choice(train, size=min(options.calibration, len(train)), replace=False))
        x = fs.inputs[D.prep_key(parent.prep)]
        batches = (parent.prep.normalize(x[chosen[i : i + 8]]) for i in range(0, len(chosen), 8))
        precision = "int8 static QDQ per-channel"
        with D.progress_bar(progress) as bar:
            bar.add_task(f"calibrating int8 on {len(chosen)} training frames", total=None)
            quantize_static_int8(parent.onnx, out, batches, _meta(parent, fs, precision))
        step = {"step": "quantize", "mode": "static", "format": "QDQ", "per_channel": True, "weights": "int8",
                "activations": "uint8", "calibration": {"method": "MinMax", "frames": len(chosen), "split": "train"}}
        runner = onnx_image_runner(out, parent.prep)
        tok = None
    counts = op_counts(out)
    step["nodes"] = {k: counts.get(k, 0) for k in ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger")}
    return Stage(ref="", lineage={}, kind="onnx", task=parent.task, classes=fs.classes, positive=parent.positive,
                 threshold=parent.threshold, level="frame", name=parent.name, steps=[*parent.steps, step], prep=parent.prep,
                 runner=runner, onnx=out, tokenizer=tok, precision=precision, arch=parent.arch,
                 parameters=onnx_parameters(out), summary=parent.summary.replace(", onnx", "") + f", onnx {precision}")
