"""Resolve ``step.field`` references against the pipeline's fields and type every node.

Collects every problem of one condition (unknown step or field, type mismatch, a list used
where one value is needed) instead of stopping at the first. Sub-expressions without field
references are folded into constants, so ``0.5 * 2`` is compiled once and an always-true
condition is seen as the constant ``true``.

An operation between a list and a value (``clarity.frame_scores < 0.3``) applies to each
element; the other side must be a constant (the vectorized evaluator computes element-wise
operations inside ``list.eval``, which cannot read other columns).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import replace

from . import functions
from .evaluate import evaluate
from .explain import render
from .ir import (
    ARITH_OPS,
    BOOL,
    DTYPE_TYPES,
    NUMBER,
    RECORD_KEYS,
    SCALARS,
    STRING,
    UNKNOWN,
    Binary,
    Call,
    Const,
    ListLit,
    Logic,
    Member,
    Node,
    Ref,
    Unary,
    describe,
    element_type,
    is_list,
    list_of,
    refs,
)

Problem = tuple[str, str]  # (issue code, message)
Vocab = Mapping[str, tuple[str, ...]]  # step.field -> the only values that text field takes


def check(node: Node, fields: dict[str, dict[str, str]], *, condition: bool = True,
          vocab: Vocab | None = None) -> tuple[Node, list[Problem]]:
    """Type ``node``, as a condition (true/false) unless ``condition`` is False; with all problems.
    ``vocab``: a comparison of such a field with a value it never takes is a problem."""
    checker = _Checker(fields, vocab or {})
    typed = checker.visit(node)
    if condition and not checker.problems and typed.type != BOOL:
        checker.problems.append(("rule_type", _not_a_condition(typed)))
    return typed, checker.problems


def _not_a_condition(node: Node, needs: str = "a condition must be true or false") -> str:
    text = render(node)
    if node.type == "list[bool]":
        hint = "; wrap it in any(...), all(...) or count(...) > n"
    else:
        hint = f"; compare it, e.g. {text} > 0" if node.type == NUMBER else ""
    return f"{needs}, but '{text}' is {describe(node.type)}{hint}"


def listed(values: Sequence[str], limit: int = 12) -> str:
    """``values`` quoted for a message: the first ``limit`` and how many more (a model can
    have a thousand labels)."""
    shown = ", ".join(map(repr, values[:limit]))
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _suggest(word: str, choices) -> str:
    """A likely intended name: one that starts with ``word``, or a close spelling."""
    prefixed = [c for c in choices if c.startswith(word)]
    close = prefixed if len(prefixed) == 1 else difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _Checker:
    def __init__(self, fields: dict[str, dict[str, str]], vocab: Vocab):
        self.fields = fields
        self.vocab = vocab
        self.problems: list[Problem] = []

    def never(self, typed: Node, ref: Node, values: list[str], op: str) -> None:
        """A text field compared with values it never takes: the rule can never (or always) match."""
        if not isinstance(ref, Ref) or ref.key is not None or ref.column not in self.vocab:
            return
        known = self.vocab[ref.column]
        strangers = [v for v in values if isinstance(v, str) and v not in known]
        if not strangers:
            return
        if len(strangers) < len(values):
            verdict = "lists a value that can never match"
        else:
            verdict = "is always true" if op in ("!=", "not in") else "is never true"
        hint = _suggest(strangers[0], [k for k in known if k]) if strangers[0] else ""
        message = (f"'{render(typed)}' {verdict}: {ref.column} is never {', '.join(map(repr, strangers))}{hint}; "
                   f"its values are {listed(known)}")
        self.problems.append(("rule_value", message))

    def error(self, code: str, message: str) -> str:
        self.problems.append((code, message))
        return UNKNOWN

    def visit(self, node: Node) -> Node:
        typed = getattr(self, f"_{type(node).__name__}")(node)
        return self.fold(typed)

    def fold(self, node: Node) -> Node:
        """Replace a field-free scalar expression by its value."""
        if isinstance(node, (Const, ListLit)) or node.type not in SCALARS or refs(node):
            return node
        value = evaluate(node)
        if value is None:
            self.error("rule_type", f"'{render(node)}' has no value (division by zero?)")
            return replace(node, type=UNKNOWN)
        return Const(value, node.type)

    # -- leaves ---------------------------------------------------------------------------
    def _Const(self, node: Const) -> Node:
        t = BOOL if isinstance(node.value, bool) else STRING if isinstance(node.value, str) else NUMBER
        return replace(node, type=t)

    def _ListLit(self, node: ListLit) -> Node:
        self.error("rule_syntax", f"a list like {render(node)} can only follow 'in'")
        return replace(node, type=UNKNOWN)

    def _Ref(self, node: Ref) -> Node:
        step, name = node.path[0], node.path[1]
        if step not in self.fields:
            steps = ", ".join(sorted(self.fields)) or "none"
            message = f"unknown step '{step}'{_suggest(step, self.fields)} — steps: {steps}"
            return replace(node, type=self.error("unknown_step", message))
        fields = self.fields[step]
        if name not in fields:
            message = f"unknown field '{step}.{name}'{_suggest(name, fields)} — {step} has: {', '.join(sorted(fields))}"
            return replace(node, type=self.error("unknown_field", message))
        t = DTYPE_TYPES.get(fields[name])
        if t is None:
            return replace(node, type=self.error("rule_type", f"'{step}.{name}' holds {fields[name]}, which rules cannot read"))
        return replace(node, type=self._key_type(node, t) if node.key else t, source=t)

    def _key_type(self, node: Ref, t: str) -> str:
        where = node.column
        if not t.startswith("records["):
            return self.error("rule_type", f"'{where}' is {describe(t)}; only lists of records have keys like '{node.key}'")
        keys = RECORD_KEYS[t[8:-1]]
        if node.key not in keys:
            return self.error("unknown_field", f"unknown key '{node.key}' in '{where}'{_suggest(node.key, keys)} — "
                                               f"its items have: {', '.join(sorted(keys))}")
        return list_of(keys[node.key])

    # -- operators ------------------------------------------------------------------------
    def _Unary(self, node: Unary) -> Node:
        operand = self.visit(node.operand)
        wanted = BOOL if node.op == "not" else NUMBER
        t = self.scalar_or_elementwise(node.op, [operand], wanted, wanted, allow_list=node.op == "-")
        return replace(node, operand=operand, type=t)

    def _Binary(self, node: Binary) -> Node:
        left, right = self.visit(node.left), self.visit(node.right)
        typed = replace(node, left=left, right=right)
        if UNKNOWN in (left.type, right.type):
            return replace(typed, type=UNKNOWN)
        if node.op in ARITH_OPS:
            return replace(typed, type=self.scalar_or_elementwise(node.op, [left, right], NUMBER, NUMBER))
        a, b = (element_type(t) if is_list(t) else t for t in (left.type, right.type))
        if a != b:
            return replace(typed, type=self.error("rule_type", f"'{render(typed)}' compares {describe(a)} with {describe(b)}"))
        if a != NUMBER and node.op not in ("==", "!="):
            message = f"'{render(typed)}': {describe(a)} can only be compared with == or !="
            return replace(typed, type=self.error("rule_type", message))
        if a == STRING:
            for ref, other in ((left, right), (right, left)):
                if isinstance(other, Const):
                    self.never(typed, ref, [other.value], node.op)
        return replace(typed, type=self.scalar_or_elementwise(node.op, [left, right], a, BOOL))

    def scalar_or_elementwise(self, op: str, args: list[Node], wanted: str | tuple[str, ...], result: str,
                              allow_list: bool = True) -> str:
        """The type of ``op(args)``: ``result``, or a list of it when one argument is a list
        (``wanted``: one type for every argument, or one per argument)."""
        if any(a.type == UNKNOWN for a in args):
            return UNKNOWN
        lists = [is_list(a.type) for a in args]
        for i, a in enumerate(args):
            want = wanted[i] if isinstance(wanted, tuple) else wanted
            t = element_type(a.type) if is_list(a.type) and allow_list else a.type
            if t != want:
                return self.error("rule_type", f"'{op}' needs {describe(want)}, but '{render(a)}' is {describe(a.type)}")
        if not any(lists):
            return result
        if sum(lists) > 1 or any(not isinstance(a, Const) for a, listed in zip(args, lists) if not listed):
            return self.error("rule_type", f"'{op}' on a list works element by element against a constant; "
                                           f"'{' and '.join(render(a) for a in args)}' mixes a list with another field")
        return list_of(result)

    def _Logic(self, node: Logic) -> Node:
        operands = tuple(self.visit(o) for o in node.operands)
        bad = [o for o in operands if o.type not in (BOOL, UNKNOWN)]
        for o in bad:
            self.error("rule_type", _not_a_condition(o, f"'{node.op}' needs true/false on both sides"))
        t = UNKNOWN if bad or any(o.type == UNKNOWN for o in operands) else BOOL
        return replace(node, operands=operands, type=t)

    def _Member(self, node: Member) -> Node:
        needle = self.visit(node.needle)
        container = self._typed_list(node.container) if isinstance(node.container, ListLit) else self.visit(node.container)
        typed = replace(node, needle=needle, container=container)
        if UNKNOWN in (needle.type, container.type):
            return replace(typed, type=UNKNOWN)
        if isinstance(container, ListLit):
            self.never(typed, needle, [i.value for i in container.items], "not in" if node.negate else "in")
            return replace(typed, type=self.scalar_or_elementwise("in", [needle], element_type(container.type), BOOL))
        if container.type == STRING or (is_list(container.type) and not container.type.startswith("records[")):
            wanted = STRING if container.type == STRING else element_type(container.type)
            if needle.type != wanted:
                return replace(typed, type=self.error(
                    "rule_type", f"'{render(typed)}' looks for {describe(needle.type)} in {describe(container.type)}"))
            return replace(typed, type=BOOL)
        message = f"'in' needs a list [..], text or a list field on its right; '{render(container)}' is {describe(container.type)}"
        return replace(typed, type=self.error("rule_type", message))

    def _typed_list(self, node: ListLit) -> Node:
        items = tuple(self._Const(i) for i in node.items)
        kinds = {i.type for i in items}
        if len(kinds) > 1:
            message = f"list {render(node)} mixes {' and '.join(sorted(map(describe, kinds)))}"
            return replace(node, items=items, type=self.error("rule_type", message))
        return replace(node, items=items, type=list_of(kinds.pop()))

    # -- functions ------------------------------------------------------------------------
    def _Call(self, node: Call) -> Node:
        args = tuple(self.visit(a) for a in node.args)
        typed = replace(node, args=args)
        if any(a.type == UNKNOWN for a in args):
            return replace(typed, type=UNKNOWN)
        fn = functions.get(node.name)
        if fn is None:  # parsed against a plugin that is gone: say so instead of failing
            return replace(typed, type=self.error("rule_forbidden", f"function '{node.name}' is not declared"))
        if fn.typer is not None:
            return replace(typed, type=getattr(self, fn.typer)(typed))
        return replace(typed, type=self.scalar_or_elementwise(f"{node.name}()", list(args), fn.args, fn.returns))

    def call_missing(self, node: Call) -> str:
        return BOOL

    def call_len(self, node: Call) -> str:
        if node.args[0].type == STRING or is_list(node.args[0].type):
            return NUMBER
        return self.needs(node, "text or a list")

    def call_count(self, node: Call) -> str:
        return NUMBER if is_list(node.args[0].type) else self.needs(node, "a list")

    def call_any(self, node: Call) -> str:
        return BOOL if is_list(node.args[0].type) else self.needs(node, "a list")

    def call_all(self, node: Call) -> str:
        if node.args[0].type == "list[bool]":
            return BOOL
        return self.needs(node, "a list of true/false values, e.g. all(clarity.frame_scores > 0.5)")

    def call_max(self, node: Call) -> str:
        return NUMBER if node.args[0].type == "list[number]" else self.needs(node, "a list of numbers")

    call_min = call_max

    def needs(self, node: Call, what: str) -> str:
        arg = node.args[0]
        return self.error("rule_type", f"{node.name}() needs {what}, but '{render(arg)}' is {describe(arg.type)}")
