"""The contract battery: registering an operator enrols it here.

The battery itself ships as ``factorline.testing`` so plugin authors run the same checks:
schema, declared fields with their types, determinism, bad input, a decision reading each field.
"""

from __future__ import annotations

import numpy as np
import pytest

from factorline.contract.operator import Output, operator
from factorline.contract.registry import unregister
from factorline.plugins import list_operators
from factorline.testing import ContractError, check_operator, operator_cases

SPECS = list_operators()


def test_catalogue_is_not_empty_and_ids_are_unique():
    ids = [s.id for s in SPECS]
    assert {"black_border@4", "clarity@1"} <= set(ids)
    assert len(ids) == len(set(ids))


@operator_cases(SPECS)
def test_builtin_operator_keeps_the_contract(spec):
    out = check_operator(spec)
    assert set(out) == set(spec.output_fields)


@pytest.fixture
def throwaway():
    """Declares operators for one test and forgets them after it."""
    made = []

    def declare(fn, **kw):
        decorated = operator(name=kw.pop("name", "test_throwaway"), version=1, title="Throwaway", group="test", **kw)(fn)
        made.append(decorated.spec)
        return decorated

    yield declare
    for spec in made:
        unregister(spec)


def test_numpy_outputs_are_converted_before_the_check(throwaway):
    def numpy_op(inputs, params, *, item, resources):
        """Returns numpy values, as array code does."""
        frames = inputs["frames"].images
        level = frames.mean() if frames.size else 0.0
        return {"mean": np.float32(level / 255), "dark": np.bool_(level < 10),
                "levels": np.array([1.5, 2.5]), "evidence": []}

    op = throwaway(numpy_op, fields={"mean": Output("float", "mean level"), "dark": Output("bool", "dark frames"),
                                     "levels": Output("list[float]", "levels")})
    out = check_operator(op)
    assert type(out["mean"]) is float and out["dark"] is False and out["levels"] == [1.5, 2.5]


def test_a_field_left_out_breaks_the_contract_with_its_name(throwaway):
    def forgetful(inputs, params, *, item, resources):
        """Forgets one field."""
        return {"a": 1.0, "evidence": []}

    op = throwaway(forgetful, fields={"a": Output("float", "a"), "b": Output("float", "b")})
    with pytest.raises(ContractError, match=r"^test_throwaway@1 broke its contract: missing field 'b' \(on the sample inputs\)$"):
        check_operator(op)


def test_a_nondeterministic_operator_fails_the_battery(throwaway):
    rng = np.random.default_rng()

    def noisy(inputs, params, *, item, resources):
        """Random on purpose."""
        return {"a": float(rng.random()), "evidence": []}

    op = throwaway(noisy, fields={"a": Output("float", "a")})
    with pytest.raises(ContractError, match="not deterministic"):
        check_operator(op)


def test_a_crash_on_bad_input_still_gives_a_clear_error_record(throwaway):
    def fragile(inputs, params, *, item, resources):
        """Divides by the frame count."""
        return {"a": 1.0 / len(inputs["frames"]), "evidence": []}

    op = throwaway(fragile, fields={"a": Output("float", "a")})
    assert check_operator(op) == {"a": 0.25, "evidence": []}  # ZeroDivisionError on no frames: an error record


def test_bad_output_on_bad_input_fails_the_battery(throwaway):
    def sloppy(inputs, params, *, item, resources):
        """Returns text where a number belongs when there are no frames."""
        return {"a": 1.0 if len(inputs["frames"]) else "n/a", "evidence": []}

    op = throwaway(sloppy, fields={"a": Output("float", "a")})
    with pytest.raises(ContractError, match=r"on bad input .* field 'a' expected float, got 'n/a'"):
        check_operator(op)


def test_a_param_without_description_is_named(throwaway):
    from pydantic import BaseModel

    class Bare(BaseModel):
        level: int = 3

    def bare(inputs, params, *, item, resources):
        """Uses a parameter."""
        return {"a": float(params.level), "evidence": []}

    op = throwaway(bare, fields={"a": Output("float", "a")}, params=Bare)
    with pytest.raises(ContractError, match=r"param 'level' needs a title and a description"):
        check_operator(op)
