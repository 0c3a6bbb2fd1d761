"""Review queues: which items a reviewer should look at first.

``flips``           items whose decision a rule change would flip: either a candidate pipeline
                    (same steps and parameters, other decision tables) decided here over the
                    run's stored factors by the vectorized evaluator, or the run's own
                    ``changes.jsonl`` (written by ``factorline decide``)
``low_confidence``  items whose confidence-like factor (a float field named ``confidence``,
                    ``probability`` or ``score``, or the one you name) lies inside a band around
                    the threshold, nearest first
``sample``          a seeded uniform random sample of the items one table decided one outcome,
                    as many as a precision estimate within ``margin`` at ``confidence`` needs

Sample size (the normal approximation of a proportion, corrected for a finite population)::

    n0 = z^2 * p * (1 - p) / E^2          z: the two-sided normal quantile of the confidence
    n  = ceil(n0 / (1 + (n0 - 1) / N))    (1.96 at 95 %), p: the expected precision (0.5, the
                                          worst case, unless given), E: the margin, N: items
                                          with that outcome

e.g. 95 % and +/- 5 points need 385 items of a large population, 80 of a population of 100.
Precision measured on the sample gets its Wilson interval in ``factorline evaluate``.
"""

from __future__ import annotations

import math

import numpy as np
import orjson
import polars as pl
import pyarrow.parquet as pq

from ..batch.decide import CHANGES_FILE
from ..engine.compiler import Plan
from ..report.metrics import z_value
from ..rules.vectorized import decide_frame, factor_frame
from .grid import Column, FilterError
from .runs import RunView

CONFIDENCE_NAMES = ("confidence", "probability", "score")
MAX_QUEUE = 100_000
_BATCH = 32_768


def sample_size(confidence: float, margin: float, population: int, p: float = 0.5) -> int:
    """Items to review so that a proportion near ``p`` is known within ``margin`` at ``confidence``."""
    if not 0 < confidence < 1 or not 0 < margin < 1 or not 0 < p < 1:
        raise FilterError(f"sample size needs 0 < confidence, margin, p < 1; found confidence={confidence}, "
                          f"margin={margin}, p={p}", path="query")
    if population <= 0:
        return 0
    n0 = z_value(confidence) ** 2 * p * (1 - p) / margin**2
    return min(population, math.ceil(n0 / (1 + (n0 - 1) / population)))


def flips_from_plan(view: RunView, plan: Plan) -> list[dict]:
    """(index, table, before, after, rule) of every item whose outcome ``plan`` decides otherwise."""
    run_plan = view.require_plan()
    if plan.factors_fingerprint != run_plan.factors_fingerprint:
        raise FilterError(f"pipeline {plan.name} measures other factors than run {view.name} (its steps, parameters or "
                          "sampling differ): only a pipeline whose decision tables alone changed can be compared",
                          path="query.pipeline")
    tables = [t for t in plan.decisions.names if t in view.tables]
    needed = plan.decisions.referenced_fields()
    columns = [c for c in ("item", "factors", "error", "decisions") if c in view.schema.names]
    flips, start = [], 0
    for batch in pq.ParquetFile(view.parquet).iter_batches(batch_size=_BATCH, columns=columns):
        frame = pl.from_arrow(batch)
        decided = decide_frame(plan.decisions, factor_frame(frame, needed))
        for table in tables:
            before = frame["decisions"].struct.field(table).struct.field("outcome")
            after, rule = decided[f"{table}.outcome"], decided[f"{table}.rule"]
            for row in np.flatnonzero((before != after).fill_null(True).to_numpy()):
                if before[int(row)] == after[int(row)]:
                    continue
                flips.append({"index": start + int(row), "table": table, "before": before[int(row)],
                              "after": after[int(row)], "rule": rule[int(row)]})
                if len(flips) >= MAX_QUEUE:
                    return flips
        start += batch.num_rows
    return flips


def flips_from_changes(view: RunView) -> list[dict]:
    """The changes ``factorline decide`` recorded in the run folder (matched to rows by path)."""
    path = view.dir / CHANGES_FILE
    if not path.is_file():
        raise FilterError(f"run {view.name} has no {CHANGES_FILE}: name a candidate pipeline (?pipeline=NAME) or run "
                          f"`factorline decide NEW_PIPELINE --from RUN` first", path="query.pipeline")
    changes = [orjson.loads(raw) for raw in path.read_bytes().splitlines() if raw.strip()][:MAX_QUEUE]
    paths = list({c.get("item") for c in changes if c.get("item")})
    rows = view.cursor().execute('SELECT path, min("index") FROM grid WHERE path IN (SELECT unnest(?)) GROUP BY path',
                                 [paths]).fetchall()
    index = dict(rows)
    return [{"index": int(index[c["item"]]), "table": c.get("table"), "before": c.get("before"), "after": c.get("after"),
             "rule": c.get("rule")} for c in changes if c.get("item") in index]


def confidence_column(columns: dict[str, Column], name: str | None) -> Column:
    if name:
        column = columns.get(name)
        if column is None or column.type not in ("float", "int"):
            raise FilterError(f"field {name!r} is not a number column of this run; expected e.g. "
                              f"{', '.join(confidence_fields(columns)) or 'a float factor'}", path="query.field")
        return column
    found = confidence_fields(columns)
    if not found:
        raise FilterError("this run has no confidence-like factor (a float field named confidence, probability or score): "
                          "name one with ?field=step.field", path="query.field")
    return columns[found[0]]


def confidence_fields(columns: dict[str, Column]) -> list[str]:
    return [c.name for c in columns.values() if c.group == "factor" and c.type == "float"
            and c.name.rsplit(".", 1)[-1] in CONFIDENCE_NAMES]


def sample_indices(view: RunView, column: Column, outcome: str, n: int, seed: int) -> tuple[int, list[int]]:
    """(population, sorted sample of ``n`` row indices) of the rows where ``column`` == ``outcome``."""
    from ..batch.query import quote

    rows = view.cursor().execute(f'SELECT "index" FROM grid WHERE {quote(column.name)} = ? ORDER BY "index"', [outcome]).fetchall()
    population = np.array([r[0] for r in rows], dtype=np.int64)
    if n <= 0 or not len(population):
        return len(population), []
    chosen = np.random.default_rng(seed).choice(population, size=min(n, len(population)), replace=False)
    return len(population), sorted(int(i) for i in chosen)
