"""Decision tables: compile checks with paths, policies, missing data, failed items, cases, re-deciding."""

from __future__ import annotations

import copy
import math
import pickle

import polars as pl
import pytest
import yaml

from factorline.rules import (
    CompiledDecisions,
    DecisionTableDoc,
    compile_decisions,
    factor_frame,
    redecide,
    run_cases,
)

FIELDS = {
    "border": {"top": "int", "bottom": "int", "left": "int", "right": "int", "area_ratio": "float", "fill": "str",
               "evidence": "evidence"},
    "slides": {"is_slideshow": "bool", "score": "float", "evidence": "evidence"},
    "subs": {"has_subtitles": "bool", "coverage": "float", "text": "str", "lines": "lines", "evidence": "evidence"},
    "nsfw": {"score": "float", "labels": "list[str]", "evidence": "evidence"},
}
MODERATION = {
    "policy": "first",
    "on_missing": "review",
    "on_error": "retry",
    "rules": [
        {"id": "letterboxed", "when": "border.area_ratio > 0.25 and not slides.is_slideshow", "outcome": "review",
         "reason": "large black borders"},
        {"id": "explicit", "when": "nsfw.score > 0.8", "outcome": "reject"},
        {"id": "ok", "default": True, "outcome": "accept"},
    ],
    "cases": [
        {"name": "bars", "given": {"border.area_ratio": 0.3, "slides.is_slideshow": False, "nsfw.score": 0.1},
         "expect": "review", "rule": "letterboxed"},
        {"given": {"border.area_ratio": 0.1, "slides.is_slideshow": False, "nsfw.score": 0.1}, "expect": "accept"},
        {"given": {}, "failed": True, "expect": "retry"},
        {"factors": {"border": {"area_ratio": 0.1}, "slides": {"is_slideshow": False}}, "given": {"nsfw.score": 0.9},
         "expect": "reject"},
    ],
}
CLEAN = {"border": {"area_ratio": 0.1}, "slides": {"is_slideshow": False}, "nsfw": {"score": 0.1}}


def compiled(table: dict | None = None, name: str = "moderation") -> CompiledDecisions:
    result, issues = compile_decisions({name: table or MODERATION}, FIELDS)
    assert issues == []
    return result


def issues_of(table: dict) -> dict[str, str]:
    _, issues = compile_decisions({"moderation": table}, FIELDS)
    return {i.path: i.message for i in issues}


def with_rules(*rules: dict, policy: str = "first") -> dict:
    return {**MODERATION, "policy": policy, "cases": [], "rules": [*rules, {"id": "ok", "default": True, "outcome": "accept"}]}


# -- compile checks ------------------------------------------------------------------------
def test_every_problem_is_reported_together_with_its_path():
    """Given a table with many mistakes, when compiled, then each is reported at its own path."""
    table = {**MODERATION, "cases": []}
    table["rules"] = [
        {"id": "a", "when": "border.area > 0.2", "outcome": "review"},
        {"id": "a", "when": "border.top > slides.is_slideshow", "outcome": "review"},
        {"id": "always", "when": "1 < 2", "outcome": "review"},
        {"id": "late", "when": "nsfw.score > 0.8", "outcome": "reject"},
        {"id": "ok", "default": True, "outcome": "accept"},
    ]
    found = issues_of(table)
    assert found == {
        "decisions.moderation.rules[0].when": "unknown field 'border.area' (did you mean 'area_ratio'?) — "
                                              "border has: area_ratio, bottom, evidence, fill, left, right, top",
        "decisions.moderation.rules[1].id": "duplicate rule id 'a' (also rules[0]); ids must be unique",
        "decisions.moderation.rules[1].when": "'border.top > slides.is_slideshow' compares number with true/false",
        "decisions.moderation.rules[3].when": "unreachable: rules[2] ('always') always matches and is tried before it",
        "decisions.moderation.rules[4]": "unreachable default row: rules[2] ('always') always matches; "
                                         "make that rule the default row",
    }


def test_a_rule_behind_an_always_true_rule_is_unreachable():
    found = issues_of(with_rules({"id": "always", "when": "1 < 2", "outcome": "review"},
                                 {"id": "late", "when": "nsfw.score > 0.8", "outcome": "reject"}))
    assert found["decisions.moderation.rules[1].when"] == (
        "unreachable: rules[0] ('always') always matches and is tried before it")
    assert "make that rule the default row" in found["decisions.moderation.rules[2]"]


def test_a_repeated_or_always_false_condition_never_decides():
    found = issues_of(with_rules({"id": "a", "when": "nsfw.score > 0.8", "outcome": "reject"},
                                 {"id": "b", "when": "nsfw.score  >  0.8", "outcome": "review"},
                                 {"id": "c", "when": "2 < 1", "outcome": "review"}))
    assert found["decisions.moderation.rules[1].when"] == (
        "never decides: rules[0] ('a') has the same condition and is tried first")
    assert found["decisions.moderation.rules[2].when"] == "never matches: the condition is always false"


def test_the_default_row_is_required_single_last_and_unconditional():
    table = {**MODERATION, "cases": [], "rules": [{"id": "x", "when": "nsfw.score > 0.8", "outcome": "reject"}]}
    assert "needs a default row as its last rule" in issues_of(table)["decisions.moderation.rules"]
    table["rules"] = [{"id": "d1", "default": True, "outcome": "accept", "when": "nsfw.score > 1"},
                      {"id": "x", "outcome": "reject"}, {"id": "d2", "default": True, "outcome": "accept"}]
    found = issues_of(table)
    assert found["decisions.moderation.rules[0].default"].startswith("the default row must be the last rule")
    assert found["decisions.moderation.rules[0].when"].startswith("the default row has no condition")
    assert found["decisions.moderation.rules[1].when"].startswith("a rule needs a condition")
    assert found["decisions.moderation.rules[2].default"] == "only one default row per table (the first is rules[0])"


def test_missing_and_error_outcomes_must_be_chosen():
    """Given a table without on_missing/on_error, then both are reported: nothing falls through silently."""
    table = {k: v for k, v in MODERATION.items() if k not in ("on_missing", "on_error")}
    found = issues_of(table)
    assert "never falls through to the default row" in found["decisions.moderation.on_missing"]
    assert "items that failed" in found["decisions.moderation.on_error"]


def test_priorities_are_required_by_policy_priority_and_refused_elsewhere():
    rules = [{"id": "a", "when": "nsfw.score > 0.8", "outcome": "reject"}, {"id": "ok", "default": True, "outcome": "accept"}]
    found = issues_of({**MODERATION, "cases": [], "policy": "priority", "rules": rules})
    assert "needs a priority on every rule" in found["decisions.moderation.rules[0].priority"]
    rules[0]["priority"] = 3
    assert "priority is not used here" in issues_of({**MODERATION, "cases": [], "rules": rules})["decisions.moderation.rules[0].priority"]


def test_document_shape_errors_keep_their_paths():
    table = copy.deepcopy(MODERATION)
    table["rules"][1] = {"id": "bad id", "when": "nsfw.score > 0.8", "outcom": "reject"}
    table["policy"] = "last"
    found = issues_of(table)
    assert "rule ids are letters" in found["decisions.moderation.rules[1].id"]
    assert "Extra inputs are not permitted" in found["decisions.moderation.rules[1].outcom"]
    assert "Field required" in found["decisions.moderation.rules[1].outcome"]
    assert "'first', 'collect' or 'priority'" in found["decisions.moderation.policy"]


def test_bad_tables_and_names_are_issues_not_exceptions():
    _, issues = compile_decisions({"bad name": MODERATION, "t": "nope", "u": {**MODERATION, "cases": [{"expect": "x", "given": {
        "border.nope": 1, "border.top": "wide"}, "factors": {"nsfw": {"score": "high"}}, "rule": "ghost"}]}}, FIELDS)
    found = {i.path: i.message for i in issues}
    assert "table names are letters" in found["decisions.bad name"]
    assert "expected a decision table" in found["decisions.t"]
    assert found["decisions.u.cases[0].given.border.nope"].startswith("unknown field 'border.nope'")
    assert found["decisions.u.cases[0].given.border.top"] == "border.top holds int, found 'wide'"
    assert found["decisions.u.cases[0].factors.nsfw.score"] == "nsfw.score holds float, found 'high'"
    assert found["decisions.u.cases[0].rule"].startswith("no rule 'ghost' in this table")


def test_reserved_ids_are_refused():
    found = issues_of(with_rules({"id": "on_missing", "when": "nsfw.score > 0.8", "outcome": "reject"}))
    assert "reserved" in found["decisions.moderation.rules[0].id"]


# -- deciding ------------------------------------------------------------------------------
def test_the_first_matching_rule_decides_with_its_explanation_values_and_evidence():
    """Given borders with evidence, when decided, then the record names the rule, values and times."""
    factors = {**CLEAN, "border": {"area_ratio": 0.31, "evidence": [{"t": 3.0}, {"t": 4.0}]}}
    decision = compiled().decide(factors)["moderation"]
    assert decision == {
        "outcome": "review",
        "rule": "letterboxed",
        "reason": "large black borders",
        "explanation": "border.area_ratio 0.31 > 0.25 and not slides.is_slideshow false (at 3.0 s, 4.0 s)",
        "hits": [{"rule": "letterboxed", "values": {"border.area_ratio": 0.31, "slides.is_slideshow": False},
                  "evidence": [{"t": 3.0}, {"t": 4.0}]}],
    }


def test_nothing_matched_falls_to_the_default_row():
    decision = compiled().decide(CLEAN)["moderation"]
    assert (decision["outcome"], decision["rule"], decision["hits"]) == ("accept", "ok", [])
    assert decision["explanation"] == "no rule matched (letterboxed, explicit)"


@pytest.mark.parametrize("border", [{}, {"area_ratio": None}, {"area_ratio": math.nan}])
def test_a_missing_factor_before_any_match_decides_on_missing(border):
    """Given a missing area ratio, then the table says on_missing, never the default accept."""
    decision = compiled().decide({**CLEAN, "border": border})["moderation"]
    assert (decision["outcome"], decision["rule"]) == ("review", "on_missing")
    assert decision["missing"] == ["border.area_ratio"]
    assert decision["explanation"] == (
        "letterboxed could not be evaluated: border.area_ratio (missing) > 0.25 and not slides.is_slideshow false")


def test_a_rule_that_already_matched_wins_over_later_missing_values():
    table = with_rules({"id": "explicit", "when": "nsfw.score > 0.8", "outcome": "reject"},
                       {"id": "letterboxed", "when": "border.area_ratio > 0.25", "outcome": "review"})
    assert compiled(table).decide({"nsfw": {"score": 0.9}})["moderation"]["rule"] == "explicit"


def test_three_valued_logic_lets_a_rule_decide_despite_a_missing_value():
    """Given 'false and missing', then the rule is simply false and the next rule is tried."""
    assert compiled().decide({**CLEAN, "border": {}, "slides": {"is_slideshow": True}})["moderation"]["rule"] == "ok"


def test_missing_data_can_be_decided_explicitly():
    table = with_rules({"id": "no_borders", "when": "missing(border.area_ratio)", "outcome": "unknown"},
                       {"id": "letterboxed", "when": "border.area_ratio > 0.25", "outcome": "review"})
    assert compiled(table).decide({})["moderation"]["outcome"] == "unknown"


@pytest.mark.parametrize("factors", [None, {}, CLEAN])
def test_a_failed_item_decides_on_error_in_every_table(factors):
    decision = compiled().decide(factors, error={"type": "CorruptMediaError", "message": "moov atom not found"})
    assert decision["moderation"] == {"outcome": "retry", "rule": "on_error", "reason": "the item failed",
                                      "explanation": "item failed — CorruptMediaError: moov atom not found", "hits": []}


def test_collect_lists_every_hit_and_their_outcomes():
    table = with_rules({"id": "bars", "when": "border.area_ratio > 0.25", "outcome": "review"},
                       {"id": "nsfw", "when": "nsfw.score > 0.8", "outcome": "reject"},
                       {"id": "subs", "when": "subs.has_subtitles", "outcome": "review"}, policy="collect")
    decision = compiled(table).decide({"border": {"area_ratio": 0.3}, "nsfw": {"score": 0.9}, "subs": {"has_subtitles": True}})
    d = decision["moderation"]
    assert (d["outcome"], d["rule"], d["outcomes"]) == ("review", "bars", ["review", "reject"])
    assert [h["rule"] for h in d["hits"]] == ["bars", "nsfw", "subs"]


def test_collect_with_a_missing_value_first_still_lists_later_hits():
    table = with_rules({"id": "bars", "when": "border.area_ratio > 0.25", "outcome": "review"},
                       {"id": "nsfw", "when": "nsfw.score > 0.8", "outcome": "reject"}, policy="collect")
    d = compiled(table).decide({"nsfw": {"score": 0.9}})["moderation"]
    assert (d["outcome"], d["rule"], d["outcomes"], [h["rule"] for h in d["hits"]]) == (
        "review", "on_missing", ["review", "reject"], ["nsfw"])


def test_priority_lets_the_highest_matching_priority_win():
    table = with_rules({"id": "mild", "when": "nsfw.score > 0.5", "outcome": "review", "priority": 1},
                       {"id": "severe", "when": "nsfw.score > 0.9", "outcome": "reject", "priority": 5},
                       {"id": "also_severe", "when": "nsfw.score > 0.95", "outcome": "block", "priority": 5},
                       policy="priority")
    decide = compiled(table).decide
    assert decide({"nsfw": {"score": 0.99}})["moderation"]["rule"] == "severe"  # ties keep document order
    assert decide({"nsfw": {"score": 0.6}})["moderation"]["rule"] == "mild"
    assert decide({"nsfw": {"score": 0.1}})["moderation"]["rule"] == "ok"


def test_priority_with_a_missing_higher_priority_rule_decides_on_missing():
    table = with_rules({"id": "mild", "when": "nsfw.score > 0.5", "outcome": "review", "priority": 1},
                       {"id": "bars", "when": "border.area_ratio > 0.25", "outcome": "reject", "priority": 9},
                       policy="priority")
    assert compiled(table).decide({"nsfw": {"score": 0.6}})["moderation"]["rule"] == "on_missing"


def test_a_list_rule_explains_with_aggregate_values_and_evidence():
    table = with_rules({"id": "gambling", "when": 'count(matches(subs.lines.text, "(?i)casino")) >= 1', "outcome": "review"})
    factors = {"subs": {"lines": [{"start_s": 1.0, "end_s": 2.0, "text": "Casino!", "score": 0.9}],
                        "evidence": [{"t": 1.5, "text": "Casino!"}]}}
    d = compiled(table).decide(factors)["moderation"]
    assert d["explanation"] == 'count(matches(subs.lines.text, "(?i)casino")) 1 >= 1 (at 1.5 s)'
    assert d["hits"][0]["values"] == {'count(matches(subs.lines.text, "(?i)casino"))': 1.0}


# -- interface -----------------------------------------------------------------------------
def test_names_and_referenced_fields():
    c = compiled()
    assert c.names == ["moderation"]
    assert c.referenced_fields() == {"border.area_ratio", "slides.is_slideshow", "nsfw.score"}


def test_decide_frame_matches_decide_and_reads_the_error_column():
    rows = [CLEAN, {**CLEAN, "border": {"area_ratio": 0.4}}, {}, CLEAN]
    df = pl.DataFrame({
        "border.area_ratio": [0.1, 0.4, None, 0.1], "slides.is_slideshow": [False, False, None, False],
        "nsfw.score": [0.1, 0.1, None, 0.1], "__error": [False, False, False, True],
    })
    out = compiled().decide_frame(df)
    assert out.columns == ["moderation.outcome", "moderation.rule"]
    assert out["moderation.rule"].to_list() == ["ok", "letterboxed", "on_missing", "on_error"]
    errors = [None, None, None, {"type": "X", "message": "m"}]
    assert out["moderation.outcome"].to_list() == [compiled().decide(f, error=e)["moderation"]["outcome"] for f, e in zip(rows, errors)]


def test_compiled_decisions_survive_pickling_for_worker_processes():
    copy_ = pickle.loads(pickle.dumps(compiled()))
    factors = {**CLEAN, "border": {"area_ratio": 0.4}}
    assert copy_.decide(factors) == compiled().decide(factors)
    assert copy_.decide_frame(pl.DataFrame({"nsfw.score": [0.95]}))["moderation.rule"].to_list() == ["on_missing"]


def test_stored_records_decide_the_same_in_a_frame():
    """Given records shaped as Parquet stores them, when flattened by factor_frame, then decide_frame agrees."""
    records = [
        {"factors": {"border": {"area_ratio": 0.4, "top": 1}, "slides": {"is_slideshow": False}, "nsfw": {"score": 0.1}},
         "error": None},
        {"factors": {"border": {"area_ratio": 0.1, "top": 1}, "slides": {"is_slideshow": False}, "nsfw": {"score": 0.95}},
         "error": None},
        {"factors": {"border": None, "slides": {"is_slideshow": False}, "nsfw": {"score": 0.1}}, "error": None},
        {"factors": {"border": None, "slides": None, "nsfw": None}, "error": {"type": "X", "message": "m"}},
    ]
    c = compiled()
    frame = factor_frame(pl.DataFrame(records), c.referenced_fields())
    assert sorted(frame.columns) == ["__error", "border.area_ratio", "nsfw.score", "slides.is_slideshow"]
    expected = [c.decide(r["factors"], error=r["error"])["moderation"]["rule"] for r in records]
    assert c.decide_frame(frame)["moderation.rule"].to_list() == expected == ["letterboxed", "explicit", "on_missing", "on_error"]


def test_decide_frame_on_an_empty_frame():
    out = compiled().decide_frame(pl.DataFrame({"nsfw.score": pl.Series([], dtype=pl.Float64)}))
    assert out.shape == (0, 2)


def test_json_schema_carries_titles_and_descriptions_for_the_editor():
    schema = DecisionTableDoc.model_json_schema()
    assert schema["properties"]["on_missing"]["title"] == "Outcome when a factor is missing"
    rule = schema["$defs"]["RuleDoc"]["properties"]
    assert all("title" in p and "description" in p for name, p in rule.items() if name != "id") and rule["id"]["title"]
    assert schema["additionalProperties"] is False


def test_the_design_document_example_compiles_from_yaml():
    doc = yaml.safe_load("""
    moderation:
      policy: first
      on_missing: review
      on_error: review
      rules:
        - id: letterboxed
          when: border.area_ratio > 0.2 and not slides.is_slideshow
          outcome: review
          reason: large black borders
        - id: ok
          default: true
          outcome: accept
    """)
    c, issues = compile_decisions(doc, FIELDS)
    assert issues == []
    assert c.decide({"border": {"area_ratio": 0.25}, "slides": {"is_slideshow": False}})["moderation"]["rule"] == "letterboxed"


# -- cases and re-deciding -----------------------------------------------------------------
def test_cases_that_hold_report_nothing():
    assert run_cases(compiled(), {"moderation": MODERATION}) == []


def test_a_failing_case_says_expected_got_and_which_rule_fired():
    table = copy.deepcopy(MODERATION)
    table["cases"][1]["expect"] = "reject"
    issues = run_cases(compiled(table), {"moderation": table})
    assert [(i.path, i.code) for i in issues] == [("decisions.moderation.cases[1]", "case_failed")]
    assert issues[0].message == "case expected 'reject', got 'accept' by rule 'ok': no rule matched (letterboxed, explicit)"


def test_redecide_reports_items_whose_outcome_changed():
    """Given stored records and a stricter threshold, then only the changed item is reported, with why."""
    old = compiled()
    records = [
        {"item": {"path": f"clip{i}.mp4"}, "factors": {**CLEAN, "border": {"area_ratio": r}}, "error": None}
        for i, r in enumerate([0.1, 0.2])
    ]
    records = [{**r, "decisions": old.decide(r["factors"])} for r in records]
    records.append({"item": {"path": "broken.mp4"}, "factors": {}, "error": {"type": "X", "message": "m"},
                    "decisions": {"moderation": {"outcome": "retry"}}})
    stricter = copy.deepcopy(MODERATION)
    stricter["rules"][0]["when"] = "border.area_ratio > 0.15 and not slides.is_slideshow"
    new_records, changes = redecide(compiled(stricter), records)
    assert changes == [{"item": "clip1.mp4", "table": "moderation", "before": "accept", "after": "review", "rule": "letterboxed",
                        "explanation": "border.area_ratio 0.2 > 0.15 and not slides.is_slideshow false"}]
    assert [r["decisions"]["moderation"]["outcome"] for r in new_records] == ["accept", "review", "retry"]
    assert new_records[0]["item"] == records[0]["item"] and records[1]["decisions"]["moderation"]["outcome"] == "accept"


def test_rules_and_cases_that_compare_a_closed_text_field_with_a_value_it_never_takes_are_issues():
    from factorline.engine.compiler import check_pipeline

    doc = {"name": "vocab", "input": "video", "steps": {"border": {"op": "black_border"}, "logo": {"op": "logo"}},
           "decisions": {"t": {"on_missing": "review", "on_error": "review", "rules": [
               {"id": "typo", "when": 'border.fill == "blak"', "outcome": "review"},
               {"id": "listed", "when": 'logo.corner in ["top_left", "top_lft"]', "outcome": "review"},
               {"id": "always", "when": 'logo.method != "apperance"', "outcome": "review"},
               {"id": "fine", "when": 'border.fill == "blurred" or logo.corner == ""', "outcome": "review"},
               {"id": "ok", "default": True, "outcome": "accept"}],
               "cases": [{"factors": {"border": {"fill": "blak"}}, "expect": "review"}]}}}
    _, issues = check_pipeline(doc)
    found = {(i.path, i.code): i.message for i in issues}
    assert found[("decisions.t.rules[0].when", "rule_value")] == (
        "'border.fill == \"blak\"' is never true: border.fill is never 'blak' (did you mean 'black'?); "
        "its values are 'black', 'blurred', 'none'")
    assert "lists a value that can never match: logo.corner is never 'top_lft' (did you mean 'top_left'?)" in \
        found[("decisions.t.rules[1].when", "rule_value")]
    assert "is always true: logo.method is never 'apperance' (did you mean 'appearance'?)" in \
        found[("decisions.t.rules[2].when", "rule_value")]
    assert not any("rules[3]" in path for path, _ in found)
    assert "border.fill is never 'blak'" in found[("decisions.t.cases[0].factors.border.fill", "case_invalid")]


def test_operator_schemas_publish_closed_vocabularies():
    from factorline.plugins import get_operator

    fields = get_operator("black_border").schema()["output"]["fields"]
    assert fields["fill"]["values"] == ["black", "blurred", "none"] and "values" not in fields["area_ratio"]
