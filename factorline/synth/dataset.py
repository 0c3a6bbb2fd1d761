"""A `factorline synth` OUT folder as a labelled data set for `factorline train` and `compress --data`.

A folder holding ``labels.jsonl`` and ``synth.json`` is read as one row per sample: its media
path and, as its label, the value of one truth field named by a dotted path
(``subtitles.has_subtitles``, ``black_border.fill``, ``logo.has_logo``, ``kind``...): booleans
become ``true``/``false``, numbers and strings their text. A field that is a list or an object
is refused with the scalar fields listed.
"""

from __future__ import annotations

import json
from pathlib import Path

from factorline.contract.errors import DataError

LABELS, STAMP = "labels.jsonl", "synth.json"
SYNTH_FORMAT = "synth"  # data set format name; the label field follows a colon: "synth:logo.has_logo"


def read_stamp(out: str | Path) -> dict:
    """synth.json of a finished set (DataError when there is none or it is unfinished)."""
    path = Path(out) / STAMP
    try:
        stamp = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"no readable {STAMP} in {out}; expected a folder written by `factorline synth`", path=str(out)) from exc
    if stamp.get("status") != "complete":
        raise DataError(f"{out} is an unfinished synthetic set; run the same `factorline synth` command again to finish it",
                        path=str(out))
    return stamp


def is_synth_dir(path: str | Path) -> bool:
    path = Path(path)
    return path.is_dir() and (path / LABELS).is_file() and (path / STAMP).is_file()


def label_field_of(fmt: str) -> str | None:
    """The label field recorded in a data set format ``synth:<field>`` (None for other formats)."""
    name, _, field = fmt.partition(":")
    return field or None if name == SYNTH_FORMAT else None


def _lookup(record: dict, field: str) -> object:
    value: object = record["truth"] if field.split(".")[0] in record["truth"] else record
    for part in field.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(part)
        value = value[part]
    return value


def scalar_fields(record: dict) -> list[str]:
    """Dotted paths of every scalar field of a record's truth (plus ``kind``): the usable labels."""
    found = ["kind"]

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else key, inner)
        elif isinstance(value, (bool, int, float, str)):
            found.append(prefix)

    walk("", record["truth"])
    return found


def label_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def synth_rows(root: str | Path, label_field: str | None) -> list[tuple[str, Path, str | None]]:
    """(where, media path, label) of every sample; label None when ``label_field`` is None."""
    root = Path(root)
    read_stamp(root)  # refuses an unfinished set
    rows = []
    lines = (root / LABELS).read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{LABELS}:{number}"
        try:
            record = json.loads(line)
            path = root / record["path"]
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{root / LABELS}:{number}: not a synth label record ({exc}); rebuild it with "
                            "`factorline synth`", path=str(root)) from exc
        label = None
        if label_field:
            try:
                value = _lookup(record, label_field)
            except KeyError:
                value = None
            if value is None or isinstance(value, (dict, list)):
                found = "absent" if value is None else type(value).__name__
                raise DataError(f"{where}: label field {label_field!r} is {found} in this record; expected a scalar "
                                f"truth field such as {', '.join(scalar_fields(record)[:12])}", path="--label-field")
            label = label_text(value)
        rows.append((where, path, label))
    return rows
