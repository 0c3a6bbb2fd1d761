"""Verdicts as labels: ``factorline evaluate RUN --labels RUN/reviews.jsonl`` and
``factorline train RUN/reviews.jsonl --label-field TABLE|step.field``.

The latest verdict per item and table (or factor) is the label; ``value`` is the right answer
whether the reviewer confirmed (the run's own value) or overrode it. A reviews file is told
apart from other JSONL label files by its lines: each has ``verdict`` and ``review``.
"""

from __future__ import annotations

from pathlib import Path

from ..contract.errors import ConfigError, DataError
from ..engine.compiler import Plan
from ..report.labels import Label, LabelSet, convert
from .store import COMPARED, read_reviews


def is_reviews_file(path: Path) -> bool:
    """True when the first non-blank line of ``path`` is a verdict line."""
    path = Path(path)
    if path.suffix.lower() != ".jsonl" or not path.is_file():
        return False
    with path.open("rb") as fh:
        for raw in fh:
            if raw.strip():
                return b'"verdict"' in raw and b'"review"' in raw
    return False


def reviews_label_set(path: Path, plan: Plan) -> LabelSet:
    """One Label per reviewed item (matched by its id, then its path), as ``evaluate`` reads them."""
    path = Path(path)
    found = read_reviews(path)
    by_item: dict[object, Label] = {}
    ignored: list[str] = []
    if found.damaged:
        ignored.append(f"{found.damaged} line(s) of {path.name} are not verdicts (a torn last line?)")
    for number, line in enumerate(found.lines, start=1):
        key = line.get("item") or line.get("path") or line.get("index")
        label = by_item.setdefault(key, Label(f"{path.name}:{line.get('review', number)}", line.get("item"), line.get("path")))
        if line.get("table") is not None:
            if line["table"] not in plan.decisions.names:
                ignored.append(f"{line['table']}: not a decision table of this pipeline ({line.get('review')})")
                continue
            label.outcomes[line["table"]] = str(line.get("value"))
        else:
            factor = str(line.get("factor"))
            step, _, name = factor.partition(".")
            dtype = plan.field_dtypes.get(step, {}).get(name)
            if dtype not in COMPARED or line.get("value") is None:
                ignored.append(f"{factor}: not a compared factor of this pipeline ({line.get('review')})")
                continue
            label.factors[factor] = convert(dtype, line["value"], f"{path.name} {line.get('review')}", path)
    return LabelSet(path, list(by_item.values()), ignored)


def training_rows(path: Path, label_field: str | None):
    """(where, media path, label) of each reviewed item for ``factorline train``: the label is the
    latest verdict's value for ``label_field`` (a decision table or a factor step.field)."""
    from ..report.run import media_path

    path = Path(path)
    if not label_field:
        raise DataError(f"{path} holds review verdicts: say which table or factor is the label with --label-field "
                        "(e.g. moderation, logo.has_logo)", path=str(path))
    found = read_reviews(path)
    latest: dict[object, dict] = {}
    for line in found.lines:
        if label_field in (line.get("table"), line.get("factor")):
            latest[line.get("index", line.get("item"))] = line
    if not latest:
        targets = sorted({str(line.get("table") or line.get("factor")) for line in found.lines})
        raise DataError(f"no verdict in {path.name} is about {label_field!r}; verdicts name: {', '.join(targets) or '(none)'}",
                        path="--label-field")
    rows = []
    for line in latest.values():
        media = media_path({"item": {"path": line.get("path")}}, path.parent)
        where = f"{path.name}:{line.get('review')}"
        rows.append((where, media if media is not None else Path(str(line.get("path"))), _label_text(line.get("value"))))
    return rows


def _label_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        raise ConfigError("a verdict without a value cannot be a label")
    return str(value)
