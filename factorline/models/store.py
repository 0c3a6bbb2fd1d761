"""A versioned model store on disk: ``<root>/<name>/v<N>/{head.safetensors, card.json, card.md}``.

Aesthetics heads (``factorline train PAIRS.jsonl --task aesthetics``, card ``"kind": "aesthetics"``)
hold ``head.json`` (the format of ``factorline/operators/aesthetics.json``) instead of a safetensors head.
Compressed models (``factorline compress``) hold ``model.safetensors`` (a torch network) or
``model.onnx`` instead of a head, plus their gate report (``report.json``, ``report.md``); their
card has ``"kind": "compressed"`` and lists every file under ``checksums`` like any other.
A child refused by its accuracy gate is written whole under ``<root>/.rejected/`` instead of
becoming a version (hidden from listings; its report says why).

The root is ``$FACTORLINE_MODELS`` or ``./models``. A version is written whole into a hidden
temporary folder beside its final place and renamed into place, so readers never see half a
model and two trainers saving the same name get two versions (a rename onto an existing
version fails, and the loser takes the next number). Versions are never rewritten.

References: ``name`` (newest version), ``name@N``, or the path of a version folder. Loading
verifies the sha256 of every file listed in the card and the card's own digest, and refuses a
model whose bytes changed since it was written.

Inside :func:`confined_models` (the server compiles and runs its clients' pipelines there)
a reference is a store name only, or a version folder under one of the given roots: any
other path (absolute, ``../``, a symlink out of a root) is refused, and errors name the
reference, never the store's or a folder's place on the server's disk.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from ..contract.errors import StoreError
from .card import FORMAT, card_digest, render_markdown, sha256_file
from .heads import Head

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
HEAD_FILE, CARD_JSON, CARD_MD = "head.safetensors", "card.json", "card.md"
REJECTED = ".rejected"
# Writes a model's own files into a folder and returns their names (relative paths), given the
# card as it will be stored (name and version set).
FileWriter = Callable[[Path, dict], list[str]]


# Folders whose model folders references may name by path; None: any path (the CLI's own use).
_CONFINED: ContextVar[tuple[Path, ...] | None] = ContextVar("factorline_model_roots", default=None)


@contextmanager
def confined_models(roots: Iterable[str | Path] = ()) -> Iterator[None]:
    """Within the block (this thread, this task): models come from the store by name, or from
    version folders under ``roots``; errors do not reveal server paths."""
    token = _CONFINED.set(tuple(Path(r).expanduser().resolve() for r in roots))
    try:
        yield
    finally:
        _CONFINED.reset(token)


def is_confined() -> bool:
    return _CONFINED.get() is not None


def default_store_dir() -> Path:
    return Path(os.environ.get("FACTORLINE_MODELS") or "models")


def check_name(name: str) -> str:
    if not re.match(NAME_PATTERN, name):
        raise StoreError(f"model name {name!r}: expected lower-case letters, digits, '_', '.', '-' (max 64), "
                         "starting with a letter or digit", path="name")
    return name


@dataclass
class StoredModel:
    path: Path
    card: dict
    head: Head | None  # None for compressed models (a whole network in model.onnx / model.safetensors) and
    # aesthetics heads (head.json, read by factorline.operators.aesthetics.load_stored_head)

    @property
    def ref(self) -> str:
        return f"{self.card['name']}@{self.card['version']}"

    @property
    def compressed(self) -> bool:
        return self.card.get("kind") == "compressed"

    @property
    def backbone_id(self) -> str:
        return self.card["backbone"]["id"]

    @property
    def task(self) -> str:
        return self.card["task"]

    @property
    def threshold(self) -> float | None:
        return self.card["head"].get("threshold")

    @property
    def positive(self) -> str | None:
        return self.card["head"].get("positive")


class ModelStore:
    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_store_dir()

    # -- lookup ---------------------------------------------------------------------------
    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".") and self.versions(p.name))

    def versions(self, name: str) -> list[int]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        found = [int(p.name[1:]) for p in folder.iterdir() if re.fullmatch(r"v\d+", p.name) and (p / CARD_JSON).is_file()]
        return sorted(found)

    def resolve(self, ref: str) -> Path:
        """The folder of a model reference (``name``, ``name@N`` or a version folder path)."""
        name, sep, ver = ref.partition("@")
        is_name = bool(re.match(NAME_PATTERN, name))
        roots = _CONFINED.get()
        if roots is not None and not is_name:
            return _confined_folder(ref, roots)
        as_path = Path(ref).expanduser()
        if roots is None and (as_path / CARD_JSON).is_file():
            return as_path.resolve()
        versions = self.versions(name) if is_name else []
        if not versions:
            known = ", ".join(self.names()) or "none"
            where = "the model store" if roots is not None else f"the store at {self.root.resolve()}"
            paths = "" if roots is not None else " or a model folder path"
            raise StoreError(f"no model {name!r} in {where} (models there: {known}); "
                             f"expected a name, name@version{paths}", path=ref)
        if not sep or ver == "latest":
            return self.root / name / f"v{versions[-1]}"
        if not ver.isdigit() or int(ver) not in versions:
            raise StoreError(f"model {name!r} has no version {ver!r}; versions: {versions}", path=ref)
        return self.root / name / f"v{int(ver)}"

    def pin(self, ref: str) -> str:
        """A reference that always means the same bytes: ``name@N`` for store names."""
        path = self.resolve(ref)
        as_folder = not re.match(NAME_PATTERN, ref.partition("@")[0]) if is_confined() else Path(ref).expanduser().is_dir()
        if as_folder:
            return str(path)
        return f"{path.parent.name}@{path.name[1:]}"

    def read_card(self, ref: str) -> dict:
        return self._card(self.resolve(ref), ref)

    def _card(self, folder: Path, ref: str) -> dict:
        path = folder / CARD_JSON
        shown = f"model {ref!r}" if is_confined() else str(path)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            why = type(exc).__name__ if is_confined() else str(exc)
            raise StoreError(f"{shown}: unreadable model card: {why}", path=ref if is_confined() else str(path), cause=exc) from exc

    # -- load -----------------------------------------------------------------------------
    def load(self, ref: str) -> StoredModel:
        """The model, after checking every file against the card's checksums."""
        folder = self.resolve(ref)
        card = self._card(folder, ref)
        verify(folder, card, label=f"model {ref!r}" if is_confined() else None)
        if card.get("kind") in ("compressed", "aesthetics"):  # their own files, read by their own loaders
            return StoredModel(folder, card, None)
        return StoredModel(folder, card, Head.load(folder / card["head"]["file"]))

    def list(self) -> list[dict]:
        """One summary per version, newest first within each name."""
        rows = []
        for name in self.names():
            for ver in reversed(self.versions(name)):
                try:
                    card = self.read_card(f"{name}@{ver}")
                except StoreError as exc:
                    rows.append({"name": name, "version": ver, "error": exc.message})
                    continue
                test = card.get("metrics", {}).get("test", {})
                model = card.get("model") or {}
                backbone = model.get("summary") or card.get("backbone", {}).get("id")
                rows.append({"name": name, "version": ver, "task": card.get("task"), "backbone": backbone,
                             "head": card["head"]["kind"], "classes": card["head"]["classes"],
                             "parent": (card.get("parent") or {}).get("ref"),
                             "accuracy": test.get("accuracy"), "macro_f1": test.get("macro_f1"),
                             "created": card.get("created"), "path": str(self.root / name / f"v{ver}")})
        return rows

    # -- save -----------------------------------------------------------------------------
    def save(self, name: str, head: Head, card: dict) -> StoredModel:
        """Write a new version atomically; ``card`` gets name, version, checksums and digest."""

        def write(folder: Path, full: dict) -> list[str]:
            full["head"] = {**full["head"], "file": HEAD_FILE}
            head.save(folder / HEAD_FILE)
            return [HEAD_FILE]

        return self._save(name, card, write, head)

    def save_model(self, name: str, card: dict, write: FileWriter) -> StoredModel:
        """Write a new version whose files ``write(folder, card)`` puts in place (compressed
        models: the network, its report); atomic and checksummed like :meth:`save`."""
        return self._save(name, card, write, None)

    def save_rejected(self, name: str, card: dict, write: FileWriter) -> Path:
        """Write a model that must not be published into ``<root>/.rejected/<name>-<time>-<id>/``
        (complete, checksummed, never listed or resolved by name); returns its folder."""
        check_name(name)
        stamp = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        area = self.root / REJECTED
        area.mkdir(parents=True, exist_ok=True)
        tmp = area / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            _write_version(tmp, {**card, "name": name, "version": None, "published": False, "location": str(area / stamp)}, write)
            os.rename(tmp, area / stamp)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return area / stamp

    def _save(self, name: str, card: dict, write: FileWriter, head: Head | None) -> StoredModel:
        check_name(name)
        parent = self.root / name
        parent.mkdir(parents=True, exist_ok=True)
        tmp = parent / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            for _ in range(1000):
                version = (self.versions(name) or [0])[-1] + 1
                for stale in list(tmp.iterdir()):  # a lost race leaves the last attempt's files
                    shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
                final = _write_version(tmp, {**card, "name": name, "version": version}, write)
                try:
                    os.rename(tmp, parent / f"v{version}")
                except OSError:  # another writer took this number: take the next one
                    continue
                return StoredModel(parent / f"v{version}", final, head)
            raise StoreError(f"could not find a free version number for {name!r}", path=name)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def _write_version(folder: Path, card: dict, write: FileWriter) -> dict:
    card = {**card, "format": FORMAT, "created": card.get("created") or time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    files = list(write(folder, card))
    (folder / CARD_MD).write_text(render_markdown(card), encoding="utf-8")
    card["checksums"] = {f: sha256_file(folder / f) for f in [*files, CARD_MD]}
    card["card_digest"] = card_digest(card)
    (folder / CARD_JSON).write_text(json.dumps(card, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    for path in folder.rglob("*"):  # on disk before the rename makes the version visible
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    return card


def verify(folder: Path, card: dict, *, label: str | None = None) -> None:
    """Raise StoreError naming the file whose bytes differ from the card's record (with
    ``label``, messages name the model by it instead of by its folder)."""
    at = label or str(folder)

    def where(name: str) -> str:
        return f"{label}: {name}" if label else str(folder / name)

    if card.get("format") != FORMAT:
        raise StoreError(f"{at}: card format {card.get('format')!r}, expected {FORMAT!r}", path=at)
    if card.get("card_digest") != card_digest(card):
        raise StoreError(f"{where(CARD_JSON)} was modified after it was written (card digest mismatch)", path=at)
    listed = card.get("checksums") or {}
    # Every file the model could load is covered: a card that leaves one out (a forged card
    # dropping its head file's entry) is refused, as is a file the card does not know.
    needed = [card["head"]["file"]] if isinstance(card.get("head"), dict) and card["head"].get("file") else []
    unlisted = sorted({*needed, *(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                                  if p.is_file() and p.name != CARD_JSON)} - set(listed))
    if unlisted:
        raise StoreError(f"{where(unlisted[0])} is not covered by the card's checksums "
                         f"({len(unlisted)} file(s) unlisted): the card was edited or the folder changed; "
                         "re-save the model", path=at)
    for name, expected in listed.items():
        path = folder / name
        if not path.is_file():
            raise StoreError(f"{where(name)} is missing; the card lists it with {expected}", path=at)
        found = sha256_file(path)
        if found != expected:
            raise StoreError(f"{where(name)} checksum mismatch: card says {expected}, file has {found}", path=at)


def _confined_folder(ref: str, roots: tuple[Path, ...]) -> Path:
    """A version folder named by path, accepted only under one of ``roots`` (symlinks followed)."""
    if not roots:
        raise StoreError(f"model {ref!r} is not a store name: here models come only from the model store, named "
                         "name or name@version (folder paths are refused; the server's --model-root allows a folder)", path=ref)
    try:
        folder = Path(ref).expanduser().resolve()
    except (OSError, RuntimeError):  # a symlink loop, a name too long
        folder = None
    if folder is None or not any(folder == root or root in folder.parents for root in roots):
        raise StoreError(f"model folder {ref!r} is outside the allowed model roots; name a model in the store "
                         "(name or name@version) or a version folder under a root the server allows", path=ref)
    if not (folder / CARD_JSON).is_file():
        raise StoreError(f"no model at {ref!r}: expected a version folder holding {CARD_JSON} (…/name/vN)", path=ref)
    return folder
