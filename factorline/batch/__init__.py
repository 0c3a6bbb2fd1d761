"""Running a pipeline over many items: resumable run folders, local worker processes or Ray."""

from .inputs import expand_inputs
from .local import RunSummary, run_pipeline

__all__ = ["RunSummary", "expand_inputs", "run_pipeline"]
