"""HTML building blocks: escaping, number formatting, the page shell (CSS, filter script).

Every piece of text that reaches a page goes through ``esc`` or ``attr``: factor text comes
from OCR of untrusted videos, paths and error messages from untrusted files. Helpers return
HTML strings; callers join them. Pages carry a Content-Security-Policy that forbids every
network fetch, so even a missed escape could not load anything from outside.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Iterable
from typing import Any

MAX_TEXT = 300  # characters of a text value shown inline

# No network at all: images only from data: URIs, inline style and script only.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:16px 20px 60px}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:18px;margin:28px 0 8px}h3{font-size:15px;margin:14px 0 6px}
.muted{color:#68717c}.note{background:#fff7e0;border:1px solid #f0d890;padding:6px 10px;border-radius:6px;margin:8px 0}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:10px 14px}
.card b{font-size:20px;display:block}
.charts{display:flex;flex-wrap:wrap;gap:12px}.chart{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:6px}
.chart figcaption{font-size:12px;color:#444;margin:0 0 2px}
table{border-collapse:collapse;background:#fff;font-size:13px}th,td{border:1px solid #dde1e6;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#eef1f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.item{background:#fff;border:1px solid #dde1e6;border-radius:10px;padding:10px 14px;margin:14px 0}
.item h3{margin:0 0 4px;word-break:break-all}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:12px;background:#e4e8ec}
.o-accept,.o-ok,.o-pass{background:#d7f0dc;color:#145a24}.o-review{background:#fff0c2;color:#6b4a00}
.o-reject,.o-block,.o-error,.o-fail{background:#fbd9d9;color:#7a1212}
.thumbs{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}.thumbs figure{margin:0;width:min-content}
.thumbs img{display:block;border-radius:4px;border:1px solid #ccd}.thumbs figcaption{font-size:11px;color:#444;word-break:break-word}
td.v{white-space:pre-wrap;max-width:760px}.err{color:#8a1111}.read{background:#fff6cc}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
.filters{position:sticky;top:0;background:#f6f7f9;padding:8px 0;z-index:2;border-bottom:1px solid #dde1e6}
.filters label{margin-right:12px}
.cm td{min-width:44px;text-align:right}
"""

# Filtering by outcome and rule: every filterable element carries data-tags (a JSON list of
# "outcome:<table>=<value>" / "rule:<table>=<value>" / "failed") and data-name (its path).
FILTER_JS = """
(function(){
  var sels=[].slice.call(document.querySelectorAll('select[data-filter]'));
  var q=document.getElementById('q');
  var els=[].slice.call(document.querySelectorAll('[data-tags]'));
  els.forEach(function(el){el._tags=JSON.parse(el.getAttribute('data-tags'));el._name=(el.getAttribute('data-name')||'').toLowerCase();});
  function apply(){
    var want=sels.map(function(s){return s.value;}).filter(Boolean);
    var text=q?q.value.toLowerCase():'';var rows=0,items=0;
    els.forEach(function(el){
      var ok=want.every(function(w){return el._tags.indexOf(w)>=0;})&&(!text||el._name.indexOf(text)>=0);
      el.hidden=!ok;if(ok){if(el.tagName==='TR')rows++;else items++;}
    });
    var out=document.getElementById('shown');if(out)out.textContent=rows+' listed, '+items+' detailed';
  }
  sels.forEach(function(s){s.addEventListener('change',apply);});if(q)q.addEventListener('input',apply);apply();
})();
"""


def esc(value: Any) -> str:
    """Any value as HTML text (quotes escaped too, so it is also safe inside attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def attr(value: Any) -> str:
    """A value for a double-quoted attribute."""
    return esc(value)


def short(text: Any, limit: int = MAX_TEXT) -> str:
    """Escaped text cut at ``limit`` characters (the full text in a tooltip when cut)."""
    raw = "" if text is None else str(text)
    if len(raw) <= limit:
        return esc(raw)
    return f'<span title="{attr(raw[:2000])}">{esc(raw[: limit - 1])}…</span>'


def num(x: Any, digits: int = 4) -> str:
    """A number compactly (``0.25``, ``12``, ``1.5e-05``); anything else as text."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return "—" if x is None else str(x)
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.{digits}g}"


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def tags_attr(tags: Iterable[str]) -> str:
    return attr(json.dumps(list(tags), ensure_ascii=True))


def data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def outcome_badge(outcome: Any) -> str:
    css = "".join(c for c in str(outcome).lower() if c.isalnum() or c in "-_")[:20]
    return f'<span class="badge o-{css}">{esc(outcome)}</span>'


def table(header: list[str], rows: Iterable[list[str]], css: str = "") -> str:
    """An HTML table; ``header`` is plain text (escaped here), cells are HTML already."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    klass = f' class="{attr(css)}"' if css else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, body: str, *, script: str = "") -> str:
    """A whole self-contained document."""
    js = f"<script>{script}</script>" if script else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{attr(CSP)}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
        f"<body><main>{body}</main>{js}</body></html>\n"
    )
