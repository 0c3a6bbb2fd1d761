"""Decision-table documents -> ``CompiledDecisions``, collecting every problem with its path.

Checks, all reported together: the document's shape (pydantic), table names, duplicate or
reserved rule ids, the default row (exactly one, last, without a condition), priorities,
each condition (syntax, whitelist, limits, unknown step or field, types), rules that can never
decide (behind an always-true rule, the same condition as an earlier rule, always false),
and the shape of ``cases`` (known fields, values of the field's type).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ..contract.errors import Issue, RuleError, brief
from ..contract.kinds import DTYPES, value_fits
from .docs import ON_ERROR, ON_MISSING, TABLE_NAME_PATTERN, DecisionTableDoc, RuleDoc
from .ir import BOOL, Const, Node
from .language import parse
from .tables import CompiledDecisions, CompiledRule, CompiledTable
from .typecheck import Vocab, check, listed

Fields = Mapping[str, Mapping[str, str]]
_TRUE, _FALSE = Const(True, BOOL), Const(False, BOOL)
_REQUIRED_CHOICE = {
    "on_missing": "choose the outcome for items whose factors are missing, e.g. on_missing: review "
    "(missing data never falls through to the default row)",
    "on_error": "choose the outcome for items that failed, e.g. on_error: review",
}


def compile_condition(text: str, fields: Fields, vocab: Vocab | None = None) -> Node:
    """One condition, parsed and typed; raise RuleError naming every problem."""
    node = parse(text)
    typed, problems = check(node, dict(fields), vocab=vocab)
    if problems:
        err = RuleError("; ".join(message for _, message in problems))
        err.code = problems[0][0]  # type: ignore[attr-defined]
        raise err
    return typed


class _Issues(list):
    """Issues of one compile; ``add`` puts the message last, where long text reads best."""

    def add(self, path: str, code: str, message: str) -> None:
        self.append(Issue(path, message, code))


def compile_decisions(
    tables: Mapping[str, Any], fields: Fields, *, path: str = "decisions", vocab: Vocab | None = None
) -> tuple[CompiledDecisions, list[Issue]]:
    """Compile every table. With issues, the result holds only the tables without rule problems.
    ``vocab``: ``step.field`` -> the only values a text field takes (a rule or case comparing it
    with anything else is an issue: it could never match)."""
    issues = _Issues()
    compiled: dict[str, CompiledTable] = {}
    if not isinstance(tables, Mapping):
        issues.add(path, "type", f"expected a mapping of name -> decision table, found {type(tables).__name__}")
        return CompiledDecisions(), list(issues)
    for name, raw in tables.items():
        where = f"{path}.{name}"
        if not re.match(TABLE_NAME_PATTERN, str(name)):
            issues.add(where, "name", "table names are letters, digits and _, starting with a letter (they name columns)")
        doc = _table_doc(raw, where, issues)
        if doc is not None:
            table, found = _compile_table(str(name), doc, fields, where, vocab or {})
            issues.extend(found)
            if table is not None:
                compiled[str(name)] = table
    return CompiledDecisions(compiled), list(issues)


def _table_doc(raw: Any, where: str, issues: _Issues) -> DecisionTableDoc | None:
    if isinstance(raw, DecisionTableDoc):
        return raw
    if not isinstance(raw, Mapping):
        issues.add(where, "type", f"expected a decision table (rules, on_missing, on_error), found {type(raw).__name__}")
        return None
    try:
        return DecisionTableDoc.model_validate(dict(raw))
    except ValidationError as exc:
        issues.extend(_pydantic_issue(err, where) for err in exc.errors())
        return None


def _pydantic_issue(err: dict, where: str) -> Issue:
    loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
    key = err["loc"][-1] if err["loc"] else ""
    if err["type"] == "missing" and key in _REQUIRED_CHOICE and len(err["loc"]) == 1:
        return Issue(where + loc, _REQUIRED_CHOICE[key], "missing")
    message = err["msg"]
    if key == "id" and err["type"] == "string_pattern_mismatch":
        message = "rule ids are letters, digits, _ and -, starting with a letter or _"
    found = err.get("input")
    if err["type"] not in {"missing", "extra_forbidden"} and not isinstance(found, (dict, list)):
        message += f" (found {brief(found)})"
    return Issue(where + loc, message, err["type"])


def _compile_table(name: str, doc: DecisionTableDoc, fields: Fields, where: str,
                   vocab: Vocab) -> tuple[CompiledTable | None, _Issues]:
    issues = _Issues()
    _check_ids(doc, where, issues)
    _check_rows(doc, where, issues)
    conds = {i: _condition(r.when, fields, f"{where}.rules[{i}].when", issues, vocab)
             for i, r in enumerate(doc.rules) if not r.default and r.when and r.when.strip()}
    _check_cases(doc, fields, where, issues, vocab)
    # Rules that compiled are checked for reachability even when others did not.
    rules = [CompiledRule.build(r.id, r.outcome, r.reason, conds[i], i, r.priority or 0)
             for i, r in enumerate(doc.rules) if conds.get(i) is not None]
    if doc.policy == "priority":
        rules.sort(key=lambda r: -r.priority)  # stable: equal priorities keep document order
    d = len(doc.rules) - 1
    if d < 0 or not doc.rules[d].default:
        return None, issues
    default = CompiledRule.build(doc.rules[d].id, doc.rules[d].outcome, doc.rules[d].reason, _TRUE, d)
    _check_reachable(doc.policy, rules, default, where, issues)
    table = CompiledTable(name, doc.policy, tuple(rules), default, doc.on_missing, doc.on_error)
    return (None if issues else table), issues


def _condition(text: str, fields: Fields, where: str, issues: _Issues, vocab: Vocab) -> Node | None:
    try:
        node = parse(text)
    except RuleError as exc:
        issues.add(where, getattr(exc, "code", "rule_syntax"), exc.message)
        return None
    typed, problems = check(node, dict(fields), vocab=vocab)
    for code, message in problems:
        issues.add(where, code, message)
    return None if problems else typed


def _check_ids(doc: DecisionTableDoc, where: str, issues: _Issues) -> None:
    first: dict[str, int] = {}
    for i, rule in enumerate(doc.rules):
        at = f"{where}.rules[{i}].id"
        if rule.id in (ON_MISSING, ON_ERROR):
            issues.add(at, "reserved_id", f"'{rule.id}' is reserved for decisions no rule made; choose another id")
        elif rule.id in first:
            issues.add(at, "duplicate_id", f"duplicate rule id '{rule.id}' (also rules[{first[rule.id]}]); ids must be unique")
        first.setdefault(rule.id, i)


def _check_rows(doc: DecisionTableDoc, where: str, issues: _Issues) -> None:
    defaults = [i for i, r in enumerate(doc.rules) if r.default]
    if not defaults:
        issues.add(f"{where}.rules", "default_row", "the table needs a default row as its last rule, e.g. "
                                                    "{id: otherwise, default: true, outcome: accept}")
    for i in defaults[1:]:
        issues.add(f"{where}.rules[{i}].default", "default_row", f"only one default row per table (the first is rules[{defaults[0]}])")
    if defaults and defaults[0] != len(doc.rules) - 1:
        issues.add(f"{where}.rules[{defaults[0]}].default", "default_row",
                   "the default row must be the last rule: rules after it would never be tried")
    for i, rule in enumerate(doc.rules):
        _check_row(doc.policy, rule, f"{where}.rules[{i}]", issues)


def _check_row(policy: str, rule: RuleDoc, where: str, issues: _Issues) -> None:
    has_condition = bool(rule.when and rule.when.strip())
    if rule.default and has_condition:
        issues.add(f"{where}.when", "default_row", "the default row has no condition; remove 'when' or set default: false")
    if not rule.default and not has_condition:
        issues.add(f"{where}.when", "missing", "a rule needs a condition in 'when' (only the default row has none)")
    if policy == "priority" and not rule.default and rule.priority is None:
        issues.add(f"{where}.priority", "priority", "policy 'priority' needs a priority on every rule but the default row")
    elif rule.priority is not None and (policy != "priority" or rule.default):
        why = "the default row always comes last" if rule.default else f"policy '{policy}' tries rules in order"
        issues.add(f"{where}.priority", "priority", f"priority is not used here: {why}; remove it")


def _check_reachable(policy: str, rules: list[CompiledRule], default: CompiledRule, where: str, issues: _Issues) -> None:
    """Rules that can never decide. Under ``collect`` later rules still list their hits."""
    always: CompiledRule | None = None
    seen: dict[Node, CompiledRule] = {}
    for rule in rules:
        at = f"{where}.rules[{rule.index}].when"
        if always is not None and policy != "collect":
            issues.add(at, "unreachable", f"unreachable: rules[{always.index}] ('{always.id}') always matches and is tried before it")
        elif rule.cond == _FALSE:
            issues.add(at, "unreachable", "never matches: the condition is always false")
        elif rule.cond == _TRUE:
            always = always or rule
        elif policy != "collect" and rule.cond in seen:
            twin = seen[rule.cond]
            issues.add(at, "unreachable", f"never decides: rules[{twin.index}] ('{twin.id}') has the same condition and is tried first")
        seen.setdefault(rule.cond, rule)
    if always is not None:
        issues.add(f"{where}.rules[{default.index}]", "unreachable", f"unreachable default row: rules[{always.index}] "
                                                                    f"('{always.id}') always matches; make that rule the default row")


def _check_cases(doc: DecisionTableDoc, fields: Fields, where: str, issues: _Issues, vocab: Vocab) -> None:
    ids = {r.id for r in doc.rules} | {ON_MISSING, ON_ERROR}
    for i, case in enumerate(doc.cases):
        at = f"{where}.cases[{i}]"
        for below, key, value in case.values():
            problem = _case_value_problem(key, value, fields, vocab)
            if problem:
                issues.add(f"{at}.{below}", "case_invalid", problem)
        if case.rule is not None and case.rule not in ids:
            issues.add(f"{at}.rule", "case_invalid", f"no rule '{case.rule}' in this table; rules: {', '.join(sorted(ids))}")


def _case_value_problem(key: str, value: Any, fields: Fields, vocab: Vocab) -> str | None:
    step, _, name = key.partition(".")
    if step not in fields or name not in fields[step]:
        known = ", ".join(f"{s}.{f}" for s in sorted(fields) for f in sorted(fields[s]))
        return f"unknown field '{key}'; write step.field, one of: {known}"
    dtype = fields[step][name]
    if dtype in DTYPES and not value_fits(dtype, value):
        return f"{key} holds {dtype}, found {brief(value)}"
    if key in vocab and isinstance(value, str) and value not in vocab[key]:
        return f"{key} is never {brief(value)}: it is one of {listed(vocab[key])}"
    return None
