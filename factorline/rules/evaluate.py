"""The per-item evaluator: typed IR -> a Python closure over one item's factors.

Values are ``None`` (missing), ``bool``, ``float`` (every number), ``str`` or ``list``.
Reading a factor normalizes it: NaN, a missing step or key, and a value of the wrong type
all read as missing; integers become floats (the vectorized evaluator casts to float64 too).

Semantics (``vectorized`` implements the same, operation by operation):
- arithmetic and comparisons with a missing operand are missing; ``x / 0`` is missing;
  a result that is NaN (``inf - inf``) is missing;
- ``and``/``or``/``not`` use three-valued (Kleene) logic: ``false and missing`` is false,
  ``true or missing`` is true, anything else with a missing operand is missing;
- an operation between a list and a constant applies to each element (missing elements stay
  missing); ``count``/``any``/``all``/``max``/``min`` skip missing elements, ``count`` of a list
  that is not true/false values counts every element, ``max``/``min`` of nothing is missing;
- ``x in [..]`` and ``x in list_field`` ignore missing elements; ``missing(x)`` is never missing.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

from . import functions
from .ir import (
    BOOL,
    NUMBER,
    STRING,
    Binary,
    Call,
    Const,
    ListLit,
    Logic,
    Member,
    Node,
    Ref,
    Unary,
    element_type,
    folds_list,
    is_list,
)

Fn = Callable[[dict], Any]


# -- reading factors ------------------------------------------------------------------------
def _number(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        return None
    try:
        f = float(v)
    except (OverflowError, ValueError):
        return None
    return None if math.isnan(f) else f


def _exact(kind: type) -> Callable[[object], Any]:
    return lambda v: v if isinstance(v, kind) else None


SCALAR_READERS: dict[str, Callable[[object], Any]] = {NUMBER: _number, BOOL: _exact(bool), STRING: _exact(str)}


def reader(t: str, key: str | None = None) -> Callable[[object], Any]:
    """How to read a raw factor value of rules type ``t`` (``key``: project one record key)."""
    if not is_list(t):
        return SCALAR_READERS[t]
    if key is not None:
        read_key = SCALAR_READERS[element_type(t)]
        return lambda v: [read_key(e.get(key)) if isinstance(e, dict) else None for e in v] if _is_seq(v) else None
    if t.startswith("records["):
        return lambda v: [e if isinstance(e, dict) else None for e in v] if _is_seq(v) else None
    read_item = SCALAR_READERS[element_type(t)]
    return lambda v: [read_item(e) for e in v] if _is_seq(v) else None


def _is_seq(v: object) -> bool:
    return isinstance(v, (list, tuple))


def read_ref(ref: Ref) -> Fn:
    step, name, read = ref.path[0], ref.path[1], reader(ref.type, ref.key)

    def run(factors: dict) -> Any:
        values = factors.get(step)
        return read(values.get(name)) if isinstance(values, dict) else None

    return run


# -- scalar operations (also applied element by element) ------------------------------------
def _strict(fn: Callable) -> Callable:
    """Missing in, missing out."""
    return lambda *args: None if any(a is None for a in args) else fn(*args)


def _no_nan(x: float) -> float | None:
    return None if x != x else x


ARITH = {
    "+": _strict(lambda a, b: _no_nan(a + b)),
    "-": _strict(lambda a, b: _no_nan(a - b)),
    "*": _strict(lambda a, b: _no_nan(a * b)),
    "/": _strict(lambda a, b: None if b == 0 else _no_nan(a / b)),
}
COMPARE = {
    "<": _strict(lambda a, b: a < b), "<=": _strict(lambda a, b: a <= b),
    ">": _strict(lambda a, b: a > b), ">=": _strict(lambda a, b: a >= b),
    "==": _strict(lambda a, b: a == b), "!=": _strict(lambda a, b: a != b),
}


def scalar_call(name: str) -> Callable:
    """A declared function's per-item implementation (rules/functions.py), missing in ->
    missing out, a NaN number out -> missing."""
    fn = functions.get(name)
    if fn is None or fn.item is None:
        raise TypeError(f"function {name!r} has no per-item implementation")  # the type checker never lets this through
    item = fn.item
    if fn.returns == NUMBER and fn.origin != "factorline":
        def number(*args: Any) -> Any:
            out = item(*args)
            return _number(out)  # NaN -> missing; a plugin's np.float32 -> float

        return _strict(number)
    return _strict(item)
_NOT = _strict(lambda a: not a)
_NEG = _strict(lambda a: _no_nan(-a))


def _present(items: list) -> list:
    return [e for e in items if e is not None]


AGGREGATES = {
    "count_bool": _strict(lambda xs: float(sum(1 for e in xs if e is True))),
    "count": _strict(lambda xs: float(len(xs))),
    "any_bool": _strict(lambda xs: any(e is True for e in xs)),
    "any": _strict(lambda xs: len(xs) > 0),
    "all": _strict(lambda xs: not any(e is False for e in xs)),
    "max": _strict(lambda xs: max(_present(xs), default=None)),
    "min": _strict(lambda xs: min(_present(xs), default=None)),
    "len": _strict(lambda xs: float(len(xs))),
}


def aggregate_name(call: Call) -> str:
    """``count``/``any`` count true elements of a true/false list, and elements otherwise."""
    arg_type = call.args[0].type
    if call.name in ("count", "any") and arg_type == "list[bool]":
        return f"{call.name}_bool"
    return call.name


# -- compiling ------------------------------------------------------------------------------
def compile_node(node: Node) -> Fn:
    """A closure computing ``node`` from one item's factors (``{step: {field: value}}``)."""
    if isinstance(node, Const):
        value = node.value
        return lambda factors: value
    if isinstance(node, Ref):
        return read_ref(node)
    if isinstance(node, Logic):
        return _logic(node.op, [compile_node(o) for o in node.operands])
    if folds_list(node):
        fold, items = AGGREGATES[aggregate_name(node)], compile_node(node.args[0])  # type: ignore[union-attr]
        return lambda factors: fold(items(factors))
    if isinstance(node, Call) and node.name == "missing":
        inner = compile_node(node.args[0])
        return lambda factors: inner(factors) is None
    if isinstance(node, Member):
        return _member(node)
    scalar, args = _scalar_op(node)
    return _apply(scalar, [compile_node(a) for a in args], [is_list(a.type) for a in args])


def _scalar_op(node: Node) -> tuple[Callable, tuple[Node, ...]]:
    if isinstance(node, Unary):
        return (_NOT if node.op == "not" else _NEG), (node.operand,)
    if isinstance(node, Binary):
        return (ARITH.get(node.op) or COMPARE[node.op]), (node.left, node.right)
    if isinstance(node, Call):
        return scalar_call(node.name), node.args
    raise TypeError(f"cannot evaluate {type(node).__name__}")  # the type checker never lets this through


def _apply(scalar: Callable, arg_fns: list[Fn], lifted: list[bool]) -> Fn:
    """Apply ``scalar`` to the arguments; over each element when one argument is a list."""
    if not any(lifted):
        return lambda factors: scalar(*(fn(factors) for fn in arg_fns))
    at = lifted.index(True)

    def run(factors: dict) -> Any:
        args = [fn(factors) for fn in arg_fns]
        items = args[at]
        if items is None:
            return None
        return [scalar(*args[:at], e, *args[at + 1:]) for e in items]

    return run


def _logic(op: str, fns: list[Fn]) -> Fn:
    # Kleene logic: the deciding value (False for and, True for or) wins over missing.
    decisive = op == "or"

    def run(factors: dict) -> Any:
        result: bool | None = not decisive
        for fn in fns:
            v = fn(factors)
            if v is decisive:
                return decisive
            if v is None:
                result = None
        return result

    return run


def _member(node: Member) -> Fn:
    needle, container = node.needle, node.container
    if isinstance(container, ListLit):
        values = frozenset(c.value for c in container.items)
        test = _strict(lambda x: x in values)
        fn = _apply(test, [compile_node(needle)], [is_list(needle.type)])
    elif container.type == STRING:
        fn = _apply(scalar_call("contains"), [compile_node(container), compile_node(needle)], [False, False])
    else:
        has = _strict(lambda xs, x: x in _present(xs))
        fn = _apply(has, [compile_node(container), compile_node(needle)], [False, False])
    return _apply(_NOT, [fn], [is_list(node.type)]) if node.negate else fn


def evaluate(node: Node, factors: dict | None = None) -> Any:
    """Evaluate once (constant folding, tests); rules compile once and reuse the closure."""
    return compile_node(node)(factors or {})
