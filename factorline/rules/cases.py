"""Checking a table against its worked examples, and re-deciding stored result records."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..contract.errors import Issue
from .docs import CaseDoc, DecisionTableDoc
from .tables import CompiledDecisions

_CASE_ERROR = {"type": "CaseFailure", "message": "the case marks the item as failed"}


def case_factors(case: CaseDoc) -> dict[str, dict]:
    """A case's ``factors`` and ``given`` values as one item's factors (``{step: {field: value}}``)."""
    factors: dict[str, dict] = {}
    for _, key, value in case.values():
        step, _, name = key.partition(".")
        factors.setdefault(step, {})[name] = value
    return factors


def run_cases(compiled: CompiledDecisions, tables: Mapping[str, Any], *, path: str = "decisions") -> list[Issue]:
    """Each case whose outcome (or deciding rule) differs from what it expects, as an Issue."""
    issues: list[Issue] = []
    for name, raw in (tables or {}).items():
        table = compiled.tables.get(str(name))
        if table is None:
            continue  # the table did not compile; its problems are reported by compile_decisions
        doc = raw if isinstance(raw, DecisionTableDoc) else DecisionTableDoc.model_validate(raw)
        for i, case in enumerate(doc.cases):
            got = table.decide(case_factors(case), _CASE_ERROR if case.failed else None)
            if got["outcome"] != case.expect or (case.rule is not None and got["rule"] != case.rule):
                label = f" '{case.name}'" if case.name else ""
                wanted = f"'{case.expect}'" + (f" by rule '{case.rule}'" if case.rule else "")
                issues.append(Issue(
                    f"{path}.{name}.cases[{i}]",
                    f"case{label} expected {wanted}, got '{got['outcome']}' by rule '{got['rule']}': {got['explanation']}",
                    "case_failed",
                ))
    return issues


def redecide(compiled: CompiledDecisions, records: Iterable[dict]) -> tuple[list[dict], list[dict]]:
    """New records with ``decisions`` re-evaluated from their stored factors, and what changed.

    A change is ``{"item", "table", "before", "after", "rule", "explanation"}`` for each table
    whose outcome differs (a table new to the pipeline has ``before`` None).
    """
    out: list[dict] = []
    changes: list[dict] = []
    for record in records:
        decisions = compiled.decide(record.get("factors"), error=record.get("error"), item=record.get("item"))
        before = record.get("decisions") or {}
        item = (record.get("item") or {}).get("path") or (record.get("item") or {}).get("id")
        for table, decision in decisions.items():
            old = (before.get(table) or {}).get("outcome")
            if old != decision["outcome"]:
                changes.append({"item": item, "table": table, "before": old, "after": decision["outcome"],
                                "rule": decision["rule"], "explanation": decision["explanation"]})
        out.append({**record, "decisions": decisions})
    return out, changes
