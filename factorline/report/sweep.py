"""Threshold sweeps: move one rule's constant over the observed values of a factor and
re-decide the labeled items with the rules layer, to see precision and recall trade off.

``moderation.letterboxed:border.area_ratio`` names the table, the rule and the factor; the
rule's condition must compare that factor with exactly one number (``border.area_ratio >
0.2``, ``0.2 < border.area_ratio``, ``count(clarity.frame_scores < 0.3) >= 2`` sweeps 0.3).
The constant is replaced in the compiled condition tree, the rule rebuilt with
``CompiledRule.build`` and each threshold decided with ``CompiledDecisions.decide_frame``;
the first point is the current threshold, which must reproduce the run's own decisions.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from ..contract.errors import ConfigError
from ..contract.kinds import arrow_type
from ..engine.compiler import Plan
from ..rules import ERROR_COLUMN, CompiledDecisions, CompiledRule, CompiledTable
from ..rules.explain import render
from ..rules.ir import NUMBER, Binary, Const, Node, Ref, walk
from .metrics import binary_scores

MAX_POINTS = 200
MAX_AUTO = 8
_SPEC = re.compile(r"^(?P<table>[A-Za-z_]\w*)\.(?P<rule>[A-Za-z_][\w-]*):(?P<step>[a-z_]\w*)\.(?P<field>\w+)$")
_ORDER = ("<", "<=", ">", ">=")


@dataclass(frozen=True)
class SweepSpec:
    table: str
    rule: str
    factor: str  # step.field

    def __str__(self) -> str:
        return f"{self.table}.{self.rule}:{self.factor}"


def parse_sweep(text: str, plan: Plan) -> SweepSpec:
    """``table.rule:step.field`` checked against the plan (the rule must compare the factor)."""
    m = _SPEC.match(text.strip())
    if not m:
        raise ConfigError(f"--sweep expects TABLE.RULE:STEP.FIELD (e.g. moderation.letterboxed:border.area_ratio), found {text!r}")
    spec = SweepSpec(m["table"], m["rule"], f"{m['step']}.{m['field']}")
    _comparison(plan, spec)
    return spec


def auto_sweeps(plan: Plan, tables: set[str]) -> list[SweepSpec]:
    """Every (rule, factor) whose rule compares the factor with exactly one number."""
    found = []
    for name in tables:
        table = plan.decisions.tables.get(name)
        for rule in table.order if table else ():
            for column in dict.fromkeys(n.column for n in walk(rule.cond) if isinstance(n, Ref)):
                spec = SweepSpec(name, rule.id, column)
                try:
                    _comparison(plan, spec)
                except ConfigError:
                    continue
                found.append(spec)
    return found[:MAX_AUTO]


def _rule(plan: Plan, spec: SweepSpec) -> tuple[CompiledTable, CompiledRule]:
    table = plan.decisions.tables.get(spec.table)
    if table is None:
        raise ConfigError(f"--sweep {spec}: no decision table '{spec.table}'; tables: {', '.join(plan.decisions.names)}")
    rule = next((r for r in table.order if r.id == spec.rule), None)
    if rule is None:
        ids = ", ".join(r.id for r in table.order)
        raise ConfigError(f"--sweep {spec}: table '{spec.table}' has no rule '{spec.rule}' with a condition; rules: {ids}")
    return table, rule


def _comparison(plan: Plan, spec: SweepSpec) -> tuple[CompiledTable, CompiledRule, Binary, str]:
    """The one comparison of the factor with a number in the rule, and which side holds it."""
    table, rule = _rule(plan, spec)
    found = []
    for node in walk(rule.cond):
        if isinstance(node, Binary) and node.op in _ORDER:
            for side, other in (("right", node.left), ("left", node.right)):
                const = getattr(node, side)
                if isinstance(const, Const) and const.type == NUMBER and isinstance(other, Ref) and other.column == spec.factor:
                    found.append((node, side))
    if len(found) != 1:
        what = "no comparison" if not found else f"{len(found)} comparisons"
        raise ConfigError(f"--sweep {spec}: expected one comparison of {spec.factor} with a number in rule "
                          f"'{rule.id}', found {what} in: {render(rule.cond)}")
    return table, rule, found[0][0], found[0][1]


def _replace(node: Node, old: Node, new: Node) -> Node:
    """A copy of the tree with the node ``old`` (by identity) replaced by ``new``."""
    if node is old:
        return new
    changes = {}
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if isinstance(value, tuple):
            changes[f.name] = tuple(_replace(v, old, new) if dataclasses.is_dataclass(v) else v for v in value)
        elif dataclasses.is_dataclass(value):
            changes[f.name] = _replace(value, old, new)
    return dataclasses.replace(node, **changes) if changes else node


def factor_table(records: list[dict], columns: set[str], dtypes: dict[str, dict[str, str]]) -> pl.DataFrame:
    """The ``step.field`` columns (typed by their dtypes) and ``__error`` for decide_frame."""
    arrays, names = [], []
    for column in sorted(columns):
        step, _, name = column.partition(".")
        dtype = dtypes.get(step, {}).get(name)
        if dtype is None:
            continue  # a field the plan does not know reads as missing
        values = [((r.get("factors") or {}).get(step) or {}).get(name) for r in records]
        arrays.append(pa.array(values, type=arrow_type(dtype)))
        names.append(column)
    arrays.append(pa.array([bool(r.get("error")) for r in records], type=pa.bool_()))
    names.append(ERROR_COLUMN)
    return pl.from_arrow(pa.table(arrays, names=names))


def run_sweep(plan: Plan, spec: SweepSpec, records: list[dict], expected: list[str], max_points: int = MAX_POINTS) -> dict:
    """Precision/recall/F1 of the rule's outcome per threshold, over ``records`` with labels."""
    table, rule, node, side = _comparison(plan, spec)
    current = float(getattr(node, side).value)
    frame = factor_table(records, CompiledDecisions({table.name: table}).referenced_fields(), plan.field_dtypes)
    stored = [((r.get("decisions") or {}).get(table.name) or {}).get("outcome") for r in records]
    points, differs = [], 0
    for threshold in thresholds(records, spec.factor, current, max_points):
        cond = _replace(rule.cond, node, dataclasses.replace(node, **{side: Const(threshold, NUMBER)}))
        new_rule = CompiledRule.build(rule.id, rule.outcome, rule.reason, cond, rule.index, rule.priority)
        new_table = dataclasses.replace(table, order=tuple(new_rule if r.id == rule.id else r for r in table.order))
        outcomes = CompiledDecisions({table.name: new_table}).decide_frame(frame)[f"{table.name}.outcome"].to_list()
        points.append({"threshold": threshold, **binary_scores(expected, outcomes, rule.outcome)})
        if threshold == current:  # reported equals reproduced: the run's own threshold gives its decisions
            differs = sum(a != b for a, b in zip(outcomes, stored))
    return {
        "sweep": str(spec), "table": table.name, "rule": rule.id, "factor": spec.factor, "outcome": rule.outcome,
        "condition": render(rule.cond), "current": current, "items": len(records),
        "current_point": next(p for p in points if p["threshold"] == current), "points": points,
        "differs_from_run": differs,
    }


def thresholds(records: list[dict], factor: str, current: float, max_points: int) -> list[float]:
    """The distinct observed values of the factor (list factors: every element), at most
    ``max_points`` of them (evenly spaced quantiles beyond that), plus the current value."""
    step, _, name = factor.partition(".")
    seen: list[float] = []
    for r in records:
        value = ((r.get("factors") or {}).get(step) or {}).get(name)
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                seen.append(float(v))
    values = np.unique(np.asarray(seen, dtype=float))
    if len(values) > max_points:
        values = np.quantile(values, np.linspace(0, 1, max_points), method="nearest")
    values = np.unique(np.append(values, current))
    return [float(v) for v in values]
