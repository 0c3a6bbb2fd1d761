"""How many items of a run each rule of the document being edited would catch.

The editor sends the pipeline document it holds (saved or not) and the name of a run folder
under ``runs_root``; the answer gives, per decision table and rule, the items the rule would
*decide* (first match under the table's policy, what a re-decide of the run would write) and
the items it *matches* at all (its condition is true, whatever rules come before it). Both come
from the vectorized evaluator (``rules/vectorized.py``) over the columns the rules read, read
from the run's ``results.parquet`` (only those columns, cached while the file is unchanged).

Problems are answered per rule, never as a failed request: a condition that does not compile
(its message, as validation words it), a rule reading a step the run did not compute or
computed with another operator. A table with such a rule still gets ``matches`` for its other
rules; its ``decides`` need every rule, so they are ``null`` with ``decides_error`` saying why.
A step the run computed with other parameters is counted from the run's values, with a note.
Failed items are decided by ``on_error`` and match no rule.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Mapping
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ..contract.errors import FactorlineError, RuleError
from ..engine.document import load_text
from ..plugins import get_operator, load_plugins
from ..review.runs import RunView
from ..rules import ITEM, ITEM_FIELDS, ON_ERROR, ON_MISSING, CompiledDecisions
from ..rules.compiler import compile_condition, compile_decisions
from ..rules.ir import Node, refs
from ..rules.vectorized import ERROR_COLUMN, Translator, decide_frame, prepare
from .errors import RequestValidationFailed

_CACHED_RUNS = 4
_cache: OrderedDict[tuple, dict[str, pl.Series | None]] = OrderedDict()  # None: the run lacks it
_cache_lock = threading.Lock()


# -- the document's fields and the run's steps ----------------------------------------------
def _steps_of(doc: Mapping) -> dict[str, dict]:
    steps = doc.get("steps")
    return {str(k): v for k, v in steps.items() if isinstance(v, Mapping)} if isinstance(steps, Mapping) else {}


def _operator(step: Mapping):
    try:
        return get_operator(str(step.get("op")))
    except (FactorlineError, KeyError, ValueError, TypeError):
        return None


def document_fields(doc: Mapping) -> tuple[dict[str, dict[str, str]], dict[str, tuple]]:
    """``step -> field -> dtype`` of the document's steps (those whose operator is known), plus
    ``item``; and the closed vocabularies of text fields, as the pipeline compiler builds them."""
    load_plugins()
    fields: dict[str, dict[str, str]] = {}
    vocab: dict[str, tuple] = {}
    for name, step in _steps_of(doc).items():
        spec = _operator(step)
        if spec is None:
            continue
        fields[name] = {f: fd.dtype for f, fd in spec.output_fields.items()}
        vocab.update({f"{name}.{f}": fd.values for f, fd in spec.output_fields.items() if fd.values is not None})
    return {**fields, ITEM: ITEM_FIELDS}, vocab


def _run_steps(view: RunView) -> dict[str, dict]:
    try:
        return _steps_of(load_text(view.dir / "pipeline.yaml"))
    except (FactorlineError, OSError):
        return {}


def _step_problems(doc_steps: dict[str, dict], run_steps: dict[str, dict], run: str) -> tuple[dict[str, str], dict[str, str]]:
    """Per step the document names: why the run cannot answer for it (``errors``), or why its
    values may differ from what the edited pipeline would compute (``notes``)."""
    errors, notes = {}, {}
    listed = ", ".join(sorted(run_steps)) or "none"
    for name, step in doc_steps.items():
        there = run_steps.get(name)
        if there is None:
            errors[name] = f"run {run} has no step '{name}' (its steps: {listed}); run the pipeline to count rules reading it"
            continue
        here_op, there_op = _operator(step), _operator(there)
        if (here_op.id if here_op else step.get("op")) != (there_op.id if there_op else there.get("op")):
            errors[name] = (f"step '{name}' is op {step.get('op')!r} here but was op {there.get('op')!r} in run {run}; "
                            "run the pipeline to count rules reading it")
        elif (step.get("params") or {}) != (there.get("params") or {}) or (step.get("inputs") or {}) != (there.get("inputs") or {}):
            notes[name] = f"step '{name}' ran with other parameters or inputs in run {run}: counted from the run's values"
    return errors, notes


# -- the run's columns ----------------------------------------------------------------------
def _parquet_path(schema: pa.Schema, column: str) -> str | None:
    """The Parquet path of ``step.field`` (``factors.step.field``, ``item.field``), or None when
    the run's records do not hold it."""
    step, _, name = column.partition(".")
    top, inner = (ITEM, [name]) if step == ITEM else ("factors", [step, name])
    if top not in schema.names:
        return None
    t = schema.field(top).type
    for part in inner:
        if not pa.types.is_struct(t) or t.get_field_index(part) < 0:
            return None
        t = t.field(part).type
    return ".".join([top, *inner])


def _columns(view: RunView, wanted: set[str]) -> dict[str, pl.Series]:
    """The run's ``step.field`` columns in ``wanted`` (absent ones left out) and ``__error``."""
    key = (str(view.parquet), view.stamp)
    with _cache_lock:
        held = _cache.setdefault(key, {})
        _cache.move_to_end(key)
        while len(_cache) > _CACHED_RUNS:
            _cache.popitem(last=False)
        missing = sorted(c for c in wanted | {ERROR_COLUMN} if c not in held)
    if missing:
        schema = pq.read_schema(view.parquet)
        paths = {c: p for c in missing if c != ERROR_COLUMN and (p := _parquet_path(schema, c))}
        source = pq.ParquetFile(view.parquet)
        found: dict[str, pl.Series | None] = {}
        for column, path in paths.items():  # one at a time: a nested read comes back as its leaf, parent nulls applied
            found[column] = pl.from_arrow(pq.read_table(view.parquet, columns=[path]).column(0)).alias(column)
        if ERROR_COLUMN in missing:
            failed = (pl.from_arrow(source.read(columns=["error"]).column(0).is_valid()) if "error" in schema.names
                      else pl.Series([False] * source.metadata.num_rows))
            found[ERROR_COLUMN] = failed.alias(ERROR_COLUMN)
        for column in missing:  # a column the records lack stays absent: it reads as missing
            found.setdefault(column, None)
        with _cache_lock:
            held.update(found)
    return {c: s for c, s in held.items() if (c in wanted or c == ERROR_COLUMN) and s is not None}


# -- counting -------------------------------------------------------------------------------
def _matches(frame: pl.DataFrame, nodes: dict[int, Node]) -> dict[int, tuple[int, int]]:
    """Per rule: items whose condition is true, and items where it reads a missing value
    (failed items excluded: no rule is tried on them)."""
    if not nodes:
        return {}
    prepared = prepare(frame, list(nodes.values()))
    translate = Translator()
    live = ~pl.col(ERROR_COLUMN)
    out = prepared.select(
        [(translate.scalar(n).fill_null(False) & live).alias(f"m{i}") for i, n in nodes.items()]
        + [(translate.scalar(n).is_null() & live).alias(f"n{i}") for i, n in nodes.items()]
    ).head(frame.height).sum()
    return {i: (int(out[f"m{i}"][0]), int(out[f"n{i}"][0])) for i in nodes}


def count_rules(doc: Any, view: RunView) -> dict:
    """The counts for every table of ``doc`` over the run ``view`` (see the module's text)."""
    if not isinstance(doc, Mapping):
        raise RequestValidationFailed(f"document: expected a pipeline document (an object), found {type(doc).__name__}",
                                      path="body.document")
    tables = doc.get("decisions")
    if tables is not None and not isinstance(tables, Mapping):
        raise RequestValidationFailed("decisions: expected a mapping of name -> decision table", path="body.document.decisions")
    fields, vocab = document_fields(doc)
    step_errors, step_notes = _step_problems(_steps_of(doc), _run_steps(view), view.name)
    parsed: dict[str, dict[int, Node | str]] = {}
    for name, table in (tables or {}).items():
        rules = table.get("rules") if isinstance(table, Mapping) else None
        parsed[str(name)] = {i: _condition(rule, fields, vocab) for i, rule in enumerate(rules if isinstance(rules, list) else [])
                             if isinstance(rule, Mapping) and not rule.get("default")}
    wanted = {r.column for conds in parsed.values() for n in conds.values() if not isinstance(n, str) for r in refs(n)}
    columns = _columns(view, wanted)
    frame = pl.DataFrame(list(columns.values()))
    failed = int(frame[ERROR_COLUMN].sum())
    reply = {"run": {"name": view.name, "pipeline": view.meta.get("pipeline"), "items": frame.height, "failed": failed},
             "tables": {}}
    for name, table in (tables or {}).items():
        reply["tables"][str(name)] = _table_counts(str(name), table, parsed[str(name)], frame, fields, vocab, step_errors, step_notes)
    return reply


def _condition(rule: Mapping, fields: dict, vocab: dict) -> Node | str:
    when = rule.get("when")
    if not isinstance(when, str) or not when.strip():
        return "no condition: write one in 'when' to count the items it catches"
    try:
        return compile_condition(when, fields, vocab)
    except RuleError as exc:
        return exc.message
    except RecursionError:
        return "the condition is nested too deeply to read"


def _table_counts(name: str, table: Any, conds: dict[int, Node | str], frame: pl.DataFrame, fields: dict, vocab: dict,
                  step_errors: dict[str, str], step_notes: dict[str, str]) -> dict:
    rules = table.get("rules") if isinstance(table, Mapping) else None
    rules = rules if isinstance(rules, list) else []
    rows: list[dict] = []
    usable: dict[int, Node] = {}
    for i, rule in enumerate(rules):
        rule = rule if isinstance(rule, Mapping) else {}
        row: dict[str, Any] = {"index": i, "id": rule.get("id"), "default": bool(rule.get("default")),
                               "decides": None, "matches": None, "missing": None, "error": None, "note": None}
        cond = conds.get(i)
        if isinstance(cond, str):
            row["error"] = cond
        elif cond is not None:
            steps = list(dict.fromkeys(r.path[0] for r in refs(cond)))
            problem = next((step_errors[s] for s in steps if s in step_errors), None)
            if problem:
                row["error"] = problem
            else:
                usable[i] = cond
                row["note"] = next((step_notes[s] for s in steps if s in step_notes), None)
        rows.append(row)
    for i, (matched, missing) in _matches(frame, usable).items():
        rows[i]["matches"], rows[i]["missing"] = matched, missing
    reply: dict[str, Any] = {"rules": rows, "on_missing": None, "on_error": None, "decides_error": None}
    broken = [r for r in rows if r["error"]]
    if broken:
        first = broken[0]
        reply["decides_error"] = (f"rules[{first['index']}] ('{first['id']}') cannot be counted, so who decides is not known "
                                  "for the rules after it: the table's decisions are counted once every rule can be")
        return reply
    compiled, issues = compile_decisions({name: table}, fields, vocab=vocab)
    if name not in compiled.tables:
        reply["decides_error"] = "the table does not compile: " + "; ".join(f"{i.path}: {i.message}" for i in issues[:3])
        return reply
    decided = Counter(decide_frame(CompiledDecisions({name: compiled.tables[name]}), frame)[f"{name}.rule"].to_list())
    ids = {r["id"]: r for r in rows}
    for rule_id, count in decided.items():
        if rule_id == ON_MISSING:
            reply["on_missing"] = count
        elif rule_id == ON_ERROR:
            reply["on_error"] = count
        elif rule_id in ids:
            ids[rule_id]["decides"] = count
    for r in rows:
        r["decides"] = r["decides"] or 0
    reply["on_missing"] = reply["on_missing"] or 0
    reply["on_error"] = reply["on_error"] or 0
    return reply

