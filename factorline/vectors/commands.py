"""CLI ``factorline index build``, ``factorline search`` and ``factorline dedup`` (mounted by cli.py)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from ..console import console
from ..console import fail as _fail
from ..contract.errors import FactorlineError

index_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Vector indexes of item and frame embeddings.")


def mount(parent: typer.Typer) -> None:
    parent.add_typer(index_app, name="index")
    parent.command("search")(search_command)
    parent.command("dedup")(dedup_command)


def _sampling(fps: float | None, max_frames: int | None):
    from ..contract.items import Sampling

    if fps is None and max_frames is None:
        return None
    return Sampling(fps=fps or 1.0, max_frames=max_frames or 64)


@index_app.command("build")
def build_command(
    inputs: list[str] = typer.Argument(..., help="Run folders (their items) and/or media files, folders, globs, manifests."),
    out: Path = typer.Option(..., "--out", "-o", help="Index folder to write (replaced if it exists)."),
    backbone: str = typer.Option("effnet-lite0", "--backbone", "-b", help="Image backbone (effnet-lite0, onnx:<file>, hf:<folder>); "
                                 "an image-text one (hf:<CLIP/SigLIP folder>, builtin:imagenet-minilm) also allows text search."),
    kind: str = typer.Option("auto", "--kind", help="auto (exact below 50,000 items, HNSW above) | flat | hnsw."),
    fps: float | None = typer.Option(None, "--fps", help="Frames per second sampled (default: the run's pipeline, else 1)."),
    max_frames: int | None = typer.Option(None, "--max-frames", help="At most this many frames per item (default 64)."),
) -> None:
    """Embed items (through the embedding cache) and write an on-disk FAISS index of item and frame vectors."""
    from ..contract.errors import ConfigError
    from ..train.trainer import default_embedding_cache
    from .build import Embedder
    from .library import build_index

    try:
        if kind not in ("auto", "flat", "hnsw"):
            raise ConfigError(f"--kind: expected auto, flat or hnsw, found {kind!r}", path="kind")
        embedder = Embedder.load(backbone, default_embedding_cache())
        index, skipped = build_index(inputs, out, embedder, sampling=_sampling(fps, max_frames), kind=kind)
    except FactorlineError as exc:
        _fail(exc)
    for line in skipped:
        console.print(f"[yellow]skipped[/] {escape(line)}", highlight=False)
    meta = index.meta
    console.print(f"indexed {meta['items']} item(s), {meta['frames']} frame(s) with {escape(backbone)} "
                  f"({meta['dim']}-d, {meta['space']} space, {meta['kind']}) -> {escape(str(out))}", highlight=False)


def search_command(
    index_dir: Path = typer.Argument(..., help="Index folder from `factorline index build`."),
    image: Path | None = typer.Option(None, "--image", help="Find items like this image."),
    video: Path | None = typer.Option(None, "--video", help="Find items like this video (its sampled frames)."),
    text: str | None = typer.Option(None, "--text", help="Find items matching this prompt (image-text indexes)."),
    item: str | None = typer.Option(None, "--item", help="Find items like this indexed item (id, id prefix or file name)."),
    k: int = typer.Option(10, "-k", help="How many items to return."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Nearest items of an index to an image, a video, a text prompt or an indexed item."""
    from .index import VectorIndex
    from .query import query_vectors, search

    try:
        index = VectorIndex.open(index_dir)
        vectors, exclude = query_vectors(index, image=image, video=video, text=text, item=item)
        hits = search(index, vectors, k, exclude=exclude)
    except FactorlineError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps({"index": str(index_dir), "results": hits}, ensure_ascii=False))
        return
    table = Table("#", "score", "item", "best frame (s)", "id")
    for hit in hits:
        t = "-" if hit["frame_t"] is None else f"{hit['frame_t']:.1f} ({hit['frame_score']:.3f})"
        table.add_row(str(hit["rank"]), f"{hit['score']:.4f}", escape(hit["path"]), t, hit["id"][:19])
    console.print(table)


def dedup_command(
    inputs: list[str] = typer.Argument(..., help="A run folder, an index folder, or media files/folders."),
    backbone: str = typer.Option("effnet-lite0", "--backbone", "-b", help="Image backbone (when no index folder is given)."),
    threshold: float = typer.Option(0.9, "--threshold", help="Item-vector cosine from which two items may be duplicates."),
    frame_threshold: float = typer.Option(0.9, "--frame-threshold", help="Frame cosine that counts as the same frame."),
    min_frames: float = typer.Option(0.5, "--min-frames", help="Share of the shorter item's frames that must match."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the clusters as JSON here (default RUN/duplicates.json for a run)."),
) -> None:
    """Near-duplicate clusters (union of pairs whose item and frame embeddings match), each with a keeper."""
    from ..contract.errors import ConfigError
    from ..train.trainer import default_embedding_cache
    from .build import Embedder
    from .dedup import clusters
    from .index import VectorIndex
    from .library import build_index

    try:
        for name, value in (("threshold", threshold), ("frame-threshold", frame_threshold), ("min-frames", min_frames)):
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"--{name}: expected a number from 0 to 1, found {value}", path=name)
        first = Path(inputs[0])
        if len(inputs) == 1 and (first / "index.json").is_file():
            index = VectorIndex.open(first)
        else:
            work = tempfile.mkdtemp(prefix="factorline-dedup-")
            index, _ = build_index(inputs, Path(work), Embedder.load(backbone, default_embedding_cache()))
        found = clusters(index, threshold=threshold, frame_threshold=frame_threshold, min_frames=min_frames)
    except FactorlineError as exc:
        _fail(exc)
    if out is None and len(inputs) == 1 and (first / "results.jsonl").is_file():
        out = first / "duplicates.json"
    if out is not None:
        out.write_text(json.dumps({"threshold": threshold, "frame_threshold": frame_threshold, "min_frames": min_frames,
                                   "items": len(index.items), "clusters": found}, indent=2, ensure_ascii=False) + "\n")
    for number, cluster in enumerate(found, start=1):
        console.print(f"cluster {number} ({cluster['size']} items), keep {escape(cluster['keeper'])}", highlight=False)
        for entry in cluster["items"]:
            console.print(f"  {entry['score']:.4f}  {escape(entry['path'])}", highlight=False)
    duplicates = sum(c["size"] - 1 for c in found)
    console.print(f"{len(found)} cluster(s), {duplicates} near-duplicate(s) of {len(index.items)} item(s)"
                  + (f" -> {escape(str(out))}" if out else ""), highlight=False)
