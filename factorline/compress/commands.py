"""CLI command ``factorline compress``, mounted by factorline/cli.py with :func:`mount`.

Exit status: 0 every child published (or forced), 1 a child was refused by its gate (it is
kept under the store's ``.rejected/``), 2 bad input (nonsense step combinations, no data...).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from ..console import console, err_console
from ..console import fail as _fail
from ..contract.errors import FactorlineError, GateError

STORE_HELP = "Model store folder (default $FACTORLINE_MODELS or ./models)."


def mount(parent: typer.Typer) -> None:
    parent.command("compress")(compress_command)


def _fmt_ms(latency: dict, kind: str, key: str) -> str:
    value = (latency.get(kind) or {}).get(key)
    return "-" if value is None else f"{value:.2f}"


def _row(table: Table, result) -> None:
    r = result.report
    g, c, p = r["gate"], r["child"], r["parent"]
    agree = r["agreement"][g["level"] if g["level"] in ("frame", "item") else "item"]["agreement"]
    acc = r["accuracy"]["child"]
    colour = {"published": "green", "forced": "yellow", "refused": "red"}[result.verdict]
    # The latency both sides have (a network parent: the network alone; an operator: per decoded frame).
    kind = next((k for k in ("model", "end_to_end", "item") if f"{k}_batch_1" in r["speedup"]),
                next(iter(c["latency_ms"]), "model"))
    speed = r["speedup"].get(f"{kind}_batch_1")
    table.add_row(result.step, result.ref or f"{result.name} (not published)",
                  f"{p.get('parameters') or '-'} -> {c.get('parameters') or '-'}", f"{(c.get('size_bytes') or 0) / 1e6:.2f}",
                  f"{_fmt_ms(c['latency_ms'], kind, 'batch_1')} / {_fmt_ms(c['latency_ms'], kind, 'batch_32')}",
                  "-" if speed is None else f"{speed:.1f}x",
                  "-" if agree is None else f"{100 * agree:.1f}%", "-" if acc is None else f"{100 * acc['accuracy']:.1f}%",
                  f"{g['drop_points']:.2f}", f"[{colour}]{result.verdict}[/]")


def compress_command(
    model: str = typer.Argument(..., help="A stored model (name, name@N, folder), op:<operator>.<field> "
                                "(e.g. op:subtitles.has_subtitles) or pipeline:<file.yaml> (optionally #<table>)."),
    data: Path = typer.Option(None, "--data", help="Images/videos to run on: a folder (label subfolders optional), "
                              ".csv/.jsonl (path or text, optional label), .txt list; default: the stored model's data."),
    distill: str = typer.Option(None, "--distill", help="Train a student on the teacher's soft labels: tiny-cnn or effnet-lite0."),
    prune: float = typer.Option(None, "--prune", help="Remove this share of channels (0..1, e.g. 0.3), then fine-tune."),
    quantize: str = typer.Option(None, "--quantize", help="int8: static QDQ per-channel for images, dynamic for text (implies --export onnx)."),
    export: str = typer.Option(None, "--export", help="onnx: export with preprocessing metadata (runs in `learned`)."),
    tolerance: float = typer.Option(1.0, "--tolerance", help="Largest accepted drop, in points of accuracy (labels) or agreement."),
    force: bool = typer.Option(False, "--force", help="Publish a child even when its drop exceeds the tolerance."),
    name: str = typer.Option(None, "--name", "-n", help="Name of the final child (intermediate ones: NAME + step suffixes)."),
    store: Path = typer.Option(None, "--store", help=STORE_HELP),
    epochs: int = typer.Option(None, "--epochs", min=1, help="Distillation epochs (default 30 tiny-cnn, 4 effnet-lite0)."),
    finetune_epochs: int = typer.Option(3, "--finetune-epochs", min=0, help="Fine-tuning epochs after pruning."),
    temperature: float = typer.Option(4.0, "--temperature", min=0.1, help="Distillation temperature T (KL scaled by T^2)."),
    hard_weight: float = typer.Option(0.5, "--hard-weight", min=0.0, max=1.0, help="Weight of the hard-label loss where labels exist."),
    lr: float = typer.Option(None, "--lr", help="Learning rate (default per student)."),
    batch_size: int = typer.Option(64, "--batch-size", min=2),
    size: int = typer.Option(None, "--size", min=16, max=1024, help="Student input size in px (default 128 tiny-cnn, 224 effnet-lite0)."),
    test_size: float = typer.Option(0.25, "--test-size", min=0.05, max=0.9, help="Share of items held out for the gate."),
    seed: int = typer.Option(0, "--seed"),
    calibration: int = typer.Option(128, "--calibration", min=1, help="Training frames used to calibrate int8 ranges."),
    fps: float = typer.Option(None, "--fps", help="Frames sampled per second (default: the teacher's, else 1)."),
    max_frames: int = typer.Option(None, "--max-frames", help="At most this many frames per video (default 16)."),
    max_side: int = typer.Option(None, "--max-side", help="Frames downscaled so their longer side is at most this."),
    teacher_level: str = typer.Option(None, "--teacher-level", help="op: teachers: frame (each frame alone, default) or item."),
    op_params: str = typer.Option(None, "--op-params", help="op: teachers: the operator's parameters as JSON."),
    bench_runs: int = typer.Option(10, "--bench-runs", min=1, help="Timed runs per latency number (median)."),
    threads: int = typer.Option(None, "--threads", min=1,
                                help="Threads of torch and onnxruntime while training and timing (default: all cores)."),
    cache: Path = typer.Option(None, "--cache", help="Cache folder for teacher outputs (default $FACTORLINE_CACHE or ~/.cache/factorline)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run the teacher again on every frame."),
    label_field: str = typer.Option(None, "--label-field", help="--data is a `factorline synth` folder: the truth field "
                                    "used as hard label (e.g. subtitles.has_subtitles)."),
    as_json: bool = typer.Option(False, "--json", help="Print the gate reports as JSON."),
) -> None:
    """Distill, prune, quantize and export MODEL; every child is gated against its parent and stored as its child."""
    from ..cache import NullCache, StepCache
    from ..models.store import ModelStore
    from .chain import compress
    from .stages import Options
    from .teachers import parse_op_params

    results = []

    def shown(result) -> None:
        results.append(result)
        if not as_json:
            r = result.report
            colour = {"published": "green", "forced": "yellow", "refused": "red"}[result.verdict]
            where = result.ref or str(result.path)
            err_console.print(f"[{colour}]{result.verdict}[/] " + escape(
                f"{result.step}: {where} (drop {r['gate']['drop_points']:.2f} points, worst: {r['gate']['worst']}, "
                f"tolerance {r['gate']['tolerance_points']:.2f}) -> {result.path / 'report.md'}"), highlight=False)

    try:
        if teacher_level not in (None, "frame", "item"):
            raise typer.BadParameter(f"expected frame or item, found {teacher_level!r}", param_hint="--teacher-level")
        options = Options(distill=distill, prune=prune, quantize=quantize, export=export, tolerance=tolerance, force=force,
                          name=name, epochs=epochs, finetune_epochs=finetune_epochs, temperature=temperature,
                          hard_weight=hard_weight, lr=lr, batch_size=batch_size, size=size, test_size=test_size, seed=seed,
                          calibration=calibration, bench_runs=bench_runs, fps=fps, max_frames=max_frames, max_side=max_side,
                          teacher_level=teacher_level, op_params=parse_op_params(op_params), threads=threads,
                          label_field=label_field)
        step_cache = NullCache() if no_cache else (StepCache(cache) if cache else None)
        compress(model, data=data, options=options, store=ModelStore(store), cache=step_cache, progress=not as_json,
                 on_step=shown)
        refused = None
    except GateError as exc:
        refused = exc
    except FactorlineError as exc:
        _fail(exc)
        return
    if as_json:
        typer.echo(json.dumps([r.report for r in results], indent=1, ensure_ascii=False))
    elif results:
        table = Table(title=f"factorline compress {model}")
        for col in ("step", "child", "parameters", "MB", "ms b1 / b32", "speedup", "agree", "acc", "drop", "gate"):
            table.add_column(col, overflow="fold")
        for result in results:
            _row(table, result)
        console.print(table)
        if any(r.verdict == "forced" for r in results):
            console.print("[yellow]published with --force although beyond the tolerance; the report says so[/]")
    if refused is not None:
        err_console.print(f"[red bold]refused[/]: {escape(refused.message)}", highlight=False)
        raise typer.Exit(1)
