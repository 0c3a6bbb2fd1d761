"""The nodes of a compression chain: its options, the teacher and each child as a :class:`Stage`,
and :func:`plan`, which checks the options against the teacher before any work starts.

A stage is whatever can score frames: an operator or pipeline teacher, a stored head on a
backbone, or a compressed torch / ONNX child. Its probabilities on the frame set are
computed once and kept, so a child scored at its own gate is not scored again as the next
step's parent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..contract.errors import ConfigError
from ..models.backbones import IMAGENET_MEAN, IMAGENET_STD, ImagePreprocess
from ..models.nets import STUDENTS
from . import data as D
from .runners import Runner
from .teachers import OperatorTeacher, PipelineTeacher, StoredTeacher, Teacher

STEPS = ("distill", "prune", "export", "quantize")
STUDENT_SIZE = {"tiny-cnn": 128, "effnet-lite0": 224}


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
    label_field: str | None = None  # a `factorline synth` --data folder: the truth field used as hard label

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
