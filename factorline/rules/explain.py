"""Conditions back to text, with the values an item gave them and the evidence behind them.

    render(cond)                  -> "border.area_ratio > 0.25 and not slides.is_slideshow"
    render(cond, values)          -> "border.area_ratio 0.31 > 0.25 and not slides.is_slideshow false"
    sentence(cond, values, ev)    -> "border.area_ratio 0.31 > 0.25 (at 3.0 s, 4.0 s)"

A *leaf* is what a reader wants to see a value for: a factor reference, or a function that
folds a list into one value (``count(subs.lines)``, ``max(clarity.frame_scores < 0.3)``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Any

from .ir import Binary, Call, Const, ListLit, Logic, Member, Node, Ref, Unary, children, folds_list

MAX_TEXT = 200  # characters of a text value kept in a hit's values
MAX_ITEMS = 20  # list items kept in a hit's values, evidence items kept per hit
_SHOWN = 5  # items shown inline in a sentence

# Python's precedence, loosest first, so that rendered text parses back to the same tree.
_PRECEDENCE = {"or": 1, "and": 2, "not": 3, "compare": 4, "+": 5, "-": 5, "*": 6, "/": 6, "neg": 7, "atom": 8}


def fmt_number(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    short = f"{x:.6g}"
    return short if float(short) == x else repr(x)


def fmt_value(v: Any) -> str:
    """A value inside a sentence (short; lists abbreviated)."""
    if v is None:
        return "(missing)"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return fmt_number(v)
    if isinstance(v, str):
        return quote(v if len(v) <= 40 else v[:39] + "…")
    if isinstance(v, list):
        if any(isinstance(e, dict) for e in v):
            return f"[{len(v)} item{'s' if len(v) != 1 else ''}]"
        shown = ", ".join(fmt_value(e) for e in v[:_SHOWN])
        return f"[{shown}{', …' if len(v) > _SHOWN else ''}]"
    return str(v)


def render(node: Node, values: dict[Node, Any] | None = None) -> str:
    """The condition as text; with ``values``, each leaf is followed by its value."""
    return _render(node, values, 0)


class _Slot:
    """Stands for a leaf's value while a template is rendered (see ``template``)."""

    def __init__(self, index: int):
        self.index = index

    def __str__(self) -> str:
        return f"\x00{self.index}\x00"


def template(cond: Node, leaves_of: Iterable[Node]) -> Callable[[dict[Node, Any]], str]:
    """``render(cond, values)`` with the tree walked once: a rule's sentence is the same text
    around its leaves' values for every item, so only the values are formatted per item."""
    keys = list(dict.fromkeys(leaves_of))
    text = render(cond, {leaf: _Slot(i) for i, leaf in enumerate(keys)})
    parts = text.split("\x00")
    if "\x00" in render(cond) or len(parts) % 2 == 0:  # a constant holds the marker: walk the tree each time
        return lambda values: render(cond, values)
    slots = [(j, keys[int(parts[j])]) for j in range(1, len(parts), 2)]

    def fill(values: dict[Node, Any]) -> str:
        out = list(parts)
        for j, leaf in slots:
            out[j] = fmt_value(values[leaf])
        return "".join(out)

    return fill


def _level(node: Node) -> int:
    if isinstance(node, Logic):
        return _PRECEDENCE[node.op]
    if isinstance(node, Unary):
        return _PRECEDENCE["not" if node.op == "not" else "neg"]
    if isinstance(node, Member) or (isinstance(node, Binary) and node.op not in _PRECEDENCE):
        return _PRECEDENCE["compare"]
    if isinstance(node, Binary):
        return _PRECEDENCE[node.op]
    return _PRECEDENCE["atom"]


def _render(node: Node, values: dict[Node, Any] | None, outer: int) -> str:
    text = _text(node, values)
    if values is not None and node in values:
        return f"{text} {fmt_value(values[node])}"  # a sentence to read, not to parse back
    return f"({text})" if _level(node) < outer else text


def _text(node: Node, values: dict[Node, Any] | None) -> str:
    level = _level(node)
    if isinstance(node, Const):
        return _const(node.value)
    if isinstance(node, Ref):
        return ".".join(node.path)
    if isinstance(node, ListLit):
        return "[" + ", ".join(_const(i.value) for i in node.items) + "]"
    if isinstance(node, Logic):
        return f" {node.op} ".join(_render(o, values, level + 1) for o in node.operands)
    if isinstance(node, Unary):
        sep = " " if node.op == "not" else ""
        return f"{node.op}{sep}{_render(node.operand, values, level)}"
    if isinstance(node, Binary):
        # Arithmetic is left-associative: only the right operand needs brackets at equal
        # precedence. Comparisons need them on both sides, or (a == b) == c would chain.
        left = level + 1 if level == _PRECEDENCE["compare"] else level
        return f"{_render(node.left, values, left)} {node.op} {_render(node.right, values, level + 1)}"
    if isinstance(node, Member):
        op = "not in" if node.negate else "in"
        return f"{_render(node.needle, values, level + 1)} {op} {_render(node.container, values, level + 1)}"
    if isinstance(node, Call):
        return f"{node.name}(" + ", ".join(_render(a, values, 0) for a in node.args) + ")"
    raise TypeError(type(node).__name__)


def _const(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return fmt_number(v)
    return quote(v)


def quote(text: str) -> str:
    """Text in quotes as the language reads it (as written: backslashes are not escapes)."""
    if '"' not in text and not text.endswith("\\"):
        return f'"{text}"'
    if "'" not in text and not text.endswith("\\"):
        return f"'{text}'"
    return json.dumps(text, ensure_ascii=False)  # rare: both quotes inside; shown, not re-parsed


# -- leaves and their values ----------------------------------------------------------------
def leaves(node: Node) -> list[Node]:
    """The nodes a reader wants a value for, in reading order, without repeats."""
    found: list[Node] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Ref) or folds_list(n):
            found.append(n)
        elif not isinstance(n, (Const, ListLit)):
            stack.extend(reversed(children(n)))
    return list(dict.fromkeys(found))


def record_value(v: Any) -> Any:
    """A leaf value as stored in a hit: JSON-friendly and bounded in size."""
    if isinstance(v, str) and len(v) > MAX_TEXT:
        return v[: MAX_TEXT - 1] + "…"
    if isinstance(v, list):
        return [record_value(e) for e in v[:MAX_ITEMS]]
    return v


# -- evidence -------------------------------------------------------------------------------
def evidence_of(factors: dict, steps: Iterable[str]) -> list[dict]:
    """The evidence items of the steps a rule read (``factors[step]["evidence"]``), bounded."""
    items: list[dict] = []
    for step in steps:
        values = factors.get(step)
        evidence = values.get("evidence") if isinstance(values, dict) else None
        if isinstance(evidence, list):
            items.extend(e for e in evidence if isinstance(e, dict))
    return items[:MAX_ITEMS]


def _where(e: dict) -> str | None:
    t = e.get("t")
    if isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t):
        return f"{t:.1f} s" if round(t, 1) == t else f"{fmt_number(float(t))} s"
    box = e.get("box")
    if isinstance(box, list) and box:
        return "box [" + ", ".join(fmt_value(float(b)) if isinstance(b, (int, float)) else "?" for b in box) + "]"
    return None


def evidence_text(evidence: list[dict]) -> str:
    """`` (at 3.0 s, 4.0 s)`` or empty when the evidence has no times nor boxes."""
    places = [w for w in map(_where, evidence) if w]
    if not places:
        return ""
    more = f", +{len(places) - _SHOWN} more" if len(places) > _SHOWN else ""
    return f" (at {', '.join(places[:_SHOWN])}{more})"


def sentence(cond: Node, values: dict[Node, Any], evidence: list[dict]) -> str:
    return render(cond, values) + evidence_text(evidence)
