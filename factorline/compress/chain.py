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

Here: the order and the stop on a refusal. The steps are in steps.py, the gate in
measure.py, the card and the store in publish.py, the teacher and the plan in stages.py.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from ..cache import NullCache, StepCache, default_cache_dir
from ..contract.errors import ConfigError, GateError
from ..contract.items import Limits
from ..models.store import ModelStore
from . import data as D
from .frames import frame_set
from .measure import evaluate
from .publish import child_names, publish
from .stages import Options, Stage, StepResult, plan, root_stage, student_prep
from .steps import run_distill, run_export, run_prune, run_quantize
from .teachers import load_teacher


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
                    f"{step} child {name!r} lost {g['drop_points']:.2f} points ({g['worst']}; parent {current.ref}) "
                    f"(tolerance {g['tolerance_points']:.2f}): not published; kept at {result.path} "
                    f"(report: {result.path / 'report.md'}). Publish it anyway with --force, or raise --tolerance",
                    path=name, report=str(result.path / "report.json"))
            current = child
    return results
