"""The summary part of a report: counts, outcome and rule bars, factor distributions, failed
items, and the filterable index of all items."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from .html import esc, num, outcome_badge, short, table
from .item import filter_attrs, fired_rules, item_name
from .run import RunData
from .svg import bars, histogram

MAX_INDEX_ROWS = 5000  # index rows are cheap text, but a browser still slows past this
_CATEGORIES = 8


def header(run: RunData, title: str) -> str:
    meta, records = run.meta, run.records
    failed = sum(1 for r in records if r.get("error"))
    cards = [("items", len(records)), ("succeeded", len(records) - failed), ("failed", failed)]
    if meta.get("seconds") is not None:
        cards.append(("run time", f"{num(meta['seconds'], 3)} s"))
    cards_html = "".join(f'<div class="card"><b>{esc(v)}</b>{esc(k)}</div>' for k, v in cards)
    about = (f'<p class="muted">pipeline <b>{esc(meta.get("pipeline"))}</b> · run folder <span class="mono">'
             f'{esc(run.run_dir)}</span> · fingerprint <span class="mono">{esc(str(meta.get("fingerprint") or "")[:23])}…</span>'
             f' · factorline {esc(meta.get("factorline"))}</p>')
    plan_note = f'<p class="note">Pipeline not compiled ({short(run.plan_problem, 300)}); factor roles read off the values.</p>' \
        if run.plan is None else ""
    return f"<h1>{esc(title)}</h1>{about}{plan_note}<div class=\"cards\">{cards_html}</div>"


def decision_charts(records: list[dict]) -> str:
    tables: dict[str, tuple[Counter, Counter]] = {}
    for r in records:
        for name, d in (r.get("decisions") or {}).items():
            outcomes, rules = tables.setdefault(name, (Counter(), Counter()))
            outcomes[str(d.get("outcome"))] += 1
            rules.update(fired_rules(d))
    figures = []
    for name, (outcomes, rules) in tables.items():
        figures.append(_figure(f"{name}: outcomes", bars(outcomes.most_common(), label=f"{name} outcomes")))
        figures.append(_figure(f"{name}: rules that decided or matched", bars(rules.most_common(), label=f"{name} rules")))
    counts = "".join(
        f"<h3>{esc(name)}</h3>" + table(["outcome", "items"], [[outcome_badge(o), f'<span class="num">{c}</span>']
                                                              for o, c in outcomes.most_common()])
        for name, (outcomes, _) in tables.items())
    return f'<h2>Decisions</h2><div class="charts">{"".join(figures)}</div>{counts}'


def factor_charts(records: list[dict], dtypes: dict[str, dict[str, str]]) -> str:
    """A histogram per numeric factor, value counts per true/false or text factor."""
    columns = _columns(records, dtypes)
    figures = []
    for key, (kind, values) in columns.items():
        if kind == "number":
            missing = sum(v is None for v in values)
            figures.append(_figure(key + (f" ({missing} missing)" if missing else ""), histogram(values, label=key)))
        else:
            counts = Counter("(missing)" if v is None else _category(v) for v in values)
            figures.append(_figure(key, bars(counts.most_common(_CATEGORIES), label=key, width=260)))
    if not figures:
        return ""
    return f'<h2>Factor distributions</h2><p class="muted">over the {sum(1 for r in records if not r.get("error"))} items ' \
           f'that did not fail</p><div class="charts">{"".join(figures)}</div>'


def _columns(records: list[dict], dtypes: dict[str, dict[str, str]]) -> dict[str, tuple[str, list[Any]]]:
    """``step.field`` -> (number | category, values of the items that did not fail)."""
    ok = [r for r in records if not r.get("error")]
    kinds: dict[str, str] = {}
    for step, fields in dtypes.items():
        for name, dtype in fields.items():
            if dtype in {"int", "float"}:
                kinds[f"{step}.{name}"] = "number"
            elif dtype in {"bool", "str"} and name != "text":  # free text has no useful histogram
                kinds[f"{step}.{name}"] = "category"
    if not dtypes:  # no plan: read the kinds off the first values seen
        for r in ok:
            for step, fields in (r.get("factors") or {}).items():
                for name, v in (fields or {}).items() if isinstance(fields, dict) else ():
                    kind = "number" if isinstance(v, (int, float)) and not isinstance(v, bool) else \
                        "category" if isinstance(v, bool) or (isinstance(v, str) and name != "text") else None
                    if kind:
                        kinds.setdefault(f"{step}.{name}", kind)
    return {key: (kind, [_get(r, key) for r in ok]) for key, kind in kinds.items()}


def _get(record: dict, key: str) -> Any:
    step, _, name = key.partition(".")
    fields = (record.get("factors") or {}).get(step)
    value = fields.get(name) if isinstance(fields, dict) else None
    return None if isinstance(value, float) and math.isnan(value) else value  # NaN reads as missing


def _category(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)[:40]


def _figure(caption: str, svg: str) -> str:
    return f'<figure class="chart"><figcaption>{esc(caption)}</figcaption>{svg}</figure>'


def failed_items(records: list[dict], detailed: set[int]) -> str:
    rows = [[_link(i, detailed), esc(item_name(r)), f"<code>{esc(r['error'].get('type'))}</code>", short(r["error"].get("message"), 400)]
            for i, r in enumerate(records) if r.get("error")]
    if not rows:
        return "<h2>Failed items</h2><p>None: every item was analysed.</p>"
    return f"<h2>Failed items ({len(rows)})</h2>" + table(["#", "item", "error", "message"], rows)


def filters(records: list[dict]) -> str:
    """Selects per table for outcome and rule, and a text box for the path."""
    choices: dict[str, tuple[set, set]] = {}
    for r in records:
        for name, d in (r.get("decisions") or {}).items():
            outcomes, rules = choices.setdefault(name, (set(), set()))
            outcomes.update(str(o) for o in [d.get("outcome"), *(d.get("outcomes") or [])])
            rules.update(fired_rules(d))
    selects = []
    for name, (outcomes, rules) in choices.items():
        for what, values in (("outcome", outcomes), ("rule", rules)):
            options = "".join(f'<option value="{esc(f"{what}:{name}={v}")}">{esc(v)}</option>' for v in sorted(values))
            selects.append(f'<label>{esc(name)} {what} <select data-filter="1"><option value="">all</option>{options}</select></label>')
    failed = '<label>status <select data-filter="1"><option value="">all</option><option value="failed">failed</option></select></label>'
    text = '<label>path <input id="q" type="search" placeholder="part of the path"></label>'
    return f'<div class="filters">{"".join(selects)}{failed}{text} <span id="shown" class="muted"></span></div>'


def index(records: list[dict], detailed: set[int]) -> str:
    names = list(dict.fromkeys(n for r in records for n in (r.get("decisions") or {})))
    head = "".join(f"<th>{esc(n)}</th><th>rule</th>" for n in names)
    rows = []
    for i, r in enumerate(records[:MAX_INDEX_ROWS]):
        cells = "".join(f"<td>{outcome_badge(d.get('outcome'))}</td><td><code>{esc(d.get('rule'))}</code></td>"
                        for d in ((r.get("decisions") or {}).get(n) or {} for n in names))
        error = f"<code>{esc(r['error'].get('type'))}</code>" if r.get("error") else ""
        rows.append(f"<tr {filter_attrs(r)}><td>{_link(i, detailed)}</td><td>{esc(item_name(r))}</td>{cells}<td>{error}</td></tr>")
    more = f'<p class="note">The index lists the first {MAX_INDEX_ROWS} of {len(records)} items.</p>' \
        if len(records) > MAX_INDEX_ROWS else ""
    return (f"<h2>Items</h2>{more}<table><thead><tr><th>#</th><th>item</th>{head}<th>error</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _link(i: int, detailed: set[int]) -> str:
    return f'<a href="#item-{i}">{i + 1}</a>' if i in detailed else str(i + 1)


def factor_cards(run: RunData) -> str:
    """What each step's operator measured on real and synthetic media and its known limits (its
    factor card), so a reader weighs a factor by its record; item tables link here."""
    from ..cards import REGENERATE, load_card, summary_line

    if run.plan is None:
        return ""
    rows = []
    for step in run.plan.steps:
        spec = step.spec
        limits = "".join(f"<li>{esc(text)}</li>" for text in spec.limits)
        rows.append(
            f'<tr id="card-{esc(step.name)}"><td><code>{esc(step.name)}</code><br><span class="muted">{esc(spec.id)}</span></td>'
            f"<td>{esc(summary_line(load_card(spec.name), spec.id))}</td><td><ul>{limits}</ul></td></tr>"
        )
    return (
        "<h2>Factor cards</h2>"
        f'<p class="muted">Measured on real media no one here made and on the synthetic set; '
        f"<code>factorline operators --card NAME</code> prints a whole card, <code>{esc(REGENERATE)}</code> regenerates every number.</p>"
        f"<table><thead><tr><th>step</th><th>measured</th><th>known limits</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
