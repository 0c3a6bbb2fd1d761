"""The user's surface: ``factorline demo | run | validate | operators | decide | query | diff``.

Commands are thin: they parse arguments, call the library, and render with rich. Errors
from the library are printed as ``path: message`` lines and exit with status 2 (bad input)
or 1 (run finished with failed items when ``--strict``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from .console import console, err_console
from .console import fail as _fail
from .contract.errors import ConfigError, FactorlineError, PipelineError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Explainable factors and readable rules for video and images.")
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TABLE_ROWS = 50  # --verbose on a run of thousands of items prints a sample; report.html holds them all


def _print_version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"factorline {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    device: str | None = typer.Option(None, "--device", help="Where models run: cpu (default), auto (CUDA when present) or "
                                      "cuda (warns and uses the CPU when missing); sets FACTORLINE_DEVICE for this command."),
) -> None:
    """Explainable factors and readable rules for video and images.

    Start-up imports no model runtime (torch, onnxruntime, ray): each command loads what it uses.
    """
    if device is not None:  # models/devices.py reads it when a model loads (worker processes inherit it)
        from .models.devices import requested_device

        try:
            os.environ["FACTORLINE_DEVICE"] = requested_device(device)
        except FactorlineError as exc:
            _fail(exc)
    if "--help" not in sys.argv[1:]:  # a command's --help still shows when a plugin is broken
        _load_plugins()


def _load_plugins() -> None:
    """Every command starts with the same catalogue: built-ins plus every plugin (factorline/plugins.py),
    all or nothing; a broken plugin is one line and exit 2."""
    from .plugins import load_plugins

    try:
        load_plugins()
    except FactorlineError as exc:
        _fail(exc)


def _load(pipeline: Path) -> dict:
    from .engine.document import load_text

    return load_text(pipeline)


@app.command()
def operators(
    as_json: bool = typer.Option(False, "--json", help="Full JSON schemas (what the server and editor read)."),
    card: str | None = typer.Option(None, "--card", metavar="NAME", help="Print one operator's factor card: measured accuracy and known limits."),
) -> None:
    """List the operator catalogue with each factor card's one-line summary."""
    from .cards import load_card, render_markdown, summary_line
    from .plugins import list_operators

    specs = list_operators()
    if card is not None:
        spec = next((s for s in specs if card in (s.name, s.id)), None)
        if spec is None:
            _fail(ConfigError(f"no operator named {card!r}; expected one of: {', '.join(s.name for s in specs)}", path="--card"))
        found = load_card(spec.name)
        if found is None:
            typer.echo(f"{spec.id} has no card yet: `make cards` measures the built-in operators.\nKnown limits:")
            typer.echo("\n".join(f"- {text}" for text in spec.limits) or "- none declared")
            return
        typer.echo(render_markdown(found, spec.limits))
        return
    if as_json:
        typer.echo(json.dumps([s.schema() for s in specs], indent=2, ensure_ascii=False))
        return
    table = Table(title="factorline operators", caption="measured: the factor card in one line (factorline operators --card NAME)")
    table.add_column("id", no_wrap=True)
    for col in ("group", "title", "inputs", "fields", "measured"):
        table.add_column(col, overflow="fold")
    for s in specs:
        inputs = ", ".join(f"{n}:{i.kind.value}" for n, i in s.inputs.items())
        table.add_row(s.id, s.group, s.title, inputs, ", ".join(s.fields), escape(summary_line(load_card(s.name), s.id)))
    console.print(table)


@app.command()
def validate(pipeline: Path = typer.Argument(..., help="Pipeline YAML or JSON.")) -> None:
    """Compile a pipeline and report every problem with its path; run its rule cases."""
    from .engine.compiler import compile_pipeline
    from .rules import run_cases

    try:
        data = _load(pipeline)
        plan = compile_pipeline(data, source=str(pipeline))
        case_issues = run_cases(plan.decisions, data.get("decisions") or {})
        if case_issues:
            raise PipelineError(case_issues, source=str(pipeline))
    except FactorlineError as exc:
        _fail(exc)
    console.print(f"[green]ok[/]: {escape(plan.name)} — {len(plan.steps)} steps, fingerprint {plan.fingerprint[:19]}…")


@app.command()
def run(
    pipeline: Path = typer.Argument(..., help="Pipeline YAML or JSON."),
    inputs: list[str] = typer.Argument(..., help="Files, folders, globs or manifest files (.txt/.csv/.jsonl)."),
    out: Path = typer.Option(Path("runs/latest"), "--out", "-o", help="Run folder to write."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, max=64, help="Worker processes across items."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the step cache."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Step cache folder (default: $FACTORLINE_CACHE or ~/.cache/factorline)."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 if any item failed."),
    report: bool = typer.Option(True, "--report-pictures/--no-report-pictures", help="Thumbnails in report.html (decodes evidence frames)."),
    resume: bool = typer.Option(False, "--resume", help="Skip items this run folder already finished; refused if the pipeline changed."),
    engine: str = typer.Option("local", "--engine", help="local (worker processes) or ray (one actor per worker)."),
    address: str | None = typer.Option(None, "--address", help="With --engine ray: host:port, ray://host:10001 or 'auto' (default: $RAY_ADDRESS, else a private local Ray)."),
    worker_parts: bool = typer.Option(False, "--worker-parts", help="With --engine ray: actors write records straight into OUT/parts (OUT on storage every node mounts at the same path); the driver only counts."),
    max_rss_mb: int = typer.Option(4096, "--max-rss-mb", min=64, help="A worker over this memory is killed and its item recorded as failed."),
    item_timeout: float | None = typer.Option(None, "--item-timeout", min=1, help="Seconds one item may take (default 300); past it, plus a grace, its worker is killed."),
    max_pixels: int | None = typer.Option(None, "--max-pixels", min=1, help="Largest frame, width x height, before an item is refused (default 8192x8192)."),
    max_duration: float | None = typer.Option(None, "--max-duration", min=1, help="Longest video in seconds before it is refused (default 6 h)."),
    allow_empty: bool = typer.Option(False, "--allow-empty", help="Write an empty run when the inputs hold no media (otherwise exit 2)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also a table of every item and every input passed over (report.html has it all)."),
) -> None:
    """Run a pipeline over items and write results.jsonl, results.parquet and report.html."""
    from .batch import run_pipeline, scan_inputs
    from .contract.items import Limits

    try:
        doc = _load(pipeline)
        scan = scan_inputs(inputs)
        if not scan.paths and not allow_empty:
            passed = f" ({len(scan.skipped)} passed over, first: {scan.skipped[0].path}: {scan.skipped[0].reason})" if scan.skipped else ""
            raise ConfigError(f"no media found in {', '.join(inputs)}{passed}: folders are walked for image and video "
                              "files, globs and manifests must name some; pass --allow-empty to write an empty run",
                              path="inputs")
        caps = {"item_timeout_s": item_timeout, "max_pixels": max_pixels, "max_duration_s": max_duration}
        limits = Limits(**{name: value for name, value in caps.items() if value is not None})
        cache = None if no_cache else (cache_dir or "default")
        summary = run_pipeline(doc, scan.paths, out, workers=workers, cache_dir=cache, resume=resume, engine=engine,
                               address=address, max_rss_mb=max_rss_mb, limits=limits, worker_parts=worker_parts)
    except FactorlineError as exc:
        _fail(exc)
    report_path = _write_report(out, pictures=report)
    _print_run(out, summary, str(doc.get("input", "video")), report_path, skipped=scan.skipped, verbose=verbose)
    if strict and summary.failed:
        raise typer.Exit(1)


def _print_run(out: Path, summary, pipeline_input: str, report_path: Path, *, skipped: list, verbose: bool) -> None:
    """A few lines whatever the run's size (batch/summary.py); ``verbose`` adds the item table."""
    from .batch.summary import digest, print_skips, results_table, summary_lines
    from .engine.records import read_jsonl

    records = list(read_jsonl(out / "results.jsonl"))
    if verbose:
        more = f" (first {TABLE_ROWS} shown)" if len(records) > TABLE_ROWS else ""
        console.print(results_table(records[:TABLE_ROWS], escape(f"{summary.pipeline}: {summary.total} items") + more))
        print_skips(console, skipped)
    console.print(f"[bold]{escape(summary.pipeline)}[/]: {summary.total} items, [bold]{summary.succeeded}[/] succeeded, "
                  f"[bold]{summary.failed}[/] failed, {summary.skipped} skipped (finished before) in {summary.seconds:.1f} s")
    files = [f"{out}/results.jsonl", f"{out}/results.parquet", str(report_path)]
    for line in summary_lines(digest(records, pipeline_input), skipped, files=files):
        console.print("  " + line, highlight=False)


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Run folder to write."),
    samples: Path | None = typer.Option(None, "--samples", help="Where to build the sample set (default ./data/samples)."),
    workers: int = typer.Option(min(2, os.cpu_count() or 1), "--workers", "-w", min=1, max=64),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also a table of every item (report.html has it all)."),
) -> None:
    """Build the bundled sample set if missing, run examples/video_audit.yaml on it, show the results."""
    from .batch import expand_inputs, run_pipeline
    from .samples import build_sample_set, default_sample_dir

    try:
        dest = build_sample_set(samples or default_sample_dir(), progress=lambda m: err_console.print(f"[dim]{m}[/]"))
        doc = _load(EXAMPLES / "video_audit.yaml")
        paths = expand_inputs([str(dest / "videos")])
        summary = run_pipeline(doc, paths, out, workers=workers)
    except FactorlineError as exc:
        _fail(exc)
    from .report import evaluate_run

    report_path = _write_report(out)
    _print_run(out, summary, str(doc.get("input", "video")), report_path, skipped=[], verbose=verbose)
    evaluation = evaluate_run(out, dest / "ground_truth.jsonl", sweeps=[])
    for table, accuracy in evaluation.accuracy.items():
        if accuracy is not None:
            console.print(f"{escape(table)}: decisions agree with the sample set's ground truth on [bold]{accuracy:.0%}[/] of items")
    console.print(escape(f"evaluation: {evaluation.html_path}"))


def _write_report(run_dir: Path, *, pictures: bool = True) -> Path:
    from .report import build_report

    return Path(build_report(run_dir, pictures=pictures).path)


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="Run folder written by `factorline run`."),
    max_items: int = typer.Option(500, "--max-items", min=1, help="Items that get a full section with pictures."),
    pictures: bool = typer.Option(True, "--pictures/--no-pictures", help="Decode evidence frames into thumbnails."),
) -> None:
    """Write RUN_DIR/report.html: one self-contained page with pictures, timelines and decisions."""
    from .report import build_report

    try:
        summary = build_report(run_dir, max_items=max_items, pictures=pictures)
    except FactorlineError as exc:
        _fail(exc)
    console.print(f"{summary.path}: {summary.items} items, {summary.thumbnails} thumbnails, {summary.bytes / 1e6:.1f} MB in {summary.seconds:.1f} s")


@app.command()
def evaluate(
    run_dir: Path = typer.Argument(..., help="Run folder written by `factorline run`."),
    labels: Path = typer.Option(..., "--labels", help="CSV/JSONL of path or id -> expected outcome or factor values (or a sample set's ground_truth.jsonl)."),
    sweep: list[str] = typer.Option([], "--sweep", help="table.rule:step.field — sweep that rule's threshold (repeatable)."),
    confidence: float = typer.Option(0.95, "--confidence", min=0.5, max=0.999),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Score decisions (and factors) against labels: precision/recall/F1 with intervals, confusion, sweeps."""
    from .report import evaluate_run

    try:
        summary = evaluate_run(run_dir, labels, sweeps=sweep or None, confidence=confidence, seed=seed)
    except FactorlineError as exc:
        _fail(exc)
    for table, accuracy in summary.accuracy.items():
        shown = "n/a" if accuracy is None else f"{accuracy:.1%}"
        console.print(f"{table}: accuracy [bold]{shown}[/] on {summary.matched} labelled items")
    if summary.unmatched:
        console.print(f"[yellow]{summary.unmatched} label(s) matched no item[/]; {summary.unlabeled} item(s) had no label")
    console.print(f"→ {summary.json_path}, {summary.html_path}")


@app.command()
def decide(
    pipeline: Path = typer.Argument(..., help="Pipeline whose decision tables to apply."),
    from_dir: Path = typer.Option(..., "--from", help="Run folder written by `factorline run`."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Where to write (default: the run folder itself)."),
) -> None:
    """Re-evaluate decisions on a run's stored factors (no decoding, no models); show what changed."""
    from .batch.decide import decide_run
    from .engine.compiler import compile_pipeline

    try:
        plan = compile_pipeline(_load(pipeline), source=str(pipeline))
        summary = decide_run(plan, from_dir, out)
    except FactorlineError as exc:
        _fail(exc)
    if summary.changed:
        console.print(_transitions(f"{summary.changed} decision(s) changed in {summary.items} items", summary.transitions))
        sample = Table(title=f"first {len(summary.sample)} changed items")
        for col in ("item", "table", "after", "why"):
            sample.add_column(col, overflow="fold")
        for c in summary.sample:
            sample.add_row(escape(Path(str(c["item"])).name), escape(c["table"]), escape(str(c["after"])),
                           escape(f"{c['rule']}: {c['explanation']}"))
        console.print(sample)
        console.print(f"every change: {escape(summary.changes_path)}")
    else:
        console.print("no decision changed" + (f" (tables re-decided: {', '.join(summary.tables_changed)})" if summary.tables_changed else ""))
    console.print(f"re-decided {summary.items} items in {summary.seconds:.2f} s → {escape(summary.out_dir)}/results.jsonl")


@app.command()
def query(
    run_dir: Path = typer.Argument(..., help="Run folder written by `factorline run` (or `decide`)."),
    sql: str = typer.Argument(..., help='SQL over the views items, factors, decisions, results; quote factor '
                              'columns: SELECT path FROM factors WHERE "border.area_ratio" > 0.2'),
    limit: int = typer.Option(50, "--limit", min=0, help="Rows shown (all rows go to --out)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write every row to a .csv, .parquet or .jsonl file."),
) -> None:
    """SQL over a run's Parquet (DuckDB, out of core). Views: items (index, path, id, kind, duration_s, ...,
    error_type, total_ms), factors (index, path, "step.field"...), decisions (index, path, "table", outcome,
    rule, reason, explanation: one row per item and table), results (the file as written)."""
    from .batch.query import run_query

    try:
        result = run_query(run_dir, sql, limit=limit, out=out)
    except FactorlineError as exc:
        _fail(exc)
    shown = Table(title=f"{result.total} row(s)" + (f", first {len(result.rows)}" if len(result.rows) < result.total else ""))
    for column in result.columns:
        shown.add_column(escape(column), overflow="fold")
    for row in result.rows:
        shown.add_row(*(escape(_cell(v)) for v in row))
    console.print(shown)
    if result.out:
        console.print(f"every row → {escape(result.out)}")
    elif len(result.rows) < result.total:
        console.print(f"{result.total - len(result.rows)} more row(s): raise --limit or write them all with --out FILE")


def _transitions(title: str, transitions: list[dict]) -> Table:
    """Counts per table and outcome transition (decide, diff)."""
    moves = Table(title=title)
    for col in ("table", "before", "after", "items"):
        moves.add_column(col, justify="right" if col == "items" else "left")
    for t in transitions:
        moves.add_row(escape(t["table"]), escape(str(t["before"])), f"[bold]{escape(str(t['after']))}[/]", str(t["items"]))
    return moves


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= 200 else text[:199] + "…"


@app.command()
def diff(
    run_a: Path = typer.Argument(..., help="The run before (a run folder)."),
    run_b: Path = typer.Argument(..., help="The run after (a run folder: another run, or the same run re-decided)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write every change to a .jsonl, .csv or .parquet file."),
    sample: int = typer.Option(10, "--sample", min=0, help="Changed items shown."),
) -> None:
    """What changed between two runs, by table and outcome (items matched by path)."""
    from .batch.query import diff_runs

    try:
        summary = diff_runs(run_a, run_b, out=out, sample=sample)
    except FactorlineError as exc:
        _fail(exc)
    console.print(f"{summary.items_a} item(s) before, {summary.items_b} after; {summary.only_a} only before, "
                  f"{summary.only_b} only after")
    if not summary.changed:
        console.print("no decision changed")
        return
    console.print(_transitions(f"{summary.changed} decision(s) changed", summary.transitions))
    if summary.sample:
        shown = Table(title=f"{len(summary.sample)} changed item(s)")
        for col in ("item", "table", "before", "after", "why"):
            shown.add_column(col, overflow="fold")
        for c in summary.sample:
            shown.add_row(escape(Path(str(c["item"])).name), escape(c["table"]), escape(str(c["before"])),
                          escape(str(c["after"])), escape(f"{c['rule']}: {c['explanation']}"))
        console.print(shown)
    console.print(f"every change → {escape(summary.out)}" if summary.out else "write every change with --out FILE")


@app.command()
def serve(
    pipelines: list[Path] = typer.Argument(..., help="Pipeline files or folders of them."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (beyond loopback: set --token-file)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    token_file: Path | None = typer.Option(None, "--token-file", help="File holding the bearer token; requests without it get 401."),
    data_root: Path | None = typer.Option(None, "--data-root", help="Server-side folder that run-path requests may read (off when unset)."),
    workers: int = typer.Option(4, "--workers", min=1, max=64, help="Items analysed at once (worker processes or threads)."),
    isolation: str = typer.Option("process", "--isolation", help="process: items run in worker processes that are killed "
                                  "over --max-item-memory-mb or the time limit; thread: in the server process (needed "
                                  "for --batching on; no memory cap)."),
    max_item_memory_mb: int = typer.Option(4096, "--max-item-memory-mb", min=64, help="Memory cap of one worker process "
                                           "(models included), MiB; over it the worker is killed and its item gets a "
                                           "MediaLimitError record."),
    queue_size: int = typer.Option(64, "--queue-size", min=1, help="Requests admitted (running + waiting) before 429."),
    batching: str = typer.Option("auto", "--batching", help="Cross-request model batching: auto (GPU only), on, off."),
    allowed_hosts: list[str] = typer.Option([], "--allowed-hosts", help="Host names clients use besides 127.0.0.1, "
                                            "localhost, [::1] (name or name:port; repeat or comma-separate; * for any)."),
    model_roots: list[Path] = typer.Option([], "--model-root", help="Folder whose model folders pipelines may name by "
                                           "path (repeatable); otherwise models come only from the store, by name."),
    runs: Path | None = typer.Option(None, "--runs", help="Folder of run folders the run browser (#/runs) may open."),
    media_roots: list[Path] = typer.Option([], "--media-root", help="Folder whose media the run browser may play (repeatable; "
                                           "--data-root counts too)."),
    upload_stall_s: float = typer.Option(30.0, "--upload-stall-s", min=0.1, help="Cut off an upload silent this long (408)."),
    upload_min_rate: float = typer.Option(1024.0, "--upload-min-rate", min=0,
                                          help="Bytes/s an upload must average after its first --upload-stall-s (0: off)."),
) -> None:
    """Serve pipelines over HTTP (FastAPI): run, decide, validate, save; /docs for the OpenAPI page."""
    from pydantic import ValidationError

    from .serve import ServeSettings
    from .serve import serve as run_server

    hosts = tuple(h.strip() for entry in allowed_hosts for h in entry.split(",") if h.strip())
    try:
        settings = ServeSettings(host=host, port=port, token_file=token_file, data_root=data_root, workers=workers,
                                 queue_size=queue_size, batching=batching, allowed_hosts=hosts, model_roots=tuple(model_roots),
                                 isolation=isolation, max_item_memory_mb=max_item_memory_mb,
                                 upload_stall_s=upload_stall_s, upload_min_bytes_per_s=upload_min_rate,
                                 runs_root=runs, media_roots=tuple(media_roots))
    except ValidationError as exc:
        raise typer.BadParameter("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())) from None
    try:
        run_server(pipelines, settings)
    except FactorlineError as exc:
        _fail(exc)


def _mount_model_commands() -> None:
    """`train`, `eval` and `models` live with the model factory (factorline/train/commands.py);
    `compress` with the compression steps (factorline/compress/commands.py)."""
    from .compress.commands import mount as mount_compress
    from .review.commands import mount as mount_reviews
    from .synth.commands import mount as mount_synth
    from .train.commands import mount
    from .train.prompt_commands import mount as mount_prompts
    from .vectors.commands import mount as mount_vectors

    mount(app)
    mount_prompts(app)  # prompts calibrate
    mount_vectors(app)  # index build, search, dedup
    mount_compress(app)
    mount_synth(app)
    mount_reviews(app)


_mount_model_commands()


def _mount_new() -> None:
    """`factorline new operator NAME`: a plugin package to start from (factorline/scaffold.py)."""
    from .scaffold import mount as mount_new

    mount_new(app)


_mount_new()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
