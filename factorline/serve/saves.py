"""What a save writes, what it would change, and how a saved version comes back.

A save of a pipeline that has a file applies the document to that file's text
(:func:`~factorline.serve.yaml_saves.apply_document`: comments, order and formatting kept, an
unchanged document leaves the file untouched); a new pipeline is written in the normalized form.
Before a file is overwritten its text on disk is kept in the history (``history.py``), and each
save is recorded there too, so every version can be listed, compared and restored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..engine.document import dump_text
from . import history
from .history import atomic_write, read_exact
from .yaml_saves import apply_document, unified_diff


@dataclass(frozen=True)
class Planned:
    """What saving a document to ``target`` would write."""

    target: Path
    old: str | None  # the file's text now (None: no file yet)
    text: str

    @property
    def changed(self) -> bool:
        return self.old != self.text

    def preview(self) -> dict:
        """``{file, exists, changed, diff, confirm}``; ``confirm``: the save rewrites a file the
        editor did not create, so the editor shows the diff and asks first."""
        exists = self.old is not None
        return {
            "file": self.target.name,
            "exists": exists,
            "changed": self.changed,
            "diff": unified_diff(self.old or "", self.text, self.target.name) if self.changed else "",
            "confirm": exists and self.changed and not history.created_by_editor(self.target),
        }


def plan_save(target: Path, data: dict, normalized: dict) -> Planned:
    """The text a save of ``data`` (the document as sent) would write to ``target``."""
    fmt = "json" if target.suffix.lower() == ".json" else "yaml"
    if target.is_file():
        old = read_exact(target)
        return Planned(target, old, apply_document(old, data, fmt=fmt, source=target.name))
    return Planned(target, None, dump_text(normalized, fmt=fmt))


def write(planned: Planned, *, origin: str = "editor") -> None:
    """Write ``planned`` (nothing when the file already holds that text) and record the version."""
    if not planned.changed:
        return
    if planned.old is not None:
        history.keep_disk_version(planned.target)
    atomic_write(planned.target, planned.text)
    history.record(planned.target, planned.text, "created" if planned.old is None and origin == "editor" else origin)


def listing(target: Path) -> list[dict]:
    """The versions of ``target``, newest first, each marked ``current`` when it is the file's text."""
    current = read_exact(target) if target.is_file() else None
    return [v.to_dict(current) for v in reversed(history.versions(target))]


def version_text(target: Path, version: str) -> dict:
    """One version's text and its diff to the file as it is now."""
    found = history.get(target, version)
    text = read_exact(found.path)
    current = read_exact(target) if target.is_file() else ""
    return {**found.to_dict(current), "text": text,
            "diff": unified_diff(current, text, target.name, f"version {found.id}") if text != current else ""}
