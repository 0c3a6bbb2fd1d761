"""Turn what the user typed (files, folders, globs, manifest files) into a list of item paths."""

from __future__ import annotations

import csv
import glob
import json
from pathlib import Path

from ..errors import ConfigError

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".ts", ".flv", ".mpg", ".mpeg", ".gif"})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
MANIFEST_SUFFIXES = frozenset({".txt", ".csv", ".jsonl"})


def _media_in(folder: Path) -> list[Path]:
    wanted = VIDEO_SUFFIXES | IMAGE_SUFFIXES
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in wanted and not p.name.startswith("."))


def _manifest_paths(manifest: Path) -> list[Path]:
    """Paths listed in a manifest, relative to the manifest's folder: one per line, a
    ``path`` column of a CSV, or a ``path`` key per JSONL line."""
    base = manifest.parent
    text = manifest.read_text(encoding="utf-8")
    if manifest.suffix.lower() == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        if rows and "path" not in rows[0]:
            raise ConfigError(f"manifest CSV needs a 'path' column, found {list(rows[0])}", path=str(manifest))
        entries = [r["path"] for r in rows]
    elif manifest.suffix.lower() == ".jsonl":
        entries = [json.loads(line)["path"] for line in text.splitlines() if line.strip()]
    else:
        entries = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return [p if p.is_absolute() else base / p for p in map(Path, entries)]


def expand_inputs(inputs: list[str]) -> list[str]:
    """Files are taken as given (bad ones become error records later); folders are walked
    for media files; globs are expanded; .txt/.csv/.jsonl files are manifests. Order is kept
    and duplicates are dropped."""
    out: list[Path] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            out.extend(_media_in(path))
        elif path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
            out.extend(_manifest_paths(path))
        elif path.exists():
            out.append(path)
        elif any(ch in raw for ch in "*?["):
            out.extend(sorted(Path(p) for p in glob.glob(raw, recursive=True) if Path(p).is_file()))
        else:
            raise ConfigError(f"input not found: {raw} (expected a file, a folder, a glob or a manifest)", path=raw)
    seen: dict[str, None] = {}
    for p in out:
        seen.setdefault(str(p), None)
    return list(seen)
