"""A run's summary columns, read with polars from results.parquet, and the few whole records a
report shows, read from results.jsonl by line number: a 100,000-item run is never loaded
into Python as records."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson
import polars as pl

from ..contract.errors import RunDirError
from ..rules import ON_MISSING

_HITS = pl.List(pl.Struct({"rule": pl.String}))


@dataclass
class RunColumns:
    """One row per item in run order: ``index``, ``path``, ``kind``, ``failed``, ``error_type``,
    ``error_message``, ``partial``, and per decision table ``<t>.outcome``, ``<t>.rule``,
    ``<t>.fired`` (the deciding rule, then every rule that matched), ``<t>.hits`` (how many
    rules matched) and ``<t>.outcomes``."""

    frame: pl.DataFrame
    tables: list[str]
    factors: dict[str, tuple[str, pl.Series]]  # step.field -> (number | category, values of items that did not fail)

    @property
    def total(self) -> int:
        return self.frame.height

    @property
    def failed(self) -> int:
        return int(self.frame["failed"].sum())


def read_columns(run_dir: Path) -> RunColumns:
    path = run_dir / "results.parquet"
    if not path.is_file():
        raise RunDirError(f"no results.parquet in {run_dir}; run `factorline run ... --resume` on it to assemble it",
                          path=str(run_dir))
    lazy = pl.scan_parquet(path)
    schema = lazy.collect_schema()
    tables = [f.name for f in schema["decisions"].fields] if isinstance(schema.get("decisions"), pl.Struct) else []
    item, error = pl.col("item"), pl.col("error")
    columns = [
        pl.int_range(pl.len(), dtype=pl.Int64).alias("index"),
        item.struct.field("path").alias("path"),
        item.struct.field("kind").alias("kind"),
        error.is_not_null().alias("failed"),
        error.struct.field("type").alias("error_type"),
        error.struct.field("message").alias("error_message"),
        item.struct.field("partial").fill_null(False).alias("partial"),
    ]
    for t in tables:
        d = pl.col("decisions").struct.field(t)
        hits = d.struct.field("hits").str.json_decode(_HITS).list.eval(pl.element().struct.field("rule"))
        columns += [
            d.struct.field("outcome").alias(f"{t}.outcome"),
            d.struct.field("rule").alias(f"{t}.rule"),
            pl.concat_list(d.struct.field("rule"), hits.fill_null([])).list.unique(maintain_order=True).alias(f"{t}.fired"),
            hits.list.len().fill_null(0).alias(f"{t}.hits"),
            pl.concat_list(d.struct.field("outcome"), d.struct.field("outcomes").fill_null([]))
            .list.unique(maintain_order=True).alias(f"{t}.outcomes"),
        ]
    kinds = _factor_kinds(schema)
    factor_exprs = [pl.col("factors").struct.field(s).struct.field(n).alias(f"{s}.{n}") for s, n in (k.split(".", 1) for k in kinds)]
    frame = lazy.select(columns + factor_exprs).collect()
    ok = frame.filter(~pl.col("failed"))
    factors = {key: (kind, ok[key]) for key, kind in kinds.items()}
    return RunColumns(frame.drop(list(kinds)), tables, factors)


def _factor_kinds(schema: pl.Schema) -> dict[str, str]:
    """Numbers get a histogram; true/false and short text get value counts (free text, lists: none)."""
    kinds: dict[str, str] = {}
    steps = schema.get("factors")
    for step in steps.fields if isinstance(steps, pl.Struct) else []:
        for f in step.dtype.fields if isinstance(step.dtype, pl.Struct) else []:
            if f.dtype.is_numeric():
                kinds[f"{step.name}.{f.name}"] = "number"
            elif f.dtype in (pl.Boolean, pl.String) and f.name != "text":
                kinds[f"{step.name}.{f.name}"] = "category"
    return kinds


def detailed_rows(cols: RunColumns, limit: int) -> list[int]:
    """Items that get a section: failed, then decided by a rule or by missing values (what a
    reviewer looks at), then those the default row accepted; each group in run order."""
    frame = cols.frame
    decided = pl.lit(False)
    for t in cols.tables:
        decided = decided | (pl.col(f"{t}.hits") > 0) | (pl.col(f"{t}.rule") == ON_MISSING)
    rank = pl.when(pl.col("failed")).then(0).when(decided).then(1).otherwise(2)
    return frame.select("index", rank.alias("rank")).sort(["rank", "index"]).head(max(limit, 0))["index"].to_list()


def indexed_rows(cols: RunColumns, per_outcome: int) -> list[int]:
    """The items the index lists: the first ``per_outcome`` of every outcome of every table and
    the first ``per_outcome`` failed items, in run order (the rest: `factorline query`)."""
    frame, picked = cols.frame, set()
    groups = [frame.filter(pl.col("failed"))] + [part for t in cols.tables for part in frame.partition_by(f"{t}.outcome")]
    for part in groups or [frame]:
        picked.update(part["index"].head(per_outcome).to_list())
    if not cols.tables:
        picked.update(frame["index"].head(per_outcome).to_list())
    return sorted(picked)


def read_records(results: Path, rows: set[int]) -> dict[int, dict]:
    """The records at the given run positions (0-based lines of results.jsonl)."""
    out: dict[int, dict] = {}
    if not rows:
        return out
    last = max(rows)
    with results.open("rb") as fh:
        for i, raw in enumerate(fh):
            if i in rows:
                out[i] = orjson.loads(raw)
            if i >= last:
                break
    return out
