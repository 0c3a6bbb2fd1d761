"""Compiled decision tables and the per-item decision (policies, missing values, failed items).

``CompiledDecisions`` is the one compiled form both evaluators read: ``decide`` walks the
rules of each table for one item (used by ``run`` and the HTTP service); ``decide_frame``
(in ``vectorized``) decides a whole table of items with polars. Tests prove they agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .docs import ITEM, ON_ERROR, ON_MISSING
from .evaluate import Fn, compile_node
from .explain import evidence_of, evidence_text, leaves, record_value, render, template
from .ir import Node, refs


@dataclass(frozen=True)
class CompiledRule:
    id: str
    outcome: str
    reason: str
    cond: Node  # Const(True) on the default row
    index: int  # position in the document (rules[index])
    priority: int = 0
    test: Fn = field(repr=False, compare=False, default=None)  # type: ignore[assignment]
    leaves: tuple[tuple[str, Node, Fn], ...] = field(repr=False, compare=False, default=())
    steps: tuple[str, ...] = ()
    text: Callable[[dict[Node, Any]], str] = field(repr=False, compare=False, default=None)  # type: ignore[assignment]

    @classmethod
    def build(cls, id: str, outcome: str, reason: str, cond: Node, index: int, priority: int = 0) -> CompiledRule:
        shown = tuple((render(leaf), leaf, compile_node(leaf)) for leaf in leaves(cond))
        steps = tuple(dict.fromkeys(r.path[0] for r in refs(cond)))
        text = template(cond, [leaf for _, leaf, _ in shown])
        return cls(id, outcome, reason, cond, index, priority, compile_node(cond), shown, steps, text)

    def __reduce__(self):
        # Closures do not pickle; the typed condition does, and rebuilds them (Ray, spawn).
        return (CompiledRule.build, (self.id, self.outcome, self.reason, self.cond, self.index, self.priority))

    def values(self, factors: dict) -> dict[Node, Any]:
        return {leaf: fn(factors) for _, leaf, fn in self.leaves}

    def hit(self, factors: dict, values: dict[Node, Any] | None = None, evidence: list[dict] | None = None) -> dict:
        """What the rule read: leaf text -> value, and the evidence of the steps it read
        (``values``/``evidence``: already worked out for the explanation)."""
        values = self.values(factors) if values is None else values
        return {
            "rule": self.id,
            "values": {text: record_value(values[leaf]) for text, leaf, _ in self.leaves},
            "evidence": evidence_of(factors, self.steps) if evidence is None else evidence,
        }


@dataclass(frozen=True)
class CompiledTable:
    """``order``: the non-default rules in the order they are tried (by priority for ``priority``)."""

    name: str
    policy: str
    order: tuple[CompiledRule, ...]
    default: CompiledRule
    on_missing: str
    on_error: str

    def decide(self, factors: dict, error: dict | None = None) -> dict:
        if error:
            return self._failed(error)
        decider: CompiledRule | None = None
        blocked: CompiledRule | None = None  # the first rule that read a missing value, if before any hit
        hits: list[CompiledRule] = []
        for rule in self.order:
            matched = rule.test(factors)
            if matched is None and decider is None and blocked is None:
                blocked = rule
            elif matched is True:
                hits.append(rule)
                decider = decider or (None if blocked else rule)
            if (decider or blocked) and self.policy != "collect":
                break
        return self._result(decider, blocked, hits, factors)

    def decide_known(self, rule: str, blocked: str | None, factors: dict, error: dict | None = None) -> dict:
        """``decide``'s decision when the vectorized evaluator already said which rule decides
        (``rule``, and for on_missing the ``blocked`` rule): under ``first``/``priority`` no rule
        before it matched or read a missing value, so only that rule is read (explanation, hits).
        ``collect`` lists every hit, and a failed flag the record does not bear out is rechecked:
        both go through ``decide``."""
        by_id = self._by_id
        if self.policy == "collect" or (rule == ON_ERROR) != bool(error):
            return self.decide(factors, error)
        if rule == ON_ERROR:
            return self._failed(error)  # type: ignore[arg-type]
        if rule == ON_MISSING and blocked in by_id:
            return self._result(None, by_id[blocked], [], factors)
        if rule in by_id:
            return self._result(by_id[rule], None, [by_id[rule]], factors)
        if rule == self.default.id:
            return self.default_decision()
        return self.decide(factors, error)

    @cached_property
    def _by_id(self) -> dict[str, CompiledRule]:
        return {r.id: r for r in self.order}

    def _result(self, decider: CompiledRule | None, blocked: CompiledRule | None, hits: list[CompiledRule],
                factors: dict) -> dict:
        if blocked is None and decider is None:
            return self.default_decision()
        if blocked is not None:
            result = self._missing(blocked, factors)
            result["hits"] = [r.hit(factors) for r in hits]
        else:
            result, shown = self._decided(decider, factors)  # type: ignore[arg-type]
            result["hits"] = [shown if r is decider else r.hit(factors) for r in hits]
        if self.policy == "collect":
            result["outcomes"] = list(dict.fromkeys([result["outcome"], *(r.outcome for r in hits)]))
        return result

    def _decided(self, rule: CompiledRule, factors: dict) -> tuple[dict, dict]:
        """The decision and the deciding rule's hit, its values and evidence read once for both."""
        values, evidence = rule.values(factors), evidence_of(factors, rule.steps)
        text = rule.text(values) + evidence_text(evidence)
        return ({"outcome": rule.outcome, "rule": rule.id, "reason": rule.reason, "explanation": text},
                rule.hit(factors, values, evidence))

    def _missing(self, rule: CompiledRule, factors: dict) -> dict:
        values = rule.values(factors)
        missing = [text for text, leaf, _ in rule.leaves if values[leaf] is None]
        return {
            "outcome": self.on_missing, "rule": ON_MISSING, "reason": f"{rule.id} could not be evaluated",
            "explanation": f"{rule.id} could not be evaluated: {rule.text(values)}",
            "missing": missing,
        }

    def default_decision(self) -> dict:
        """The decision of every item no rule matched: the same for all of them (no rule read a
        value), so a vectorized re-decide writes it without evaluating the item."""
        tried = [r.id for r in self.order]
        listed = ", ".join(tried[:5]) + (f" and {len(tried) - 5} more" if len(tried) > 5 else "")
        text = f"no rule matched ({listed})" if tried else "default"
        result = {"outcome": self.default.outcome, "rule": self.default.id, "reason": self.default.reason,
                  "explanation": text, "hits": []}
        if self.policy == "collect":
            result["outcomes"] = [result["outcome"]]
        return result

    def _failed(self, error: dict) -> dict:
        what = f"{error.get('type') or 'Error'}: {error.get('message') or ''}" if isinstance(error, dict) else str(error)
        return {"outcome": self.on_error, "rule": ON_ERROR, "reason": "the item failed",
                "explanation": f"item failed — {what.strip()}"[:500], "hits": []}


class CompiledDecisions:
    """Every table of a pipeline, compiled once; decide one item or a frame of many."""

    def __init__(self, tables: dict[str, CompiledTable] | None = None):
        self.tables: dict[str, CompiledTable] = dict(tables or {})

    @property
    def names(self) -> list[str]:
        return list(self.tables)

    def decide(self, factors: dict[str, dict] | None, *, error: dict | None = None,
               item: dict | None = None) -> dict[str, dict]:
        """One item: ``{table: {outcome, rule, reason, explanation, hits[, outcomes][, missing]}}``.
        ``item``: the record's item section, which rules read as ``item.<field>`` (``item.partial``)."""
        factors = factors if isinstance(factors, dict) else {}
        if isinstance(item, dict):
            factors = {**factors, ITEM: item}
        return {name: table.decide(factors, error) for name, table in self.tables.items()}

    def decide_frame(self, df):
        """Many items at once: a polars DataFrame with ``step.field`` columns (and optionally a
        boolean ``__error``) -> ``<table>.outcome`` and ``<table>.rule`` per row. See ``vectorized``;
        ``factor_frame`` builds the input from stored result records."""
        from .vectorized import decide_frame

        return decide_frame(self, df)

    def referenced_fields(self) -> set[str]:
        """The ``step.field`` columns the rules read (what ``decide_frame`` needs)."""
        return {ref.column for t in self.tables.values() for r in t.order for ref in refs(r.cond)}

    def referenced_steps(self) -> set[str]:
        return {c.split(".", 1)[0] for c in self.referenced_fields()}

    def __repr__(self) -> str:
        return f"CompiledDecisions({', '.join(self.names)})"
