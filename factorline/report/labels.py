"""Label files for ``evaluate``: what each item should be, matched to a run's records.

Accepted, one row per item:
- CSV with ``path`` or ``id``, then ``outcome`` (when the pipeline has one decision table) or
  one column per table (``moderation``), and/or factor columns ``step.field``;
- JSONL with the same keys, typed values;
- a run's ``reviews.jsonl`` (the run browser's verdicts; ``review/labels.py``);
- the sample set's ``ground_truth.jsonl`` as written: ``path`` relative to its folder,
  ``expected: {table: outcome}``, ``factors: {operator name: {field: value}}``; operator
  names map to the pipeline's steps that run that operator (a step name works too).

A label's path is read relative to the label file's folder (else to the current folder).
Matching a label to a record tries, in order: the id, the resolved path, then the path's
trailing parts (``videos/clean.mp4``, or the bare file name) when exactly one item has them.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from ..contract.errors import ConfigError
from ..engine.compiler import Plan
from ..engine.records import json_lines

_IDENTITY = ("path", "id")
_TRUE, _FALSE = {"true", "1", "yes", "y", "t"}, {"false", "0", "no", "n", "f"}
_COMPARED = {"int", "float", "bool", "str"}  # lists, segments and boxes are not compared


@dataclass
class Label:
    where: str  # "labels.csv:3", for messages
    id: str | None
    path: str | None
    outcomes: dict[str, str] = field(default_factory=dict)  # table -> expected outcome
    factors: dict[str, Any] = field(default_factory=dict)  # step.field -> expected value

    @property
    def key(self) -> str:
        return self.path or self.id or "?"


@dataclass
class LabelSet:
    source: Path
    labels: list[Label]
    ignored: list[str]  # keys and values not used, one line each


def read_labels(path: str | Path, plan: Plan) -> LabelSet:
    """Read a CSV or JSONL label file against ``plan`` (its tables, steps and field types)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"label file not found: expected a CSV or JSONL file at {path}", path=str(path))
    from ..review.labels import is_reviews_file, reviews_label_set

    if is_reviews_file(path):  # RUN/reviews.jsonl: the latest verdict per item and table or factor
        return reviews_label_set(path, plan)
    reader = _Reader(path, plan)
    rows = _csv_rows(path) if path.suffix.lower() == ".csv" else _jsonl_rows(path)
    labels = [reader.label(where, row) for where, row in rows]
    return LabelSet(path, labels, reader.notes())


def _csv_rows(path: Path):
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for n, row in enumerate(csv.DictReader(fh), start=2):  # line 1 is the header
            yield f"{path.name}:{n}", {k.strip(): v.strip() for k, v in row.items() if k and v is not None and v.strip()}


def _jsonl_rows(path: Path):
    def invalid(where: str, exc: ValueError) -> None:  # a label file is fixed by hand: stop at its first bad line
        raise ConfigError(f"{where}: expected one JSON object per line, found invalid JSON ({exc})", path=str(path)) from exc

    for where, row in json_lines(path, invalid):
        if not isinstance(row, dict):
            raise ConfigError(f"{where}: expected a JSON object, found {type(row).__name__}", path=str(path))
        yield where, row


class _Reader:
    """Turns rows into Labels, collecting what it could not use."""

    def __init__(self, path: Path, plan: Plan):
        self.path, self.tables, self.dtypes = path, plan.decisions.names, plan.field_dtypes
        self.steps_of_op: dict[str, list[str]] = {}
        for step in plan.steps:
            self.steps_of_op.setdefault(step.spec.name, []).append(step.name)
        self.unused: Counter = Counter()
        self.other: set[str] = set()  # keys that are neither identity, table, factor nor expected

    def notes(self) -> list[str]:
        notes = [f"{key} ({n} row{'s' if n > 1 else ''})" for key, n in sorted(self.unused.items())]
        if self.other:
            notes.append(f"not a path, id, table, step.field, expected or factors key: {', '.join(sorted(self.other))}")
        return notes

    def label(self, where: str, row: dict) -> Label:
        ident = {k: str(row[k]) for k in _IDENTITY if row.get(k) not in (None, "")}
        if not ident:
            raise ConfigError(f"{where}: a label needs a 'path' or an 'id' column, found {sorted(row)[:8]}", path=str(self.path))
        label = Label(where, _norm_id(ident.get("id")), ident.get("path"))
        for key, value in row.items():
            if key not in _IDENTITY and value is not None:
                self._take(label, key, value)
        return label

    def _take(self, label: Label, key: str, value: Any) -> None:
        if key == "outcome":
            label.outcomes[self._single_table(label.where)] = str(value)
        elif key in self.tables:
            label.outcomes[key] = str(value)
        elif key == "expected" and isinstance(value, dict):
            for table, outcome in value.items():
                if table not in self.tables:
                    self.unused[f"expected.{table}: not a decision table of this pipeline"] += 1
                elif outcome is not None:  # null: this item has no label for that table
                    label.outcomes[table] = str(outcome)
        elif key == "factors" and isinstance(value, dict):
            for name, fields in value.items():
                for step in self._steps(name):
                    for fname, expected in (fields or {}).items() if isinstance(fields, dict) else ():
                        self._factor(label, f"{step}.{fname}", expected, f"factors.{name}.{fname}")
        elif "." in key and key.split(".", 1)[0] in self.dtypes:
            self._factor(label, key, value, key)
        else:
            self.other.add(key)

    def _single_table(self, where: str) -> str:
        if len(self.tables) != 1:
            raise ConfigError(f"{where}: an 'outcome' column is ambiguous, the pipeline has the decision tables "
                              f"{', '.join(self.tables) or '(none)'}; name the column after the table", path=str(self.path))
        return self.tables[0]

    def _steps(self, name: str) -> list[str]:
        steps = [name] if name in self.dtypes else self.steps_of_op.get(name, [])
        if not steps:
            self.unused[f"factors.{name}: no step of this pipeline is named so or runs that operator"] += 1
        return steps

    def _factor(self, label: Label, key: str, value: Any, shown: str) -> None:
        if value is None:
            return
        step, _, name = key.partition(".")
        dtype = self.dtypes.get(step, {}).get(name)
        if dtype is None:
            self.unused[f"{shown}: {step} has no field '{name}'"] += 1
        elif dtype not in _COMPARED:
            self.unused[f"{shown}: {dtype} values are not compared"] += 1
        else:
            label.factors[key] = convert(dtype, value, f"{label.where} {shown}", self.path)


def convert(dtype: str, value: Any, where: str, path: Path) -> Any:
    """A label value as the factor's type; text cells from CSV are parsed."""
    try:
        if dtype in {"int", "float"}:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
            if not math.isfinite(number):
                raise ValueError
            return int(number) if dtype == "int" and number.is_integer() else number
        if dtype == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE | _FALSE:
                return text in _TRUE
            raise ValueError
        return str(value)
    except (TypeError, ValueError):
        wanted = {"int": "a number", "float": "a number", "bool": "true or false"}.get(dtype, dtype)
        raise ConfigError(f"{where}: expected {wanted}, found {value!r:.60}", path=str(path)) from None


def _norm_id(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip().lower()
    return value if value.startswith("sha256:") else f"sha256:{value}"


@dataclass
class Matching:
    pairs: list[tuple[Label, int]]  # label, index of its record
    unmatched: list[tuple[Label, str]]  # label, why
    unlabeled: list[int]  # records no label matched
    how: Counter = field(default_factory=Counter)  # id / path / suffix -> count


def match_labels(labels: LabelSet, records: list[dict]) -> Matching:
    by_id, by_path, by_name = {}, {}, {}
    for i, r in enumerate(records):
        item = r.get("item") or {}
        by_id.setdefault(str(item.get("id") or "").lower(), i)
        stored = str(item.get("path") or "")
        if stored:
            by_path.setdefault(_resolved(Path(stored)), i)
            by_name.setdefault(PurePath(stored).name, []).append(i)
    out, taken = Matching([], [], []), {}
    for label in labels.labels:
        index, how, why = _find(label, labels.source.parent, records, by_id, by_path, by_name)
        if index is not None and index in taken:
            index, why = None, f"the item is already labeled by {taken[index]}"
        if index is None:
            out.unmatched.append((label, why))
            continue
        taken[index] = label.where
        out.pairs.append((label, index))
        out.how[how] += 1
    out.unlabeled = [i for i in range(len(records)) if i not in taken]
    return out


def _find(label: Label, base: Path, records, by_id, by_path, by_name) -> tuple[int | None, str, str]:
    if label.id and label.id in by_id:
        return by_id[label.id], "id", ""
    if not label.path:
        return None, "", f"no item has id {label.id}"
    written = Path(label.path)
    for candidate in ([written] if written.is_absolute() else [base / written, written]):
        if _resolved(candidate) in by_path:
            return by_path[_resolved(candidate)], "path", ""
    parts = PurePath(label.path).parts
    found = [i for i in by_name.get(parts[-1] if parts else "", [])
             if PurePath(str(records[i]["item"]["path"])).parts[-len(parts):] == parts]
    if len(found) == 1:
        return found[0], "suffix", ""
    if found:
        return None, "", f"{len(found)} items end with {label.path}; give the full path or the id"
    return None, "", f"no item has the path {label.path} (nor one ending with it)"


def _resolved(path: Path) -> str:
    return str(path.expanduser().resolve(strict=False))
