"""Running a pipeline over many items: resumable run folders, local worker processes or Ray."""

from .inputs import InputScan, Skip, expand_inputs, scan_inputs
from .local import RunSummary, run_pipeline

__all__ = ["InputScan", "RunSummary", "Skip", "expand_inputs", "run_pipeline", "scan_inputs"]
