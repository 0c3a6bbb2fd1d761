"""Rules: a safe condition language, decision tables, and two evaluators that agree.

A pipeline's ``decisions`` section holds named tables::

    moderation:
      policy: first                     # first | collect | priority
      on_missing: review                # a rule read a missing factor before any rule matched
      on_error: review                  # the item failed (unreadable, timeout)
      rules:
        - {id: letterboxed, when: border.area_ratio > 0.2 and not slides.is_slideshow, outcome: review,
           reason: large black borders}
        - {id: ok, default: true, outcome: accept}
      cases:
        - {given: {border.area_ratio: 0.3, slides.is_slideshow: false}, expect: review}

Conditions (``language``) read factors as ``step.field``, and the item's own record fields as
``item.<field>`` (``ITEM_FIELDS``: ``item.partial``, ``item.duration_s``, ``item.kind``...), so
no step may be named ``item``; see ``language`` for the grammar and its limits. They compile to a typed tree (``ir``) which both evaluators read: ``decide`` per
item (``evaluate``) and ``decide_frame`` over a polars table (``vectorized``).

Missing values. NaN, None, a missing key and a step that did not run are all *missing*; inf is a
number. Operations on missing give missing, and/or/not use three-valued logic (``false and
missing`` is false, ``true or missing`` is true), ``missing(x)`` tests for it. A rule whose
condition comes out missing *could not be evaluated*: if no rule tried before it matched, the
table decides ``on_missing`` (rule ``"on_missing"``, with the rule that could not be evaluated
and the missing values in ``explanation`` and ``missing``), never the default row. Write
``missing(x) or ...`` / ``not missing(x) and ...`` to decide missing data explicitly.

Failed items (``error`` given) decide ``on_error`` (rule ``"on_error"``) in every table.

Policies. Every policy reports one ``outcome`` and the ``rule`` that made it.
- ``first``: rules are tried in order; the first that matches decides. ``hits`` = [that rule].
- ``priority``: like ``first``, but rules are tried by descending ``priority`` (ties keep the
  document order), so the matching rule with the highest priority decides; a rule with a
  higher priority that reads a missing value gives ``on_missing``. ``hits`` = [the winner].
- ``collect``: decides like ``first``, but every rule is tried and ``hits`` lists every rule
  that matched; ``outcomes`` lists the distinct outcomes, the deciding one first.
The default row decides only when no rule matched and none read a missing value; it is not a hit.

A decision: ``{"outcome", "rule", "reason", "explanation", "hits": [{"rule", "values",
"evidence"}]}`` (+ ``outcomes`` for collect, ``missing`` for on_missing). ``values`` maps each
factor (or list aggregate like ``count(subs.lines)``) the rule read to its value; ``evidence``
is the ``evidence`` field of the steps it read; ``explanation`` reads like
``border.area_ratio 0.31 > 0.25 (at 3.0 s, 4.0 s)``.
"""

from __future__ import annotations

from .cases import case_factors, redecide, run_cases
from .compiler import compile_condition, compile_decisions
from .docs import ITEM, ITEM_FIELDS, ON_ERROR, ON_MISSING, CaseDoc, DecisionTableDoc, RuleDoc
from .tables import CompiledDecisions, CompiledRule, CompiledTable


def __getattr__(name: str):
    # The vectorized evaluator needs polars: imported when first asked for, so validate and
    # --help stay light.
    if name in ("ERROR_COLUMN", "factor_frame"):
        from . import vectorized

        return getattr(vectorized, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "ERROR_COLUMN",
    "ITEM",
    "ITEM_FIELDS",
    "ON_ERROR",
    "ON_MISSING",
    "CaseDoc",
    "CompiledDecisions",
    "CompiledRule",
    "CompiledTable",
    "DecisionTableDoc",
    "RuleDoc",
    "case_factors",
    "compile_condition",
    "compile_decisions",
    "factor_frame",
    "redecide",
    "run_cases",
]
