"""The functions of the condition language, each declared once.

A declaration holds everything the five parts of the rules layer need: the parser (name,
arity, which arguments must be quoted constants), the type checker (argument and result
types), the per-item evaluator (``item``, on plain Python values), the vectorized evaluator
(``vector``, on polars expressions) and the docs (``doc``, ``example``; the reference table
is :func:`reference`). A plugin adds one with :func:`rule_function`::

    from factorline.sdk import rule_function

    @rule_function(args=("string", "string"), returns="bool", example='starts_with(subs.text, "BREAKING")',
                   vector=lambda s, prefix: s.str.starts_with(prefix))
    def starts_with(text: str, prefix: str) -> bool:
        \"\"\"Whether text begins with prefix.\"\"\"
        return text.startswith(prefix)

Semantics of a ``scalar`` function (what both evaluators guarantee): a missing argument makes
the result missing without calling it; a NaN result is missing; given a list in one argument
(the others constants) it applies to each element, like ``+`` or ``<``. ``item`` and ``vector``
must agree: ``factorline.testing.check_rule_function`` compares them on sample values.

The built-in folds (``count any all max min``, ``len`` of a list) and ``missing`` have bespoke
typing and evaluation (``kind`` ``fold``/``special``); they are declared here for the parser
and the docs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..contract.errors import PluginError
from . import regex
from .ir import BOOL, NUMBER, SCALARS, STRING

KINDS = ("scalar", "fold", "special")


@dataclass(frozen=True)
class RuleFunction:
    name: str
    args: tuple[str, ...]  # rules types of the arguments: bool | number | string (docs only for fold/special)
    returns: str
    doc: str
    item: Callable[..., Any] | None = None  # per item, on present values: missing never reaches it
    vector: Callable[..., Any] | None = None  # polars: one pl.Expr per argument (a constant argument: its value)
    example: str = ""
    constant: dict[int, str] = field(default_factory=dict)  # argument index -> what it must be ("a pattern in quotes")
    check_constant: Callable[[int, Any], None] | None = None  # raise RuleError for a bad constant (at parse time)
    kind: str = "scalar"
    typer: str | None = None  # bespoke typing: the name of the type checker's method (built-ins)
    origin: str = "factorline"

    @property
    def arity(self) -> int:
        return len(self.args)

    def signature(self) -> str:
        return f"{self.name}({', '.join(self.args)}) -> {self.returns}"

    def schema(self) -> dict:
        """What an editor's autocomplete and help read (``schema()`` lists every function)."""
        return {"name": self.name, "args": list(self.args), "returns": self.returns, "doc": self.doc,
                "example": self.example, "kind": self.kind, "signature": self.signature()}


_FUNCTIONS: dict[str, RuleFunction] = {}


def register(fn: RuleFunction) -> RuleFunction:
    """Add a function to the language; a second declaration of a name is refused."""
    if not fn.name.isidentifier():
        raise PluginError(f"rule function name {fn.name!r} is not an identifier")
    if fn.kind not in KINDS:
        raise PluginError(f"rule function {fn.name}: kind must be one of {KINDS}, found {fn.kind!r}")
    if fn.kind == "scalar":
        bad = [t for t in (*fn.args, fn.returns) if t not in SCALARS]
        if bad:
            raise PluginError(f"rule function {fn.name}: argument and result types must be one of {', '.join(SCALARS)} "
                              f"(found {bad[0]!r}); a function applies to each element of a list by itself")
        if not fn.args:
            raise PluginError(f"rule function {fn.name}: needs at least one argument (a constant would do)")
        if not callable(fn.item) or not callable(fn.vector):
            raise PluginError(f"rule function {fn.name}: needs both implementations: item (per value) and vector "
                              "(polars expressions), e.g. vector=lambda s: s.str.len_chars()")
        if any(not 0 <= i < len(fn.args) for i in fn.constant):
            raise PluginError(f"rule function {fn.name}: constant names argument {sorted(fn.constant)} of {len(fn.args)}")
    existing = _FUNCTIONS.get(fn.name)
    if existing is not None and existing.origin != fn.origin:
        raise PluginError(f"rule function {fn.name!r} is declared twice: by {existing.origin} and by {fn.origin}; rename one")
    _FUNCTIONS[fn.name] = fn
    return fn


def rule_function(*, args: tuple[str, ...], returns: str, vector: Callable[..., Any], name: str | None = None,
                  example: str = "", constant: dict[int, str] | tuple[int, ...] = (), doc: str | None = None,
                  check_constant: Callable[[int, Any], None] | None = None) -> Callable[[Callable], Callable]:
    """Declare the decorated function (per-item implementation) as a rule function."""

    def wrap(item: Callable) -> Callable:
        from ..contract.registry import origin

        consts = constant if isinstance(constant, dict) else {i: f"a constant {_word(args[i])}" for i in constant if i < len(args)}
        text = doc or inspect.getdoc(item) or ""
        if not text:
            raise PluginError(f"rule function {name or item.__name__}: give it a docstring (it is the function's help text)")
        register(RuleFunction(name=name or item.__name__, args=tuple(args), returns=returns, doc=text.split("\n\n")[0],
                              item=item, vector=vector, example=example, constant=consts,
                              check_constant=check_constant, origin=origin(item)))
        item.rule_function = _FUNCTIONS[name or item.__name__]  # type: ignore[attr-defined]
        return item

    return wrap


def _word(t: str) -> str:
    return {STRING: "text", BOOL: "true/false value"}.get(t, t)


def get(name: str) -> RuleFunction | None:
    """The function ``name`` (plugins' functions once ``factorline.plugins`` loaded them: every
    command, ``compile_pipeline`` and the server do that first)."""
    return _FUNCTIONS.get(name)


def names() -> list[str]:
    return list(_FUNCTIONS)


def all_functions() -> list[RuleFunction]:
    return list(_FUNCTIONS.values())


def snapshot() -> dict[str, RuleFunction]:
    return dict(_FUNCTIONS)


def restore(state: dict[str, RuleFunction]) -> None:
    _FUNCTIONS.clear()
    _FUNCTIONS.update(state)


def unregister(name: str) -> None:
    _FUNCTIONS.pop(name, None)


def schema() -> list[dict]:
    """Every function as JSON (the editor's autocomplete): built-ins, then plugins."""
    return [f.schema() for f in _FUNCTIONS.values()]


def summary() -> str:
    """One line for form help: ``missing(x), contains(), ...``."""
    return ", ".join("missing(x)" if f.name == "missing" else f"{f.name}()" for f in _FUNCTIONS.values())


def reference() -> str:
    """A Markdown table of every function (docs and the editor's help are generated from it)."""
    rows = ["| function | returns | what it does | example |", "|---|---|---|---|"]
    for f in _FUNCTIONS.values():
        rows.append(f"| `{f.name}({', '.join(f.args)})` | {f.returns} | {f.doc} | `{f.example}` |")
    return "\n".join(rows)


# -- the built-ins ---------------------------------------------------------------------------
def _len_chars(s: Any) -> Any:
    import polars as pl

    return s.str.len_chars().cast(pl.Float64)


def _pattern_ok(index: int, value: Any) -> None:
    regex.check_pattern(value)


def _builtins() -> None:
    register(RuleFunction("missing", ("any",), BOOL, "True when the value is missing (None, NaN, absent step or field).",
                          example="missing(logo.box)", kind="special", typer="call_missing"))
    register(RuleFunction("contains", (STRING, STRING), BOOL, "Whether the first text contains the second.",
                          item=lambda s, sub: sub in s, vector=lambda s, sub: s.str.contains(sub, literal=True),
                          example='contains(subs.text, "casino")'))
    register(RuleFunction("matches", (STRING, STRING), BOOL, "Whether a bounded regular expression matches the text.",
                          item=lambda s, pattern: regex.search(pattern, s), vector=lambda s, pattern: s.str.contains(pattern),
                          example='matches(subs.text, "(?i)casino")', constant={1: "a pattern in quotes"},
                          check_constant=_pattern_ok))
    register(RuleFunction("len", ("string or list",), NUMBER, "Characters of a text, or elements of a list.",
                          item=lambda v: float(len(v)), vector=_len_chars,
                          example="len(subs.text) > 40", kind="fold", typer="call_len"))
    register(RuleFunction("abs", (NUMBER,), NUMBER, "Absolute value.", item=abs, vector=lambda x: x.abs(),
                          example="abs(clarity.score - 0.5) < 0.1"))
    for name, doc, example in (
        ("count", "Elements of a list; true elements of a true/false list.", "count(clarity.frame_scores < 0.3) >= 2"),
        ("any", "Whether a true/false list holds a true element (any list: whether it is non-empty).",
         'any(matches(subs.lines.text, "(?i)casino"))'),
        ("all", "Whether no element of a true/false list is false.", "all(clarity.frame_scores > 0.5)"),
        ("max", "Largest number of a list (missing when it has none).", "max(speech.segments.end_s) > 5"),
        ("min", "Smallest number of a list (missing when it has none).", "min(clarity.frame_scores) < 0.2"),
    ):
        returns = NUMBER if name in ("count", "max", "min") else BOOL
        register(RuleFunction(name, ("list",), returns, doc, example=example, kind="fold", typer=f"call_{name}"))


_builtins()


if __name__ == "__main__":  # the table docs/extending.md holds
    print(reference())
