"""Property tests: the per-item and the vectorized evaluator agree on random conditions and
random factor values, including None, NaN, inf, -0.0, empty strings and empty lists."""

from __future__ import annotations

import math
import os

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from factorline.contract.errors import RuleError
from factorline.rules import compile_condition, compile_decisions
from factorline.rules.evaluate import evaluate
from factorline.rules.language import parse
from factorline.rules.typecheck import check
from factorline.rules.vectorized import column_values, decide_frame

FIELDS = {
    "a": {"x": "float", "n": "int", "flag": "bool", "s": "str", "xs": "list[float]", "ws": "list[str]",
          "segs": "segments", "evidence": "evidence"},
    "b": {"y": "float", "ok": "bool", "t": "str", "lines": "lines"},
}
POLARS = {
    "float": pl.Float64, "int": pl.Int64, "bool": pl.Boolean, "str": pl.String,
    "list[float]": pl.List(pl.Float64), "list[str]": pl.List(pl.String),
    "segments": pl.List(pl.Struct({"start_s": pl.Float64, "end_s": pl.Float64})),
    "lines": pl.List(pl.Struct({"start_s": pl.Float64, "end_s": pl.Float64, "text": pl.String, "score": pl.Float64})),
    "evidence": pl.List(pl.Struct({"t": pl.Float64})),
}
# FACTORLINE_RULES_EXAMPLES=5000 for a deeper search than the quick default.
EXAMPLES = int(os.environ.get("FACTORLINE_RULES_EXAMPLES", "150"))
AGREEMENT = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- factor values ---------------------------------------------------------------------------
SPECIAL = [0.0, -0.0, 0.5, 1.0, -1.0, 2.0, math.inf, -math.inf, math.nan, 1e308, -1e308, 5e-324]
floats = st.one_of(st.none(), st.sampled_from(SPECIAL), st.floats(allow_nan=True, allow_infinity=True))
texts = st.one_of(st.none(), st.sampled_from(["", "a", "ab", "casino", "Casino!", "b"]), st.text(max_size=6))
VALUES = {
    "float": floats,
    "int": st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.integers(-3, 3)),
    "bool": st.one_of(st.none(), st.booleans()),
    "str": texts,
    "list[float]": st.one_of(st.none(), st.lists(floats, max_size=4)),
    "list[str]": st.one_of(st.none(), st.lists(texts, max_size=3)),
    "segments": st.one_of(st.none(), st.lists(st.one_of(st.none(), st.fixed_dictionaries(
        {"start_s": floats, "end_s": floats})), max_size=3)),
    "lines": st.one_of(st.none(), st.lists(st.fixed_dictionaries(
        {"start_s": floats, "end_s": floats, "text": texts, "score": floats}), max_size=3)),
    "evidence": st.one_of(st.none(), st.lists(st.fixed_dictionaries({"t": floats}), max_size=2)),
}
_ABSENT = object()


@st.composite
def items(draw) -> dict:
    """One item's factors; a step or a key may be absent altogether."""
    factors = {}
    for step, fields in FIELDS.items():
        if draw(st.integers(0, 9)) == 0:
            continue  # the step did not run
        values = {name: draw(st.one_of(st.just(_ABSENT), VALUES[dtype])) for name, dtype in fields.items()}
        factors[step] = {k: v for k, v in values.items() if v is not _ABSENT}
    return factors


def frame(rows: list[dict], error: list[bool] | None = None) -> pl.DataFrame:
    columns = {
        f"{step}.{name}": pl.Series([(r.get(step) or {}).get(name) for r in rows], dtype=POLARS[dtype])
        for step, fields in FIELDS.items() for name, dtype in fields.items()
    }
    if error is not None:
        columns["__error"] = pl.Series(error, dtype=pl.Boolean)
    return pl.DataFrame(columns)


# -- conditions ------------------------------------------------------------------------------
NUM_ATOMS = ["a.x", "a.n", "b.y", "len(a.s)", "count(a.xs)", "max(a.xs)", "min(a.xs)", "count(a.segs)",
             "max(a.segs.end_s)", "min(b.lines.score)", "count(a.xs > 0.5)", "len(a.ws)", "abs(a.x)", "len(b.lines)",
             "max(a.xs * 3)", "max(a.xs / 3)", "min(a.xs - 0.5)", "max(-a.xs)", "max(abs(a.xs))", "min(1 / a.xs)",
             "0", "1", "-1", "0.5", "2.5", "1e308", "3"]
numbers = st.recursive(
    st.sampled_from(NUM_ATOMS),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda e: f"-({e})"),
        inner.map(lambda e: f"abs({e})"),
    ),
    max_leaves=4,
)
BOOL_ATOMS = [
    "a.flag", "b.ok", "a.flag == b.ok", "a.flag != true", 'a.s == "a"', "a.s != b.t", 'contains(a.s, "a")',
    'matches(a.s, "^a")', '"b" in a.s', 'a.s in ["a", "", "casino"]', 'b.t not in ["x"]', 'matches(b.t, "(?i)casino")',
    'a.s == ""', "contains(a.s, b.t)", '"a" in a.ws', "any(a.xs > 0.5)", "all(a.xs < 1)", "any(a.segs)",
    'any(contains(a.ws, "a"))', 'count(a.ws == "a") > 0', "all(b.lines.score >= 0)", 'any(matches(b.lines.text, "a+"))',
    "any(a.xs in [0, 1])", "1 in a.xs", "a.x in a.xs", "any(-a.xs > 0)", "any(abs(a.xs) < 1)", "any(a.xs * 2 > 1)",
    "all(a.xs / 0 > 1)", "any(a.xs not in [0.5])", "missing(a.x)", "missing(a.xs)", "missing(max(a.xs))",
    "missing(a.segs)", "missing(b.t)", "missing(a.x / b.y)", "a.n in [0, 1, -1]", "any(a.evidence)",
    "count(a.segs.start_s < 1) >= 1", "any(a.xs / 3 > 0.1)", "a.x / 3 == b.y / 3",
]
comparisons = st.tuples(numbers, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), numbers).map(" ".join)
conditions = st.recursive(
    st.one_of(st.sampled_from(BOOL_ATOMS), comparisons),
    lambda inner: st.one_of(
        inner.map(lambda e: f"not ({e})"),
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
    ),
    max_leaves=5,
)


def _compiled(text: str, *, condition: bool = True):
    try:
        node, problems = check(parse(text), FIELDS, condition=condition)
    except RuleError:
        problems = [("x", "y")]
    assume(not problems)  # e.g. "(0 / 0)" folds to no value
    return node


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b and type(a) is type(b)


@AGREEMENT
@given(text=conditions, rows=st.lists(items(), min_size=1, max_size=8))
def test_conditions_agree_on_random_values(text, rows):
    """Given a random condition and random items, when both evaluators run, then every value matches."""
    node = _compiled(text)
    per_item = [evaluate(node, r) for r in rows]
    vectorized = column_values(node, frame(rows)).to_list()
    assert per_item == vectorized, text


@AGREEMENT
@given(text=numbers, rows=st.lists(items(), min_size=1, max_size=8))
def test_numbers_agree_on_random_values(text, rows):
    """Given random arithmetic over factors, then both evaluators compute the same numbers (NaN never escapes)."""
    node = _compiled(text, condition=False)
    per_item = [evaluate(node, r) for r in rows]
    vectorized = column_values(node, frame(rows)).to_list()
    assert all(v is None or not math.isnan(v) for v in per_item)
    assert all(_same(a, b) or (a is None and b is None) for a, b in zip(per_item, vectorized)), (text, per_item, vectorized)


@AGREEMENT
@given(
    conds=st.lists(conditions, min_size=1, max_size=4),
    policy=st.sampled_from(["first", "collect", "priority"]),
    priorities=st.lists(st.integers(-2, 2), min_size=4, max_size=4),
    rows=st.lists(st.tuples(items(), st.booleans()), min_size=1, max_size=8),
)
def test_tables_agree_on_random_values(conds, policy, priorities, rows):
    """Given a random table under any policy, then decide and decide_frame give the same outcome and rule."""
    rules = [{"id": f"r{i}", "when": c, "outcome": f"o{i % 3}"} for i, c in enumerate(conds)]
    if policy == "priority":
        for rule, p in zip(rules, priorities):
            rule["priority"] = p
    rules.append({"id": "otherwise", "default": True, "outcome": "accept"})
    doc = {"t": {"policy": policy, "on_missing": "review", "on_error": "failed", "rules": rules}}
    compiled, issues = compile_decisions(doc, FIELDS)
    assume(not issues)
    factors = [r for r, _ in rows]
    errors = [failed and i % 2 == 0 for i, (_, failed) in enumerate(rows)]
    per_item = [compiled.decide(f, error={"type": "X", "message": "m"} if e else None)["t"] for f, e in zip(factors, errors)]
    out = compiled.decide_frame(frame(factors, errors))
    assert [d["outcome"] for d in per_item] == out["t.outcome"].to_list()
    assert [d["rule"] for d in per_item] == out["t.rule"].to_list()
    # Told the vectorized rule (and the rule that could not be evaluated), the per-item evaluator
    # writes the same decision without trying the rules before it (what `decide` relies on).
    known = decide_frame(compiled, frame(factors, errors), blocked=True)
    for f, e, want, rule, blocked in zip(factors, errors, per_item, known["t.rule"], known["t.blocked"], strict=True):
        got = compiled.tables["t"].decide_known(rule, blocked, f, {"type": "X", "message": "m"} if e else None)
        assert orjson.dumps(got) == orjson.dumps(want), (rule, blocked)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(items(), min_size=1, max_size=5))
def test_absent_columns_read_as_missing(rows):
    """Given a frame without some referenced columns, then they read as missing, like absent keys per item."""
    compiled, issues = compile_decisions({"t": {"on_missing": "review", "on_error": "review", "rules": [
        {"id": "big", "when": "a.x > 0.5 or count(b.lines) > 1", "outcome": "reject"},
        {"id": "ok", "default": True, "outcome": "accept"}]}}, FIELDS)
    assert not issues
    stripped = [{"a": {"x": (r.get("a") or {}).get("x")}} if "a" in r else {} for r in rows]
    df = frame(rows).select("a.x")
    assert [compiled.decide(f)["t"]["rule"] for f in stripped] == compiled.decide_frame(df)["t.rule"].to_list()


def test_nan_is_missing_not_true_in_both_evaluators():
    """Given NaN (which polars would call > 0.8), when compared, then both evaluators say missing."""
    node = compile_condition("a.x > 0.8", FIELDS)
    df = frame([{"a": {"x": math.nan}}])
    assert evaluate(node, {"a": {"x": math.nan}}) is None
    assert column_values(node, df).to_list() == [None]


@pytest.mark.parametrize("text", ["a.x / 0 > 1", "a.x - a.x > 0", "a.x * 0 == 0"])
def test_division_by_zero_and_inf_arithmetic_are_missing(text):
    """Given inf or a zero divisor, when arithmetic yields no number, then the result is missing in both."""
    node = compile_condition(text, FIELDS)
    df = frame([{"a": {"x": math.inf}}, {"a": {"x": 1.0}}])
    per_item = [evaluate(node, {"a": {"x": math.inf}}), evaluate(node, {"a": {"x": 1.0}})]
    assert per_item == column_values(node, df).to_list()
    assert per_item[0] is None
