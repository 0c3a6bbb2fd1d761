"""The pipelines a server runs: loaded and compiled at startup, validated and saved by PUT.

A document is accepted only when it compiles and its decision tables' ``cases`` pass (what
``factorline validate`` checks). A pipeline loaded from a file is saved back to that file, with
the document's changes applied to the file's own text (``saves.py``: comments, key order and
formatting kept; an unchanged document leaves the file byte for byte as it was); a new one goes
to ``<pipelines_dir>/<name>.yaml`` in the normalized form. Writes go to a temporary file beside
the target renamed over it, so a reader sees the old document or the new one, never half of one;
every save is kept in the pipeline's history (``history.py``).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..contract.errors import ConfigError, FactorlineError, Issue, PipelineError
from ..engine.compiler import Plan, check_pipeline
from ..engine.document import load_text, parse_text
from ..engine.executor import Engine
from ..models.store import confined_models
from . import saves
from .errors import ForbiddenError, NotFoundError, RequestValidationFailed

log = logging.getLogger("factorline.serve")

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$")  # no leading dot: no '.', '..', hidden files
DOCUMENT_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass
class Entry:
    plan: Plan
    engine: Engine
    source: Path | None  # the file it came from and is saved back to

    @property
    def name(self) -> str:
        return self.plan.name

    def summary(self) -> dict:
        doc = self.plan.doc
        return {
            "name": doc.name,
            "description": doc.description,
            "fingerprint": self.plan.fingerprint,
            "input": doc.input,
            "steps": [{"name": s.name, "op": s.spec.id, "group": s.spec.group} for s in self.plan.steps],
            "decisions": list(doc.decisions),
        }


@dataclass
class Checked:
    """The outcome of validating a document: a plan when ``ok``, else every issue."""

    data: dict | None
    plan: Plan | None
    issues: list[Issue]

    @property
    def ok(self) -> bool:
        return self.plan is not None and not self.issues

    def reply(self) -> dict:
        return {
            "ok": self.ok,
            "issues": [i.to_dict() for i in self.issues],
            "fingerprint": self.plan.fingerprint if self.ok else None,
            "document": self.plan.doc.to_dict() if self.ok else None,
        }


def check_document(body: Any, *, source: str = "<request>", model_roots: Sequence[Path] = ()) -> Checked:
    """Validate a document given as a JSON object or as ``{"text": "<yaml or json>"}``.

    Model references must name the model store, or folders under ``model_roots``
    (:func:`~factorline.models.store.confined_models`).
    """
    with confined_models(model_roots):
        return _check(body, source)


def _check(body: Any, source: str) -> Checked:
    from ..rules import run_cases

    try:
        if isinstance(body, dict) and set(body) == {"text"} and isinstance(body["text"], str):
            data = parse_text(body["text"], source=source)
        elif isinstance(body, dict):
            data = body
        else:
            return Checked(None, None, [Issue("", "expected a pipeline document (a JSON object) or {\"text\": ...}", "type")])
        plan, issues = check_pipeline(data)
        if plan is not None:
            issues = run_cases(plan.decisions, data.get("decisions") or {})
    except PipelineError as exc:
        return Checked(None, None, exc.issues)
    except FactorlineError as exc:
        return Checked(None, None, [Issue(exc.path, exc.message, "invalid")])
    except (TypeError, ValueError, AttributeError, KeyError, RecursionError) as exc:
        # A shape the compiler did not expect: the document is still invalid, not the server.
        log.warning("document check raised %s: %s", type(exc).__name__, exc)
        return Checked(None, None, [Issue("", f"unreadable document ({type(exc).__name__})", "invalid")])
    return Checked(data, plan if not issues else None, list(issues))


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise RequestValidationFailed("pipeline names are 1-64 of A-Z a-z 0-9 _ . - and do not start with a dot", path="name")
    return name


def document_files(paths: list[Path]) -> list[Path]:
    """The pipeline files named by ``paths``: files as given, folders' *.yaml/*.yml/*.json."""
    files: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in DOCUMENT_SUFFIXES and p.is_file())
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError("no such pipeline file or folder", path=str(path))
    return files


def default_save_dir(paths: list[Path]) -> Path | None:
    """Where new pipelines go when not told: the first folder given, else the first file's folder."""
    for path in paths:
        if Path(path).is_dir():
            return Path(path)
    return Path(paths[0]).parent if paths else None


class PipelineStore:
    """Name -> compiled pipeline and its engine; replaced whole on PUT (readers never lock)."""

    def __init__(self, make_engine: Callable[[Plan], Engine], save_dir: Path | None, model_roots: Sequence[Path] = ()):
        self.make_engine = make_engine
        self.save_dir = save_dir
        self.model_roots = tuple(model_roots)
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()  # serialises PUTs

    # -- loading -------------------------------------------------------------------------
    def add_document(self, data: dict, source: Path | None) -> Entry:
        where = str(source) if source else f"pipelines[{data.get('name')!r}]"
        checked = check_document(data, source=where, model_roots=self.model_roots)
        if not checked.ok:
            raise PipelineError(checked.issues, source=where)
        assert checked.plan is not None
        name = checked.plan.name
        if name in self._entries:
            raise ConfigError(f"two pipelines are named {name!r}", path=where)
        entry = Entry(checked.plan, self.make_engine(checked.plan), source)
        self._entries[name] = entry
        return entry

    def load(self, pipelines: dict[str, dict] | list[Path]) -> None:
        if isinstance(pipelines, dict):
            for name, doc in pipelines.items():
                if doc.get("name", name) != name:
                    raise ConfigError(f"pipeline {name!r} names itself {doc.get('name')!r}", path=f"pipelines.{name}.name")
                self.add_document({**doc, "name": name}, None)
            return
        for path in document_files(list(pipelines)):
            self.add_document(load_text(path), path)

    # -- reading -------------------------------------------------------------------------
    def get(self, name: str) -> Entry:
        entry = self._entries.get(name)
        if entry is None:
            raise NotFoundError(f"no pipeline named {name!r}", path="name")
        return entry

    def entries(self) -> list[Entry]:
        return [self._entries[n] for n in sorted(self._entries)]

    # -- saving --------------------------------------------------------------------------
    def _checked(self, name: str, body: Any) -> Checked:
        check_name(name)
        if isinstance(body, dict) and "text" not in body:
            body = {**body, "name": body.get("name", name)}
        checked = check_document(body, model_roots=self.model_roots)
        if checked.ok and checked.plan is not None and checked.plan.name != name:
            checked.issues.append(Issue("name", f"the document is named {checked.plan.name!r}, the URL {name!r}", "name"))
        return checked

    def target_of(self, name: str) -> Path:
        """The file pipeline ``name`` is saved to: the one it came from, else a new one."""
        old = self._entries.get(name)
        return old.source if old and old.source else self._new_path(name)

    def preview(self, name: str, body: Any) -> tuple[Checked, dict | None]:
        """What saving ``body`` would change (``saves.Planned.preview``); None when it is invalid."""
        checked = self._checked(name, body)
        if not checked.ok or checked.plan is None or checked.data is None:
            return checked, None
        return checked, saves.plan_save(self.target_of(name), checked.data, checked.plan.doc.to_dict()).preview()

    def put(self, name: str, body: Any, warm: Callable[[Plan], list[Issue]], origin: str = "editor") -> tuple[Entry | None, Checked, bool]:
        """Validate, warm and save ``body`` as pipeline ``name``; (entry, checked, created).

        ``entry`` is None when the document was refused (``checked`` says why).
        """
        checked = self._checked(name, body)
        if checked.ok and checked.plan is not None:
            checked.issues.extend(warm(checked.plan))  # a model that cannot load here is refused too
        if not checked.ok or checked.plan is None or checked.data is None:
            return None, checked, False
        with self._lock:
            old = self._entries.get(name)
            target = self.target_of(name)
            saves.write(saves.plan_save(target, checked.data, checked.plan.doc.to_dict()), origin=origin)
            entry = Entry(checked.plan, self.make_engine(checked.plan), target)
            self._entries[name] = entry
        log.info("saved pipeline %s (%s) to %s", name, checked.plan.fingerprint[:19], target)
        return entry, checked, old is None

    def restore(self, name: str, version: str, warm: Callable[[Plan], list[Issue]]) -> tuple[Entry | None, Checked]:
        """Write saved ``version`` of pipeline ``name`` back, byte for byte (it must still compile)."""
        target = self.get(name).source
        if target is None:
            raise NotFoundError(f"pipeline {name!r} has no file, so no saved versions", path="name")
        text = saves.version_text(target, version)["text"]
        checked = self._checked(name, {"text": text})
        if checked.ok and checked.plan is not None:
            checked.issues.extend(warm(checked.plan))
        if not checked.ok or checked.plan is None:
            return None, checked
        with self._lock:
            saves.write(saves.Planned(target, saves.read_exact(target) if target.is_file() else None, text), origin="restore")
            entry = Entry(checked.plan, self.make_engine(checked.plan), target)
            self._entries[name] = entry
        log.info("restored pipeline %s to version %s", name, version)
        return entry, checked

    def _new_path(self, name: str) -> Path:
        if self.save_dir is None:
            raise ForbiddenError("saving is disabled: the server was started without a pipelines folder", path="name")
        return self.save_dir / f"{name}.yaml"
