"""The vectorized evaluator: typed IR -> polars expressions over a table of many items.

Expressions are generated from the parsed, typed rules (never from raw text), operation by
operation with the semantics ``evaluate`` documents: NaN becomes null as soon as a number is
read and after every arithmetic step (polars would call ``NaN > 0.8`` true), ``x / 0`` is
null, ``&``/``|``/``~`` are already Kleene in polars, and element-wise list operations run
inside ``list.eval``. Regexes run on the same Rust engine as the per-item evaluator.

``decide_frame`` returns ``<table>.outcome`` and ``<table>.rule`` for each input row; input
columns are ``step.field`` (a missing column reads as all-missing) and optionally a boolean
``__error`` marking failed items.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import polars as pl

from . import functions
from .docs import ITEM, ON_ERROR, ON_MISSING
from .evaluate import aggregate_name
from .ir import (
    BOOL,
    NUMBER,
    RECORD_KEYS,
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
    refs,
)
from .tables import CompiledDecisions, CompiledTable

ERROR_COLUMN = "__error"
_SCALAR_DTYPES = {NUMBER: pl.Float64, BOOL: pl.Boolean, STRING: pl.String}


@dataclass(frozen=True)
class Elem:
    """A list computed element by element: ``fn(pl.element())`` applied to each item of ``base``."""

    base: pl.Expr
    fn: Callable[[pl.Expr], pl.Expr]
    identity: bool = False

    def materialize(self) -> pl.Expr:
        return self.base if self.identity else self.base.list.eval(self.fn(pl.element()))


def _no_nan(e: pl.Expr) -> pl.Expr:
    return e.fill_nan(None)


ARITH = {
    "+": lambda a, b: _no_nan(a + b),
    "-": lambda a, b: _no_nan(a - b),
    "*": lambda a, b: _no_nan(a * b),
    "/": lambda a, b: _no_nan(pl.when(b == 0).then(None).otherwise(a / b)),
}
COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}
_MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def scalar_call(name: str) -> Callable[..., pl.Expr]:
    """A declared function's polars implementation (rules/functions.py); a NaN number out is
    null, as in the per-item evaluator."""
    fn = functions.get(name)
    if fn is None or fn.vector is None:
        raise TypeError(f"function {name!r} has no vectorized implementation")
    vector = fn.vector
    if fn.returns == NUMBER and fn.origin != "factorline":
        return lambda *args: _no_nan(vector(*args).cast(pl.Float64))
    return vector


class Translator:
    """Translate typed nodes into expressions over a frame made by ``prepare``."""

    def __call__(self, node: Node) -> pl.Expr | Elem:
        if isinstance(node, Const):
            return pl.lit(node.value, dtype=_SCALAR_DTYPES[node.type])
        if isinstance(node, Ref):
            return self.ref(node)
        if isinstance(node, Logic):
            exprs = [self.scalar(o) for o in node.operands]
            combine = operator.and_ if node.op == "and" else operator.or_
            out = exprs[0]
            for e in exprs[1:]:
                out = combine(out, e)
            return out
        if folds_list(node):
            return self.fold(node)  # type: ignore[arg-type]
        if isinstance(node, Call) and node.name == "missing":
            inner = self(node.args[0])
            return (inner.base if isinstance(inner, Elem) else inner).is_null()
        if isinstance(node, Member):
            return self.member(node)
        return self.operation(node)

    def scalar(self, node: Node) -> pl.Expr:
        out = self(node)
        return out.materialize() if isinstance(out, Elem) else out

    def ref(self, ref: Ref) -> pl.Expr | Elem:
        col = pl.col(ref.column)  # already cast by prepare()
        if not is_list(ref.type):
            return _no_nan(col) if ref.type == NUMBER else col
        item = element_type(ref.type)
        if ref.key is None:
            return Elem(col, _no_nan) if item == NUMBER else Elem(col, lambda e: e, identity=True)
        key, dtype = ref.key, _SCALAR_DTYPES[item]

        def project(e: pl.Expr) -> pl.Expr:
            value = e.struct.field(key).cast(dtype)
            return _no_nan(value) if item == NUMBER else value

        return Elem(col, project)

    # -- operations -------------------------------------------------------------------------
    def operation(self, node: Node) -> pl.Expr | Elem:
        if isinstance(node, Unary):
            build = operator.invert if node.op == "not" else _negate
            return lift(build, [self(node.operand)])
        if isinstance(node, Binary) and node.op in COMPARE and isinstance(node.left, Const):
            # "0 < x" is computed as "x > 0": polars 2.1 returns one row for some comparisons
            # with a literal on the left (over all-null list.eval results, or columns whose
            # statistics say every row compares alike), and the frame then fails on length.
            return lift(COMPARE[_MIRROR[node.op]], [self(node.right), self(node.left)])
        if isinstance(node, Binary) and node.op == "/" and isinstance(node.right, Const):
            return lift(ARITH["/"], [self(node.left), _exact_divisor(node.right.value)])  # type: ignore[arg-type]
        if isinstance(node, Binary):
            build = ARITH.get(node.op) or COMPARE[node.op]
            return lift(build, [self(node.left), self(node.right)])
        if isinstance(node, Call):
            # Arguments the function declares constant (matches' pattern) go in as values.
            constant = functions.get(node.name).constant  # type: ignore[union-attr]
            parts = [a.value if i in constant else self(a) for i, a in enumerate(node.args)]  # type: ignore[union-attr]
            return lift(scalar_call(node.name), parts)
        raise TypeError(f"cannot translate {type(node).__name__}")

    def member(self, node: Member) -> pl.Expr | Elem:
        container = node.container
        if isinstance(container, ListLit):
            values = pl.Series([c.value for c in container.items], dtype=_SCALAR_DTYPES[element_type(container.type)])
            out = lift(lambda x: x.is_in(values.implode()), [self(node.needle)])
        elif container.type == STRING:
            out = scalar_call("contains")(self.scalar(container), self.scalar(node.needle))
        else:
            items, needle = self.scalar(container), self.scalar(node.needle)
            out = pl.when(needle.is_null()).then(None).otherwise(items.list.contains(needle))
        return lift(operator.invert, [out]) if node.negate else out

    def fold(self, node: Call) -> pl.Expr:
        items = self(node.args[0])
        assert isinstance(items, Elem)
        name = aggregate_name(node)
        if name in ("count", "len", "any"):
            length = items.base.list.len()
            return length > 0 if name == "any" else length.cast(pl.Float64)
        if name in ("count_bool", "any_bool", "all"):
            # Count true elements (false ones for all); missing elements count as neither.
            flip = operator.invert if name == "all" else (lambda e: e)
            counted = items.base.list.eval(flip(items.fn(pl.element())).fill_null(False)).list.sum()
            return {"count_bool": counted.cast(pl.Float64), "any_bool": counted > 0, "all": counted == 0}[name]
        present = items.base.list.eval(items.fn(pl.element())).list.drop_nulls()
        return (present.list.max() if name == "max" else present.list.min()).cast(pl.Float64)


def _exact_divisor(value: float) -> pl.Expr:
    """``value`` as a computed column. Polars divides by a literal by multiplying with its
    reciprocal, one ulp off IEEE division for about a third of all numbers; Python (the
    per-item evaluator) divides exactly, and a threshold test on the result would disagree."""
    return pl.int_range(pl.len(), dtype=pl.Int64).cast(pl.Float64) * 0.0 + value


def _negate(x: pl.Expr) -> pl.Expr:
    return -x


def lift(build: Callable[..., pl.Expr], parts: list) -> pl.Expr | Elem:
    """Apply ``build``; over each element when one part is a list (the others are constants)."""
    elem = next((p for p in parts if isinstance(p, Elem)), None)
    if elem is None:
        return build(*parts)
    return Elem(elem.base, lambda e: build(*(elem.fn(e) if p is elem else p for p in parts)))


# -- input frames ---------------------------------------------------------------------------
def _dtype(t: str) -> pl.DataType:
    """The polars type a column of rules type ``t`` is read as."""
    if t in _SCALAR_DTYPES:
        return _SCALAR_DTYPES[t]
    if t.startswith("list["):
        return pl.List(_SCALAR_DTYPES[element_type(t)])
    keys = RECORD_KEYS[t[8:-1]]
    return pl.List(pl.Struct({k: _SCALAR_DTYPES[v] for k, v in keys.items()}))


def _sentinel(dtype: pl.DataType) -> object:
    """A non-null value of ``dtype`` (every list type takes the empty list)."""
    if dtype == pl.Float64:
        return 0.0
    return False if dtype == pl.Boolean else "" if dtype == pl.String else []


def prepare(df: pl.DataFrame, nodes: list[Node]) -> pl.DataFrame:
    """The columns ``nodes`` read, cast to one type each, plus one sentinel row at the end.

    An absent column becomes a column of nulls. The sentinel row (no value is null) exists
    because polars 2.1 gives ``list.eval`` over an all-null column a length of one, after
    which a comparison with a literal fails; callers drop the row again. Rows are
    independent, so it changes nothing else.
    """
    needed = {r.column: r.source for n in nodes for r in refs(n)}
    columns = []
    for name, t in needed.items():
        dtype = _dtype(t)
        if name not in df.columns:
            columns.append(pl.lit(None, dtype=dtype).alias(name))
        elif t.startswith("records[") and df.schema[name] != pl.Null:
            columns.append(pl.col(name))  # read as stored: a cast fails on extra or absent keys
        else:
            columns.append(pl.col(name).cast(dtype))
    if ERROR_COLUMN in df.columns:
        columns.append(pl.col(ERROR_COLUMN).cast(pl.Boolean).fill_null(False))
    body = df.select(columns) if columns else pl.DataFrame({"__row": pl.Series([False] * df.height, dtype=pl.Boolean)})
    sentinel = pl.DataFrame([pl.Series(n, [_sentinel(d)], dtype=d) for n, d in body.schema.items()])
    return pl.concat([body, sentinel], how="vertical", rechunk=False)


# -- tables ---------------------------------------------------------------------------------
_ERROR_CODE, _DEFAULT_CODE, _MISSING_BASE = -2, -3, -100  # rule i could not be evaluated: _MISSING_BASE - i


def _table_columns(table: CompiledTable, translate: Translator, failed: pl.Expr,
                   blocked: bool = False) -> tuple[list[pl.Expr], list[pl.Expr]]:
    """Condition columns, then outcome/rule columns reading them (each condition computed once);
    with ``blocked`` also the id of the rule that could not be evaluated (on_missing rows)."""
    prefix = f"__{table.name}.c"
    conds = [translate.scalar(r.cond).alias(f"{prefix}{i}") for i, r in enumerate(table.order)]
    chain = pl.when(failed).then(pl.lit(_ERROR_CODE))
    for i in range(len(table.order)):
        c = pl.col(f"{prefix}{i}")
        chain = chain.when(c.is_null()).then(pl.lit(_MISSING_BASE - i)).when(c).then(pl.lit(i))
    code = chain.otherwise(pl.lit(_DEFAULT_CODE))
    outcomes = {_ERROR_CODE: table.on_error, _DEFAULT_CODE: table.default.outcome}
    rules = {_ERROR_CODE: ON_ERROR, _DEFAULT_CODE: table.default.id}
    stuck: dict[int, str | None] = dict.fromkeys(range(-3, len(table.order)))
    for i, r in enumerate(table.order):
        outcomes.update({i: r.outcome, _MISSING_BASE - i: table.on_missing})
        rules.update({i: r.id, _MISSING_BASE - i: ON_MISSING})
        stuck[_MISSING_BASE - i] = r.id
    outputs = [
        code.replace_strict(outcomes, return_dtype=pl.String).alias(f"{table.name}.outcome"),
        code.replace_strict(rules, return_dtype=pl.String).alias(f"{table.name}.rule"),
    ]
    if blocked:
        outputs.append(code.replace_strict(stuck, default=None, return_dtype=pl.String).alias(f"{table.name}.blocked"))
    return conds, outputs


def factor_frame(results: pl.DataFrame, columns: Iterable[str]) -> pl.DataFrame:
    """The ``step.field`` columns (and ``__error``) that ``decide_frame`` reads, from result
    records as Parquet stores them: a ``factors`` struct of step structs and an ``error`` struct.
    A step or field the records do not hold is left out (it reads as missing)."""
    steps, item = results.schema.get("factors"), results.schema.get(ITEM)
    held = {f.name: {g.name for g in f.dtype.fields} for f in steps.fields} if isinstance(steps, pl.Struct) else {}
    held_item = {f.name for f in item.fields} if isinstance(item, pl.Struct) else set()

    def column(step: str, name: str) -> pl.Expr:  # item.<field> reads the record's item section
        base = pl.col(ITEM) if step == ITEM else pl.col("factors").struct.field(step)
        return base.struct.field(name).alias(f"{step}.{name}")

    exprs = [
        column(step, name)
        for step, _, name in (c.partition(".") for c in sorted(columns))
        if name in (held_item if step == ITEM else held.get(step, ()))
    ]
    if "error" in results.columns:
        exprs.append(pl.col("error").is_not_null().alias(ERROR_COLUMN))
    return results.select(exprs) if exprs else pl.DataFrame({ERROR_COLUMN: [False] * results.height})


def column_values(node: Node, df: pl.DataFrame) -> pl.Series:
    """One typed expression over every row of ``df`` (tests; previews in tools)."""
    out = prepare(df, [node]).with_columns(Translator().scalar(node).alias("__value"))
    return out["__value"].head(df.height)


def decide_frame(compiled: CompiledDecisions, df: pl.DataFrame, *, blocked: bool = False) -> pl.DataFrame:
    """``<table>.outcome`` and ``<table>.rule`` per row (``blocked``: also ``<table>.blocked``, the
    rule that could not be evaluated where the table decided on_missing, else null)."""
    rules = [r.cond for t in compiled.tables.values() for r in t.order]
    frame = prepare(df, rules)
    failed = pl.col(ERROR_COLUMN) if ERROR_COLUMN in df.columns else pl.lit(False)
    conds, outputs = [], []
    for table in compiled.tables.values():
        c, o = _table_columns(table, Translator(), failed, blocked)
        conds += c
        outputs += o
    if not outputs:
        return df.select([])
    return frame.lazy().with_columns(conds).select(outputs).collect().head(df.height)
