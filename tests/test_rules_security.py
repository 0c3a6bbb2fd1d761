"""Hostile conditions are refused at compile time with a clear RuleError; fuzzing finds nothing else."""

from __future__ import annotations

import ast
import os
import time
from datetime import timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factorline.contract.errors import RuleError
from factorline.rules import compile_condition, compile_decisions
from factorline.rules.evaluate import evaluate
from factorline.rules.vectorized import column_values

FIELDS = {
    "a": {"x": "float", "n": "int", "flag": "bool", "s": "str", "xs": "list[float]", "ws": "list[str]", "segs": "segments"},
    "b": {"lines": "lines", "t": "str"},
}
# FACTORLINE_RULES_EXAMPLES=20000 for a deeper search than the quick default.
FUZZ = settings(max_examples=int(os.environ.get("FACTORLINE_RULES_EXAMPLES", "300")), deadline=timedelta(seconds=2),
                suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("text, message", [
    ('__import__("os").system("rm -rf /")', r"names starting with '_' are not allowed \(found '__import__'\)"),
    ("a.x.__class__.__bases__", r"names starting with '_' are not allowed"),
    ("().__class__", r"names starting with '_' are not allowed"),
    ("a.__dict__ == 1", r"names starting with '_' are not allowed"),
    ("__builtins__", r"names starting with '_' are not allowed"),
    ('open("/etc/passwd")', r"function 'open' is not allowed; available functions: missing, contains"),
    ('eval("1")', r"function 'eval' is not allowed"),
    ('getattr(a, "x")', r"function 'getattr' is not allowed"),
    ("a.s.lower() == 'x'", r"calling 'a.s.lower' is not allowed"),
    ("(lambda: 1)() > 0", r"calling .* is not allowed|lambda functions are not allowed"),
    ("lambda: a.flag", r"lambda functions are not allowed"),
    ("any([x > 1 for x in a.xs])", r"comprehensions are not allowed"),
    ("any(x > 1 for x in a.xs)", r"comprehensions are not allowed"),
    ("9**9**9 > 1", r"'\*\*' is not allowed"),
    ("a.xs[0] > 1", r"indexing with \[...\] is not supported"),
    ("(y := 1) > 0", r"assignment ':=' is not allowed"),
    ('f"{a.s}" == "x"', r"f-strings are not allowed"),
    ("{1: 2} == a.x", r"dictionaries are not allowed"),
    ("a.x in {1, 2}", r"sets are not allowed"),
    ("any(*a.xs)", r"takes plain arguments only"),
    ("count(a.xs, key=1) > 1", r"takes plain arguments only"),
    ("a.x > 10**100", r"'\*\*' is not allowed"),
    ("a.x > 1e999", r"not finite"),
    ("a.x > 123456789012345678901234567890", r"too large"),
    ("b'x' in a.s", r"constant .* is not allowed"),
    ("a.x > 1j", r"constant .* is not allowed"),
    ("a.b.c.d.e > 1", r"too many dots"),
    ("a.x in [" + "1," * 900 + "1]", r"condition has more than 400 parts"),
    ("a.x" + " + 1" * 300 + " > 0", r"nested more than 32 levels"),
    ("not " * 100 + "a.flag", r"nested more than 32 levels"),
    ("-" * 100 + "a.x > 0", r"nested more than 32 levels"),
    ("(" * 300 + "a.x" + ")" * 300 + " > 0", r"not a valid condition"),
    ('a.s == "' + "x" * 1_000_000 + '"', r"the limit is 2000"),
    ('a.s == "' + "x" * 1500 + '"', r"text constant is 1500 characters long; the limit is 1000"),
    ("a.x in [" + ", ".join(["1"] * 150) + "]", r"list has 150 items; the limit is 100"),
    ("a.flag\x00", r"not a valid condition"),
    ("a.flag; import os", r"not a valid condition"),
    ("a.flag\nimport os", r"not a valid condition"),
    ("\ud800", r"not a valid condition"),
])
def test_hostile_conditions_are_refused_quickly(text, message):
    """Given hostile text, when compiled, then a RuleError explains the refusal within a second."""
    started = time.perf_counter()
    with pytest.raises(RuleError, match=message):
        compile_condition(text, FIELDS)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("pattern, message", [
    ("(a+)+$", r"unbounded repeat inside another repeat"),
    ("(a*)*b", r"unbounded repeat inside another repeat"),
    ("(x+x+)+y", r"unbounded repeat inside another repeat"),
    ("(a|a)*", r"repeated alternation whose branches can start with the same character"),
    ("(a|ab)+c", r"repeated alternation"),
    ("([a-z]|[k-q]1)*", r"repeated alternation"),
    (r"(\wx|\dy)+", r"repeated alternation"),
    (r"(a)\1", r"backreferences are not supported"),
    ("(?=a)b", r"lookahead/lookbehind is not supported"),
    ("(?<!a)b", r"lookahead/lookbehind is not supported"),
    ("(?>a+)b", r"atomic groups"),
    ("a{5000}", r"repeat counts are limited to 1000"),
    ("(?:(?:a{1000}){1000}){1000}", r"size limit"),
    ("a" * 300, r"longer than 256 characters"),
    ("(", r"not a valid pattern"),
    (r"\p{L}", r"not a valid pattern"),
])
def test_catastrophic_or_unsupported_regexes_are_refused(pattern, message):
    started = time.perf_counter()
    with pytest.raises(RuleError, match=message):
        compile_condition(f'matches(a.s, "{pattern}")', FIELDS)
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize("pattern", ["(ab|cd)+", "(?i)casino|bet(ting)?", r"\d{2,4}-\d+", "[a-z]+(x|y)z", "^$"])
def test_ordinary_regexes_are_accepted(pattern):
    assert compile_condition(f'matches(a.s, "{pattern}")', FIELDS).type == "bool"


def test_a_long_text_cannot_make_a_match_slow():
    """Given a megabyte of text against a pattern that backtracks in Python, then both evaluators are quick."""
    node = compile_condition('matches(a.s, "a*a*a*a*a*b")', FIELDS)
    text = "a" * 1_000_000
    started = time.perf_counter()
    assert evaluate(node, {"a": {"s": text}}) is False
    assert column_values(node, pl.DataFrame({"a.s": [text]})).to_list() == [False]
    assert time.perf_counter() - started < 2.0


def test_hostile_table_documents_are_issues():
    rules = [{"id": f"r{i}", "when": "a.flag", "outcome": "x"} for i in range(600)]
    _, issues = compile_decisions({"t": {"on_missing": "r", "on_error": "r", "rules": rules}, "u": None}, FIELDS)
    paths = {i.path for i in issues}
    assert {"decisions.t.rules", "decisions.u"} <= paths


# -- fuzzing -------------------------------------------------------------------------------
def _check_clean(text: str) -> None:
    """Compile ``text``: a typed condition that both evaluators can run, or a RuleError."""
    try:
        node = compile_condition(text, FIELDS)
    except RuleError as exc:
        assert exc.message and isinstance(exc.message, str)
        return
    assert node.type == "bool"
    evaluate(node, {})
    column_values(node, pl.DataFrame({"a.x": [1.0]}))


TOKENS = ["a.x", "a.n", "a.flag", "a.s", "a.xs", "a.segs", "a.segs.end_s", "b.lines.text", "b.t", "(", ")", "[", "]",
          ",", "and", "or", "not", "in", "+", "-", "*", "/", "**", "<", ">=", "==", "!=", "1", "0.5", "-3", "1e308",
          '"a"', "'(a+)+'", '"\\\\"', "true", "None", "lambda", ":", "if", "else", "for", "__class__", ".", "_x",
          "missing(", "matches(", "count(", "any(", "max(", "len(", "abs(", "contains(", "open(", "__import__(",
          "x", "9", "\x00", "\n", "#", ";", "=", "@", "{", "}", "...", "`"]
token_text = st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join)


@FUZZ
@given(st.one_of(st.text(max_size=300), token_text))
def test_random_text_gives_only_rule_errors(text):
    _check_clean(text)


_names = st.sampled_from(["a", "b", "x", "any", "count", "missing", "matches", "open", "__import__", "eval", "true", "None"])
_attrs = st.sampled_from(["x", "n", "s", "flag", "xs", "segs", "lines", "text", "__class__", "_y", "end_s", "lower"])
_consts = st.one_of(st.integers(-(10**30), 10**30), st.floats(), st.text(max_size=20), st.booleans(), st.none(),
                    st.binary(max_size=4), st.just(...))
_BINOPS = [ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.Mod, ast.FloorDiv, ast.BitAnd, ast.BitOr, ast.LShift, ast.MatMult]
_CMPOPS = [ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq, ast.In, ast.NotIn, ast.Is, ast.IsNot]


def _expressions(children):
    load = ast.Load()
    return st.one_of(
        st.builds(lambda l, o, r: ast.BinOp(l, o(), r), children, st.sampled_from(_BINOPS), children),
        st.builds(lambda o, v: ast.UnaryOp(o(), v), st.sampled_from([ast.Not, ast.USub, ast.UAdd, ast.Invert]), children),
        st.builds(lambda o, vs: ast.BoolOp(o(), vs), st.sampled_from([ast.And, ast.Or]), st.lists(children, min_size=2, max_size=3)),
        st.builds(lambda l, o, r: ast.Compare(l, [o()], [r]), children, st.sampled_from(_CMPOPS), children),
        st.builds(lambda f, args: ast.Call(f, args, []), st.one_of(_names.map(lambda n: ast.Name(n, load)), children),
                  st.lists(children, max_size=3)),
        st.builds(lambda v, a: ast.Attribute(v, a, load), children, _attrs),
        st.builds(lambda v, i: ast.Subscript(v, i, load), children, children),
        st.builds(lambda es: ast.List(es, load), st.lists(children, max_size=3)),
        st.builds(lambda b: ast.Lambda(ast.arguments([], [], None, [], [], None, []), b), children),
        st.builds(ast.IfExp, children, children, children),
        st.builds(lambda e, it: ast.ListComp(e, [ast.comprehension(ast.Name("x", ast.Store()), it, [], 0)]), children, children),
        st.builds(lambda v: ast.NamedExpr(ast.Name("y", ast.Store()), v), children),
        st.builds(lambda k, v: ast.Dict([k], [v]), children, children),
        st.builds(lambda v: ast.JoinedStr([ast.FormattedValue(v, -1, None)]), children),
    )


_leaves = st.one_of(
    _names.map(lambda n: ast.Name(n, ast.Load())),
    _consts.map(ast.Constant),
    st.builds(lambda s, f: ast.Attribute(ast.Name(s, ast.Load()), f, ast.Load()), st.sampled_from(["a", "b"]), _attrs),
)
random_trees = st.recursive(_leaves, _expressions, max_leaves=12)


def _source(tree: ast.AST) -> str | None:
    try:
        return ast.unparse(ast.fix_missing_locations(ast.Expression(tree)))
    except Exception:  # unparse refuses some random trees; those are not texts a user could write
        return None


@FUZZ
@given(random_trees.map(_source).filter(lambda s: s is not None))
def test_random_syntax_trees_give_only_rule_errors(text):
    _check_clean(text)


def test_huge_values_are_shown_briefly_in_messages():
    """A value that is small in memory but huge when walked (one list shared 9**7 times) is
    named in a case issue without building its whole repr."""
    import tracemalloc

    bomb: list = ["lol"] * 9
    for _ in range(7):
        bomb = [bomb] * 9
    tables = {"t": {"on_missing": "review", "on_error": "review", "rules": [{"id": "ok", "default": True, "outcome": "accept"}],
                    "cases": [{"expect": "accept", "factors": {"a": {"x": bomb, "flag": 10**5000}}}]}}
    tracemalloc.start()
    try:
        _, issues = compile_decisions(tables, FIELDS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    messages = {i.path: i.message for i in issues}
    assert messages["decisions.t.cases[0].factors.a.x"].startswith("a.x holds float, found [[[[...]")
    assert len(messages["decisions.t.cases[0].factors.a.x"]) < 100
    assert messages["decisions.t.cases[0].factors.a.flag"] == "a.flag holds bool, found <int of 16610 bits>"
    assert peak < 2 * 1024**2, peak
