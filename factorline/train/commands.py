"""CLI commands ``train``, ``eval`` and ``models list|show|backbones|export-backbone``.

``app`` is a plain ``typer.Typer()``; factorline/cli.py mounts it with :func:`mount` (or
``app.registered_commands`` / ``add_typer``). Errors print as ``error: <path>: <message>``;
a data or configuration problem exits 2, a number that does not reproduce exits 1.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.markdown import Markdown
from rich.markup import escape
from rich.table import Table

from ..console import console
from ..console import fail as _fail
from ..contract.errors import FactorlineError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Train, evaluate and list few-shot models.")
models_app = typer.Typer(add_completion=False, no_args_is_help=True, help="The model store: list, show, backbones.")
app.add_typer(models_app, name="models")

STORE_HELP = "Model store folder (default $FACTORLINE_MODELS or ./models)."


def mount(parent: typer.Typer) -> None:
    """Add ``train``, ``eval`` and the ``models`` group to another Typer app."""
    for command in app.registered_commands:
        parent.registered_commands.append(command)
    parent.add_typer(models_app, name="models")


def _store(store: Path | None):
    from ..models.store import ModelStore

    return ModelStore(store)


def _cache(cache: Path | None, no_cache: bool):
    from ..cache import StepCache
    from ..models.embed import EmbeddingCache
    from ..train.trainer import default_embedding_cache

    if no_cache:
        return EmbeddingCache()
    return EmbeddingCache(StepCache(cache)) if cache else default_embedding_cache()


def parse_target(text: str | None) -> tuple[str, float] | None:
    if not text:
        return None
    metric, sep, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not sep or metric not in {"precision", "recall"} or not 0 < number <= 1:
        raise typer.BadParameter(f"expected precision=<0..1> or recall=<0..1>, found {text!r}", param_hint="--target")
    return metric, number


def _ints(text: str, hint: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values:
        raise typer.BadParameter(f"expected comma-separated integers, found {text!r}", param_hint=hint)
    return values


@app.command("train")
def train_command(
    data: Path = typer.Argument(..., help="Folder of label folders, a .csv/.jsonl manifest or a Label Studio .json export."),
    name: str = typer.Option(..., "--name", "-n", help="Model name in the store (a new version is added)."),
    backbone: str = typer.Option(None, help="Backbone id (default effnet-lite0 for media, minilm for text; hf:<ref>, onnx:<file>)."),
    head: str = typer.Option("logreg", help="Head: logreg or mlp."),
    c: float = typer.Option(None, "--C", help="Inverse L2 regularisation: of logreg on unit-norm embeddings (default 1000), "
                            "of the aesthetics head (default 10)."),
    labels: str = typer.Option(None, help="Comma-separated allowed labels; rows with others are bad rows."),
    positive: str = typer.Option(None, help="Binary tasks: the class the score is about (default: the second label)."),
    target: str = typer.Option(None, help="Calibrate the threshold: precision=0.9 or recall=0.9 (binary tasks)."),
    seeds: str = typer.Option("0,1,2", help="Comma-separated seeds; the first gives the stored model."),
    folds: int = typer.Option(5, min=2, help="Cross-validation folds on the training split."),
    test_size: float = typer.Option(0.25, min=0.05, max=0.9, help="Share of items held out."),
    fps: float = typer.Option(1.0, help="Video frames sampled per second (as in pipelines)."),
    max_frames: int = typer.Option(16, help="At most this many frames per video."),
    max_side: int = typer.Option(1280, help="Frames are downscaled so that their longer side is at most this."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Leave bad rows out (they are still listed) instead of failing."),
    label_field: str = typer.Option(None, "--label-field", help="DATA is a run's reviews.jsonl: the table or factor whose "
                                    "verdicts are the labels (moderation, logo.has_logo); or a `factorline synth` folder: the "
                                    "truth field that is the label (e.g. subtitles.has_subtitles, logo.has_logo, black_border.fill, kind)."),
    store: Path = typer.Option(None, help=STORE_HELP),
    cache: Path = typer.Option(None, help="Embedding cache folder (default $FACTORLINE_CACHE or ~/.cache/factorline)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Compute every embedding again."),
    mlflow: str = typer.Option(None, "--mlflow", help="Also log the run to this MLflow tracking URI (e.g. file:./mlruns)."),
    as_json: bool = typer.Option(False, "--json", help="Print the model card as JSON."),
    task: str = typer.Option("classify", "--task", help="classify: a classifier head on embeddings (DATA: labelled items); "
                             "aesthetics: the aesthetics operator's head from a pair set (DATA: a .jsonl of "
                             '{"better": path, "worse": path} rows; use it with the aesthetics param head).'),
) -> None:
    """Fit a head on frozen embeddings, score it against baselines, and store it with its card
    (--task aesthetics: the aesthetics head from better/worse pairs)."""
    from ..contract.items import Sampling
    from .fit import HEADS, HeadParams
    from .protocol import Protocol
    from .trainer import train

    if task == "aesthetics":
        given = {"--backbone": backbone, "--labels": labels, "--positive": positive, "--target": target,
                 "--label-field": label_field, "--mlflow": mlflow, "--head": None if head == "logreg" else head}
        _train_aesthetics(data, name, [k for k, v in given.items() if v], c, Sampling(fps=fps, max_frames=max_frames,
                          max_side=max_side), skip_bad, store, as_json)
        return
    if task != "classify":
        raise typer.BadParameter(f"expected classify or aesthetics, found {task!r}", param_hint="--task")
    c = 1000.0 if c is None else c
    if head not in HEADS:
        raise typer.BadParameter(f"expected one of {', '.join(HEADS)}, found {head!r}", param_hint="--head")
    protocol = Protocol(HeadParams(head=head, C=c), _ints(seeds, "--seeds"), folds, test_size, positive, parse_target(target))
    started = time.perf_counter()
    try:
        result = train(data, name, backbone=backbone, protocol=protocol, store=_store(store), cache=_cache(cache, no_cache),
                       sampling=Sampling(fps=fps, max_frames=max_frames, max_side=max_side),
                       labels=[v.strip() for v in labels.split(",")] if labels else None, skip_bad=skip_bad,
                       progress=not as_json, label_field=label_field)
        run_id = None
        if mlflow:
            from .mlflow_log import log_model

            run_id = log_model(mlflow, result.model)
    except FactorlineError as exc:
        _fail(exc)
        return
    if as_json:
        console.print_json(json.dumps(result.model.card))
        return
    _summary(result.model.card, str(result.model.path), time.perf_counter() - started, result.cache_hits, result.cache_misses)
    if run_id:
        console.print(escape(f"MLflow run {run_id} at {mlflow}"))


def _train_aesthetics(data: Path, name: str, unused: list[str], c: float | None, sampling, skip_bad: bool,
                      store: Path | None, as_json: bool) -> None:
    """`train --task aesthetics`: measure the pairs, fit the head, store it (factorline/train/aesthetics.py)."""
    if unused:
        raise typer.BadParameter(f"{', '.join(unused)} apply to classifiers, not to --task aesthetics", param_hint="--task")
    from .aesthetics import DEFAULT_C, train_aesthetics

    started = time.perf_counter()
    try:
        model = train_aesthetics(data, name, store=_store(store), c=DEFAULT_C if c is None else c, sampling=sampling,
                                 skip_bad=skip_bad, progress=not as_json)
    except FactorlineError as exc:
        _fail(exc)
        return
    card = model.card
    if as_json:
        console.print_json(json.dumps(card))
        return
    m, d = card["metrics"], card["data"]
    table = Table(title=f"{card['name']}@{card['version']}  (aesthetics head, {d['pairs']} pairs)")
    for col in ("what", "pairwise agreement"):
        table.add_column(col)
    table.add_row("training pairs", f"{m['train_agreement']:.3f}")
    if m.get("cv_agreement") is not None:
        table.add_row(f"leave-one-group-out ({m['cv_groups']} groups)", f"{m['cv_agreement']:.3f}")
    for kind, value in m["train_agreement_by_kind"].items():
        table.add_row(f"  kind {kind}", f"{value:.3f}")
    console.print(table)
    if d["skipped"]:
        console.print(f"[yellow]skipped {len(d['skipped'])} bad row(s)[/]")
        for line in d["skipped"][:20]:
            console.print(escape(f"  {line}"))
    console.print(escape(f"stored {model.path} in {time.perf_counter() - started:.1f}s; use it with "
                         f"op aesthetics, head: {card['name']}@{card['version']}"))


def _summary(card: dict, path: str, seconds: float, hits: int, misses: int) -> None:
    m = card["metrics"]
    test = m["test"]
    table = Table(title=f"{card['name']}@{card['version']}  ({card['backbone']['id']}, {card['head']['kind']})")
    for col in ("what", "accuracy", "macro F1"):
        table.add_column(col)
    ci = test["accuracy_ci"]
    table.add_row(f"held-out test (n={test['n']})", f"{test['accuracy']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]", f"{test['macro_f1']:.3f}")
    table.add_row(f"{m['folds']}-fold CV", f"{m['cv']['accuracy']['mean']:.3f} ± {m['cv']['accuracy']['std']:.3f}",
                  f"{m['cv']['macro_f1']['mean']:.3f} ± {m['cv']['macro_f1']['std']:.3f}")
    table.add_row(f"seeds {card['seeds']}", f"{m['seeds']['accuracy']['mean']:.3f} ± {m['seeds']['accuracy']['std']:.3f}",
                  f"{m['seeds']['macro_f1']['mean']:.3f} ± {m['seeds']['macro_f1']['std']:.3f}")
    for name, b in m["baselines"].items():
        table.add_row(f"baseline: {name}", f"{b['accuracy']:.3f}", f"{b['macro_f1']:.3f}")
    console.print(table)
    if card["head"].get("threshold") is not None:
        console.print(escape(f"threshold for {card['head']['positive']!r}: {card['head']['threshold']:.4f} ({card['head']['threshold_rule']})"))
    if card["data"]["skipped"]:
        console.print(f"[yellow]skipped {len(card['data']['skipped'])} bad row(s)[/]")
    console.print(escape(f"stored {path} in {seconds:.1f}s (embeddings: {hits} cached, {misses} computed)"))


@app.command("eval")
def eval_command(
    model: str = typer.Argument(..., help="name, name@version or a model folder."),
    data: Path = typer.Option(None, help="The data set, if it moved (items are matched by content digest)."),
    store: Path = typer.Option(None, help=STORE_HELP),
    cache: Path = typer.Option(None, help="Embedding cache folder."),
    tolerance: float = typer.Option(1e-6, help="Largest accepted difference between a card number and its recomputation."),
) -> None:
    """Rebuild the held-out split from the card's digests and recompute every metric of the card."""
    from .evaluate import evaluate

    try:
        report = evaluate(model, store=_store(store), data=data, cache=_cache(cache, False), tolerance=tolerance, progress=True)
    except FactorlineError as exc:
        _fail(exc)
        return
    extra = f"; {report.ignored} other item(s) in the data ignored" if report.ignored else ""
    console.print("[green]reproduced[/] " + escape(f"{report.model}: {report.checked} numbers match the card on {report.items} items{extra}"))


@models_app.command("list")
def list_command(store: Path = typer.Option(None, help=STORE_HELP), as_json: bool = typer.Option(False, "--json")) -> None:
    """Every model version in the store, newest first."""
    rows = _store(store).list()
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table(title=f"models in {_store(store).root}")
    for col in ("model", "task", "backbone", "head", "classes", "accuracy", "macro F1", "created"):
        table.add_column(col, overflow="fold")
    for r in rows:
        if "error" in r:
            table.add_row(f"{r['name']}@{r['version']}", f"[red]{r['error']}[/]", "", "", "", "", "", "")
            continue
        acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.3f}"
        f1 = "-" if r["macro_f1"] is None else f"{r['macro_f1']:.3f}"
        table.add_row(f"{r['name']}@{r['version']}", r["task"], r["backbone"], r["head"], ", ".join(r["classes"])[:40],
                      acc, f1, r["created"] or "")
    console.print(table)


@models_app.command("show")
def show_command(model: str = typer.Argument(..., help="name, name@version or a model folder."),
                 store: Path = typer.Option(None, help=STORE_HELP),
                 as_json: bool = typer.Option(False, "--json", help="The card as JSON.")) -> None:
    """A model's card (checksums verified first)."""
    try:
        stored = _store(store).load(model)
    except FactorlineError as exc:
        _fail(exc)
        return
    if as_json:
        console.print_json(json.dumps(stored.card))
    else:
        console.print(Markdown((stored.path / "card.md").read_text(encoding="utf-8")))


@models_app.command("backbones")
def backbones_command() -> None:
    """The backbones that can be named with --backbone."""
    from ..models.backbones import known_backbones

    for name, description in known_backbones().items():
        console.print(f"[bold]{name}[/]  {description}", highlight=False)


@models_app.command("export-backbone")
def export_command(backbone: str = typer.Argument("effnet-lite0", help="A torch image backbone."),
                   out: Path = typer.Option(None, help="Where to write (default: the cache, used from then on).")) -> None:
    """Export a torch image backbone to ONNX; in the cache, later loads then run on onnxruntime."""
    from ..models.backbones import export_onnx

    try:
        path = export_onnx(backbone, out)
    except FactorlineError as exc:
        _fail(exc)
        return
    console.print(f"exported {backbone} to {path}")
