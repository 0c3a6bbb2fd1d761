"""``factorline reviews ...``: the verdicts of a run outside the browser (mounted by cli.py).

    factorline reviews summary RUN                      verdicts per table/factor and reviewer
    factorline reviews export-ls RUN --out tasks.json   Label Studio tasks + pre-annotations
    factorline reviews import-ls RUN export.json        annotations back into RUN/reviews.jsonl

Scoring the run against the verdicts is ``factorline evaluate RUN --labels RUN/reviews.jsonl``;
training on them ``factorline train RUN/reviews.jsonl --label-field TABLE|step.field --name M``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from ..console import console
from ..console import fail as _fail
from ..contract.errors import FactorlineError, RunDirError

reviews_app = typer.Typer(no_args_is_help=True, help="Review verdicts of a run: summary, Label Studio export and import.")


def mount(parent: typer.Typer) -> None:
    parent.add_typer(reviews_app, name="reviews")


@reviews_app.command("summary")
def summary(run_dir: Path = typer.Argument(..., help="Run folder holding reviews.jsonl.")) -> None:
    """Count the verdicts of RUN/reviews.jsonl: per table or factor, confirmed vs overridden, per reviewer."""
    from .store import REVIEWS_FILE, read_reviews

    path = run_dir / REVIEWS_FILE
    if not path.is_file():
        _fail(RunDirError(f"no {REVIEWS_FILE} in {run_dir}: verdicts are written by the run browser "
                          f"(`factorline serve ... --runs {run_dir.parent}`) or `factorline reviews import-ls`", path=str(run_dir)))
    found = read_reviews(path)
    latest = found.latest().values()
    counts = Counter((line.get("table") or line.get("factor"), line["verdict"]) for line in latest)
    table = Table(title=f"{len(found.lines)} verdict(s), {len(latest)} current (the latest per item and target)")
    for col in ("table / factor", "confirm", "override", "agreement"):
        table.add_column(col, justify="left" if col.startswith("table") else "right")
    for target in sorted({t for t, _ in counts}):
        ok, bad = counts[(target, "confirm")], counts[(target, "override")]
        table.add_row(escape(str(target)), str(ok), str(bad), f"{ok / (ok + bad):.0%}")
    console.print(table)
    reviewers = Counter(line.get("reviewer") for line in found.lines)
    console.print("reviewers: " + ", ".join(f"{escape(str(r))} ({n})" for r, n in reviewers.most_common()))
    if found.damaged:
        console.print(f"[yellow]{found.damaged} line(s) are not verdicts (a torn last line?)[/]")


@reviews_app.command("export-ls")
def export_ls(
    run_dir: Path = typer.Argument(..., help="Run folder written by `factorline run`."),
    out: Path = typer.Option(..., "--out", "-o", help="Tasks JSON file to write (import it into a Label Studio project)."),
    config: Path | None = typer.Option(None, "--config", help="Also write the labeling config (XML) the tasks are made for."),
    document_root: Path | None = typer.Option(None, "--document-root", help="Label Studio's LOCAL_FILES_DOCUMENT_ROOT: media "
                                              "under it get /data/local-files/?d=<relative path> URLs."),
) -> None:
    """Export the run's items as Label Studio tasks, with decisions and evidence boxes as pre-annotations."""
    from .labelstudio import export_tasks

    try:
        done = export_tasks(run_dir, out, document_root=document_root, config=config)
    except FactorlineError as exc:
        _fail(exc)
    console.print(f"{done['tasks']} task(s), {done['regions']} box region(s) labelled {', '.join(done['labels']) or '-'} "
                  f"→ {escape(done['out'])}" + (f", config → {escape(done['config'])}" if done["config"] else ""))


@reviews_app.command("import-ls")
def import_ls(
    run_dir: Path = typer.Argument(..., help="The run folder the tasks were exported from."),
    export: Path = typer.Argument(..., help="Label Studio JSON export (full JSON, with annotations)."),
    reviewer: str | None = typer.Option(None, "--reviewer", help="Name the verdicts by (default: the annotator's email or id)."),
) -> None:
    """Append the annotations of a Label Studio export to RUN/reviews.jsonl as verdicts (idempotent)."""
    from .labelstudio import import_annotations

    try:
        done = import_annotations(run_dir, export, reviewer=reviewer)
    except FactorlineError as exc:
        _fail(exc)
    console.print(f"{done['added']} verdict(s) added to {escape(done['file'])}"
                  + (f"; {done['skipped_tasks']} task(s) imported before, skipped" if done["skipped_tasks"] else ""))
