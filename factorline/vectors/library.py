"""The library an index is built from: ``factorline index build RUN|MEDIA``.

Run folders (their items, in order, and their pipeline's sampling) and media arguments
(files, folders, globs through ``batch/inputs.py``) are embedded by an
:class:`~factorline.vectors.build.Embedder` and written as a :class:`~factorline.vectors.index.VectorIndex`.
Kept apart from ``build.py``, which operators (``copy_of``) reach through ``query.py``: this
module reads run folders and batch inputs, which operators must not import.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from ..contract.errors import ConfigError, FactorlineError, MediaError
from ..contract.items import Sampling
from .build import DEFAULT_SAMPLING, Embedder
from .index import VectorIndex


def run_inputs(run_dir: Path) -> tuple[list[str], Sampling | None]:
    """The item paths of a run folder (results.jsonl, in order) and its pipeline's sampling."""
    results = run_dir / "results.jsonl"
    if not results.is_file():
        raise ConfigError(f"{run_dir}: expected a run folder with results.jsonl (from `factorline run`), found none", path=str(run_dir))
    paths = []
    for line in results.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        path = (record.get("item") or {}).get("path")
        if path:
            paths.append(path)
    sampling = None
    pipeline = run_dir / "pipeline.yaml"
    if pipeline.is_file():
        from ..engine.document import load_text

        section = (load_text(pipeline) or {}).get("sampling") or {}
        known = {k: section[k] for k in Sampling().frame_key() if k in section}
        sampling = Sampling(**known) if known else None
    return paths, sampling


def collect_inputs(inputs: list[str]) -> tuple[list[str], Sampling | None, list[str]]:
    """Item paths of run folders and media arguments, a run's sampling, and skip reasons."""
    from ..batch.inputs import scan_inputs

    paths, sampling, skipped, media = [], None, [], []
    for entry in inputs:
        if Path(entry).is_dir() and (Path(entry) / "results.jsonl").is_file():
            found, sampling = run_inputs(Path(entry))
            paths += found
        else:
            media.append(entry)
    if media:
        scan = scan_inputs(media)
        paths += list(scan.paths)
        skipped += [f"{s.path}: {s.reason}" for s in scan.skipped]
    return list(dict.fromkeys(paths)), sampling, skipped


def build_index(inputs: list[str], out: Path, embedder: Embedder, *, sampling: Sampling | None = None, kind: str = "auto",
                progress: Callable[[str], None] | None = None) -> tuple[VectorIndex, list[str]]:
    """Embed every item and write the index; unusable items are left out and listed."""
    paths, run_sampling, skipped = collect_inputs(inputs)
    sampling = sampling or run_sampling or DEFAULT_SAMPLING
    if not paths:
        raise ConfigError(f"no media found in {', '.join(inputs)}: expected run folders, media files, folders or globs",
                          path="inputs")
    items, vectors, seen = [], [], set()
    for path in paths:
        try:
            item, frames = embedder.media(path, sampling)
        except (MediaError, OSError) as exc:
            skipped.append(f"{path}: {getattr(exc, 'message', exc)}")
            continue
        except FactorlineError as exc:
            skipped.append(f"{path}: {exc.message}")
            continue
        if item["id"] in seen:
            skipped.append(f"{path}: same bytes as an item already indexed")
            continue
        seen.add(item["id"])
        items.append(item)
        vectors.append(frames)
        if progress:
            progress(path)
    return VectorIndex.write(out, embedder.meta(sampling), items, vectors, kind=kind), skipped
