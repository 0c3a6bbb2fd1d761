"""Running a pipeline over many items: resumable run folders, local worker processes or Ray."""

from __future__ import annotations

from importlib import import_module

# Imported when first asked for: running a pipeline pulls in media decoding and the worker
# machinery, which `decide` (and its helper process, which imports this package afresh) never
# uses and would spend a second of every start on.
_EXPORTS = {"InputScan": "inputs", "Skip": "inputs", "expand_inputs": "inputs", "scan_inputs": "inputs",
            "RunSummary": "local", "run_pipeline": "local"}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["InputScan", "RunSummary", "Skip", "expand_inputs", "run_pipeline", "scan_inputs"]
