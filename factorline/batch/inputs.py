"""Turn what the user typed (files, folders, globs, manifest files) into a list of item paths,
and say what was passed over and why.

Every media-named entry the user reached becomes an item or a listed :class:`Skip` with its
reason: a FIFO, socket or device, a broken or looping symbolic link, a folder named like a
video. Folder entries without a media extension (and hidden ones) are only counted.
"""

from __future__ import annotations

import csv
import glob
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..contract.errors import ConfigError
from ..media.reasons import not_a_file

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".ts", ".flv", ".mpg", ".mpeg", ".gif",
                            ".ogv"})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".avif", ".heic", ".heif"})
MEDIA_SUFFIXES = VIDEO_SUFFIXES | IMAGE_SUFFIXES
MANIFEST_SUFFIXES = frozenset({".txt", ".csv", ".jsonl"})


# What a skipped entry is, in two words, for counts ("2 broken symbolic links"), by the first
# phrase its reason holds.
_KINDS = ("broken symbolic link", "symbolic link that loops", "named pipe", "socket", "device", "folder")


@dataclass(frozen=True)
class Skip:
    """An input that is not an item: its path and why (``"a named pipe (FIFO)..."``)."""

    path: str
    reason: str

    @property
    def kind(self) -> str:
        return next((kind for kind in _KINDS if kind in self.reason), "not a regular file")


@dataclass
class InputScan:
    """Item paths in order (duplicates dropped), the entries passed over, and how many folder
    entries were ignored for not having a media extension (or for being hidden)."""

    paths: list[str] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    ignored: int = 0


def _walk(folder: Path, scan: InputScan, out: list[Path]) -> None:
    """Media files under ``folder``; special entries with media names and links to folders
    (never followed, so a link loop cannot trap the walk) are listed as skips."""
    for entry in sorted(folder.rglob("*")):
        media_name = entry.suffix.lower() in MEDIA_SUFFIXES
        if entry.name.startswith("."):
            scan.ignored += 1
            continue
        what = not_a_file(entry)
        if what is None:
            if media_name:
                out.append(entry)
            else:
                scan.ignored += 1
        elif entry.is_symlink() and entry.is_dir():
            scan.skipped.append(Skip(str(entry), f"{what}: links to folders are not followed; pass that folder itself"))
        elif media_name:
            walked = "; its files are walked like any folder's" if entry.is_dir() else ""
            scan.skipped.append(Skip(str(entry), f"named like media but it is {what}{walked}"))


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


def _globbed(pattern: str, scan: InputScan, out: list[Path]) -> None:
    for match in sorted(Path(p) for p in glob.glob(pattern, recursive=True)):
        what = not_a_file(match)
        if what is None:
            out.append(match)
        elif not match.is_dir() or match.suffix.lower() in MEDIA_SUFFIXES:  # plain folders: what ** walks through
            scan.skipped.append(Skip(str(match), f"matched by {pattern!r} but it is {what}"))


def scan_inputs(inputs: list[str]) -> InputScan:
    """Files are taken as given (bad ones become error records later); folders are walked
    for media files; globs are expanded; .txt/.csv/.jsonl files are manifests. Order is kept
    and duplicates are dropped. A name that is nothing at all is refused (a typo)."""
    scan = InputScan()
    out: list[Path] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            _walk(path, scan, out)
        elif path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
            out.extend(_manifest_paths(path))
        elif path.exists():
            out.append(path)  # given by name: its record says what is wrong with it, if anything
        elif path.is_symlink():
            scan.skipped.append(Skip(raw, str(not_a_file(path))))
        elif any(ch in raw for ch in "*?["):
            _globbed(raw, scan, out)
        else:
            raise ConfigError(f"input not found: {raw} (expected a file, a folder, a glob or a manifest)", path=raw)
    scan.paths = list(dict.fromkeys(str(p) for p in out))
    return scan


def expand_inputs(inputs: list[str]) -> list[str]:
    """The item paths of :func:`scan_inputs` (what it passed over is dropped)."""
    return scan_inputs(inputs).paths
