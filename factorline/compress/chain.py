"""``compress(MODEL, ...)``: run the steps in order, gate each child, store it as its parent's child.

Steps run in the order **distill -> prune -> export -> quantize**, each on the previous one's
result; ``--quantize int8`` implies an ONNX export first (the fp32 export is then the int8
model's parent, so its gate compares int8 with fp32 on the same runtime). Every step writes
a child in the store (or, refused by its gate, under ``.rejected/`` and the chain stops):

=============  =====================================================================  ==============
step           child                                                                  name suffix
=============  =====================================================================  ==============
distill        a student (``tiny-cnn`` or ``effnet-lite0``) trained on the teacher's   ``-<student>``
               soft labels of the training split's frames (torch, safetensors)
prune          the parent network with ``ratio`` of its channels removed, fine-tuned   ``-p<percent>``
               against the parent's outputs (torch, safetensors)
export         the parent as ONNX fp32 with its preprocessing metadata                ``-onnx``
quantize       static int8 QDQ per-channel (images; calibrated on training frames)    ``-int8``
               or dynamic int8 (text transformers), ONNX
=============  =====================================================================  ==============

Children are named ``<base><suffixes>`` (base: ``--name``, else the teacher's name:
``subtitles.has_subtitles`` for ``op:subtitles.has_subtitles``, ``<pipeline>.<table>`` for a
pipeline); with ``--name`` the last child is named exactly that.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..core.cache import NullCache, StepCache, cache_key, default_cache_dir
from ..core.items import Limits, Sampling
from ..errors import ConfigError, DataError, GateError
from ..models.backbones import IMAGENET_MEAN, IMAGENET_STD, ImagePreprocess
from ..models.nets import STUDENTS
from ..models.store import ModelStore
from . import data as D
from . import gate as G
from .runners import Runner
from .teachers import OperatorTeacher, PipelineTeacher, StoredTeacher, Teacher, load_teacher

STEPS = ("distill", "prune", "export", "quantize")
STUDENT_SIZE = {"tiny-cnn": 128, "effnet-lite0": 224}
STUDENT_EPOCHS = {"tiny-cnn": 30, "effnet-lite0": 4}
STUDENT_LR = {"tiny-cnn": 3e-3, "effnet-lite0": 5e-4}
FINETUNE_LR = {"tiny-cnn": 1e-3, "effnet-lite0": 2e-4}
DEFAULT_SAMPLING = Sampling(fps=1.0, max_frames=16, max_side=1280)


@dataclass(frozen=True)
class Options:
    distill: str | None = None  # tiny-cnn | effnet-lite0
    prune: float | None = None  # share of channels removed
    quantize: str | None = None  # int8
    export: str | None = None  # onnx
    tolerance: float = 1.0  # points
    force: bool = False
    name: str | None = None
    epochs: int | None = None
    finetune_epochs: int = 3
    temperature: float = 4.0
    hard_weight: float = 0.5
    lr: float | None = None
    batch_size: int = 64
    size: int | None = None  # student input px
    test_size: float = 0.25
    seed: int = 0
    calibration: int = 128  # frames
    bench_runs: int = 10
    fps: float | None = None
    max_frames: int | None = None
    max_side: int | None = None
    teacher_level: str | None = None
    op_params: dict | None = None
    threads: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class StepResult:
    step: str
    name: str
    ref: str | None  # name@N when published
    path: Path  # version folder, or the .rejected/ folder
    verdict: str
    report: dict


@dataclass
class Stage:
    """One node of the chain: the teacher, or a child built by a step."""

    ref: str
    lineage: dict  # what a child's card records as its parent
    kind: str  # operator | pipeline | head | torch | onnx
    task: str  # image | text
    classes: list[str]
    positive: str | None
    threshold: float | None
    level: str  # frame | item
    name: str
    steps: list[dict] = field(default_factory=list)
    prep: ImagePreprocess | None = None
    runner: Runner | None = None
    net: object | None = None  # models.nets.Net
    arch: dict | None = None
    onnx: Path | None = None
    tokenizer: Path | None = None
    precision: str = "fp32"
    parameters: int | None = None
    size_bytes: int | None = None
    teacher: Teacher | None = None
    outputs: np.ndarray | None = None  # (rows, C); NaN rows not computed yet
    summary: str = ""

    @property
    def is_onnx(self) -> bool:
        return self.kind == "onnx"

    def proba(self, fs: D.FrameSet, rows: np.ndarray) -> np.ndarray:
        """This stage's probabilities on the frame set's ``rows`` (bool mask), computed once."""
        if self.outputs is None:
            self.outputs = np.full(fs.teacher.shape, np.nan)
        todo = rows & np.isnan(self.outputs[:, 0])
        if todo.any():
            assert self.runner is not None, f"{self.ref} has no runner"
            self.outputs[todo] = self.runner.proba(fs.network_inputs(self.prep, todo))
        return self.outputs[rows]


# --------------------------------------------------------------------------- planning


def plan(options: Options, root: Stage) -> list[tuple[str, object]]:
    """The steps to run, or a ConfigError saying what cannot be done and how to fix it."""
    o = options
    if o.distill is None and o.prune is None and o.quantize is None and o.export is None:
        raise ConfigError("nothing to do: give at least one of --distill tiny-cnn|effnet-lite0, --prune RATIO, "
                          "--export onnx, --quantize int8", path="compress")
    if o.distill is not None and o.distill not in STUDENTS:
        raise ConfigError(f"--distill expects one of {', '.join(STUDENTS)}, found {o.distill!r}", path="--distill")
    if o.quantize is not None and o.quantize != "int8":
        raise ConfigError(f"--quantize expects int8, found {o.quantize!r}", path="--quantize")
    if o.export is not None and o.export != "onnx":
        raise ConfigError(f"--export expects onnx, found {o.export!r}", path="--export")
    if o.prune is not None and not 0.0 < o.prune < 1.0:
        raise ConfigError(f"--prune expects the share of channels to remove, in (0, 1) (e.g. 0.3), found {o.prune}", path="--prune")
    if not 0.0 <= o.tolerance <= 100.0:
        raise ConfigError(f"--tolerance is in points of accuracy or agreement (0..100), found {o.tolerance}", path="--tolerance")
    steps: list[tuple[str, object]] = []
    kind = root.kind
    if o.distill is not None:
        if root.task == "text":
            raise ConfigError(f"{root.ref} classifies texts; students are image networks. A text model can be exported "
                              "(--export onnx) and quantized (--quantize int8, dynamic)", path="--distill")
        steps.append(("distill", o.distill))
        kind = "torch"
    elif kind in {"operator", "pipeline"}:
        wanted = [f for f, v in (("--prune", o.prune), ("--export", o.export), ("--quantize", o.quantize)) if v is not None]
        raise ConfigError(f"{root.ref} is {'an operator' if kind == 'operator' else 'a pipeline'}, not a network: "
                          f"{' and '.join(wanted)} {'need' if len(wanted) > 1 else 'needs'} one. "
                          "Distill it first: add --distill tiny-cnn (or effnet-lite0)",
                          path="--distill")
    if o.prune is not None:
        if root.task == "text":
            raise ConfigError(f"{root.ref} is a text model; pruning supports image networks (quantize it: --quantize int8)",
                              path="--prune")
        if kind == "onnx":
            parent = (root.lineage.get("parent") or {}).get("ref")
            raise ConfigError(f"{root.ref} is an ONNX model ({root.precision}); ONNX graphs are not pruned here. Prune its torch "
                              f"parent instead{f' ({parent})' if parent else ''}", path="--prune")
        _need_network(root, kind, "--prune")
        steps.append(("prune", o.prune))
        kind = "torch"
    if o.export is not None or o.quantize is not None:
        if kind == "onnx":
            if o.quantize is not None and root.precision != "fp32":
                raise ConfigError(f"{root.ref} is already {root.precision}; quantize its fp32 parent instead", path="--quantize")
            if o.quantize is None:
                raise ConfigError(f"{root.ref} is already an ONNX model; nothing to export", path="--export")
        else:
            _need_network(root, kind, "--export" if o.export is not None else "--quantize")
            steps.append(("export", "onnx"))
        if o.quantize is not None:
            steps.append(("quantize", "int8"))
    return steps


def _need_network(root: Stage, kind: str, flag: str) -> None:
    if kind == "head" and root.task == "image" and root.arch is None:
        raise ConfigError(f"{root.ref} is a head on the backbone {root.summary}; {flag} works on effnet-lite0 heads and on "
                          "compressed students. Distill it into a student first: add --distill tiny-cnn", path=flag)


# --------------------------------------------------------------------------- stages


def root_stage(teacher: Teacher) -> Stage:
    common = dict(ref=teacher.ref, lineage=teacher.describe(), classes=list(teacher.classes or []), positive=teacher.positive,
                  threshold=teacher.threshold, level=teacher.level, name=teacher.base_name, teacher=teacher)
    if isinstance(teacher, (OperatorTeacher, PipelineTeacher)):
        return Stage(kind=teacher.kind, task="image", summary=teacher.ref, **common)
    assert isinstance(teacher, StoredTeacher)
    card = teacher.stored.card
    task = "text" if card["task"] == "text" else "image"
    common["lineage"] = {"ref": teacher.ref, "kind": "stored", "fingerprint": card["card_digest"], "parent": card.get("parent")}
    steps = list(card.get("steps", []))
    if teacher.stored.compressed:
        return _compressed_stage(teacher, card, task, steps, common)
    from .runners import head_runner

    model = teacher.model
    bb = card["backbone"]
    stage = Stage(kind="head", task=task, runner=head_runner(model), prep=model.backbone.preprocess, steps=steps,
                  summary=f"{card['head']['kind']} head on {bb['id']}", precision="fp32", **common)
    if task == "image" and bb["id"] == "effnet-lite0":
        from ..models.nets import head_arch

        stage.arch = head_arch(model.head)
    stage.parameters, stage.size_bytes = _head_model_size(teacher)
    return stage


def _head_model_size(teacher: StoredTeacher) -> tuple[int | None, int | None]:
    """(parameters, bytes on disk) of a stored head with its backbone's weights."""
    from ..models import effnet

    card = teacher.stored.card
    head_bytes = (teacher.stored.path / card["head"]["file"]).stat().st_size
    head_params = int(sum(v.size for v in teacher.stored.head.tensors.values()))  # type: ignore[union-attr]
    bb = card["backbone"]["id"]
    if bb == "effnet-lite0":
        return effnet_parameters() + head_params, effnet.weights_path().stat().st_size + head_bytes
    if bb == "minilm":
        from ..models.hf import minilm_folder

        weights = minilm_folder() / "model.safetensors"
        return None, weights.stat().st_size + head_bytes
    return None, None


def effnet_parameters() -> int:
    from ..models.effnet import EfficientNetLite0
    from ..models.nets import parameter_count

    net = EfficientNetLite0()
    return parameter_count(net) - parameter_count(net._fc)


def _compressed_stage(teacher: StoredTeacher, card: dict, task: str, steps: list, common: dict) -> Stage:
    from ..models.compressed import read_metadata, session
    from .runners import onnx_image_runner, onnx_text_runner, torch_runner

    model, folder = card["model"], teacher.stored.path
    path = folder / model["file"]
    base = dict(task=task, steps=steps, precision=model["precision"], parameters=model.get("parameters"),
                size_bytes=model.get("size_bytes"), summary=model.get("summary", ""), **common)
    if model["format"] == "torch":
        from ..models.nets import rebuild

        net = rebuild(model["arch"], path)
        prep = ImagePreprocess.from_dict(model["input"]["preprocess"])
        return Stage(kind="torch", net=net, arch=model["arch"], prep=prep, runner=torch_runner(net, prep), **base)
    meta = read_metadata(session(path), path)
    if task == "text":
        tok = folder / meta.get("tokenizer", "tokenizer")
        return Stage(kind="onnx", onnx=path, tokenizer=tok, runner=onnx_text_runner(path, tok, int(meta.get("max_tokens", 256))),
                     **base)
    return Stage(kind="onnx", onnx=path, prep=meta["preprocess"], runner=onnx_image_runner(path, meta["preprocess"]), **base)


def student_prep(student: str, size: int | None) -> ImagePreprocess:
    """Students see the whole frame squashed to a square (bars and bottom bands stay in view)."""
    size = size or STUDENT_SIZE[student]
    if student == "effnet-lite0":
        from ..models.backbones import EFFNET_PREPROCESS

        return ImagePreprocess(size=size, resize=None, mean=EFFNET_PREPROCESS.mean, std=EFFNET_PREPROCESS.std,
                               interpolation="area")
    return ImagePreprocess(size=size, resize=None, mean=IMAGENET_MEAN, std=IMAGENET_STD, interpolation="area")


# --------------------------------------------------------------------------- data


def frame_set(teacher: Teacher, root: Stage, source: Path, options: Options, preps: list[ImagePreprocess],
              *, progress: bool, limits: Limits) -> D.FrameSet:
    items, problems = D.read_items(source, task=teacher.task, limits=limits, card_labels=teacher.card_labels)
    if not items:
        what = "texts" if teacher.task == "text" else {"media": "images or videos"}.get(teacher.task, f"{teacher.task}s")
        raise DataError(f"{source}: no usable {what} for {teacher.ref}" + (f" ({len(problems)} problem(s): {problems[:3]})"
                        if problems else ""), path=str(source))
    base = teacher.sampling or DEFAULT_SAMPLING
    sampling = Sampling(fps=options.fps or base.fps, max_frames=options.max_frames or base.max_frames,
                        max_side=options.max_side or base.max_side)
    if teacher.task == "text":
        texts = [it.text or "" for it in items]
        values: list = list(teacher.text_values(texts))
        row_item, times, inputs, timing = list(range(len(items))), [0.0] * len(items), {}, texts[: D.TIMING_FRAMES]
    else:
        row_item, times, values, raw_inputs, timing, more = D.collect(
            items, sampling, limits, preps, teacher.frame_values, progress=progress, label=f"sampling frames, teacher {teacher.ref}")
        problems += more
        inputs = {k: (np.concatenate(v) if v else np.zeros((0, 1, 1, 3), np.uint8)) for k, v in raw_inputs.items()}
        texts = None
    if not row_item:
        raise DataError(f"{source}: no frame could be decoded ({len(problems)} problem(s): {problems[:3]})", path=str(source))
    classes, teacher_p = _teacher_matrix(values, teacher)
    if len(classes) < 2:
        raise DataError(f"the teacher {teacher.ref} gave one class only ({classes}) on {source}; a student needs data where "
                        "it decides at least two ways", path=str(source))
    item = np.asarray(row_item, np.int64)
    item_class = np.argmax(D.item_mean(teacher_p, item, len(items)), axis=1)
    labels = np.array([classes.index(it.label) if it.label in classes else -1 for it in items], np.int64)
    test = D.split_items([it.digest for it in items], item_class, options.test_size, options.seed, teacher.card_splits)
    if not test.any() or test.all():
        raise DataError(f"{source}: {len(items)} item(s) cannot be split into training and held-out parts; "
                        "give more items (at least 4)", path=str(source))
    root.classes = classes
    return D.FrameSet(items, classes, item, np.asarray(times), teacher_p, test, labels, inputs, texts, list(timing),
                      problems, str(Path(source).resolve()), sampling if teacher.task != "text" else None)


def _teacher_matrix(values: list, teacher: Teacher) -> tuple[list[str], np.ndarray]:
    if values and not isinstance(values[0], str):
        return list(teacher.classes or []), np.asarray(values, np.float64)
    declared = list(teacher.classes or [])
    classes = declared or sorted(set(values))
    index = {c: i for i, c in enumerate(classes)}
    out = np.zeros((len(values), len(classes)))
    out[np.arange(len(values)), [index[v] for v in values]] = 1.0
    return classes, out


# --------------------------------------------------------------------------- steps


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


# --------------------------------------------------------------------------- gate


def _runs32(options: Options) -> int:
    """Timed runs at batch 32: a third of those at batch 1 (each costs 32 times more)."""
    return max(1, -(-options.bench_runs // 3))


def timed_calls(stage: Stage, fs: D.FrameSet, options: Options, item_paths: list[str] | None) -> dict[str, tuple]:
    """``{"<kind>.<batch_1|batch_32>": (call, runs, units)}`` of everything timeable about a stage."""
    runs1, runs32 = options.bench_runs, _runs32(options)
    calls: dict[str, tuple] = {}
    if isinstance(stage.teacher, PipelineTeacher) and stage.runner is None:
        if item_paths:
            calls["item.batch_1"] = (stage.teacher.items_call(item_paths), runs32, len(item_paths))
    elif isinstance(stage.teacher, OperatorTeacher) and stage.runner is None:
        if fs.timing:
            calls["end_to_end.batch_1"] = (stage.teacher.frames_call(fs.timing, 1), runs1, 1)
            calls["end_to_end.batch_32"] = (stage.teacher.frames_call(fs.timing, 32), runs32, 1)
    elif stage.runner is not None:
        held = np.flatnonzero(fs.test_rows)[:32]
        sample = fs.network_inputs(stage.prep, held)
        calls["model.batch_1"] = (stage.runner.model_call(sample, 1), runs1, 1)
        calls["model.batch_32"] = (stage.runner.model_call(sample, 32), runs32, 1)
        if fs.timing:
            calls["end_to_end.batch_1"] = (stage.runner.end_to_end_call(fs.timing, 1), runs1, 1)
            calls["end_to_end.batch_32"] = (stage.runner.end_to_end_call(fs.timing, 32), runs32, 1)
        if item_paths:
            calls["item.batch_1"] = (_item_call(stage.runner, fs, item_paths), runs32, len(item_paths))
    return calls


def measure(parent: Stage, child: Stage, fs: D.FrameSet, options: Options, item_paths: list[str] | None) -> tuple[dict, dict]:
    """Latencies of parent and child, timed in alternation (see gate.interleaved_ms)."""
    calls = {f"parent.{k}": v for k, v in timed_calls(parent, fs, options, item_paths).items()}
    calls.update({f"child.{k}": v for k, v in timed_calls(child, fs, options, item_paths).items()})
    found = G.interleaved_ms(calls)
    out: tuple[dict, dict] = ({}, {})
    for key, ms in found.items():
        side, kind, batch = key.split(".")
        out[0 if side == "parent" else 1].setdefault(kind, {})[batch] = ms
    for latency in out:
        for kind in latency.values():
            if "batch_32" in kind:
                kind["per_frame_32"] = round(kind["batch_32"] / 32, 4)
    return out


def _item_call(runner: Runner, fs: D.FrameSet, paths: list[str]):
    """One timed call per item list: probe, decode the frames as the pipeline samples them, predict."""
    from ..media import decode_frames, probe

    def run() -> None:
        for path in paths:
            batch = decode_frames(path, probe(path, Limits()), fs.sampling or DEFAULT_SAMPLING, Limits())
            runner.logits_of(runner.from_raw(list(batch.images)))

    return run


def _side(stage: Stage, latency: dict) -> dict:
    return {"ref": stage.ref, "kind": stage.kind, "runtime": stage.runner.runtime if stage.runner else stage.kind,
            "precision": stage.precision if stage.kind in {"torch", "onnx", "head"} else "",
            "parameters": stage.parameters, "size_bytes": stage.size_bytes, "summary": stage.summary, "latency_ms": latency}


def evaluate(parent: Stage, child: Stage, root: Stage, fs: D.FrameSet, step: str, params: dict, options: Options) -> dict:
    """The gate report of ``child`` against ``parent`` (see gate.py)."""
    rows = fs.test_rows
    test_items = np.flatnonzero(fs.test)
    local = {int(i): k for k, i in enumerate(test_items)}
    item = np.array([local[int(i)] for i in fs.item[rows]], np.int64)
    labels = fs.labels[test_items]
    level = "item" if parent.level == "item" else "frame"
    child_p = child.proba(fs, rows)
    scored = G.score(parent.proba(fs, rows), child_p, item, len(test_items), labels, fs.classes, parent.positive,
                     parent.threshold, level)
    paths = [fs.items[i].path for i in test_items[:3]] if parent.kind == "pipeline" else None
    parent_latency, child_latency = measure(parent, child, fs, options, paths)
    g = {"metric": scored["metric"], "level": scored["level"], "drop_points": scored["drop_points"],
         "tolerance_points": options.tolerance}
    g["verdict"] = G.verdict(g["drop_points"], options.tolerance, options.force)
    report = {
        "step": step, "params": params, "gate": g,
        "held_out": {"items": len(test_items), "frames": int(rows.sum()), "labeled_items": int((labels >= 0).sum()),
                     "digest": _split_digest(fs, True)},
        "agreement": {"frame": scored["frame"], "item": scored["item"]},
        "accuracy": {"parent": scored["parent_accuracy"], "child": scored["child_accuracy"]},
        "parent": _side(parent, parent_latency), "child": {**_side(child, child_latency), "name": ""},
        "speedup": G.ratios(parent_latency, child_latency),
        "machine": G.machine(options.threads), "runs": {"batch_1": options.bench_runs, "batch_32": _runs32(options)},
        "classes": fs.classes,
    }
    if root is not parent:
        root_scored = G.score(root.proba(fs, rows), child_p, item, len(test_items), labels, fs.classes, root.positive,
                              root.threshold, root.level)
        report["root"] = {"ref": root.ref, "level": root.level,
                          "agreement": root_scored["frame" if root.level == "frame" else "item"]["agreement"]}
    return report


def _split_digest(fs: D.FrameSet, held_out: bool) -> str:
    return "sha256:" + cache_key(sorted(fs.items[i].digest for i in np.flatnonzero(fs.test == held_out)))


# --------------------------------------------------------------------------- the card and the store


def _splits(fs: D.FrameSet) -> dict:
    out = {}
    for name, side in (("train", False), ("test", True)):
        idx = np.flatnonzero(fs.test == side)
        pairs = sorted([fs.items[i].digest, fs.items[i].label if fs.labels[i] >= 0 else None] for i in idx)
        out[name] = {"digest": _split_digest(fs, side), "count": len(idx), "items": pairs}
    return out


def build_card(child: Stage, parent: Stage, root: Stage, fs: D.FrameSet, report: dict, options: Options, size: int) -> dict:
    from ..models.card import provenance

    model: dict = {"format": "onnx" if child.is_onnx else "torch", "file": "model.onnx" if child.is_onnx else "model.safetensors",
                   "precision": child.precision, "runtime": "onnxruntime" if child.is_onnx else "torch",
                   "parameters": child.parameters, "size_bytes": size, "summary": child.summary}
    if child.arch is not None:
        model["arch"] = child.arch
    if child.task == "image":
        assert child.prep is not None
        model["input"] = {"preprocess": child.prep.to_dict(), "color_order": "RGB", "layout": "NCHW float32",
                          "input": "pixels", "output": "logits"}
    else:
        model["input"] = {"tokenizer": "tokenizer", "max_tokens": 256, "input": ["input_ids", "attention_mask"], "output": "logits"}
    scored = report["agreement"]
    child_acc = report["accuracy"]["child"]
    return {
        "kind": "compressed",
        "task": child.task,
        "model": model,
        "head": {"kind": "network", "classes": fs.classes, "positive": child.positive, "threshold": child.threshold},
        "parent": {**parent.lineage, "ref": parent.ref},
        "root": _origin(root),
        "steps": child.steps,
        "data": {"source": fs.source, "count": len(fs.items), "frames": len(fs.item),
                 "sampling": None if fs.sampling is None else {"fps": fs.sampling.fps, "max_frames": fs.sampling.max_frames,
                                                                "max_side": fs.sampling.max_side},
                 "labeled": int((fs.labels >= 0).sum()), "skipped": fs.skipped[:50], "splits": _splits(fs)},
        "metrics": {"test": {"n": report["held_out"]["items"], "agreement": scored["item"]["agreement"],
                             "frame_agreement": scored["frame"]["agreement"],
                             "accuracy": child_acc["accuracy"] if child_acc else None}},
        "gate": report["gate"],
        "report": ["report.json", "report.md"],
        "options": {k: v for k, v in options.to_dict().items() if v is not None},
        "provenance": provenance(),
    }


def _origin(root: Stage) -> dict:
    """The first teacher of the lineage: a stored child's own root, else this chain's teacher."""
    teacher = root.teacher
    if isinstance(teacher, StoredTeacher) and teacher.stored.card.get("root"):
        return teacher.stored.card["root"]
    return teacher.describe() if teacher else root.lineage


def _child_files(child: Stage, work: Path) -> tuple[Path, int]:
    """(model file in the work folder, bytes on disk: the file plus a text model's tokenizer)."""
    from ..models.compressed import file_size
    from ..models.nets import save_weights

    if child.is_onnx:
        size = file_size(child.onnx) + (file_size(child.tokenizer) if child.tokenizer else 0)  # type: ignore[arg-type]
        return child.onnx, size  # type: ignore[return-value]
    path = Path(tempfile.mkdtemp(prefix="torch-", dir=work)) / "model.safetensors"
    save_weights(child.net, path)  # type: ignore[arg-type]
    return path, path.stat().st_size


def publish(child: Stage, parent: Stage, root: Stage, fs: D.FrameSet, report: dict, options: Options, store: ModelStore,
            name: str, work: Path) -> StepResult:
    import shutil

    source, size = _child_files(child, work)
    child.size_bytes = size
    report["child"]["size_bytes"] = size
    card = build_card(child, parent, root, fs, report, options, size)
    verdict = report["gate"]["verdict"]

    def write(folder: Path, full: dict) -> list[str]:
        files = [card["model"]["file"]]
        shutil.copyfile(source, folder / card["model"]["file"])
        if child.tokenizer is not None:
            shutil.copytree(child.tokenizer, folder / "tokenizer")
            files += sorted(str(p.relative_to(folder)) for p in (folder / "tokenizer").rglob("*") if p.is_file())
        ref = f"{full['name']}@{full['version']}" if full.get("version") is not None else None
        report["child"].update({"name": full["name"], "ref": ref})
        report["location"] = full.get("location") or str(store.root / full["name"] / f"v{full['version']}")
        return files + G.write_reports(folder, report)

    if verdict == "refused":
        where = store.save_rejected(name, card, write)
        report["location"] = str(where)
        return StepResult(report["step"], name, None, where, verdict, report)
    saved = store.save_model(name, card, write)
    report["location"] = str(saved.path)
    child.ref = saved.ref
    child.lineage = {"ref": saved.ref, "kind": "stored", "fingerprint": saved.card["card_digest"]}
    if child.is_onnx:  # point at the stored copy: the work folder goes away
        child.onnx = saved.path / "model.onnx"
        if child.tokenizer is not None:
            child.tokenizer = saved.path / "tokenizer"
    return StepResult(report["step"], name, saved.ref, saved.path, verdict, report)


SUFFIX = {"distill": lambda v: f"-{v}", "prune": lambda v: f"-p{round(float(v) * 100)}", "export": lambda v: "-onnx",
          "quantize": lambda v: "-int8"}


def child_names(base: str, steps: list[tuple[str, object]], final: str | None) -> list[str]:
    """Cumulative names (``base-tiny-cnn``, ``base-tiny-cnn-onnx``...); ``final`` names the last child."""
    names, name = [], base
    for step, value in steps:
        name = name + SUFFIX[step](value)
        names.append(name)
    too_long = max(len(n) for n in names) - 64
    if too_long > 0:
        names = [base[: len(base) - too_long].rstrip("-._") + n[len(base):] for n in names]
    if final:
        names[-1] = final
    return names


# --------------------------------------------------------------------------- entry point


def compress(model: str, *, data: str | Path | None = None, options: Options | None = None, store: ModelStore | None = None,
             cache: StepCache | None = None, progress: bool = False, limits: Limits | None = None,
             on_step: Callable[[StepResult], None] | None = None) -> list[StepResult]:
    """Run the steps on MODEL; returns one StepResult per published child. A child refused by
    its gate is written under ``.rejected/`` and raises GateError (after ``on_step`` saw it)."""
    from ..models.store import check_name

    options = options or Options()
    store = store or ModelStore()
    cache = cache if cache is not None else StepCache(default_cache_dir())
    limits = limits or Limits()
    if options.name:
        check_name(options.name)
    teacher = load_teacher(model, store, cache, level=options.teacher_level, op_params=options.op_params,
                           engine_cache=None if isinstance(cache, NullCache) else cache)
    root = root_stage(teacher)
    steps = plan(options, root)
    source = data or teacher.data_source
    if source is None:
        raise ConfigError(f"{teacher.ref} needs data to run on: --data DIR|CSV (images and/or videos; labels optional)",
                          path="--data")
    preps = []
    if root.prep is not None and root.task == "image":
        preps.append(root.prep)
    if options.distill:
        preps.append(student_prep(options.distill, options.size))
    fs = frame_set(teacher, root, Path(source), options, preps, progress=progress, limits=limits)
    root.outputs = fs.teacher  # the teacher's own outputs, computed as the operators compute them
    names = child_names(options.name or root.name, steps, options.name)
    with _threads(options.threads):
        return _run_chain(steps, names, root, fs, options, store, progress, on_step)


@contextmanager
def _threads(threads: int | None):
    """torch and new onnxruntime sessions on ``threads`` intra-op threads (None: as they are)."""
    import torch

    from . import runners

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
        runners.THREADS = threads
    try:
        yield
    finally:
        torch.set_num_threads(before)
        runners.THREADS = None


def _run_chain(steps, names, root: Stage, fs: D.FrameSet, options: Options, store: ModelStore, progress: bool,
               on_step: Callable[[StepResult], None] | None) -> list[StepResult]:
    results: list[StepResult] = []
    current = root
    with tempfile.TemporaryDirectory(prefix="factorline-compress-") as tmp:
        work = Path(tmp)
        for (step, value), name in zip(steps, names):
            if step == "distill":
                child = run_distill(current, fs, str(value), options, progress)
            elif step == "prune":
                child = run_prune(current, fs, float(value), options, progress)  # type: ignore[arg-type]
            elif step == "export":
                child = run_export(current, fs, work)
            else:
                child = run_quantize(current, fs, options, work, progress)
            report = evaluate(current, child, root, fs, step, {k: v for k, v in child.steps[-1].items() if k != "step"}, options)
            result = publish(child, current, root, fs, report, options, store, name, work)
            results.append(result)
            if on_step:
                on_step(result)
            if result.verdict == "refused":
                g = report["gate"]
                raise GateError(
                    f"{step} child {name!r} lost {g['drop_points']:.2f} points of {g['metric']} against {current.ref} "
                    f"(tolerance {g['tolerance_points']:.2f}): not published; kept at {result.path} "
                    f"(report: {result.path / 'report.md'}). Publish it anyway with --force, or raise --tolerance",
                    path=name, report=str(result.path / "report.json"))
            current = child
    return results
