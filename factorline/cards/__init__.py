"""Factor cards: what each built-in operator measured on real and synthetic media, and its limits.

A card is the operator's counterpart of a model card. Its numbers are generated, never typed:
``make cards`` runs ``benchmarks/factor_accuracy.py`` (the synthetic set) and
``benchmarks/real_media.py`` (the real sets), then ``benchmarks/cards.py`` writes one
``<operator>.json`` beside this module and ``docs/cards.md``. The known limits are declared on
the operator itself (``@operator(..., limits=...)``), so a plugin's card works the same way.
Cards are read by ``factorline operators`` (a one-line summary, ``--card NAME`` for the whole
card), by the operators' JSON schema (the editor's palette) and by the run report.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

CARDS_DIR = Path(__file__).resolve().parent
REGENERATE = "make cards"


@cache
def load_card(name: str) -> dict | None:
    """The generated card of operator ``name`` (no version: a card follows the operator), or None."""
    path = CARDS_DIR / f"{name}.json"
    if not name.isidentifier() or not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _metric_text(metric: dict) -> str:
    """The compared value (or precision/recall) of factorline, then the references' same value."""
    ours = metric.get("ours") or {}
    numeric = [k for k, v in ours.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("tp", "fp", "fn", "clips")]
    key = metric.get("compare") or (numeric[0] if numeric else None)
    if "precision" in ours:
        text = f"P {ours['precision']:.2f} R {ours['recall']:.2f}"
    elif key in ours:
        text = f"{key} {ours[key]:.3g}"
    else:
        return ", ".join(f"{k} {v}" for k, v in ours.items())
    refs = [f"{name} {r[key]:.2f}" for name, r in (metric.get("references") or {}).items() if isinstance(r.get(key), (int, float))]
    if refs and isinstance(ours.get(key), (int, float)):
        text += f" ({key} {ours[key]:.2f} vs {', '.join(refs)})"
    return text


def summary_line(card: dict | None, current: str | None = None) -> str:
    """One line: the headline metric on each real set and on the synthetic set. With ``current``
    (the operator's id@version) a card measured on another version says so first."""
    if not card:
        return f"no card yet ({REGENERATE})"
    parts = []
    if current and card.get("operator") != current:
        parts.append(f"stale: measured on {card.get('operator')}, run {REGENERATE}")
    for set_name, metric in (card.get("real") or {}).items():
        parts.append(f"{set_name} [{metric.get('clips', '?')} clips]: {metric['name']} {_metric_text(metric)}")
    if card.get("synthetic"):
        metric = card["synthetic"]
        parts.append(f"synthetic [{metric.get('clips', '?')} clips]: {metric['name']} {_metric_text(metric)}")
    if not parts:
        parts.append(card.get("measured_elsewhere") or "not measured")
    return " · ".join(parts)


def render_markdown(card: dict, limits: tuple[str, ...] | list[str] = ()) -> str:
    """The whole card as Markdown (``factorline operators --card``, ``docs/cards.md``)."""
    lines = [f"## {card['operator']} — {card.get('title', '')}", ""]
    for note in ("measured_elsewhere", "not_measured"):
        if card.get(note):
            lines += [card[note], ""]
    for label, metrics in (("Real media", card.get("real") or {}), ("Synthetic media", {"synthetic": card["synthetic"]} if card.get("synthetic") else {})):
        if not metrics:
            continue
        lines += [f"**{label}**", "", "| set | clips | metric | factorline | references |", "|---|---|---|---|---|"]
        for set_name, m in metrics.items():
            refs = "; ".join(f"{n}: {_numbers(r)}" for n, r in (m.get("references") or {}).items()) or "-"
            lines.append(f"| {set_name} | {m.get('clips', '?')} | {m['name']} | {_numbers(m.get('ours') or {})} | {refs} |")
        lines.append("")
    worse = card.get("worse_than_reference") or []
    if worse:
        lines += ["**Clips where a reference tool does better**", ""]
        lines += [f"- {w['set']}/{w['clip']} ({w['class']}): {w['reference']} — {w['why']}" for w in worse]
        lines.append("")
    limits = list(limits or card.get("limits") or [])
    if limits:
        lines += ["**Known limits**", ""] + [f"- {text}" for text in limits] + [""]
    sources = card.get("sources") or {}
    made = ", ".join(f"{name} {s.get('date', '?')} (commit {str(s.get('git_commit') or '?')[:10]})" for name, s in sources.items())
    lines += [f"Regenerate every number: `{card.get('command', REGENERATE)}`" + (f" · from {made}" if made else ""), ""]
    return "\n".join(lines)


def _numbers(values: dict) -> str:
    shown = []
    for key, value in values.items():
        if isinstance(value, float):
            shown.append(f"{key} {value:.3g}")
        elif isinstance(value, (int, str)) and key not in ("tp", "fp", "fn"):
            shown.append(f"{key} {value}")
    return ", ".join(shown) or "-"
