"""Labelled data sets: folder-per-label trees, CSV/JSONL manifests and Label Studio exports.

=====================  =================================================================
folder                 ``root/<label>/**/<file>``: images, videos, or ``.txt`` texts
``.csv``               header ``path,label`` or ``text,label``; paths relative to the file
``.jsonl``             one ``{"path"|"text": ..., "label": ...}`` object per line
``.json``              a Label Studio export: full JSON (tasks with ``annotations`` whose
                       ``choices`` result is the label) or JSON-MIN (``choice`` key);
                       ``/data/local-files/?d=<rel>`` and ``/data/upload/...`` paths are
                       looked up beside the export
reviews.jsonl          a run's verdicts (the run browser's): the label is the latest verdict's
                       value for ``label_field`` (a decision table or a factor ``step.field``)
synth folder           a ``factorline synth`` OUT (``labels.jsonl`` + ``synth.json``): the label
                       is the truth field ``label_field`` names (``subtitles.has_subtitles``)
=====================  =================================================================

Every row is checked before any embedding is computed: missing file, unreadable media (the
same probe pipelines use), unknown label (when ``labels`` are given), empty text, a label
that conflicts with an identical item. All problems are reported together, each with its
line number (file and line for manifests, task line for Label Studio, path for folders),
in one :class:`~factorline.contract.errors.DataError`; ``skip_bad`` leaves those rows out instead.
Identical items with the same label are kept once (a copy in both splits would leak).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from ..contract.errors import DataError, MediaError
from ..contract.items import Limits, MediaInfo
from ..engine.records import json_lines
from ..media import probe

MEDIA_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".mp4", ".mov", ".mkv",
                    ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".ogv"}
TEXT_EXTENSIONS = {".txt"}
MAX_LISTED = 50  # bad rows printed in one error (all are counted)


@dataclass(frozen=True)
class Row:
    """One labelled row as read, before checks; ``where`` is ``file:line`` or a path."""

    where: str
    label: str
    path: Path | None = None
    text: str | None = None


@dataclass(frozen=True)
class BadRow:
    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


@dataclass(frozen=True)
class Example:
    where: str
    label: str
    kind: str  # "image" | "video" | "text"
    digest: str  # sha256 of the file bytes, or of the UTF-8 text
    path: str | None = None
    text: str | None = None
    info: MediaInfo | None = None


@dataclass
class Dataset:
    source: str
    format: str
    examples: list[Example]
    bad: list[BadRow] = field(default_factory=list)
    duplicates: int = 0

    @property
    def classes(self) -> list[str]:
        return sorted({e.label for e in self.examples})

    @property
    def task(self) -> str:
        return "text" if self.examples and self.examples[0].kind == "text" else "image"


def text_digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- readers


def read_rows(source: Path, label_field: str | None = None) -> tuple[str, list[Row], list[BadRow]]:
    """(format, rows, syntax problems) of a data set path; ``label_field`` picks a synth folder's label."""
    from ..review.labels import is_reviews_file, training_rows
    from ..synth.dataset import SYNTH_FORMAT, is_synth_dir, synth_rows

    if is_reviews_file(source):  # RUN/reviews.jsonl: the latest verdict on --label-field is the label
        return f"reviews:{label_field}", [Row(w, label, path=p) for w, p, label in training_rows(source, label_field)], []
    if is_synth_dir(source):
        if not label_field:
            raise DataError(f"{source} is a `factorline synth` folder: say which truth field is the label with "
                            "--label-field (e.g. subtitles.has_subtitles, logo.has_logo, black_border.fill, kind)",
                            path=str(source))
        return f"{SYNTH_FORMAT}:{label_field}", [Row(w, label or "", path=p) for w, p, label in synth_rows(source, label_field)], []
    if label_field:
        raise DataError(f"--label-field {label_field!r} applies to a `factorline synth` folder (labels.jsonl + synth.json); "
                        f"{source} is not one", path="--label-field")
    if source.is_dir():
        return "folder", _folder_rows(source), []
    if not source.is_file():
        raise DataError(f"no data set at {source}: expected a folder of label folders, a .csv, .jsonl or "
                        "Label Studio .json file", path=str(source))
    suffix = source.suffix.lower()
    if suffix == ".csv":
        return ("csv", *_csv_rows(source))
    if suffix == ".jsonl":
        return ("jsonl", *_jsonl_rows(source))
    if suffix == ".json":
        return ("label-studio", *_label_studio_rows(source))
    raise DataError(f"{source}: unknown data set format {suffix!r}; expected a folder, .csv, .jsonl or .json", path=str(source))


def _folder_rows(root: Path) -> list[Row]:
    rows = []
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(label_dir.rglob("*")):
            if path.name.startswith(".") or not path.is_file():
                continue
            where = str(path.relative_to(root))
            ext = path.suffix.lower()
            if ext in TEXT_EXTENSIONS:
                rows.append(Row(where, label_dir.name, text=path.read_text(encoding="utf-8", errors="replace").strip()))
            elif ext in MEDIA_EXTENSIONS:
                rows.append(Row(where, label_dir.name, path=path))
    return rows


def _record_row(record: object, where: str, base: Path) -> Row | BadRow:
    if not isinstance(record, dict):
        return BadRow(where, f"expected an object with path|text and label, found {type(record).__name__}")
    label = record.get("label")
    if not isinstance(label, str) or not label.strip():
        return BadRow(where, f"missing label (expected a non-empty string, found {label!r})")
    if isinstance(record.get("text"), str):
        return Row(where, label.strip(), text=record["text"])
    if isinstance(record.get("path"), str) and record["path"].strip():
        return Row(where, label.strip(), path=(base / record["path"].strip()))
    return BadRow(where, f"expected a 'path' or 'text' field, found keys {sorted(record)}")


def _csv_rows(source: Path) -> tuple[list[Row], list[BadRow]]:
    rows: list[Row] = []
    bad: list[BadRow] = []
    with source.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        if "label" not in header or not ({"path", "text"} & set(header)):
            raise DataError(f"{source}:1: expected a header with 'label' and 'path' or 'text', found {header}", path=str(source))
        for record in reader:
            got = _record_row({k: v for k, v in record.items() if v not in (None, "")}, f"{source.name}:{reader.line_num}", source.parent)
            (bad if isinstance(got, BadRow) else rows).append(got)  # type: ignore[arg-type]
    return rows, bad


def _jsonl_rows(source: Path) -> tuple[list[Row], list[BadRow]]:
    rows: list[Row] = []
    bad: list[BadRow] = []
    for where, record in json_lines(source, lambda where, exc: bad.append(BadRow(where, f"not JSON: {exc}"))):
        got = _record_row(record, where, source.parent)
        (bad if isinstance(got, BadRow) else rows).append(got)  # type: ignore[arg-type]
    return rows, bad


def json_array_lines(text: str) -> list[tuple[int, object]]:
    """The items of a top-level JSON array with the line each starts on."""
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    items = []
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return items
        obj, end = decoder.raw_decode(text, pos)
        items.append((text.count("\n", 0, pos) + 1, obj))
        pos = end


def _ls_label(task: dict) -> tuple[str | None, str]:
    """(label, problem) of one Label Studio task (full or JSON-MIN export)."""
    if isinstance(task.get("choice"), str):
        return task["choice"], ""
    annotations = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    if not annotations:
        return None, "no (non-cancelled) annotation"
    results = [r for r in annotations[-1].get("result") or [] if r.get("type") == "choices"]
    choices = [c for r in results for c in r.get("value", {}).get("choices", [])]
    if len(choices) != 1:
        return None, f"expected exactly one choice in the last annotation, found {choices}"
    return choices[0], ""


def _ls_path(value: str, base: Path) -> Path | None:
    if value.startswith(("http://", "https://", "s3://", "gs://")):
        return None
    if value.startswith("/data/local-files/"):
        rel = urllib.parse.parse_qs(urllib.parse.urlparse(value).query).get("d", [""])[0]
        root = Path(os.environ.get("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT") or base)
        return root / rel
    if value.startswith("/data/upload/"):
        beside = base / value[len("/data/"):]
        return beside if beside.exists() else base / Path(value).name
    return base / value


def _label_studio_rows(source: Path) -> tuple[list[Row], list[BadRow]]:
    rows: list[Row] = []
    bad: list[BadRow] = []
    try:
        tasks = json_array_lines(source.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataError(f"{source}: not a Label Studio JSON export (a JSON array of tasks): {exc}", path=str(source)) from exc
    for line, task in tasks:
        where = f"{source.name}:{line}"
        if not isinstance(task, dict):
            bad.append(BadRow(where, f"expected a task object, found {type(task).__name__}"))
            continue
        where += f" (task {task.get('id', '?')})"
        label, problem = _ls_label(task)
        data = task.get("data", task)
        value = next((data[k] for k in ("image", "video", "text", "audio") if isinstance(data.get(k), str)), None)
        path = None if label is None or value is None or value == data.get("text") else _ls_path(value, source.parent)
        if label is None or value is None:
            bad.append(BadRow(where, problem or "no image, video or text field in the task data"))
        elif value == data.get("text"):
            rows.append(Row(where, label, text=value))
        elif path is None:
            bad.append(BadRow(where, f"remote URL {value!r}: download it first (offline)"))
        else:
            rows.append(Row(where, label, path=path))
    return rows, bad


# --------------------------------------------------------------------------- checks


def check_row(row: Row, allowed: set[str] | None, limits: Limits) -> Example | BadRow:
    if allowed is not None and row.label not in allowed:
        return BadRow(row.where, f"unknown label {row.label!r} (expected one of: {', '.join(sorted(allowed))})")
    if row.text is not None:
        if not row.text.strip():
            return BadRow(row.where, "empty text")
        return Example(row.where, row.label, "text", text_digest(row.text), text=row.text)
    path = row.path
    if path is None or not path.is_file():
        return BadRow(row.where, f"missing file {path}")
    try:
        info = probe(path, limits)
    except MediaError as exc:
        return BadRow(row.where, f"unreadable media: {exc.message}")
    return Example(row.where, row.label, info.kind, info.id, path=str(path), info=info)


def report(bad: list[BadRow], source: str, hint: str = "use --skip-bad to leave them out") -> str:
    lines = [f"{len(bad)} bad row(s) in {source} ({hint}):"] + [f"  {b}" for b in bad[:MAX_LISTED]]
    if len(bad) > MAX_LISTED:
        lines.append(f"  ... and {len(bad) - MAX_LISTED} more")
    return "\n".join(lines)


def load_dataset(source: str | Path, *, labels: list[str] | None = None, skip_bad: bool = False,
                 limits: Limits | None = None, label_field: str | None = None) -> Dataset:
    """Read and check a data set; raise one DataError listing every bad row unless ``skip_bad``.
    ``label_field``: which truth field labels a `factorline synth` folder."""
    source = Path(source)
    fmt, rows, bad = read_rows(source, label_field)
    allowed = set(labels) if labels else None
    examples: list[Example] = []
    seen: dict[str, Example] = {}
    duplicates = 0
    for row in rows:
        got = check_row(row, allowed, limits or Limits())
        if isinstance(got, BadRow):
            bad.append(got)
        elif got.digest in seen and seen[got.digest].label != got.label:
            first = seen[got.digest]
            bad.append(BadRow(got.where, f"same content as {first.where} but labelled {got.label!r} there {first.label!r}"))
        elif got.digest in seen:
            duplicates += 1
        else:
            seen[got.digest] = got
            examples.append(got)
    if bad and not skip_bad:
        raise DataError(report(bad, str(source)), path=str(source))
    dataset = Dataset(str(source.resolve()), fmt, examples, bad, duplicates)
    check_balance(dataset)
    return dataset


def check_balance(dataset: Dataset, minimum: int = 2) -> None:
    """A classifier needs two classes and a held-out split needs two examples per class."""
    kinds = {"text" if e.kind == "text" else "media" for e in dataset.examples}
    if len(kinds) > 1:
        raise DataError(f"{dataset.source}: mixes texts and media; expected one or the other", path=dataset.source)
    counts = {c: sum(e.label == c for e in dataset.examples) for c in dataset.classes}
    if len(counts) < 2:
        raise DataError(f"{dataset.source}: expected at least 2 classes, found {counts or 'no usable rows'}", path=dataset.source)
    small = {c: n for c, n in counts.items() if n < minimum}
    if small:
        raise DataError(f"{dataset.source}: every class needs at least {minimum} examples; too few: {small}", path=dataset.source)
