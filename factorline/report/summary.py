"""The summary part of a report: counts, outcome and rule bars, factor distributions, failed
items, and the filterable index, all computed from the run's columns (columns.py)."""

from __future__ import annotations

from pathlib import PurePath

import polars as pl

from .columns import RunColumns
from .html import esc, num, outcome_badge, short, table
from .item import filter_attrs, item_name
from .run import RunData
from .svg import bars, histogram

PER_OUTCOME = 200  # index rows per outcome of each table: the page stays bounded whatever the run's size
MAX_FAILED_ROWS = 1000
_CATEGORIES = 8


def header(run: RunData, cols: RunColumns, title: str) -> str:
    meta = run.meta
    partial = int(cols.frame["partial"].sum())
    cards = [("items", cols.total), ("succeeded", cols.total - cols.failed), ("failed", cols.failed)]
    if partial:
        cards.append(("ended early", partial))
    if meta.get("seconds") is not None:
        cards.append(("run time", f"{num(meta['seconds'], 3)} s"))
    cards_html = "".join(f'<div class="card"><b>{esc(v)}</b>{esc(k)}</div>' for k, v in cards)
    about = (f'<p class="muted">pipeline <b>{esc(meta.get("pipeline"))}</b> · run folder <span class="mono">'
             f'{esc(run.run_dir)}</span> · fingerprint <span class="mono">{esc(str(meta.get("fingerprint") or "")[:23])}…</span>'
             f' · factorline {esc(meta.get("factorline"))}</p>')
    plan_note = f'<p class="note">Pipeline not compiled ({short(run.plan_problem, 300)}); factor roles read off the values.</p>' \
        if run.plan is None else ""
    early = ('<p class="note">Items that <b>ended early</b> decoded only part of their declared length (truncated '
             'or damaged media): their factors cover what was decoded; rules can read <code>item.partial</code>.</p>') if partial else ""
    return f"<h1>{esc(title)}</h1>{about}{plan_note}<div class=\"cards\">{cards_html}</div>{early}"


def _counts(series: pl.Series) -> list[tuple[str, int]]:
    counted = series.cast(pl.String).fill_null("None").value_counts(sort=True)
    return [(str(v), int(n)) for v, n in counted.iter_rows()]


def decision_charts(cols: RunColumns) -> str:
    figures, counts = [], []
    for name in cols.tables:
        outcomes = _counts(cols.frame[f"{name}.outcome"])
        rules = _counts(cols.frame[f"{name}.fired"].explode())
        figures.append(_figure(f"{name}: outcomes", bars(outcomes, label=f"{name} outcomes")))
        figures.append(_figure(f"{name}: rules that decided or matched", bars(rules, label=f"{name} rules")))
        counts.append(f"<h3>{esc(name)}</h3>" + table(["outcome", "items"], [[outcome_badge(o), f'<span class="num">{c}</span>']
                                                                            for o, c in outcomes]))
    return f'<h2>Decisions</h2><div class="charts">{"".join(figures)}</div>{"".join(counts)}'


def factor_charts(cols: RunColumns) -> str:
    """A histogram per numeric factor, value counts per true/false or short text factor."""
    figures = []
    for key, (kind, values) in cols.factors.items():
        if kind == "number":
            missing = values.null_count() + (int(values.is_nan().sum()) if values.dtype.is_float() else 0)
            figures.append(_figure(key + (f" ({missing} missing)" if missing else ""), histogram(values.to_list(), label=key)))
        else:
            shown = values.cast(pl.String).str.to_lowercase() if values.dtype == pl.Boolean else values.str.slice(0, 40)
            counts = _counts(shown.fill_null("(missing)"))
            figures.append(_figure(key, bars(counts[:_CATEGORIES], label=key, width=260)))
    if not figures:
        return ""
    return f'<h2>Factor distributions</h2><p class="muted">over the {cols.total - cols.failed} items ' \
           f'that did not fail</p><div class="charts">{"".join(figures)}</div>'


def _figure(caption: str, svg: str) -> str:
    return f'<figure class="chart"><figcaption>{esc(caption)}</figcaption>{svg}</figure>'


def failed_items(cols: RunColumns, detailed: set[int]) -> str:
    failed = cols.frame.filter(pl.col("failed"))
    if not failed.height:
        return "<h2>Failed items</h2><p>None: every item was analysed.</p>"
    rows = [[_link(i, detailed), esc(PurePath(str(path)).name), f"<code>{esc(kind)}</code>", short(message, 400)]
            for i, path, kind, message in failed.head(MAX_FAILED_ROWS).select("index", "path", "error_type", "error_message").iter_rows()]
    more = f'<p class="note">The first {MAX_FAILED_ROWS} are listed; {_query_hint("SELECT path, error_type, error_message FROM items WHERE error_type IS NOT NULL")}</p>' \
        if failed.height > MAX_FAILED_ROWS else ""
    return f"<h2>Failed items ({failed.height})</h2>{more}" + table(["#", "item", "error", "message"], rows)


def _query_hint(sql: str) -> str:
    return f"every one: <code>factorline query RUN &quot;{esc(sql)}&quot;</code>"


def filters(cols: RunColumns) -> str:
    """Selects per table for outcome and rule, and a text box for the path."""
    selects = []
    for name in cols.tables:
        for what, column in (("outcome", f"{name}.outcomes"), ("rule", f"{name}.fired")):
            values = sorted(str(v) for v in cols.frame[column].explode().drop_nulls().unique().to_list())
            options = "".join(f'<option value="{esc(f"{what}:{name}={v}")}">{esc(v)}</option>' for v in values)
            selects.append(f'<label>{esc(name)} {what} <select data-filter="1"><option value="">all</option>{options}</select></label>')
    failed = '<label>status <select data-filter="1"><option value="">all</option><option value="failed">failed</option></select></label>'
    text = '<label>path <input id="q" type="search" placeholder="part of the path"></label>'
    return f'<div class="filters">{"".join(selects)}{failed}{text} <span id="shown" class="muted"></span></div>'


def index(records: dict[int, dict], detailed: set[int], cols: RunColumns, per_outcome: int) -> str:
    names = cols.tables
    head = "".join(f"<th>{esc(n)}</th><th>rule</th>" for n in names)
    rows = []
    for i in sorted(records):
        r = records[i]
        cells = "".join(f"<td>{outcome_badge(d.get('outcome'))}</td><td><code>{esc(d.get('rule'))}</code></td>"
                        for d in ((r.get("decisions") or {}).get(n) or {} for n in names))
        error = f"<code>{esc(r['error'].get('type'))}</code>" if r.get("error") else \
            '<span class="muted">ended early</span>' if (r.get("item") or {}).get("partial") else ""
        rows.append(f"<tr {filter_attrs(r)}><td>{_link(i, detailed)}</td><td>{esc(item_name(r))}</td>{cells}<td>{error}</td></tr>")
    more = (f'<p class="note">The index lists {len(records)} of {cols.total} items: the first {per_outcome} of each outcome '
            f"of each table and the first {per_outcome} failed ones, in run order; "
            f'{_query_hint("SELECT path, outcome, rule FROM decisions WHERE outcome = ...")}.</p>') if len(records) < cols.total else ""
    return (f"<h2>Items</h2>{more}<table><thead><tr><th>#</th><th>item</th>{head}<th>status</th></tr></thead>"
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
