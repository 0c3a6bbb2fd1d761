"""One-command compression behind an accuracy gate: distill, prune, quantize, export.

    factorline compress MODEL [--data D] [--distill tiny-cnn|effnet-lite0] [--prune R]
                              [--export onnx] [--quantize int8] [--tolerance 1.0] [--force]

==============  ==========================================================================
teachers.py     what MODEL names: a stored model, ``op:<operator>.<field>``, or
                ``pipeline:<file>[#table]``; teacher outputs cached by content digest
data.py         items from ``--data`` (or the card), sampled frames kept compact, the
                held-out split by item digest
distill.py      student training: temperature-scaled KL on soft labels (x T^2) + CE on hard
                labels where available; also the fine-tune after pruning
prune.py        structured channel pruning with torch-pruning (channels physically removed)
export.py       ONNX export with preprocessing metadata; int8 static QDQ / dynamic quantization
runners.py      torch / onnxruntime / head-on-backbone probabilities and latencies
gate.py         the gate (agreement, accuracy, drop, verdict) and report.json / report.md
stages.py       options, the teacher and each child as a stage, the plan of steps
frames.py       the frame set: teacher outputs per sampled frame, labels, the split
steps.py        the steps: distill, prune (+ fine-tune), export, quantize
measure.py      a child against its parent: agreement, latencies, the gate report
publish.py      the child's card and files into the store (or ``.rejected/``), its name
chain.py        :func:`compress`: steps in order, a gated child in the store per step
commands.py     the ``factorline compress`` CLI command
==============  ==========================================================================

The library entry point is :func:`compress` (returns one :class:`StepResult` per child; a
child refused by its gate raises :class:`~factorline.contract.errors.GateError` after it was written
under the store's ``.rejected/`` area with its report).
"""

from __future__ import annotations

import importlib

__all__ = ["Options", "StepResult", "compress"]
# Loaded on first use: ``factorline --help`` mounts commands.py without importing torch.
_HOMES = {"compress": "chain", "Options": "stages", "StepResult": "stages"}


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
