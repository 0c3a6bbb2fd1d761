"""The run summary a person reads after ``factorline run``: a few lines whatever the run's size.

Counts per outcome, what was not analysed and why (grouped by reason: "3 images: the pipeline
reads videos"), failures grouped by error type with one example each, the items whose media
ended early, the slowest steps, the inputs passed over, and where the files are. Per-item
detail is the report's (and ``--verbose``'s) job.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .inputs import Skip

EXAMPLES = 3  # file names shown per group; the report and results.jsonl hold them all


@dataclass
class Group:
    """Items that share one reason: how many, and the first few names with a message."""

    reason: str
    names: list[str] = field(default_factory=list)
    message: str = ""

    def add(self, path: str, message: str = "") -> None:
        self.names.append(Path(path).name)
        self.message = self.message or message


@dataclass
class Digest:
    """What a finished run amounts to, built from its records (see :func:`digest`)."""

    items: int = 0
    outcomes: dict[str, Counter] = field(default_factory=dict)  # table -> outcome -> items
    wrong_kind: dict[str, Group] = field(default_factory=dict)  # item kind -> items the pipeline does not read
    failures: dict[str, Group] = field(default_factory=dict)  # error type -> items
    partial: Group = field(default_factory=lambda: Group("ended early"))
    step_ms: dict[str, float] = field(default_factory=dict)  # step -> total ms, slowest first


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def digest(records: list[dict], pipeline_input: str) -> Digest:
    """Fold the records of a run into counts and groups."""
    out = Digest(items=len(records))
    outcomes: dict[str, Counter] = defaultdict(Counter)
    step_ms: Counter = Counter()
    for record in records:
        item, error = record.get("item") or {}, record.get("error")
        for table, decision in (record.get("decisions") or {}).items():
            outcomes[table][str(decision.get("outcome"))] += 1
        for step, ms in (record.get("timings_ms") or {}).items():
            if step != "total" and isinstance(ms, (int, float)):
                step_ms[step] += ms
        if item.get("partial"):
            out.partial.add(item["path"], item.get("partial_reason") or "")
        if not error:
            continue
        kind = item.get("kind")
        if error.get("path") == "input" and kind and kind != pipeline_input:
            group = out.wrong_kind.setdefault(kind, Group(f"the pipeline reads {pipeline_input}s (input: {pipeline_input})"))
            group.add(item["path"])
        else:
            group = out.failures.setdefault(str(error.get("type")), Group(str(error.get("type"))))
            group.add(item.get("path") or "?", str(error.get("message") or ""))
    out.outcomes = dict(outcomes)
    out.step_ms = dict(step_ms.most_common())
    return out


def _names(group: Group) -> str:
    shown = ", ".join(group.names[:EXAMPLES])
    return shown + (f" and {len(group.names) - EXAMPLES} more" if len(group.names) > EXAMPLES else "")


def summary_lines(found: Digest, skipped: list[Skip], *, files: list[str], slowest: int = 3) -> list[str]:
    """Rich markup lines; every piece of user text (paths, messages, outcomes) is escaped."""
    lines = []
    for table, counts in found.outcomes.items():
        shown = ", ".join(f"{escape(outcome)} [bold]{n}[/]" for outcome, n in counts.most_common())
        lines.append(f"[cyan]{escape(table)}[/]: {shown}")
    for kind, group in found.wrong_kind.items():
        lines.append(f"[yellow]not analysed[/]: {_plural(len(group.names), kind)} — {escape(group.reason)} "
                     f"({escape(_names(group))}); they decide on_error")
    for kind, group in found.failures.items():
        lines.append(f"[red]failed[/]: {len(group.names)} × {escape(kind)} ({escape(_names(group))}): "
                     f"{escape(group.message[:160])}")
    if found.partial.names:
        lines.append(f"[yellow]ended early[/]: {_plural(len(found.partial.names), 'item')} ({escape(_names(found.partial))}) "
                     f"— factors cover the part that decoded; item.partial is true: {escape(found.partial.message[:120])}")
    if skipped:
        kinds = Counter(s.kind for s in skipped)
        listed = ", ".join(f"{n} × {escape(kind)}" for kind, n in kinds.most_common())
        lines.append(f"[yellow]passed over[/]: {_plural(len(skipped), 'input')} that are not media files ({listed}); "
                     "--verbose lists them")
    if found.step_ms:
        per_item = max(found.items, 1)
        slow = ", ".join(f"{escape(step)} {ms / 1000:.1f} s ({ms / per_item:.0f} ms/item)"
                         for step, ms in list(found.step_ms.items())[:slowest])
        lines.append(f"slowest steps: {slow}")
    lines.append("files: " + escape(", ".join(files)))
    return lines


def _short(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, str):
        return value if len(value) <= 24 else value[:21] + "..."
    return str(value)


def _factor_cell(fields: dict | None) -> str:
    if not fields:
        return "-"
    # Zero counts and empty strings say little in a summary cell; floats, flags and labels say more.
    scalars = [(k, v) for k, v in fields.items() if isinstance(v, (bool, float)) or (isinstance(v, (int, str)) and v)]
    return " ".join(f"{k}={_short(v)}" for k, v in scalars[:3])


def results_table(records: list[dict], title: str) -> Table:
    """Items as rows: one line per factor step, then each table's outcome and deciding rule."""
    table = Table(title=title, show_lines=True, expand=False)
    table.add_column("item", overflow="fold", max_width=24)
    table.add_column("factors", overflow="fold")
    table.add_column("decisions", overflow="fold")
    for r in records:  # every value here can be user text: escaped, never read as markup
        item = escape(Path(r["item"]["path"]).name)
        if r["error"]:
            item += f"\n[red]{escape(r['error']['type'] + ': ' + r['error']['message'][:80])}[/]"
        factors = "\n".join(f"[cyan]{escape(step)}[/] {escape(_factor_cell(fields))}" for step, fields in r["factors"].items())
        decisions = "\n".join(
            f"{escape(name)}: [bold]{escape(', '.join(map(str, d.get('outcomes') or [d.get('outcome')])))}[/] ({escape(str(d.get('rule')))})"
            for name, d in r["decisions"].items()
        )
        table.add_row(item, factors or "-", decisions)
    return table


def print_skips(console: Console, skipped: list[Skip]) -> None:
    """Every input passed over, with its reason (``--verbose``)."""
    for skip in skipped:
        console.print(f"  [yellow]passed over[/] {escape(skip.path)}: {escape(skip.reason)}", highlight=False)
