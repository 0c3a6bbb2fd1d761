"""Reports and evaluations of finished runs, as self-contained HTML (and JSON).

    build_report(run_dir)              -> RUN_DIR/report.html
    evaluate_run(run_dir, labels)      -> RUN_DIR/evaluation.json + RUN_DIR/evaluation.html

Both read the run folder (``results.jsonl``, ``run.json``, ``pipeline.yaml``) and, for
thumbnails, the media files still at the items' paths; neither needs a server or a network.
"""

from .build import REPORT_FILE, ReportSummary, build_report
from .evaluate import EVALUATION_HTML, EVALUATION_JSON, EvaluationSummary, evaluate, evaluate_run
from .labels import LabelSet, read_labels
from .sweep import SweepSpec, parse_sweep

__all__ = [
    "EVALUATION_HTML",
    "EVALUATION_JSON",
    "REPORT_FILE",
    "EvaluationSummary",
    "LabelSet",
    "ReportSummary",
    "SweepSpec",
    "build_report",
    "evaluate",
    "evaluate_run",
    "parse_sweep",
    "read_labels",
]
