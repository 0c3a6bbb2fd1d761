"""Condition text -> IR, through Python's ``ast`` under a strict whitelist. Nothing is evaluated.

Grammar (a small subset of Python expressions)::

    cond   := cond or cond | cond and cond | not cond | comparison | bool value
    compare:= value (< | <= | > | >= | == | !=) value ...     (chains mean "and")
            | value [not] in [c1, c2, ...]                   (list of constants)
            | "text" [not] in text_value                     (substring)
            | value [not] in list_field                      (element of a list)
    value  := step.field | step.field.key | number | "text" | true | false
            | value (+ | - | * | /) value | -value | (value)
            | missing(v) contains(text, "sub") matches(text, "regex") len(v) abs(n)
            | count(list) any(list) all(list) max(list) min(list)

An operation between a list and a constant applies to each element and gives a list, which a
function folds back into one value: ``count(clarity.frame_scores < 0.3) >= 2``,
``any(matches(subs.lines.text, "(?i)casino"))``, ``max(speech.segments.end_s) > 5``.

Text in quotes is read as written: a backslash is not an escape, so ``matches(subs.text,
"\\bbet\\d+")`` reaches the regex engine unchanged; to put a quote inside text, use the other
kind of quotes (``'say "hi"'``).

Everything else (attribute names starting with ``_``, calls to anything else, method calls,
lambdas, comprehensions, subscripts, ``**``, f-strings, walrus, conditional expressions) is
rejected with a RuleError that says what was found and what to write instead. Limits keep
hostile text cheap: ``MAX_CHARS`` characters, ``MAX_DEPTH`` levels of nesting, ``MAX_NODES``
nodes, ``MAX_STRING`` characters per string, ``MAX_LIST`` items per list, integers within
``2**53`` and finite numbers only.
"""

from __future__ import annotations

import ast
import io
import math
import tokenize
import warnings

from ..contract.errors import RuleError
from . import functions
from .ir import Binary, Call, Const, ListLit, Logic, Member, Node, Ref, Unary

MAX_CHARS = 2000
MAX_DEPTH = 32
MAX_NODES = 400
MAX_STRING = 1000
MAX_LIST = 100
MAX_INT = 2**53  # integers beyond this are not exact as float64 numbers

_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")

_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_COMPARE = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_BOOL_NAMES = {"true": True, "false": False, "True": True, "False": False}
# AST nodes that are not expressions of their own (operators, load contexts): not counted.
_PLUMBING = (ast.expr_context, ast.operator, ast.boolop, ast.cmpop, ast.unaryop)

_FORBIDDEN = {
    ast.Lambda: "lambda functions are not allowed",
    ast.ListComp: "comprehensions are not allowed; use any(), all() or count() over a list",
    ast.SetComp: "comprehensions are not allowed; use any(), all() or count() over a list",
    ast.DictComp: "comprehensions are not allowed; use any(), all() or count() over a list",
    ast.GeneratorExp: "comprehensions are not allowed; use any(), all() or count() over a list",
    ast.Subscript: "indexing with [...] is not supported; use max(), min(), count() or any() over a list",
    ast.IfExp: "'a if b else c' is not supported; write two rules instead",
    ast.NamedExpr: "assignment ':=' is not allowed",
    ast.JoinedStr: "f-strings are not allowed; write plain text in quotes",
    ast.Dict: "dictionaries are not allowed",
    ast.Set: "sets are not allowed; write a list [a, b]",
    ast.Starred: "'*' unpacking is not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
    ast.Slice: "slices are not allowed",
}


def fail(code: str, message: str) -> RuleError:
    """A RuleError tagged with an issue code (the editor groups problems by code)."""
    err = RuleError(message)
    err.code = code  # type: ignore[attr-defined]
    return err


def parse(text: object) -> Node:
    """Parse one condition into an untyped IR tree, or raise RuleError."""
    if not isinstance(text, str):
        raise fail("rule_syntax", f"a condition must be text, found {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise fail("rule_limit", f"condition is {len(text)} characters long; the limit is {MAX_CHARS}")
    if not text.strip():
        raise fail("rule_syntax", "condition is empty; write e.g. border.area_ratio > 0.2")
    tree = _python_ast(text)
    _check_size(tree)
    return _Builder(text).build(tree.body)


def _python_ast(text: str) -> ast.Expression:
    source = _raw_strings(" ".join(text.strip().splitlines()))  # YAML may fold a condition over lines
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "\d" in a regex: an invalid escape, kept as is
            return ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise fail("rule_syntax", _syntax_message(source, exc)) from None
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        raise fail("rule_syntax", f"not a valid condition ({type(exc).__name__})") from None


def _raw_strings(source: str) -> str:
    """Read every quoted text as written: backslashes stay (``"\\bcasino\\d+"`` is a regex, not
    a backspace). Unreadable text is returned as is; ``ast.parse`` then reports it."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, ValueError):
        return source
    pieces, last = [], 0
    for tok in tokens:
        if tok.type == tokenize.STRING and not any(c in "rRfFbBuU" for c in tok.string[: tok.string.index(tok.string[-1])]):
            offset = tok.start[1]
            pieces.append(source[last:offset] + "r")
            last = offset
    return "".join(pieces) + source[last:]


def _syntax_message(source: str, exc: SyntaxError) -> str:
    where = f" at column {exc.offset}" if exc.offset else ""
    hint = ""
    for symbol, word in (("&&", "and"), ("||", "or"), ("!", "not"), ("=", "==")):
        if symbol in source and (symbol != "=" or "==" not in source):
            hint = f"; write '{word}' instead of '{symbol}'"
            break
    return f"not a valid condition: {exc.msg}{where}{hint}"


def _check_size(tree: ast.AST) -> None:
    """Depth and size limits, and no ``_names`` anywhere (dunder access), measured without
    recursion: the tree may be very deep."""
    stack, count = [(tree, 0)], 0
    while stack:
        node, depth = stack.pop()
        if isinstance(node, _PLUMBING):
            continue
        count += 1
        name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
        if name.startswith("_"):
            raise fail("rule_forbidden", f"names starting with '_' are not allowed (found '{name}')")
        if depth > MAX_DEPTH:
            raise fail("rule_limit", f"condition is nested more than {MAX_DEPTH} levels deep; split it into rules")
        if count > MAX_NODES:
            raise fail("rule_limit", f"condition has more than {MAX_NODES} parts; split it into rules")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


class _Builder:
    def __init__(self, text: str):
        self.text = " ".join(text.strip().splitlines())

    def snippet(self, node: ast.AST) -> str:
        seg = ast.get_source_segment(self.text, node) or type(node).__name__
        return seg if len(seg) <= 60 else seg[:57] + "..."

    def build(self, node: ast.AST) -> Node:
        for kind, message in _FORBIDDEN.items():
            if isinstance(node, kind):
                raise fail("rule_forbidden", f"{message} (found '{self.snippet(node)}')")
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise fail("rule_forbidden", f"'{self.snippet(node)}' is not allowed in a condition")
        return method(node)

    def _BoolOp(self, node: ast.BoolOp) -> Node:
        return Logic("and" if isinstance(node.op, ast.And) else "or", tuple(self.build(v) for v in node.values))

    def _UnaryOp(self, node: ast.UnaryOp) -> Node:
        if isinstance(node.op, ast.Not):
            return Unary("not", self.build(node.operand))
        if isinstance(node.op, ast.USub):
            return Unary("-", self.build(node.operand))
        if isinstance(node.op, ast.UAdd):
            return self.build(node.operand)
        raise fail("rule_forbidden", f"'~' is not supported; write 'not' (found '{self.snippet(node)}')")

    def _BinOp(self, node: ast.BinOp) -> Node:
        op = _ARITH.get(type(node.op))
        if op is not None:
            return Binary(op, self.build(node.left), self.build(node.right))
        if isinstance(node.op, ast.Pow):
            found = self.snippet(node)
            raise fail("rule_forbidden", f"'**' is not allowed: powers can build enormous numbers (found '{found}')")
        hint = {ast.BitAnd: "; write 'and'", ast.BitOr: "; write 'or'"}.get(type(node.op), "")
        raise fail("rule_forbidden", f"operator in '{self.snippet(node)}' is not supported; use + - * /{hint}")

    def _Compare(self, node: ast.Compare) -> Node:
        parts, left = [], node.left
        for op, right in zip(node.ops, node.comparators):
            parts.append(self._one_comparison(node, left, op, right))
            left = right
        return parts[0] if len(parts) == 1 else Logic("and", tuple(parts))

    def _one_comparison(self, node: ast.Compare, left: ast.AST, op: ast.cmpop, right: ast.AST) -> Node:
        if isinstance(op, (ast.In, ast.NotIn)):
            return Member(self.build(left), self.build(right), negate=isinstance(op, ast.NotIn))
        if isinstance(op, (ast.Is, ast.IsNot)):
            raise fail("rule_forbidden", f"'is' is not supported; use == or missing(x) (found '{self.snippet(node)}')")
        return Binary(_COMPARE[type(op)], self.build(left), self.build(right))

    def _Call(self, node: ast.Call) -> Node:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        fn = functions.get(name) if name else None  # declared in rules/functions.py (plugins too)
        if fn is None:
            what = f"function '{name}'" if name else f"calling '{self.snippet(node.func)}'"
            raise fail("rule_forbidden", f"{what} is not allowed; available functions: {', '.join(functions.names())}")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise fail("rule_forbidden", f"{name}() takes plain arguments only (found '{self.snippet(node)}')")
        if len(node.args) != fn.arity:
            n = fn.arity
            plural = "s" if n > 1 else ""
            raise fail("rule_syntax", f"{name}() takes {n} argument{plural}, found {len(node.args)} in '{self.snippet(node)}'")
        args = tuple(self.build(a) for a in node.args)
        for i, what in fn.constant.items():
            wanted = {"string": str, "number": float, "bool": bool}.get(fn.args[i], object)
            if not (isinstance(args[i], Const) and isinstance(args[i].value, wanted)):
                found = self.snippet(node.args[i])
                raise fail("rule_type", f"{name}() needs {what} as its {_ORDINALS[i]} argument (found '{found}')")
            if fn.check_constant is not None:
                fn.check_constant(i, args[i].value)
        return Call(name, args)

    def _Attribute(self, node: ast.Attribute) -> Node:
        parts, cur = [], node
        while isinstance(cur, ast.Attribute):
            parts.append(cur.attr)
            cur = cur.value
        if not isinstance(cur, ast.Name):
            found = self.snippet(node)
            raise fail("rule_forbidden", f"'.{parts[-1]}' can only follow a step name, as in step.field (found '{found}')")
        parts.append(cur.id)
        parts.reverse()
        if len(parts) > 3:
            raise fail("rule_syntax", f"'{self.snippet(node)}' has too many dots; write step.field or step.field.key")
        return Ref(tuple(parts))

    def _Name(self, node: ast.Name) -> Node:
        if node.id in _BOOL_NAMES:
            return Const(_BOOL_NAMES[node.id])
        if node.id == "None":
            raise fail("rule_syntax", "None is not a value here; test a factor with missing(step.field)")
        raise fail("rule_syntax", f"unknown name '{node.id}'; refer to factors as step.field (e.g. border.area_ratio)")

    def _Constant(self, node: ast.Constant) -> Node:
        value = node.value
        if isinstance(value, bool):
            return Const(value)
        if isinstance(value, int):
            if abs(value) > MAX_INT:
                raise fail("rule_limit", f"number {self.snippet(node)} is too large; the limit is 2**53")
            return Const(float(value))
        if isinstance(value, float):
            if not math.isfinite(value):
                raise fail("rule_limit", f"number {self.snippet(node)} is not finite")
            return Const(value)
        if isinstance(value, str):
            if len(value) > MAX_STRING:
                raise fail("rule_limit", f"text constant is {len(value)} characters long; the limit is {MAX_STRING}")
            return Const(value)
        raise fail("rule_forbidden", f"constant '{self.snippet(node)}' is not allowed; use numbers, \"text\", true or false")

    def _List(self, node: ast.List | ast.Tuple) -> Node:
        if not node.elts:
            raise fail("rule_syntax", "an empty list never contains anything; remove the test")
        if len(node.elts) > MAX_LIST:
            raise fail("rule_limit", f"list has {len(node.elts)} items; the limit is {MAX_LIST}")
        items = tuple(self.build(e) for e in node.elts)
        items = tuple(_negated_constant(i) or i for i in items)
        if not all(isinstance(i, Const) for i in items):
            raise fail("rule_syntax", f"lists may hold constants only (found '{self.snippet(node)}')")
        return ListLit(items)  # type: ignore[arg-type]

    _Tuple = _List


def _negated_constant(node: Node) -> Const | None:
    """``-3`` parses as minus applied to 3; inside a list it is just the constant -3."""
    if isinstance(node, Unary) and node.op == "-" and isinstance(node.operand, Const):
        if isinstance(node.operand.value, float):
            return Const(-node.operand.value)
    return None
