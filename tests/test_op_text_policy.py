"""text_policy@1: configured terms and regexes matched in a normalised text."""

from __future__ import annotations

import json
import re
import time

import pytest
from pydantic import ValidationError

from factorline.contract.errors import ConfigError
from factorline.engine.compiler import compile_pipeline
from factorline.operators.policy import (
    MAX_PATTERNS,
    MAX_TEXT_CHARS,
    TextPolicyParams,
    match_policy,
    normalize_text,
    pattern_problem,
    text_of,
)
from factorline.plugins import get_operator


def run_op(text, **params) -> dict:
    spec = get_operator("text_policy@1")
    out = spec.run({"text": text}, spec.params(**params), item=None, resources={})
    assert spec.check_output(out) == []
    return out


# ------------------------------------------------------------------ normalisation


def test_given_full_width_mixed_case_and_spaces_when_normalised_then_folded():
    assert normalize_text("ＡＢＣ　１２３\n\n Ｆｒｅｅ\tＭＯＮＥＹ ") == "abc 123 free money"
    assert normalize_text("ＡＢＣ", case_sensitive=True) == "ABC"
    assert normalize_text("Straße") == "strasse"


def test_given_full_width_text_when_matched_then_half_width_term_found():
    # given a subtitle written in full-width letters and digits
    out = run_op("限时优惠：ＦＲＥＥ　ＭＯＮＥＹ，拨打１２３", terms=["free money", "123"])
    # then the ASCII terms match, and evidence shows the snippets
    assert out["matched"] is True
    assert out["terms"] == ["free money", "123"]
    assert out["evidence"] == [{"text": "FREE MONEY"}, {"text": "123"}]


def test_given_full_width_term_when_matched_then_normalised_like_the_text():
    assert run_op("call 123 now", terms=["１２３"])["terms"] == ["１２３"]  # reported as configured


def test_given_case_when_matching_then_folded_unless_case_sensitive():
    assert run_op("Breaking NEWS today", terms=["news"])["matched"] is True
    assert run_op("Breaking NEWS today", terms=["news"], case_sensitive=True)["matched"] is False
    assert run_op("Breaking NEWS today", terms=["NEWS"], case_sensitive=True)["matched"] is True
    assert run_op("STRASSE", terms=["straße"])["matched"] is True  # casefold, not just lower()


def test_given_chinese_text_when_matched_then_substring_found():
    out = run_op("Breaking news 突发新闻", terms=["突发"])
    assert out == {"matched": True, "terms": ["突发"], "evidence": [{"text": "突发"}]}


def test_given_whole_words_when_term_inside_word_then_not_matched():
    assert run_op("a classic class", terms=["ass"])["matched"] is False
    assert run_op("a classic class", terms=["ass"], whole_words=False)["matched"] is True
    assert run_op("kick his ass.", terms=["ass"])["matched"] is True
    assert run_op("新闻news", terms=["news"])["matched"] is True  # CJK next to it is no word letter


def test_given_empty_text_or_no_rules_then_not_matched():
    assert run_op("", terms=["news"]) == {"matched": False, "terms": [], "evidence": []}
    assert run_op("   \n ", patterns=["news"])["matched"] is False
    assert run_op(None, terms=["news"])["matched"] is False
    assert run_op("Breaking news") == {"matched": False, "terms": [], "evidence": []}


def test_given_subtitle_lines_wired_instead_of_text_then_their_text_is_checked():
    lines = [{"start_s": 0.0, "end_s": 1.0, "text": "Place your", "score": 0.9},
             {"start_s": 1.0, "end_s": 2.0, "text": "bets now", "score": 0.9}]
    assert text_of(lines) == "Place your\nbets now"
    assert run_op(lines, terms=["your bets"])["matched"] is True  # newlines collapse to spaces


# ------------------------------------------------------------------ regexes


def test_given_regex_when_matched_then_pattern_reported_with_snippets():
    out = run_op("Call ＶＸ: abc_123 or WeChat 8888-1234 today", patterns=[r"\d{4}-\d{4}", r"we\s*chat"])
    assert out["terms"] == [r"\d{4}-\d{4}", r"we\s*chat"]
    assert out["evidence"] == [{"text": "8888-1234"}, {"text": "WeChat"}]
    assert run_op("nothing here", patterns=[r"\d{4}-\d{4}"])["matched"] is False


def test_given_anchors_then_they_mean_the_whole_text():
    long = "x " * 1000 + "end"
    assert run_op(long, patterns=[r"^x x"])["matched"] is True
    assert run_op(long, patterns=[r"^end"])["matched"] is False
    assert run_op(long, patterns=[r"x end$"])["matched"] is True


def test_given_long_match_then_snippet_is_capped():
    out = run_op("q" + "z" * 500 + "q", patterns=[r"qz+q"])
    assert out["matched"] is True and len(out["evidence"][0]["text"]) == 100


def test_given_huge_text_then_capped_and_matched_quickly():
    text = "lorem ipsum " * 20000 + "jackpot"  # 240k characters: the tail is past the cap
    start = time.perf_counter()
    out = run_op(text, terms=["lorem", "jackpot"], patterns=[r"ips\w+"])
    assert time.perf_counter() - start < 2.0
    assert out["terms"] == ["lorem", r"ips\w+"]  # "jackpot" lies past MAX_TEXT_CHARS
    assert len(normalize_text(text)) > MAX_TEXT_CHARS
    assert len(out["evidence"]) == 6  # 3 snippets per matched term or pattern


@pytest.mark.parametrize(
    "pattern, match",
    [
        (r"(a+)+", "unbounded repeat inside another repeat"),
        (r"(\w*)*x", "unbounded repeat inside another repeat"),
        (r"(a|ab)+c", "repeated alternation whose branches can start with the same character"),
        (r"(?:a|a)+b", "repeated alternation"),
        (r"(x)\1", "backreferences are not supported"),
        (r"(?<!\w)win", "lookahead/lookbehind is not supported"),
        (r"a*", "matches the empty string"),
        (r"[unclosed", "not a valid pattern"),
        ("x" * 257, "longer than 256 characters"),
    ],
)
def test_given_hostile_or_bad_regex_then_refused_at_validation(pattern, match):
    with pytest.raises(ValidationError, match=match):
        TextPolicyParams(patterns=[pattern])


def test_given_too_many_patterns_or_bad_terms_then_refused():
    with pytest.raises(ValidationError, match=f"at most {MAX_PATTERNS} items"):
        TextPolicyParams(patterns=[f"word{i}" for i in range(MAX_PATTERNS + 1)])
    with pytest.raises(ValidationError, match="empty once whitespace is removed"):
        TextPolicyParams(terms=["ok", "  "])
    with pytest.raises(ValidationError, match="at most 200 are allowed"):
        TextPolicyParams(terms=["x" * 201])
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        TextPolicyParams(keywords=["x"])


@pytest.mark.parametrize(
    "pattern",
    [r"\w+\d", r"a.*b.*c", r"\d+\.\d+", r"free\s+money\s+now", r"(?:buy|get)\s+\w+\s+now", r"^.*bet.*$",
     r"[a-z]+[0-9]+[a-z]+z", r"(\w+)@(\w+)\.com", r"突发.{0,10}新闻", r"\bwin\b"],
)
def test_given_ordinary_regex_then_accepted(pattern):
    assert pattern_problem(pattern) is None


def test_given_regexes_that_backtrack_in_python_on_hostile_texts_then_linear_time():
    # given patterns that take minutes in a backtracking engine on texts made to defeat them
    # (re.search(r"\w+\d", "a" * 100_000) backtracks quadratically); the Rust engine is linear
    params = TextPolicyParams(patterns=[r"\w+\d", r"a.*b.*c", r"(\w+)(\d+)x"])
    for text in ("a" * MAX_TEXT_CHARS, "ab" * (MAX_TEXT_CHARS // 2), "1" * MAX_TEXT_CHARS):
        start = time.perf_counter()
        match_policy(text, params)
        assert time.perf_counter() - start < 2.0


def test_given_hostile_pattern_in_a_pipeline_when_compiled_then_config_error_with_path():
    doc = {
        "name": "p",
        "input": "video",
        "steps": {"subs": {"op": "subtitles"},
                  "policy": {"op": "text_policy", "inputs": {"text": "subs.text"}, "params": {"patterns": ["(a+)+$"]}}},
    }
    with pytest.raises(ConfigError, match="unbounded repeat inside another repeat") as caught:
        compile_pipeline(doc)
    assert any(i.path.startswith("steps.policy.params.patterns") for i in caught.value.issues)


# ------------------------------------------------------------------ declaration


def test_operator_is_declared_with_the_design_fields():
    spec = get_operator("text_policy@1")
    assert spec.group == "text" and list(spec.fields) == ["matched", "terms"]
    assert spec.inputs["text"].kind.value == "text"
    json.dumps(spec.schema())
