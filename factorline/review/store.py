"""``RUN/reviews.jsonl``: every verdict a reviewer gave, one JSON object per line, append-only.

A line::

    {"review": "r-…", "time": "2026-12-07T13:40:00.123Z", "index": 3, "item": "sha256:…", "path": "…",
     "table": "moderation", "verdict": "override", "value": "review", "was": "accept", "rule": "ok",
     "reviewer": "ana", "note": "the logo is the channel's own"}

or, for a factor, ``"factor": "logo.has_logo", "value": false, "was": true`` instead of table/rule.
``verdict`` is ``confirm`` (the run was right: ``value`` is what it said) or ``override``
(``value`` is the right answer). A later line about the same item and table (or factor) wins.

Writes: one ``write`` of one whole line on a descriptor opened ``O_APPEND``, under a process
lock and ``flock``, then ``fsync`` (and the folder's fsync when the file was created), so an
acknowledged verdict survives a crash and concurrent writers never interleave. Nothing ever
rewrites the file. Readers skip a torn last line (a crash mid-write) and count it.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..contract.errors import ConfigError
from ..engine.compiler import Plan
from ..report.labels import convert
from ..rules import ON_ERROR, ON_MISSING

REVIEWS_FILE = "reviews.jsonl"
VERDICTS = ("confirm", "override")
COMPARED = {"int", "float", "bool", "str"}
_LOCK = threading.Lock()


class ReviewError(ConfigError):
    """A verdict that cannot be stored as given (the server answers 422 naming the field)."""


def outcomes_of(plan: Plan, table: str) -> list[str]:
    """Every outcome a table can decide, in rule order."""
    t = plan.decisions.tables[table]
    return list(dict.fromkeys([r.outcome for r in t.order] + [t.default.outcome, t.on_missing, t.on_error]))


def rules_of(plan: Plan, table: str) -> dict[str, str]:
    t = plan.decisions.tables[table]
    return {r.id: r.outcome for r in t.order} | {t.default.id: t.default.outcome, ON_MISSING: t.on_missing, ON_ERROR: t.on_error}


def make_verdict(plan: Plan, record: dict, index: int, body: dict[str, Any]) -> dict:
    """The line to store for ``body`` (table or factor, verdict, value, reviewer, note) about
    ``record``; ReviewError naming the field when it is not usable.

    ``verdict`` may also be an outcome of the table (``{"table": "moderation", "verdict": "review"}``):
    it is read as confirm when the run decided that outcome, else as override to it."""
    table, factor = body.get("table"), body.get("factor")
    if (table is None) == (factor is None):
        raise ReviewError("expected exactly one of 'table' (a decision table) or 'factor' (step.field), "
                          f"found {'both' if table else 'neither'}", path="body.table")
    verdict, value = body.get("verdict"), body.get("value")
    line: dict[str, Any] = {"review": f"r-{uuid.uuid4().hex[:16]}", "time": _now(), "index": index,
                            "item": (record.get("item") or {}).get("id"), "path": (record.get("item") or {}).get("path")}
    if table is not None:
        if table not in plan.decisions.names:
            raise ReviewError(f"no decision table {table!r} in this run's pipeline; expected one of "
                              f"{', '.join(plan.decisions.names) or '(none)'}", path="body.table")
        decided = ((record.get("decisions") or {}).get(table) or {})
        was, allowed = decided.get("outcome"), outcomes_of(plan, table)
        if verdict not in VERDICTS and verdict in allowed and value is None:  # the short form
            verdict, value = ("confirm", None) if verdict == was else ("override", verdict)
        _check_verdict(verdict)
        if verdict == "confirm":
            value = _confirmed(value, was, "body.value")
        elif value not in allowed:
            raise ReviewError(f"an override of table {table} needs 'value', one of its outcomes "
                              f"({', '.join(allowed)}); found {value!r}", path="body.value")
        line |= {"table": table, "verdict": verdict, "value": value, "was": was, "rule": decided.get("rule")}
    else:
        step, _, name = str(factor).partition(".")
        dtype = plan.field_dtypes.get(step, {}).get(name)
        if dtype is None:
            raise ReviewError(f"no factor {factor!r} in this run's pipeline; expected step.field, e.g. "
                              f"{', '.join(_examples(plan))}", path="body.factor")
        if dtype not in COMPARED:
            raise ReviewError(f"factor {factor} holds {dtype} values: only bool, int, float and text factors take verdicts",
                              path="body.factor")
        was = ((record.get("factors") or {}).get(step) or {}).get(name)
        _check_verdict(verdict)
        if verdict == "confirm":
            value = _confirmed(value, was, "body.value")
        else:
            if value is None:
                raise ReviewError(f"an override of factor {factor} needs 'value' ({dtype}), found none", path="body.value")
            try:
                value = convert(dtype, value, f"factor {factor}", Path(REVIEWS_FILE))
            except ConfigError as exc:
                raise ReviewError(exc.message, path="body.value") from None
        line |= {"factor": factor, "verdict": verdict, "value": value, "was": was}
    reviewer = body.get("reviewer")
    if not isinstance(reviewer, str) or not reviewer.strip():
        raise ReviewError(f"expected 'reviewer', a non-empty name, found {reviewer!r}", path="body.reviewer")
    line |= {"reviewer": reviewer.strip(), "note": str(body.get("note") or "")}
    return line


def _check_verdict(verdict: object) -> None:
    if verdict not in VERDICTS:
        raise ReviewError(f"expected 'verdict' confirm or override (or, for a table, one of its outcomes), found {verdict!r}",
                          path="body.verdict")


def _confirmed(value: object, was: object, where: str) -> object:
    if value is not None and value != was:
        raise ReviewError(f"a confirm keeps the run's value {was!r}, found value {value!r}: send verdict override to change it",
                          path=where)
    return was


def _examples(plan: Plan) -> list[str]:
    return [f"{s}.{f}" for s, fields in plan.field_dtypes.items() for f, d in fields.items() if d in COMPARED][:4]


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


def append_review(run_dir: Path, line: dict) -> dict:
    """Append ``line`` to RUN/reviews.jsonl and fsync it before returning it."""
    path = Path(run_dir) / REVIEWS_FILE
    data = orjson.dumps(line) + b"\n"
    with _LOCK:
        created = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(f"short write to {path}: {written} of {len(data)} bytes")
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    return line


@dataclass
class Reviews:
    lines: list[dict]
    damaged: int  # lines that are not a JSON object (a torn last line)

    def latest(self) -> dict[tuple, dict]:
        """The last verdict per (item index, "table"|"factor", name), in file order."""
        out: dict[tuple, dict] = {}
        for line in self.lines:
            out[key_of(line)] = line
        return out


def key_of(line: dict) -> tuple:
    target = ("table", line["table"]) if line.get("table") is not None else ("factor", line.get("factor"))
    return (line.get("index"), *target)


def read_reviews(path: Path) -> Reviews:
    """Every verdict of a reviews.jsonl file (an absent file has none)."""
    path = Path(path)
    if not path.is_file():
        return Reviews([], 0)
    lines, damaged = [], 0
    with path.open("rb") as fh:
        for raw in fh:
            if not raw.strip():
                continue
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError:
                damaged += 1
                continue
            if isinstance(value, dict) and value.get("verdict") in VERDICTS and (value.get("table") or value.get("factor")):
                lines.append(value)
            else:
                damaged += 1
    return Reviews(lines, damaged)
