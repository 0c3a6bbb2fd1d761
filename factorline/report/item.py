"""One item's section: header, decisions with their explanation, thumbnails, timeline, factors."""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import Any

from .html import esc, num, outcome_badge, short, table, tags_attr
from .thumbs import Pictures

_LIST_SHOWN = 8


def item_name(record: dict) -> str:
    item = record.get("item") or {}
    return PurePath(str(item.get("path") or item.get("id") or "?")).name


def item_tags(record: dict) -> list[str]:
    """Filter tags (see html.FILTER_JS): outcome and rule of every table, and ``failed``."""
    tags = []
    for name, d in (record.get("decisions") or {}).items():
        # collect tables list every outcome and every rule that matched: each one filters
        outcomes = dict.fromkeys([d.get("outcome"), *(d.get("outcomes") or [])])
        tags += [f"outcome:{name}={o}" for o in outcomes] + [f"rule:{name}={r}" for r in fired_rules(d)]
    return tags + (["failed"] if record.get("error") else [])


def fired_rules(decision: dict) -> list[str]:
    """The deciding rule, then every other rule that matched (collect policy)."""
    return list(dict.fromkeys([str(decision.get("rule")), *(str(h.get("rule")) for h in decision.get("hits") or [])]))


def filter_attrs(record: dict) -> str:
    path = (record.get("item") or {}).get("path") or ""
    return f'data-tags="{tags_attr(item_tags(record))}" data-name="{esc(path)}"'


def item_section(index: int, record: dict, pictures: Pictures | None, timeline: str) -> str:
    item = record.get("item") or {}
    badges = " ".join(outcome_badge(d.get("outcome")) for d in (record.get("decisions") or {}).values())
    parts = [
        f'<h3>#{index + 1} {esc(item_name(record))} {badges}</h3>',
        f'<div class="muted mono">{esc(item.get("path"))}</div>',
        f'<div class="muted">{esc(_media_line(item))}</div>',
        _error(record.get("error")),
        _decisions(record.get("decisions") or {}),
        _pictures(pictures),
        f"<h4>Timeline</h4>{timeline}" if timeline else "",
        _factors(record),
    ]
    return f'<section class="item" id="item-{index}" {filter_attrs(record)}>{"".join(parts)}</section>'


def _media_line(item: dict) -> str:
    bits = [str(item.get("kind") or "?")]
    if item.get("width"):
        bits.append(f"{item.get('width')}x{item.get('height')}")
    if item.get("duration_s") is not None:
        bits.append(f"{num(item.get('duration_s'), 3)} s")
    if item.get("fps"):
        bits.append(f"{num(item.get('fps'), 4)} fps")
    if item.get("id"):
        bits.append(str(item["id"])[:19] + "…")
    return " · ".join(bits)


def _error(error: dict | None) -> str:
    if not error:
        return ""
    where = f" <span class=\"mono\">({esc(error.get('path'))})</span>" if error.get("path") else ""
    return f'<p class="err"><b>Failed: {esc(error.get("type"))}</b> — {short(error.get("message"), 600)}{where}</p>'


def _decisions(decisions: dict) -> str:
    out = []
    for name, d in decisions.items():
        head = (f'<p><b>{esc(name)}</b>: {outcome_badge(d.get("outcome"))} by rule <code>{esc(d.get("rule"))}</code>'
                + (f" — {esc(d.get('reason'))}" if d.get("reason") else "") + "</p>")
        lines = [head, f'<p class="mono">{short(d.get("explanation"), 600)}</p>']
        if d.get("outcomes"):
            lines.append(f"<p>all outcomes: {', '.join(esc(o) for o in d['outcomes'])}</p>")
        if d.get("missing"):
            lines.append(f"<p>missing values: {', '.join(esc(m) for m in d['missing'])}</p>")
        hits = d.get("hits") or []
        if hits:
            rows = [[f"<code>{esc(h.get('rule'))}</code>",
                     "<br>".join(f"{esc(k)} = {esc(_value_text(v))}" for k, v in (h.get("values") or {}).items()),
                     esc(", ".join(num(e.get("t")) + " s" for e in h.get("evidence") or [] if isinstance(e, dict) and "t" in e))]
                    for h in hits]
            lines.append(table(["rule hit", "values read", "evidence at"], rows))
        out.append("".join(lines))
    return "".join(out)


def _pictures(pictures: Pictures | None) -> str:
    if pictures is None:
        return ""
    note = f'<p class="note">{esc(pictures.note)}</p>' if pictures.note else ""
    figures = []
    for k, shot in enumerate(pictures.shots):
        img = f'<img src="{esc(shot.uri)}" alt="frame at {esc(num(shot.t))} s">' if shot.uri else ""
        caption = f"<b>{k + 1}</b> · {esc(num(shot.t))} s<br>" + "<br>".join(esc(n) for n in shot.notes)
        figures.append(f"<figure>{img}<figcaption>{caption}</figcaption></figure>")
    return note + (f'<div class="thumbs">{"".join(figures)}</div>' if figures else "")


def _factors(record: dict) -> str:
    read = {k for d in (record.get("decisions") or {}).values() for h in d.get("hits") or [] for k in h.get("values") or {}}
    rows = []
    for step, fields in (record.get("factors") or {}).items():
        for name, value in (fields or {}).items() if isinstance(fields, dict) else ():
            key = f"{step}.{name}"
            mark = ' class="read"' if key in read else ""
            rows.append(f'<tr{mark}><td><a href="#card-{esc(step)}" title="factor card"><code>{esc(key)}</code></a></td>'
                        f'<td class="v">{value_html(name, value)}</td></tr>')
    if not rows:
        return ""
    return f"<h4>Factors</h4><table><thead><tr><th>factor</th><th>value</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"


def value_html(name: str, value: Any) -> str:
    """A factor value in a table cell (escaped, abbreviated)."""
    if name == "evidence" and isinstance(value, list):
        return esc(f"{len(value)} entr{'y' if len(value) == 1 else 'ies'}")
    return short(_value_text(value), 400)


def _value_text(value: Any) -> str:
    if value is None:
        return "(missing)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return num(value)
    if isinstance(value, list):
        return _list_text(value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)[:300]
    return str(value)


def _list_text(value: list) -> str:
    if not value:
        return "[]"
    if all(isinstance(v, dict) for v in value):
        spans = [f"{num(v.get('start_s'))}–{num(v.get('end_s'))} s" + (f" “{v['text']}”" if v.get("text") else "")
                 for v in value[:_LIST_SHOWN] if "start_s" in v]
        more = f" (+{len(value) - _LIST_SHOWN} more)" if len(value) > _LIST_SHOWN else ""
        return f"{len(value)}: " + "; ".join(spans) + more if spans else f"{len(value)} records"
    shown = ", ".join(_value_text(v) for v in value[:_LIST_SHOWN])
    return f"[{shown}{', …' if len(value) > _LIST_SHOWN else ''}] ({len(value)})"
