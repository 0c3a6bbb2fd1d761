"""SQL over run folders (DuckDB over results.parquet), and what changed between two runs.

Every run is seen through three views with stable column names:

    items       index, path, id, kind, duration_s, width, height, fps, display_width,
                display_height, pixel_aspect, partial, partial_reason, decoded_s, frames,
                frames_planned, error_type, error_message, total_ms
    factors     index, path, then one column per factor named as rules read it: "border.area_ratio"
                (quote it in SQL: SELECT "border.area_ratio" FROM factors)
    decisions   index, path, "table", outcome, rule, reason, explanation: one row per item and table
    results     the Parquet file as written (nested structs)

DuckDB reads the file in place, in parallel and out of core, so a query over a million items
never loads the run into Python. Queries are the user's own SQL on their own machine (like
the duckdb shell); they are not exposed by the HTTP server.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..contract.errors import QueryError, RunDirError
from ..rules import ITEM

RESULTS = "results.parquet"
VIEWS = ("items", "factors", "decisions", "results")
_ITEM_COLUMNS = ("path", "id", "kind", "duration_s", "width", "height", "fps", "display_width", "display_height",
                 "pixel_aspect", "partial", "partial_reason", "decoded_s", "frames", "frames_planned")


def quote(name: str) -> str:
    """An SQL identifier for any name (embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _results(run_dir: Path) -> tuple[Path, pa.Schema]:
    path = run_dir / RESULTS
    if not path.is_file():
        hint = ("run `factorline run ... --resume` on it to assemble it" if (run_dir / "parts").is_dir()
                else "expected a folder written by `factorline run`")
        raise RunDirError(f"no {RESULTS} in {run_dir}: {hint}", path=str(run_dir))
    try:
        return path, pq.read_schema(path)
    except (OSError, pa.ArrowException) as exc:
        raise RunDirError(f"{RESULTS} is damaged ({exc}); run `factorline run ... --resume` to assemble it again",
                          path=str(path), cause=exc) from exc


def view_sql(run_dir: Path, prefix: str = "") -> dict[str, str]:
    """The SELECT behind each view of ``run_dir`` (names get ``prefix``: diff reads two runs)."""
    path, schema = _results(run_dir)
    source = f"read_parquet({_literal(str(path))}, file_row_number = true)"
    item_fields = {f.name for f in schema.field(ITEM).type} if ITEM in schema.names else set()
    items = [f"{ITEM}.{quote(c)} AS {quote(c)}" if c in item_fields else f"NULL AS {quote(c)}" for c in _ITEM_COLUMNS]
    key = f"file_row_number AS {quote('index')}, {ITEM}.path AS path"
    factors = [f"factors.{quote(step.name)}.{quote(f.name)} AS {quote(step.name + '.' + f.name)}"
               for step in (schema.field("factors").type if "factors" in schema.names else [])
               for f in step.type]
    tables = [t.name for t in schema.field("decisions").type] if "decisions" in schema.names else []
    decisions = " UNION ALL ".join(
        f"SELECT {key}, {_literal(t)} AS {quote('table')}, decisions.{quote(t)}.outcome AS outcome, "
        f"decisions.{quote(t)}.rule AS rule, decisions.{quote(t)}.reason AS reason, "
        f"decisions.{quote(t)}.explanation AS explanation FROM {source}" for t in tables
    ) or ("SELECT NULL::BIGINT AS \"index\", NULL::VARCHAR AS path, NULL::VARCHAR AS \"table\", NULL::VARCHAR AS outcome, "
          "NULL::VARCHAR AS rule, NULL::VARCHAR AS reason, NULL::VARCHAR AS explanation WHERE false")
    return {
        f"{prefix}items": f"SELECT file_row_number AS {quote('index')}, {', '.join(items)}, error.type AS error_type, "
                          f"error.message AS error_message, timings_ms['total'] AS total_ms FROM {source}",
        f"{prefix}factors": f"SELECT {', '.join([key, *factors])} FROM {source}",
        f"{prefix}decisions": decisions,
        f"{prefix}results": f"SELECT * FROM read_parquet({_literal(str(path))})",
    }


def connect(runs: Iterable[tuple[Path, str]]):
    """A DuckDB connection with the views of each (run folder, name prefix)."""
    import duckdb

    con = duckdb.connect()
    for run_dir, prefix in runs:
        for name, sql in view_sql(Path(run_dir), prefix).items():
            con.execute(f"CREATE VIEW {quote(name)} AS {sql}")
    return con


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple]  # at most ``limit``
    total: int  # rows the query returned
    out: str | None  # where every row was written


def run_query(run_dir: str | Path, sql: str, *, limit: int = 50, out: str | Path | None = None) -> QueryResult:
    """``sql`` over the views of ``run_dir``: the first ``limit`` rows, and every row to ``out``
    (.csv, .parquet or .jsonl) when given."""
    import duckdb

    con = connect([(Path(run_dir), "")])
    try:
        relation = con.sql(sql)
        if relation is None:
            raise QueryError("the statement returned no rows; write a SELECT (views: items, factors, decisions, results)")
        columns = list(relation.columns)
        total = relation.aggregate("count(*)").fetchall()[0][0]
        rows = relation.limit(limit).fetchall() if limit > 0 else []
        if out is not None:
            _write(relation, Path(out))
    except duckdb.Error as exc:
        raise QueryError(" ".join(str(exc).split()) + "; the views are items, factors, decisions and results (see `factorline query "
                         "--help`); quote factor columns: \"border.area_ratio\"", cause=exc) from exc
    finally:
        con.close()
    return QueryResult(columns, rows, total, str(out) if out is not None else None)


def _write(relation, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        relation.write_csv(str(out))
    elif suffix == ".parquet":
        relation.write_parquet(str(out))
    elif suffix in (".jsonl", ".ndjson", ".json"):
        relation.pl().write_ndjson(out)
    else:
        raise QueryError(f"cannot write {out.name}: expected a .csv, .parquet or .jsonl file", path=str(out))


@dataclass
class DiffSummary:
    items_a: int
    items_b: int
    only_a: int
    only_b: int
    changed: int  # (item, table) pairs whose outcome differs
    transitions: list[dict]  # {"table", "before", "after", "items"}, most first
    sample: list[dict]
    out: str | None


_CHANGES = """
SELECT coalesce(b.path, a.path) AS item, coalesce(b."table", a."table") AS "table",
       a.outcome AS before, b.outcome AS after, b.rule AS rule, b.explanation AS explanation
FROM a_decisions a FULL OUTER JOIN b_decisions b ON a.path = b.path AND a."table" = b."table"
WHERE a.path IS NOT NULL AND b.path IS NOT NULL AND a.outcome IS DISTINCT FROM b.outcome
   OR a.path IS NULL AND b.path IN (SELECT path FROM a_items)
   OR b.path IS NULL AND a.path IN (SELECT path FROM b_items)
"""


def diff_runs(run_a: str | Path, run_b: str | Path, *, out: str | Path | None = None, sample: int = 10) -> DiffSummary:
    """What changed from ``run_a`` to ``run_b``, item by item (matched by path) and table by table.
    A table only one run has counts as changed for the items both runs hold (before or after
    None); items only one run holds are counted, not listed."""
    import duckdb

    con = connect([(Path(run_a), "a_"), (Path(run_b), "b_")])
    try:
        count = lambda sql: con.execute(sql).fetchone()[0]
        items_a, items_b = count("SELECT count(*) FROM a_items"), count("SELECT count(*) FROM b_items")
        only_a = count("SELECT count(*) FROM a_items WHERE path NOT IN (SELECT path FROM b_items)")
        only_b = count("SELECT count(*) FROM b_items WHERE path NOT IN (SELECT path FROM a_items)")
        con.execute(f"CREATE TEMP TABLE changes AS {_CHANGES}")
        moves = con.execute('SELECT "table", before, after, count(*) AS n FROM changes GROUP BY ALL '
                            'ORDER BY n DESC, "table", before NULLS FIRST, after NULLS FIRST').fetchall()
        shown = con.execute(f'SELECT * FROM changes ORDER BY item, "table" LIMIT {int(sample)}').fetchall()
        if out is not None:
            _write(con.table("changes").order("item"), Path(out))
    except duckdb.Error as exc:
        raise QueryError(f"cannot compare the runs: {' '.join(str(exc).split())}", cause=exc) from exc
    finally:
        con.close()
    keys = ("item", "table", "before", "after", "rule", "explanation")
    return DiffSummary(items_a, items_b, only_a, only_b, sum(m[3] for m in moves),
                       [{"table": t, "before": b, "after": a, "items": n} for t, b, a, n in moves],
                       [dict(zip(keys, row)) for row in shown], str(out) if out is not None else None)
