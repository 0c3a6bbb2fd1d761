"""The decision-table part of the pipeline document (what YAML, JSON and the editor's forms hold)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from . import functions

RULE_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"
TABLE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
# Rule ids a decision reports when no rule of the table decided.
ON_MISSING, ON_ERROR = "on_missing", "on_error"
# Rules read the item's own record fields as ``item.<field>`` next to the steps' factors, so a
# step may not be called ``item``. ``partial``: the media ended before its declared end.
ITEM = "item"
ITEM_FIELDS = {"kind": "str", "duration_s": "float", "width": "int", "height": "int", "fps": "float",
               "display_width": "int", "display_height": "int", "pixel_aspect": "float", "partial": "bool",
               "decoded_s": "float", "frames": "int", "frames_planned": "int"}
MAX_RULES, MAX_CASES = 500, 1000

_OUTCOME = {"min_length": 1, "max_length": 64}


class RuleDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        pattern=RULE_ID_PATTERN, title="Rule id",
        description="Unique within the table; every decision names the rule that made it.",
    )
    when: str | None = Field(
        None, title="Condition",
        description="When the rule matches, e.g. `border.area_ratio > 0.2 and not slides.is_slideshow`. "
        f"Read factors as step.field; and/or/not, + - * /, in [..], {functions.summary()}. "
        "Leave empty on the default row.",
        json_schema_extra={"ui": "condition"},
    )
    default: bool = Field(
        False, title="Default row",
        description="Decides when no other rule matched. Exactly one per table, last, without a condition.",
    )
    outcome: str = Field(title="Outcome", description="What this rule decides, e.g. accept, review, reject.", **_OUTCOME)
    reason: str = Field("", max_length=500, title="Reason", description="Why the rule exists, in words; shown with each decision.")
    priority: int | None = Field(
        None, ge=-1_000_000, le=1_000_000, title="Priority",
        description="Only for policy `priority`: of the rules that match, the one with the highest priority "
        "decides (ties: the earlier rule). Required there on every rule but the default row.",
    )


class CaseDoc(BaseModel):
    """A worked example: these factor values must give this outcome (run by `factorline validate`)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=200, title="Name", description="What the case shows.")
    factors: dict[str, dict[str, Any]] = Field(
        default_factory=dict, title="Factors",
        description="step -> field -> value, as in a result record: {border: {area_ratio: 0.3}}. "
        "Fields left out are missing.",
    )
    given: dict[str, Any] = Field(
        default_factory=dict, title="Factor values (short form)",
        description="step.field -> value, e.g. {border.area_ratio: 0.3}; added to factors.",
    )

    def values(self) -> list[tuple[str, str, Any]]:
        """(path below the case, step.field, value) for every value the case sets."""
        nested = [(f"factors.{s}.{f}", f"{s}.{f}", v) for s, fields in self.factors.items() for f, v in fields.items()]
        return nested + [(f"given.{k}", k, v) for k, v in self.given.items()]
    failed: bool = Field(False, title="Item failed", description="Treat the item as failed (tests on_error).")
    expect: str = Field(title="Expected outcome", **_OUTCOME)
    rule: str | None = Field(None, title="Expected rule", description="Optionally, the id of the rule that must decide.")


class DecisionTableDoc(BaseModel):
    """An ordered table of rules that turns an item's factors into one outcome, with its reasons."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field("", max_length=1000, title="Description")
    policy: Literal["first", "collect", "priority"] = Field(
        "first", title="Hit policy",
        description="first: the first matching rule decides. collect: the first matching rule decides and every "
        "matching rule is listed (outcomes). priority: the matching rule with the highest priority decides.",
    )
    rules: list[RuleDoc] = Field(
        default_factory=list, max_length=MAX_RULES, title="Rules",
        description="Checked in order; the last one is the default row.",
    )
    on_missing: str = Field(
        title="Outcome when a factor is missing",
        description="Decides when a rule that could have matched reads a missing value (no value, NaN, "
        "a step that did not run), so that missing data never falls through to the default. E.g. review.",
        **_OUTCOME,
    )
    on_error: str = Field(
        title="Outcome when the item failed",
        description="Decides for items that could not be analysed (unreadable file, timeout). E.g. review.",
        **_OUTCOME,
    )
    cases: list[CaseDoc] = Field(
        default_factory=list, max_length=MAX_CASES, title="Cases",
        description="Examples the table must decide as stated; checked by `factorline validate` and the tests.",
    )
