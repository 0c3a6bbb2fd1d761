"""The compiler collects every problem at once, each with the path of the field it concerns."""

from __future__ import annotations

import copy

import pytest

from factorline.contract.errors import PipelineError
from factorline.engine.compiler import check_pipeline, compile_pipeline

GOOD = {
    "name": "audit",
    "input": "video",
    "sampling": {"fps": 2.0, "max_frames": 16},
    "steps": {"border": {"op": "black_border", "params": {"threshold": 30}}, "clarity": {"op": "clarity@1"}},
    "decisions": {
        "moderation": {
            "policy": "first",
            "on_missing": "review",
            "on_error": "review",
            "rules": [
                {"id": "bars", "when": "border.area_ratio > 0.2", "outcome": "review"},
                {"id": "ok", "default": True, "outcome": "accept"},
            ],
        }
    },
}


def issues_of(doc: dict) -> dict[str, str]:
    plan, issues = check_pipeline(doc)
    assert plan is None
    return {i.path: i.message for i in issues}


def test_good_document_compiles_in_topological_order():
    plan = compile_pipeline(GOOD)
    assert [s.name for s in plan.steps] == ["border", "clarity"]
    assert plan.steps[0].params.threshold == 30
    assert plan.sampling.fps == 2.0 and plan.sampling.max_frames == 16
    assert plan.fingerprint.startswith("sha256:")


def test_fingerprint_is_stable_and_tracks_parameters():
    assert compile_pipeline(GOOD).fingerprint == compile_pipeline(copy.deepcopy(GOOD)).fingerprint
    changed = copy.deepcopy(GOOD)
    changed["steps"]["border"]["params"]["threshold"] = 31
    assert compile_pipeline(changed).fingerprint != compile_pipeline(GOOD).fingerprint
    explicit_default = copy.deepcopy(GOOD)
    explicit_default["steps"]["clarity"]["params"] = {}
    assert compile_pipeline(explicit_default).fingerprint == compile_pipeline(GOOD).fingerprint


def test_all_errors_are_reported_together_with_paths():
    doc = copy.deepcopy(GOOD)
    doc["sampling"]["fps"] = -1
    doc["steps"]["border"]["params"]["threshold"] = "dark"
    doc["steps"]["ghost"] = {"op": "no_such_op"}
    doc["steps"]["clarity"]["typo"] = 1
    found = issues_of(doc)
    assert "greater than 0" in found["sampling.fps"]
    assert "valid integer" in found["steps.border.params.threshold"]
    assert "unknown operator 'no_such_op'" in found["steps.ghost.op"]
    assert "Extra inputs are not permitted" in found["steps.clarity.typo"]
    with pytest.raises(PipelineError, match=r"4 problem\(s\)"):
        compile_pipeline(doc)


def test_unknown_parameter_is_refused():
    doc = copy.deepcopy(GOOD)
    doc["steps"]["border"]["params"]["treshold"] = 3
    assert "Extra inputs" in issues_of(doc)["steps.border.params.treshold"]


def test_unknown_input_and_bad_wires():
    doc = copy.deepcopy(GOOD)
    doc["steps"]["border"]["inputs"] = {"nope": "clarity.score"}
    doc["steps"]["clarity"]["inputs"] = {"frames": "border"}
    found = issues_of(doc)
    assert "black_border@4 has no input 'nope'; inputs: frames" == found["steps.border.inputs.nope"]
    assert "expected 'step.field', found 'border'" == found["steps.clarity.inputs.frames"]


def test_kind_mismatch_on_a_wire():
    doc = copy.deepcopy(GOOD)
    doc["steps"]["clarity"]["inputs"] = {"frames": "border.area_ratio"}
    assert "kind mismatch: border.area_ratio is factor, input 'frames' wants frames" == issues_of(doc)["steps.clarity.inputs.frames"]


def test_unknown_upstream_step_and_field():
    doc = copy.deepcopy(GOOD)
    doc["steps"]["clarity"]["inputs"] = {"frames": "bordr.top"}
    assert "unknown step 'bordr'" in issues_of(doc)["steps.clarity.inputs.frames"]
    doc["steps"]["clarity"]["inputs"] = {"frames": "border.tp"}
    assert "border has no field 'tp'" in issues_of(doc)["steps.clarity.inputs.frames"]


def test_missing_steps_and_bad_step_name():
    assert issues_of({"name": "p"})["steps"] == "a pipeline needs at least one step"
    found = issues_of({"name": "p", "steps": {"Bad-Name": {"op": "clarity"}}})
    assert "lower_snake_case" in found["steps.Bad-Name"]


def test_rule_problems_are_reported_with_the_rest():
    doc = copy.deepcopy(GOOD)
    doc["steps"]["border"]["params"]["threshold"] = 999
    doc["decisions"]["moderation"]["rules"][0]["when"] = "border.area > 0.2"
    found = issues_of(doc)
    assert "steps.border.params.threshold" in found
    assert "border.area" in found["decisions.moderation.rules[0].when"]


@pytest.fixture
def relay_operator():
    """A throwaway operator with a wired input, to build graphs the catalogue can't yet."""
    from factorline.contract.kinds import Kind
    from factorline.contract.operator import Field, Input, operator
    from factorline.contract.registry import unregister

    @operator(name="test_relay", version=1, title="Relay", group="test", inputs={"value": Input(Kind.FACTOR, "a number")},
              fields={"value": Field("float", "the number again")})
    def relay(inputs, params, *, item, resources):
        """Passes a number on."""
        return {"value": float(inputs["value"]), "evidence": []}

    yield relay.spec
    unregister(relay.spec)


def test_cycle_is_reported(relay_operator):
    doc = {"name": "p", "steps": {
        "a": {"op": "test_relay", "inputs": {"value": "b.value"}},
        "b": {"op": "test_relay", "inputs": {"value": "a.value"}},
    }}
    found = issues_of(doc)
    assert any("cycle between steps" in m for m in found.values())


def test_required_input_must_be_wired(relay_operator):
    found = issues_of({"name": "p", "steps": {"a": {"op": "test_relay"}}})
    assert found["steps.a.inputs.value"] == "required input of kind factor is not wired"


def test_wired_graph_runs_in_dependency_order(relay_operator):
    doc = {"name": "p", "steps": {
        "late": {"op": "test_relay", "inputs": {"value": "early.value"}},
        "early": {"op": "test_relay", "inputs": {"value": "border.area_ratio"}},
        "border": {"op": "black_border"},
    }}
    assert [s.name for s in compile_pipeline(doc).steps] == ["border", "early", "late"]
