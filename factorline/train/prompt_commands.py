"""CLI ``factorline prompts calibrate``: fit the ``prompts`` operator's per-label temperature and
threshold on a few labelled items (see :mod:`factorline.train.prompts`), mounted by cli.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer
from pydantic import ValidationError
from rich.table import Table

from ..console import console
from ..console import fail as _fail
from ..contract.errors import ConfigError, FactorlineError

prompts_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Zero-shot prompt labels: calibrate them.")


def mount(parent: typer.Typer) -> None:
    parent.add_typer(prompts_app, name="prompts")


def step_params(pipeline: Path | None, step: str | None, labels: Path | None, backbone: str | None) -> dict:
    """The prompts step's parameters: from a pipeline's step, or from --labels/--backbone."""
    from ..engine.document import load_text

    if pipeline is not None:
        doc = load_text(pipeline)
        steps = doc.get("steps") or {}
        chosen = step or next((n for n, s in steps.items() if str(s.get("op", "")).split("@")[0] == "prompts"), None)
        if chosen not in steps or str(steps[chosen].get("op", "")).split("@")[0] != "prompts":
            found = [n for n, s in steps.items() if str(s.get("op", "")).split("@")[0] == "prompts"]
            raise ConfigError(f"{pipeline}: expected a prompts step{f' named {step!r}' if step else ''}, found {found or 'none'}; "
                              "pass --step NAME", path=f"steps.{step or ''}")
        params = dict(steps[chosen].get("params") or {})
    else:
        params = {}
    if labels is not None:
        params["labels"] = load_text(labels)
    if backbone is not None:
        params["backbone"] = backbone
    params.pop("calibration", None)
    return params


@prompts_app.command("calibrate")
def calibrate_command(
    data: Path = typer.Argument(..., help="Labelled items: a folder with one subfolder per label (others/none: negatives), "
                                "a CSV/JSONL with path,label, or a Label Studio export."),
    out: Path = typer.Option(..., "--out", "-o", help="Calibration JSON to write (give it to the step's `calibration`)."),
    pipeline: Path | None = typer.Option(None, "--pipeline", help="Take backbone, labels and aggregate from this pipeline's prompts step."),
    step: str | None = typer.Option(None, "--step", help="The prompts step of --pipeline (default: the only one)."),
    labels: Path | None = typer.Option(None, "--labels", help="YAML/JSON mapping label -> prompts (instead of --pipeline)."),
    backbone: str | None = typer.Option(None, "--backbone", help="Image-text backbone (hf:<folder> or builtin:imagenet-minilm)."),
    fps: float = typer.Option(1.0, "--fps", help="Frames per second sampled from videos (as the pipeline samples)."),
    max_frames: int = typer.Option(64, "--max-frames", help="At most this many frames per video."),
) -> None:
    """Fit per-label a, b of sigmoid(a * cosine + b) and an F1-best threshold on labelled items."""
    from ..contract.items import Sampling
    from ..models.imagetext import get_imagetext
    from ..operators.aggregate import aggregate
    from ..operators.zeroshot import PromptParams, frame_cosines
    from ..train.features import embed_dataset
    from ..train.trainer import default_embedding_cache
    from .data import load_dataset
    from .prompts import calibrate, save_calibration

    try:
        params = PromptParams(**step_params(pipeline, step, labels, backbone))
        dataset = load_dataset(data, skip_bad=True)
        model = get_imagetext(params.backbone)
        features = embed_dataset(dataset, model.image, default_embedding_cache(),
                                 sampling=Sampling(fps=fps, max_frames=max_frames), progress=True)
        cosines = frame_cosines(model, features.x, params.labels, [])
        names = list(params.labels)
        x = np.array([[aggregate(params.aggregate, cosines[features.item == i, j], threshold=params.threshold)
                       for j in range(len(names))] for i in range(len(features.examples))])
        doc = calibrate(x, features.labels, params.labels, backbone=params.backbone, revision=model.revision,
                        aggregate=params.aggregate)
        save_calibration(doc, out)
    except ValidationError as exc:  # bad labels, backbone or aggregate
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "params"
        _fail(ConfigError(f"prompts step parameters: {first['msg']}", path=where))
    except FactorlineError as exc:
        _fail(exc)
    table = Table("label", "positives", "negatives", "a", "b", "threshold", "F1 (fitted items)")
    for name, entry in doc["per_label"].items():
        table.add_row(name, str(entry["positives"]), str(entry["negatives"]), f"{entry['a']:.2f}", f"{entry['b']:.2f}",
                      f"{entry['threshold']:.3f}", f"{entry['f1']:.3f}")
    console.print(table)
    skipped = f"; {len(dataset.bad)} unreadable item(s) left out" if dataset.bad else ""
    console.print(f"calibrated {len(names)} label(s) on {len(features.examples)} item(s){skipped} -> {out}\n"
                  f"set the step's calibration: {out}")
