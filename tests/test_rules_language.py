"""The condition language: what it accepts, what values it computes, how it explains itself."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factorline.contract.errors import RuleError
from factorline.rules import compile_condition
from factorline.rules.evaluate import evaluate
from factorline.rules.explain import evidence_text, leaves, render, sentence

FIELDS = {
    "border": {"top": "int", "bottom": "int", "left": "int", "right": "int", "area_ratio": "float", "fill": "str",
               "evidence": "evidence"},
    "slides": {"is_slideshow": "bool", "score": "float", "evidence": "evidence"},
    "subs": {"has_subtitles": "bool", "text": "str", "lines": "lines", "evidence": "evidence"},
    "speech": {"segments": "segments", "speech_ratio": "float"},
    "clarity": {"score": "float", "frame_scores": "list[float]"},
    "nsfw": {"labels": "list[str]", "score": "float"},
    "shots": {"cuts_s": "list[float]", "count": "int"},
}


def value(text: str, factors: dict | None = None):
    """Compile ``text`` and evaluate it on one item."""
    return evaluate(compile_condition(text, FIELDS), factors or {})


# -- what parses ---------------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "border.area_ratio > 0.2 and not slides.is_slideshow",
    "border.top + border.bottom >= 100 or border.left * 2 > border.right / 3",
    "0.1 < border.area_ratio <= 0.5",
    'border.fill in ["black", "blurred"]',
    'border.fill not in ["none"]',
    '"casino" in subs.text',
    '"violence" in nsfw.labels',
    "missing(border.area_ratio) or border.area_ratio > 0.2",
    'matches(subs.text, "(?i)\\bcasino\\b")',
    "count(subs.lines) > 3 and any(speech.segments) and max(clarity.frame_scores) < 0.5",
    "count(clarity.frame_scores < 0.3) >= 2 and all(subs.lines.score > 0.5)",
    'any(contains(subs.lines.text, "bet")) and len(subs.text) > 10',
    "min(speech.segments.start_s) < 1 and abs(-border.area_ratio) > 0 and -1 < shots.count",
    "true",
    "slides.is_slideshow == false",
])
def test_valid_conditions_compile_to_true_false(text):
    """Given a condition from the grammar, when compiled, then it is typed true/false."""
    assert compile_condition(text, FIELDS).type == "bool"


def test_a_condition_may_span_lines_as_yaml_folds_it():
    """Given a condition written over several lines, then it compiles as one line."""
    assert value("border.area_ratio > 0.2\n  and not slides.is_slideshow",
                 {"border": {"area_ratio": 0.3}, "slides": {"is_slideshow": False}}) is True


def test_text_in_quotes_is_read_as_written():
    """Given a regex with backslashes, then they reach the regex engine (\\b is a word boundary, not a backspace)."""
    cond = 'matches(subs.text, "\\bbet\\d+")'
    assert value(cond, {"subs": {"text": "place a bet100 now"}}) is True
    assert value(cond, {"subs": {"text": "alphabet100"}}) is False


# -- semantics -----------------------------------------------------------------------------
@pytest.mark.parametrize("a, b, and_, or_", [
    (True, None, None, True),
    (False, None, False, None),
    (None, None, None, None),
    (True, False, False, True),
])
def test_and_or_use_three_valued_logic(a, b, and_, or_):
    """Given true/false/missing operands, then and/or follow Kleene logic."""
    factors = {"slides": {"is_slideshow": a}, "subs": {"has_subtitles": b}}
    assert value("slides.is_slideshow and subs.has_subtitles", factors) is and_
    assert value("slides.is_slideshow or subs.has_subtitles", factors) is or_


@pytest.mark.parametrize("factors", [{}, {"border": {}}, {"border": {"area_ratio": None}},
                                     {"border": {"area_ratio": math.nan}}, {"border": {"area_ratio": "wide"}}])
def test_none_nan_absent_and_wrong_type_are_all_missing(factors):
    """Given a missing step, key, None, NaN or a value of the wrong type, then the comparison is missing."""
    assert value("border.area_ratio > 0.2", factors) is None
    assert value("missing(border.area_ratio)", factors) is True
    assert value("not border.area_ratio > 0.2", factors) is None


def test_inf_is_a_number_and_bool_is_not():
    """Given inf, then it compares as a number; given true in a number field, then it is missing."""
    assert value("border.area_ratio > 0.2", {"border": {"area_ratio": math.inf}}) is True
    assert value("missing(border.top)", {"border": {"top": True}}) is True
    assert value("border.top == 90", {"border": {"top": 90}}) is True


@pytest.mark.parametrize("text", ["border.top / border.left > 1", "border.area_ratio - border.area_ratio == 0"])
def test_arithmetic_without_a_number_is_missing(text):
    """Given x / 0 or inf - inf, then the result is missing (never NaN, never an exception)."""
    assert value(text, {"border": {"top": 5, "left": 0, "area_ratio": math.inf}}) is None


def test_lists_fold_skipping_missing_elements():
    """Given a list with missing elements, then count/any/all/max/min skip them; count(list) counts all."""
    f = {"clarity": {"frame_scores": [0.1, None, math.nan, 0.9]}}
    assert value("count(clarity.frame_scores) == 4", f) is True
    assert value("count(clarity.frame_scores < 0.5) == 1", f) is True
    assert value("max(clarity.frame_scores) == 0.9 and min(clarity.frame_scores) == 0.1", f) is True
    assert value("all(clarity.frame_scores >= 0.1)", f) is True
    assert value("any(clarity.frame_scores > 0.95)", f) is False


def test_empty_lists_are_present_but_have_no_max():
    """Given an empty list, then count is 0, any is false, all is true and max is missing."""
    f = {"clarity": {"frame_scores": []}, "speech": {"segments": []}}
    assert value("count(clarity.frame_scores) == 0 and not any(speech.segments)", f) is True
    assert value("all(clarity.frame_scores > 0.5)", f) is True
    assert value("missing(max(clarity.frame_scores))", f) is True
    assert value("missing(clarity.frame_scores)", f) is False


def test_record_lists_project_one_key():
    """Given subtitle lines, then subs.lines.text is the list of their texts."""
    f = {"subs": {"lines": [{"start_s": 1.0, "end_s": 2.0, "text": "Bet now", "score": 0.9}, {"text": None}]}}
    assert value('any(matches(subs.lines.text, "(?i)^bet"))', f) is True
    assert value("count(subs.lines.score > 0.5) == 1 and max(subs.lines.end_s) == 2", f) is True


@pytest.mark.parametrize("text, expected", [
    ('"cas" in subs.text', True), ('contains(subs.text, "ino")', True), ('"x" not in subs.text', True),
    ('subs.text == "casino"', True), ('len(subs.text) == 6', True), ('matches(subs.text, "^c.s")', True),
])
def test_text_tests(text, expected):
    assert value(text, {"subs": {"text": "casino"}}) is expected


def test_empty_text_is_present():
    """Given "", then it is present: contains("") is true and its length is 0."""
    assert value('len(subs.text) == 0 and "" in subs.text and not missing(subs.text)', {"subs": {"text": ""}}) is True


def test_membership_in_a_list_field_ignores_missing_elements():
    f = {"nsfw": {"labels": ["gore", None]}}
    assert value('"gore" in nsfw.labels and "nude" not in nsfw.labels', f) is True
    assert value('"gore" in nsfw.labels', {"nsfw": {"labels": None}}) is None


# -- type errors ---------------------------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ("border.top > slides.is_slideshow", r"compares number with true/false"),
    ("border.area_ratio", r"must be true or false, but 'border.area_ratio' is number; compare it"),
    ("clarity.frame_scores < 0.3", r"wrap it in any\(...\), all\(...\) or count\(...\)"),
    ('border.fill > "a"', r"text can only be compared with == or !="),
    ("max(border.top) > 1", r"max\(\) needs a list of numbers, but 'border.top' is number"),
    ("all(clarity.frame_scores)", r"all\(\) needs a list of true/false values"),
    ("any(clarity.frame_scores < clarity.score)", r"element by element against a constant"),
    ('border.top in [1, "a"]', r"mixes number and text"),
    ("1 in nsfw.labels", r"looks for number in a list of strings"),
    ("border.top > 1 / 0", r"'1 / 0' has no value"),
    ("subs.lines.txt", r"unknown key 'txt' in 'subs.lines' \(did you mean 'text'\?\) — its items have: end_s, score, start_s, text"),
    ("border.top.x > 1", r"'border.top' is number; only lists of records have keys"),
    ("border.area > 0.2", r"unknown field 'border.area' \(did you mean 'area_ratio'\?\) — border has: area_ratio, bottom, evidence, fill"),
    ("bordr.top > 1", r"unknown step 'bordr' \(did you mean 'border'\?\) — steps: border, clarity"),
])
def test_type_errors_say_what_was_found_and_how_to_fix(text, message):
    with pytest.raises(RuleError, match=message):
        compile_condition(text, FIELDS)


def test_every_problem_of_one_condition_is_reported():
    """Given two unknown fields, then both are named in one error."""
    with pytest.raises(RuleError, match=r"border.area\b.*; unknown step 'sbus'"):
        compile_condition("border.area > 0.2 and sbus.text == 'x'", FIELDS)


@pytest.mark.parametrize("text, message", [
    ("a && b", r"write 'and' instead of '&&'"),
    ("border.top = 3", r"write '==' instead of '='"),
    ("", r"condition is empty"),
    ("border", r"unknown name 'border'; refer to factors as step.field"),
    ("border.top is None", r"'is' is not supported; use == or missing\(x\)"),
    ("border.top > None", r"constant 'None' is not allowed"),
    ("border.top > 1 if true else false", r"'a if b else c' is not supported"),
    ("count(subs.lines, 2) > 1", r"count\(\) takes 1 argument, found 2"),
    ("border.top ~ 1", r"not a valid condition"),
    ("border.top & 1 > 0", r"use \+ - \* /; write 'and'"),
    ("border.top in []", r"an empty list never contains anything"),
])
def test_syntax_errors_are_clear(text, message):
    with pytest.raises(RuleError, match=message):
        compile_condition(text, FIELDS)


# -- explanations --------------------------------------------------------------------------
def test_sentence_inserts_values_and_evidence():
    """Given a rule that read a factor with evidence, then the sentence shows the value and the times."""
    cond = compile_condition("border.area_ratio > 0.25", FIELDS)
    f = {"border": {"area_ratio": 0.31}}
    values = {leaf: evaluate(leaf, f) for leaf in leaves(cond)}
    assert sentence(cond, values, [{"t": 3.0}, {"t": 4.0}]) == "border.area_ratio 0.31 > 0.25 (at 3.0 s, 4.0 s)"


def test_leaves_are_factors_and_list_aggregates():
    cond = compile_condition("count(clarity.frame_scores < 0.3) >= 2 and not slides.is_slideshow", FIELDS)
    assert [render(leaf) for leaf in leaves(cond)] == ["count(clarity.frame_scores < 0.3)", "slides.is_slideshow"]
    values = {leaf: evaluate(leaf, {"clarity": {"frame_scores": [0.1, 0.2]}}) for leaf in leaves(cond)}
    assert render(cond, values) == "count(clarity.frame_scores < 0.3) 2 >= 2 and not slides.is_slideshow (missing)"


def test_evidence_text_shows_boxes_and_caps_long_lists():
    assert evidence_text([{"box": [10, 20, 30, 40]}]) == " (at box [10, 20, 30, 40])"
    assert evidence_text([{"t": float(t)} for t in range(8)]) == " (at 0.0 s, 1.0 s, 2.0 s, 3.0 s, 4.0 s, +3 more)"
    assert evidence_text([{"text": "x"}]) == ""


atoms = st.sampled_from([
    "border.top", "border.area_ratio", "-1", "0.5", "3", "count(subs.lines)", "max(clarity.frame_scores)",
    "len(subs.text)", "abs(border.left)", "count(clarity.frame_scores > 0.5)",
])
numbers = st.recursive(atoms, lambda inner: st.tuples(inner, st.sampled_from("+-*/"), inner).map(
    lambda t: f"({t[0]} {t[1]} {t[2]})") | inner.map(lambda e: f"-{e}"), max_leaves=4)
conditions = st.recursive(
    st.tuples(numbers, st.sampled_from(["<", ">=", "==", "!="]), numbers).map(" ".join)
    | st.sampled_from(['subs.text == "it\'s"', "slides.is_slideshow", 'matches(subs.text, "\\d+")',
                       "border.top in [1, -2]", "not missing(subs.text)", "(slides.is_slideshow == true) == false"]),
    lambda inner: inner.map(lambda e: f"not ({e})")
    | st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
    max_leaves=4,
)


@settings(max_examples=200, deadline=None)
@given(conditions)
def test_rendered_conditions_read_back_to_the_same_tree(text):
    """Given any condition, when rendered and compiled again, then it is the same condition."""
    try:
        node = compile_condition(text, FIELDS)
    except RuleError:
        return  # e.g. a constant division by zero
    assert compile_condition(render(node), FIELDS) == node


@pytest.mark.parametrize("text", [
    "border.area_ratio > 0.25 and not slides.is_slideshow",
    "border.area_ratio > 0.5 or border.area_ratio < 0.01",  # the same leaf twice
    "count(subs.lines) >= 2 and max(clarity.frame_scores) < 0.3",
    'border.fill in ["black", "blurred"] and (1 - border.area_ratio) * 2 > 1',
])
def test_a_rules_sentence_template_reads_exactly_as_rendering_the_tree(text):
    from factorline.rules.explain import template

    cond = compile_condition(text, FIELDS)
    for values in (0.31, None, 0.0):
        leafs = leaves(cond)
        given = {leaf: values for leaf in leafs}
        assert template(cond, leafs)(given) == render(cond, given)
