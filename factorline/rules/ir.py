"""The small typed tree that conditions compile to; both evaluators and the explainer read it.

The parser (``language``) builds nodes with an empty ``type``; the type checker
(``typecheck``) returns a copy with every ``type`` filled in and field references resolved.
Nodes are frozen dataclasses, so equal conditions compare equal (used to find shadowed rules).

Value types:

    bool | number | string                    scalars (number is always a float64)
    list[bool] | list[number] | list[string]  lists of scalars (elements may be missing)
    records[segments|lines|labeled_lines|evidence]  lists of records; project one key with step.field.key
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Union

BOOL, NUMBER, STRING = "bool", "number", "string"
SCALARS = (BOOL, NUMBER, STRING)
UNKNOWN = "?"  # the type of a node that already produced a type error (stops cascades)

# dtype (kinds.DTYPES key) -> rules type
DTYPE_TYPES = {
    "bool": BOOL,
    "int": NUMBER,
    "float": NUMBER,
    "str": STRING,
    "list[float]": "list[number]",
    "list[int]": "list[number]",
    "embedding": "list[number]",
    "list[str]": "list[string]",
    "segments": "records[segments]",
    "lines": "records[lines]",
    "labeled_lines": "records[labeled_lines]",
    "evidence": "records[evidence]",
}

# Scalar keys of each record kind (``box`` of evidence is a list inside a record: not projectable).
RECORD_KEYS = {
    "segments": {"start_s": NUMBER, "end_s": NUMBER},
    "lines": {"start_s": NUMBER, "end_s": NUMBER, "text": STRING, "score": NUMBER},
    "labeled_lines": {"start_s": NUMBER, "end_s": NUMBER, "text": STRING, "label": STRING, "confidence": NUMBER},
    "evidence": {"t": NUMBER, "text": STRING, "score": NUMBER},
}


def is_list(t: str) -> bool:
    return t.startswith("list[") or t.startswith("records[")


def element_type(t: str) -> str:
    """``list[number]`` -> ``number``; records -> ``record``."""
    return t[5:-1] if t.startswith("list[") else "record"


def list_of(t: str) -> str:
    return f"list[{t}]"


def describe(t: str) -> str:
    """A type in words, for error messages."""
    if t == BOOL:
        return "true/false"
    if t.startswith("records["):
        return f"a list of {t[8:-1]}"
    if t.startswith("list["):
        return f"a list of {element_type(t)}s" if element_type(t) != BOOL else "a list of true/false values"
    return "text" if t == STRING else t


@dataclass(frozen=True)
class Const:
    value: bool | float | str
    type: str = ""


@dataclass(frozen=True)
class ListLit:
    """A literal list of constants; only valid on the right of ``in``."""

    items: tuple[Const, ...]
    type: str = ""


@dataclass(frozen=True)
class Ref:
    """``step.field`` or ``step.field.key`` (one key of each record of a record list).

    ``type`` is what the reference yields; ``source`` the type of the field it reads (they
    differ for ``step.field.key``, which yields a list of one key of ``records[...]``)."""

    path: tuple[str, ...]
    type: str = ""
    source: str = ""

    @property
    def column(self) -> str:
        """The input column (``step.field``) this reference reads."""
        return ".".join(self.path[:2])

    @property
    def key(self) -> str | None:
        return self.path[2] if len(self.path) > 2 else None


@dataclass(frozen=True)
class Unary:
    op: str  # "not" | "-"
    operand: Node
    type: str = ""


@dataclass(frozen=True)
class Binary:
    """Arithmetic (``+ - * /``) or one comparison (``< <= > >= == !=``)."""

    op: str
    left: Node
    right: Node
    type: str = ""


@dataclass(frozen=True)
class Logic:
    op: str  # "and" | "or"
    operands: tuple[Node, ...]
    type: str = ""


@dataclass(frozen=True)
class Member:
    """``needle in container``: list literal, substring of text, or element of a list field."""

    needle: Node
    container: Node
    negate: bool = False
    type: str = ""


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Node, ...]
    type: str = ""


Node = Union[Const, ListLit, Ref, Unary, Binary, Logic, Member, Call]

ARITH_OPS = ("+", "-", "*", "/")

# Functions that fold a list into one value: they end an element-wise computation.
FOLDS = frozenset({"count", "any", "all", "max", "min", "len"})


def folds_list(node: Node) -> bool:
    """``count(x)``, ``max(x)``... over a list (``len`` of text is an ordinary function)."""
    return isinstance(node, Call) and node.name in FOLDS and is_list(node.args[0].type)


def children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Logic):
        return node.operands
    if isinstance(node, Member):
        return (node.needle, node.container)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, ListLit):
        return node.items
    return ()


def walk(node: Node) -> Iterator[Node]:
    yield node
    for child in children(node):
        yield from walk(child)


def refs(node: Node) -> list[Ref]:
    """Every field reference in reading order, without repeats."""
    return list(dict.fromkeys(n for n in walk(node) if isinstance(n, Ref)))

