"""The terminal side of every command: two consoles and one way to report a failure."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

from .contract.errors import FactorlineError, PipelineError, ReproductionError

console = Console(soft_wrap=True)  # paths and messages stay whole, for copy and grep
err_console = Console(stderr=True, soft_wrap=True)


def fail(exc: FactorlineError) -> None:
    """Print ``exc`` (every issue with its path for a pipeline) and exit: 1 when a reported
    number could not be reproduced, 2 for bad input."""
    if isinstance(exc, PipelineError):
        err_console.print(f"[red bold]invalid pipeline[/]: {len(exc.issues)} problem(s)")
        for issue in exc.issues:
            err_console.print(f"  [yellow]{escape(issue.path or '<document>')}[/]: {escape(issue.message)}", highlight=False)
    else:  # user text (file names, rules such as [a-z]) is never terminal markup
        err_console.print(f"[red bold]error[/]: {escape(str(exc))}", highlight=False)
    raise typer.Exit(1 if isinstance(exc, ReproductionError) else 2)
