"""Running a pipeline over many items: the local engine (processes) and, later, Ray."""

from .inputs import expand_inputs
from .local import RunSummary, run_pipeline

__all__ = ["RunSummary", "expand_inputs", "run_pipeline"]
