"""Re-deciding records a batch at a time: which rows need what, and rewriting their lines.

``Redecider`` holds one re-decide: the tables that changed since the stored decisions (by
their documents), the vectorized evaluator over those, and per batch the action each row
needs (``KEEP`` its stored decision, the table's shared ``DEFAULT`` decision, or ``PER_ITEM``:
the per-item evaluator writes it, told which rule decided so that it reads only that rule).
``decide.py`` drives it over a run folder.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from ..engine.compiler import Plan
from ..engine.records import DECISION_TYPE, flat_decision
from ..rules import ITEM, ON_ERROR, ON_MISSING, CompiledDecisions, CompiledTable
from ..rules.vectorized import ERROR_COLUMN, decide_frame
from .lines import LineBlock

KEEP, DEFAULT, PER_ITEM = 0, 1, 2


@dataclass
class Verdicts:
    """What the vectorized evaluator found for one batch, per changed table (picklable: it is
    sent from the helper process): ``codes`` (KEEP/DEFAULT/PER_ITEM per row), ``changed`` (row
    -> the stored outcome, where the outcome changed) and ``known`` (row -> the deciding rule
    and the rule that could not be evaluated, for PER_ITEM rows)."""

    codes: dict[str, np.ndarray]
    changed: dict[str, dict[int, str | None]]
    known: dict[str, dict[int, tuple[str, str | None]]]


def changed_rules(old: dict | None, new: dict) -> set[str] | None:
    """Rule ids whose definition differs (None: the table is unchanged and is copied; its
    worked examples do not decide anything)."""
    def bare(doc: dict | None) -> dict | None:
        return None if doc is None else {k: v for k, v in doc.items() if k != "cases"}

    if bare(old) == bare(new):
        return None
    if old is None or {k: v for k, v in old.items() if k not in ("rules", "cases")} != \
            {k: v for k, v in new.items() if k not in ("rules", "cases")}:
        return {str(r.get("id")) for r in new.get("rules") or []}  # policy or fallbacks changed: all of them
    before = {str(r.get("id")): r for r in old.get("rules") or []}
    return {str(r.get("id")) for r in new.get("rules") or [] if before.get(str(r.get("id"))) != r}


@contextmanager
def no_gc() -> Iterator[None]:
    """The cyclic collector off while millions of short-lived records come and go (they hold no
    cycles); it rescans every surviving object on each pass and would double the time."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _columns(batch: pa.RecordBatch) -> dict[str, pa.Array]:
    """Every leaf of the batch's ``factors``, ``item`` and ``decisions`` structs by dotted name
    (``border.area_ratio``, ``item.partial``, ``decisions.moderation.rule``), parent nulls
    applied, without converting the heavy columns a decision never reads."""
    out: dict[str, pa.Array] = {}
    for top, prefix in (("factors", ""), (ITEM, f"{ITEM}."), ("decisions", "decisions.")):
        if top not in batch.schema.names or not pa.types.is_struct(batch.schema.field(top).type):
            continue
        parent = batch.column(top)
        for child_field, child in zip(parent.type, parent.flatten()):
            name = prefix + child_field.name
            if pa.types.is_struct(child_field.type) and top != ITEM:
                out.update({f"{name}.{f.name}": a for f, a in zip(child_field.type, child.flatten())})
            else:
                out[name] = child
    return out


class Redecider:
    def __init__(self, plan: Plan, old: Plan | None, stored: set[str], fingerprint: str | None):
        """``old``: the pipeline the stored decisions came from; ``stored``: the tables the
        stored Parquet holds (one it lacks is decided afresh whatever the documents say);
        ``fingerprint``: the one the stored records carry."""
        new_docs = dict(plan.doc.decisions)
        old_docs = dict(old.doc.decisions) if old is not None else None
        self.plan = plan
        self.tables = plan.decisions.tables
        self.changed = {}
        for name, doc in new_docs.items():
            before = (old_docs or {}).get(name) if old_docs is not None and name in stored else None
            if (rules := changed_rules(before, doc)) is not None:
                self.changed[name] = rules
        self.vectorized = CompiledDecisions({n: self.tables[n] for n in self.changed})
        self.defaults = {n: self.tables[n].default_decision() for n in self.changed}
        old_tables = old.decisions.tables if old is not None else {}
        # Items no rule matched keep their stored decision when the default decision reads the same.
        self.same_default = {n: n in old_tables and old_tables[n].default_decision() == d for n, d in self.defaults.items()}
        # A line whose tables all keep their decisions only needs its fingerprint swapped, no parse.
        same_tables = old is not None and set(old_tables) == set(self.tables) == stored
        self.swap = (fingerprint.encode(), plan.fingerprint.encode()) \
            if fingerprint and same_tables and old.name == plan.name and len(fingerprint) == len(plan.fingerprint) else None
        self.flat_defaults = {n: flat_decision(d) for n, d in self.defaults.items()}
        self.columns = self.vectorized.referenced_fields()
        self.pipeline = {"name": plan.name, "fingerprint": plan.fingerprint}
        self.transitions: Counter = Counter()
        self.changes = 0

    def needed_columns(self, schema: pa.Schema) -> list[str] | None:
        """The Parquet columns ``codes`` reads, as dotted paths into the structs (the fields the
        changed tables' rules read, ``error``, the stored outcome, rule and reason): a fraction
        of a batch to decode. None: every column (a file without them)."""
        held: set[str] = set()

        def walk(prefix: str, kind: pa.DataType) -> None:
            for child in kind:
                held.add(f"{prefix}{child.name}")
                if pa.types.is_struct(child.type):
                    walk(f"{prefix}{child.name}.", child.type)

        walk("", pa.struct(list(schema)))
        wanted = ["error", *(c if c.startswith(f"{ITEM}.") else f"factors.{c}" for c in sorted(self.columns)),
                  *(f"decisions.{n}.{k}" for n in self.changed for k in ("outcome", "rule", "reason"))]
        return [c for c in wanted if c in held] or None

    def codes(self, batch: pa.RecordBatch) -> Verdicts:
        """Per changed table: what each row needs, the outcomes that changed, the known deciders."""
        verdicts = Verdicts({}, {}, {})
        if not self.changed:
            return verdicts
        columns = _columns(batch)
        frame = pl.DataFrame({c: pl.from_arrow(columns[c]) for c in self.columns if c in columns}, height=batch.num_rows)
        if "error" in batch.schema.names:
            frame = frame.with_columns(pl.from_arrow(batch.column("error").is_valid()).alias(ERROR_COLUMN))
        decided = decide_frame(self.vectorized, frame, blocked=True)
        for name in self.changed:
            table: CompiledTable = self.tables[name]
            # Compared as polars strings: numpy object arrays compare (and np.isin sorts) one
            # Python object at a time, seconds over a million rows.
            outcome, rule, blocked = decided[f"{name}.outcome"], decided[f"{name}.rule"], decided[f"{name}.blocked"]
            if f"decisions.{name}.outcome" in columns:
                old_outcome, old_rule, old_reason = (pl.from_arrow(columns[f"decisions.{name}.{k}"]) for k in ("outcome", "rule", "reason"))
            else:
                old_outcome = old_rule = old_reason = pl.Series([None] * batch.num_rows, dtype=pl.String)

            def flags(series: pl.Series) -> np.ndarray:
                return series.fill_null(False).to_numpy()

            kept_outcome = flags(outcome.eq_missing(old_outcome))
            same = kept_outcome & flags(rule.eq_missing(old_rule))
            # A missing value decided before and after, blocked by the same unchanged rule: the
            # stored explanation (which names that rule and its values) still holds.
            still_blocked = flags(old_reason == blocked + " could not be evaluated") & ~flags(blocked.is_in(sorted(self.changed[name])))
            failed, on_missing = flags(rule == ON_ERROR), flags(rule == ON_MISSING)
            may_keep = failed | ~flags(rule.is_in([*self.changed[name], ON_MISSING])) | (on_missing & still_blocked)
            if table.policy == "collect":  # every matching rule is listed: only a failed item's decision is safe
                may_keep = failed
            code = np.where(same & may_keep, KEEP, PER_ITEM)
            is_default = flags(rule == table.default.id)
            kept_default = is_default & same & self.same_default[name]
            verdicts.codes[name] = code = np.where(kept_default, KEEP, np.where(is_default, DEFAULT, code))
            moved = np.flatnonzero(~kept_outcome)
            verdicts.changed[name] = dict(zip(moved.tolist(), old_outcome.gather(moved).to_list()))
            rows = np.flatnonzero(code == PER_ITEM)
            verdicts.known[name] = dict(zip(rows.tolist(), zip(rule.gather(rows).to_list(), blocked.gather(rows).to_list())))
        return verdicts

    def lines(self, block: LineBlock, verdicts: Verdicts, fresh: dict[str, list], sink) -> dict[int, dict]:
        """Write the batch's new lines to ``sink``; the records that had to be parsed, by row.

        Runs of lines whose decisions all stay only get their fingerprint swapped, a slice of the
        block at a time (a million lines cannot afford a Python step each); the slices stay small
        so that the allocator hands the same memory back each time."""
        keep = np.ones(len(block), dtype=bool)
        for c in verdicts.codes.values():
            keep &= c == KEEP
        if not self.swap:
            keep[:] = False
        data = block.data
        records: dict[int, dict] = {}
        edges = np.flatnonzero(np.diff(keep.astype(np.int8))) + 1
        for start, end in zip([0, *edges.tolist()], [*edges.tolist(), len(block)]):
            if keep[start] and self._swap_in_place(block, start, end):
                first, last = block.span(start, end)
                sink.write(memoryview(data)[first:last])
                continue
            for row in range(start, end):  # parsed one by one (or a line without the stored fingerprint)
                line, records[row] = self.line(block[row], row, verdicts, fresh)
                sink.write(line)
        return records

    def _swap_in_place(self, block: LineBlock, start: int, end: int) -> bool:
        """Swap the stored fingerprint for the new one in lines ``start`` to ``end`` of the block's
        buffer (same length: nothing moves), when each holds it exactly once; False (nothing
        changed) otherwise. Writing the buffer itself then costs no copy of the lines."""
        old, new = self.swap  # type: ignore[misc]
        data = block.data
        first, last = block.span(start, end)
        if data.count(old, first, last) != end - start:
            return False
        bounds = block.bounds[start:end + 1].tolist()
        at = [data.find(old, a, b) for a, b in pairwise(bounds)]
        if min(at) < 0:
            return False
        for k in at:
            data[k:k + len(old)] = new
        return True

    def line(self, raw: bytes, row: int, verdicts: Verdicts, fresh: dict[str, list]) -> tuple[bytes, dict]:
        """One parsed and re-decided line, and its record."""
        record = orjson.loads(raw)
        stored = record.get("decisions") or {}
        decisions = {}
        for name, table in self.tables.items():
            code = verdicts.codes[name][row] if name in verdicts.codes else KEEP
            if code == KEEP and name in stored:
                decisions[name] = stored[name]
            elif code == DEFAULT:
                decisions[name] = self.defaults[name]
            else:
                factors = record.get("factors") if isinstance(record.get("factors"), dict) else {}
                item = record.get("item")
                factors = {**factors, ITEM: item} if isinstance(item, dict) else factors
                known = verdicts.known[name].get(row) if name in verdicts.known else None
                decision = table.decide(factors, record.get("error")) if known is None else \
                    table.decide_known(*known, factors, record.get("error"))
                decisions[name] = decision
                fresh[name][row] = flat_decision(decision)
        record["decisions"] = decisions
        record["pipeline"] = self.pipeline
        return orjson.dumps(record) + b"\n", record

    def parquet(self, batch: pa.RecordBatch, codes: dict[str, np.ndarray], fresh: dict[str, list],
                schema: pa.Schema) -> pa.Table:
        table = pa.Table.from_batches([batch])
        columns = {n: table.column(n) for n in table.column_names}
        if "decisions" in schema.names:
            old = columns.get("decisions")
            held = {f.name for f in old.type} if old is not None and pa.types.is_struct(old.type) else set()
            children = []
            for name in self.tables:
                kept = pc.struct_field(old, name).combine_chunks() if name in held else pa.nulls(table.num_rows, DECISION_TYPE)
                if name in codes:
                    default = pa.repeat(pa.scalar(self.flat_defaults[name], type=DECISION_TYPE), table.num_rows)
                    computed = pa.array(fresh[name], type=DECISION_TYPE)
                    kept = pc.if_else(pa.array(codes[name] == PER_ITEM), computed,
                                      pc.if_else(pa.array(codes[name] == DEFAULT), default, kept))
                children.append(kept)
            columns["decisions"] = pa.StructArray.from_arrays(children, fields=list(schema.field("decisions").type))
        columns["pipeline"] = pa.repeat(pa.scalar(self.pipeline, type=schema.field("pipeline").type), table.num_rows)
        return pa.table({n: columns[n] for n in schema.names}, schema=schema)

    def note_changes(self, records: dict[int, dict], verdicts: Verdicts, sink, sample: list[dict], limit: int) -> None:
        for name, moved in verdicts.changed.items():
            for row, before in moved.items():
                record = records[row]
                decision = record["decisions"][name]
                change = {"item": (record.get("item") or {}).get("path"), "table": name, "before": before,
                          "after": decision["outcome"], "rule": decision["rule"], "explanation": decision["explanation"]}
                self.transitions[(name, change["before"], change["after"])] += 1
                self.changes += 1
                sink.write(orjson.dumps(change) + b"\n")
                if len(sample) < limit:
                    sample.append(change)
