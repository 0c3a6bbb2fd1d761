"""Few-shot training on frozen backbones: data sets, embeddings, the protocol, eval, CLI.

``train()`` and ``evaluate()`` are the library entry points; ``commands.app`` is the CLI.
"""

from __future__ import annotations

import importlib
import sys
import types

__all__ = ["Dataset", "Example", "HeadParams", "Protocol", "TrainResult", "evaluate", "load_dataset", "train"]
# Loaded on first use: ``factorline --help`` mounts commands.py without importing torch.
_HOMES = {"Dataset": "data", "Example": "data", "load_dataset": "data", "HeadParams": "fit",
          "Protocol": "protocol", "TrainResult": "trainer", "train": "trainer"}


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Package(types.ModuleType):
    """``evaluate`` names a submodule and the function it defines: the package attribute is the
    function, loaded on first use, even after something imported the submodule (the import
    system then sets the attribute to the module; the setter keeps the function)."""

    @property
    def evaluate(self):
        return importlib.import_module(f"{__name__}.evaluate").evaluate

    @evaluate.setter
    def evaluate(self, value) -> None:
        pass


sys.modules[__name__].__class__ = _Package
