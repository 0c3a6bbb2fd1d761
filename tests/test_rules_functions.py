"""Rule functions declared once (rules/functions.py): a plugin's function parses, types, and
evaluates the same per item and vectorized; the built-ins run on the same registry."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pytest

from factorline.contract.errors import PluginError, RuleError
from factorline.rules import compile_condition, compile_decisions, functions
from factorline.rules.evaluate import evaluate
from factorline.rules.vectorized import column_values
from factorline.sdk import rule_function
from factorline.testing import ContractError, check_rule_function

FIELDS = {"subs": {"text": "str", "lines": "lines"}, "clarity": {"score": "float", "frame_scores": "list[float]"}}


@pytest.fixture
def declared():
    """Rule functions declared for one test, forgotten after it."""
    saved = functions.snapshot()
    yield
    functions.restore(saved)


def _clamp_vector(x, lo, hi):
    return x.clip(lo, hi)


@pytest.fixture
def clamp(declared):
    @rule_function(args=("number", "number", "number"), returns="number", vector=_clamp_vector, constant=(1, 2),
                   example="clamp(clarity.score, 0, 0.5) == 0.5")
    def clamp(x, lo, hi):
        """Limits a number to [lo, hi]."""
        return min(max(x, lo), hi)

    return clamp


@pytest.fixture
def starts_with(declared):
    @rule_function(args=("string", "string"), returns="bool", vector=lambda s, prefix: s.str.starts_with(prefix))
    def starts_with(text, prefix):
        """Whether text begins with prefix."""
        return text.startswith(prefix)

    return starts_with


def test_a_plugin_function_reads_like_a_builtin(clamp):
    node = compile_condition("clamp(clarity.score, 0, 0.5) == 0.5", FIELDS)
    assert evaluate(node, {"clarity": {"score": 0.9}}) is True
    assert evaluate(node, {"clarity": {"score": 0.2}}) is False
    assert evaluate(node, {"clarity": {"score": None}}) is None  # missing in, missing out
    df = pl.DataFrame({"clarity.score": [0.9, 0.2, None]})
    assert column_values(node, df).to_list() == [True, False, None]


def test_a_plugin_function_applies_to_each_element_in_both_evaluators(clamp):
    node = compile_condition("count(clamp(clarity.frame_scores, 0, 0.5) == 0.5) >= 2", FIELDS)
    factors = {"clarity": {"frame_scores": [0.7, 0.1, 0.9, None]}}
    assert evaluate(node, factors) is True
    df = pl.DataFrame({"clarity.frame_scores": [[0.7, 0.1, 0.9, None], [0.1]]})
    assert column_values(node, df).to_list() == [True, False]


def test_text_function_in_a_decision_table_per_item_and_vectorized(starts_with):
    tables = {"t": {"on_missing": "review", "on_error": "error", "rules": [
        {"id": "breaking", "when": 'any(starts_with(subs.lines.text, "BREAKING"))', "outcome": "flag"},
        {"id": "ok", "default": True, "outcome": "ok"}]}}
    compiled, issues = compile_decisions(tables, FIELDS)
    assert issues == []
    lines = [{"start_s": 0.0, "end_s": 1.0, "text": "BREAKING: news", "score": 0.9}]
    assert compiled.decide({"subs": {"lines": lines, "text": ""}})["t"]["outcome"] == "flag"
    assert "starts_with(subs.lines.text" in compiled.decide({"subs": {"lines": lines}})["t"]["explanation"]
    frame = pl.DataFrame({"subs.lines": [lines, [{**lines[0], "text": "calm"}]]})
    assert compiled.decide_frame(frame)["t.outcome"].to_list() == ["flag", "ok"]


def test_wrong_argument_type_arity_and_constants_are_one_line(clamp, starts_with):
    with pytest.raises(RuleError, match=r"^'starts_with\(\)' needs text, but 'clarity.score' is number$"):
        compile_condition('starts_with(clarity.score, "x")', FIELDS)
    with pytest.raises(RuleError, match=r"^clamp\(\) takes 3 arguments, found 2 in 'clamp\(clarity.score, 0\)'$"):
        compile_condition("clamp(clarity.score, 0) > 1", FIELDS)
    with pytest.raises(RuleError, match=r"^clamp\(\) needs a constant number as its second argument \(found 'clarity.score'\)$"):
        compile_condition("clamp(clarity.score, clarity.score, 1) > 0", FIELDS)
    with pytest.raises(RuleError, match=r"function 'clmap' is not allowed; available functions: missing, .*, clamp"):
        compile_condition("clmap(clarity.score, 0, 1) > 0", FIELDS)


def test_a_nan_result_is_missing_in_both_evaluators(declared):
    @rule_function(args=("number",), returns="number", vector=lambda x: x.sqrt())
    def root(x):
        """Square root (NaN below zero)."""
        return math.sqrt(x) if x >= 0 else float("nan")

    node = compile_condition("root(clarity.score) > 1", FIELDS)
    assert evaluate(node, {"clarity": {"score": -4.0}}) is None
    assert column_values(node, pl.DataFrame({"clarity.score": [-4.0, 4.0]})).to_list() == [None, True]


@pytest.mark.parametrize(("name", "samples"), [
    ("contains", [("breaking news", "news"), ("", ""), ("abc", "d"), (None, "a"), ("突发新闻", "新闻")]),
    ("matches", [("Casino night", "(?i)casino"), ("abc", "^b"), (None, "a"), ("a1b2", r"\d+")]),
    ("abs", [(-2.5,), (0.0,), (3.0,), (None,)]),
])
def test_builtin_functions_agree_between_evaluators(name, samples):
    check_rule_function(name, samples)


def test_check_rule_function_finds_a_disagreement(declared):
    @rule_function(args=("number",), returns="number", vector=lambda x: x * 3)
    def double(x):
        """Twice x (the vectorized version is wrong on purpose)."""
        return x * 2

    with pytest.raises(ContractError, match=r"rule function double: the two evaluators disagree:\n- double\(2.0,\): "
                                            r"per item 4.0, vectorized 6.0"):
        check_rule_function("double", [(2.0,), (0.0,)])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"args": ("list",), "returns": "number"}, r"argument and result types must be one of bool, number, string \(found 'list'\)"),
    ({"args": ("number",), "returns": "number", "vector": None}, r"needs both implementations: item .* and vector"),
    ({"args": (), "returns": "number"}, r"needs at least one argument"),
])
def test_bad_declarations_are_refused(declared, kwargs, message):
    kwargs.setdefault("vector", lambda x: x)

    def f(x):
        """Something."""
        return x

    with pytest.raises(PluginError, match=message):
        rule_function(**kwargs)(f)


def test_a_builtin_name_cannot_be_taken(declared):
    def contains(a, b):
        """Shadows the built-in."""
        return False

    with pytest.raises(PluginError, match=r"rule function 'contains' is declared twice: by factorline and by .*test_rules_functions"):
        rule_function(args=("string", "string"), returns="bool", vector=lambda a, b: a == b)(contains)


def test_reference_and_form_help_come_from_the_declarations(clamp):
    table = functions.reference()
    assert "| `clamp(number, number, number)` | number | Limits a number to [lo, hi]. |" in table
    assert "| `matches(string, string)` | bool |" in table
    assert functions.summary().startswith("missing(x), contains(), matches(), len(), abs(), count()")
    assert {"name": "clamp", "signature": "clamp(number, number, number) -> number"}.items() <= functions.schema()[-1].items()


def test_docs_table_is_generated_from_the_declarations():
    text = (Path(__file__).resolve().parent.parent / "docs" / "extending.md").read_text(encoding="utf-8")
    table = text.split("<!-- functions:start -->\n")[1].split("\n<!-- functions:end -->")[0]
    assert table == functions.reference(), "regenerate it: python -m factorline.rules.functions"


@pytest.mark.parametrize("fn", [f for f in functions.all_functions() if f.origin == "factorline"], ids=lambda f: f.name)
def test_every_builtin_example_compiles_against_the_catalogue(fn):
    from factorline.plugins import get_operator

    steps = {"subs": "subtitles", "clarity": "clarity", "logo": "logo", "speech": "speech"}
    fields = {step: {n: f.dtype for n, f in get_operator(op).output_fields.items()} for step, op in steps.items()}
    node = compile_condition(fn.example, fields)
    assert node.type == "bool" and fn.name in fn.example
