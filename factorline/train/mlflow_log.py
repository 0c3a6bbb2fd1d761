"""Optional MLflow logging of a trained model (``factorline train --mlflow URI``).

The run gets the training parameters, every numeric metric of the card (flattened names such
as ``test.accuracy`` or ``test.per_class.cat.recall``) and the model folder as artifacts. The
store stays the source of truth; MLflow is a mirror. A ``file:`` URI (or a plain folder) uses
MLflow's file store, which MLflow 3 keeps in maintenance mode behind an opt-in flag: asking
for it explicitly is that opt-in here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..contract.errors import ConfigError
from ..models.store import StoredModel

EXPERIMENT = "factorline"


def _numbers(value, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            out.update(_numbers(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out[re.sub(r"[^\w./ -]", "_", prefix)] = float(value)
    return out


def tracking_uri(uri: str) -> str:
    """An MLflow tracking URI from what a user types: a folder, ``file:./rel``, ``file:/abs``
    (both as shown in ``--help``; MLflow itself would take them as a folder named ``file:...``),
    ``file:///abs`` or any ``scheme://`` URI (kept as it is)."""
    if uri.startswith("file://"):
        return uri
    if uri.startswith("file:"):
        uri = uri[len("file:"):]
    elif "://" in uri:
        return uri
    return Path(uri).expanduser().resolve().as_uri()


def log_model(uri: str, model: StoredModel, experiment: str = EXPERIMENT) -> str:
    """Log one stored model version as an MLflow run; returns the run id."""
    try:
        import mlflow
    except ImportError as exc:
        raise ConfigError("--mlflow needs MLflow: pip install mlflow-skinny", path="mlflow", cause=exc) from exc
    uri = tracking_uri(uri)
    if uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    card = model.card
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=model.ref) as run:
        params = {f"head.{k}": v for k, v in card["training"]["head"].items()}
        params.update({k: str(v) for k, v in card["training"].items() if k != "head"})
        params.update({"backbone": card["backbone"]["id"], "backbone_revision": card["backbone"]["revision"],
                       "data_digest": card["data"]["digest"], "model": model.ref})
        mlflow.log_params(params)
        mlflow.log_metrics(_numbers(card["metrics"]))
        mlflow.set_tags({"factorline.model": model.ref, "git_commit": str(card["provenance"]["git_commit"])})
        mlflow.log_artifacts(str(model.path), artifact_path="model")
        return run.info.run_id
