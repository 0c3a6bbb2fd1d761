"""The run browser's grid: one row per item, one column per scalar field, filtered, sorted and
paged by DuckDB over results.parquet (read in place, never loaded whole).

Columns (``grid_columns``), named as rules read them:

    index, id, path, kind, error, error_message    the row, the item, its error type
    item.<field>                                   duration_s, width, height, fps, partial, ...
    <step>.<field>                                 every bool, int, float and text factor field
    <table>, <table>.rule                          each decision table's outcome and deciding rule
                                                   (``decision.<table>`` when a step has that name)

Filter text (``parse_filter``): clauses joined by ``and``; a clause is ``NAME OP VALUE`` with OP
one of ``= == != < <= > >= ~`` (``~``: text contains, case-insensitive) or ``is`` / ``is not``
(equality, or ``null``). VALUE is a number, ``true``/``false``/``null``, a quoted text or a bare
word. Example: ``logo.has_logo is true and moderation is accept and border.area_ratio > 0.2``.
Names are checked against the grid's columns and values against the column's type; values
reach SQL only as parameters, names only after they matched a column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from ..batch.query import quote
from ..contract.errors import ConfigError
from ..rules import ITEM

MAX_CLAUSES = 20
MAX_FILTER_CHARS = 2000
_ITEM_FIELDS = ("duration_s", "width", "height", "fps", "display_width", "display_height", "pixel_aspect", "partial",
                "decoded_s", "frames", "frames_planned")
_OPS = {"=": "=", "==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "is": "=", "is not": "<>", "~": "~"}
_TOKEN = re.compile(r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>==|!=|<=|>=|=|<|>|~)"""
                    r"""|(?P<word>[^\s"'=<>!~]+))""")


class FilterError(ConfigError):
    """A filter or sort the grid cannot use (the server answers 422)."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # bool | int | float | str
    group: str  # row | item | factor | decision
    sql: str  # the expression over read_parquet(...)
    key: tuple = ()  # where the record holds it: ("item", "id"), ("factors", step, field), ...

    def public(self) -> dict:
        return {"name": self.name, "type": self.type, "group": self.group}


def _kind(t: pa.DataType) -> str | None:
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "str"
    return None


def grid_columns(schema: pa.Schema) -> dict[str, Column]:
    cols = [Column("index", "int", "row", "file_row_number")]
    item = {f.name: f.type for f in schema.field(ITEM).type} if ITEM in schema.names else {}
    for name, kind in (("id", "str"), ("path", "str"), ("kind", "str")):
        cols.append(Column(name, kind, "item", f"{ITEM}.{quote(name)}" if name in item else "NULL", (ITEM, name)))
    cols += [Column("error", "str", "row", "error.type", ("error", "type")),
             Column("error_message", "str", "row", "error.message", ("error", "message"))]
    cols += [Column(f"item.{n}", _kind(item[n]), "item", f"{ITEM}.{quote(n)}", (ITEM, n))
             for n in _ITEM_FIELDS if n in item and _kind(item[n])]
    steps = schema.field("factors").type if "factors" in schema.names else []
    for step in steps:
        for f in step.type:
            if (kind := _kind(f.type)) is not None:
                cols.append(Column(f"{step.name}.{f.name}", kind, "factor", f"factors.{quote(step.name)}.{quote(f.name)}",
                                   ("factors", step.name, f.name)))
    taken = {c.name for c in cols}
    for table in schema.field("decisions").type if "decisions" in schema.names else []:
        name = table.name if table.name not in taken and f"{table.name}.rule" not in taken else f"decision.{table.name}"
        base = f"decisions.{quote(table.name)}"
        cols += [Column(name, "str", "decision", f"{base}.outcome", ("decisions", table.name, "outcome")),
                 Column(f"{name}.rule", "str", "decision", f"{base}.rule", ("decisions", table.name, "rule"))]
    return {c.name: c for c in cols}


def grid_sql(parquet: Path, columns: dict[str, Column]) -> str:
    source = "read_parquet('" + str(parquet).replace("'", "''") + "', file_row_number = true)"
    return f"SELECT {', '.join(f'{c.sql} AS {quote(c.name)}' for c in columns.values())} FROM {source}"


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise FilterError(f"filter: cannot read {text[pos:pos + 20]!r} at character {pos}: expected a name, an "
                              "operator (= != < <= > >= ~ is) or a value", path="query.filter")
        kind = m.lastgroup or "word"
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _value(kind: str, token: str, column: Column, clause: str) -> object:
    if kind == "str":
        token = _unquote(token)
        if column.type == "str":
            return token
    low = token.lower() if kind == "word" else None
    if low == "null":
        return None
    try:
        if column.type == "bool":
            if low in ("true", "false"):
                return low == "true"
            raise ValueError
        if column.type == "int":
            return int(token)
        if column.type == "float":
            return float(token)
    except ValueError:
        wanted = {"bool": "true or false", "int": "a whole number", "float": "a number"}[column.type]
        raise FilterError(f"filter clause '{clause}': {column.name} is {column.type}, expected {wanted}, found {token!r}",
                          path="query.filter") from None
    return token


def parse_filter(text: str, columns: dict[str, Column]) -> tuple[str, list]:
    """(SQL condition, parameters) of a filter text; ``("TRUE", [])`` when empty."""
    text = (text or "").strip()
    if not text:
        return "TRUE", []
    if len(text) > MAX_FILTER_CHARS:
        raise FilterError(f"filter has {len(text)} characters: expected at most {MAX_FILTER_CHARS}", path="query.filter")
    tokens, clauses, params = _tokens(text), [], []
    groups: list[list[tuple[str, str]]] = [[]]
    for kind, tok in tokens:
        if kind == "word" and tok.lower() == "and":
            groups.append([])
        elif kind == "word" and tok.lower() == "or":
            raise FilterError("filter: 'or' is not supported: clauses are joined by 'and' (run two filters instead)",
                              path="query.filter")
        else:
            groups[-1].append((kind, tok))
    if len(groups) > MAX_CLAUSES:
        raise FilterError(f"filter has {len(groups)} clauses: expected at most {MAX_CLAUSES}", path="query.filter")
    for group in groups:
        clauses.append(_clause(group, columns, params))
    return " AND ".join(clauses), params


def _clause(group: list[tuple[str, str]], columns: dict[str, Column], params: list) -> str:
    shown = " ".join(tok for _, tok in group)
    if len(group) >= 2 and group[1][1].lower() == "is" and len(group) == 4 and group[2][1].lower() == "not":
        group = [group[0], ("op", "is not"), group[3]]
    elif len(group) == 3 and group[1][0] == "word" and group[1][1].lower() == "is":
        group = [group[0], ("op", "is"), group[2]]
    if len(group) != 3 or group[0][0] != "word" or group[1][0] != "op":
        raise FilterError(f"filter clause '{shown}': expected NAME OP VALUE (e.g. border.area_ratio > 0.2, "
                          "logo.has_logo is true, moderation = accept)", path="query.filter")
    (_, name), (_, op), (vkind, vtok) = group
    column = columns.get(name)
    if column is None:
        near = [c for c in columns if name.split(".")[-1] in c][:5]
        hint = f"; did you mean {', '.join(near)}?" if near else f"; columns: {', '.join(list(columns)[:30])}"
        raise FilterError(f"filter clause '{shown}': no column named {name!r}{hint}", path="query.filter")
    value = _value(vkind, vtok, column, shown)
    ident = quote(column.name)
    if value is None:
        if op not in ("is", "is not", "=", "!="):
            raise FilterError(f"filter clause '{shown}': null only compares with is / is not", path="query.filter")
        return f"{ident} IS {'NOT ' if op in ('is not', '!=') else ''}NULL"
    if op == "~":
        if column.type != "str":
            raise FilterError(f"filter clause '{shown}': ~ (contains) needs a text column, {name} is {column.type}",
                              path="query.filter")
        params.append(str(value))
        return f"contains(lower({ident}), lower(?))"
    if op in ("<", "<=", ">", ">=") and column.type in ("bool", "str"):
        raise FilterError(f"filter clause '{shown}': {op} needs a number column, {name} is {column.type}", path="query.filter")
    params.append(value)
    if op in ("is not", "!="):
        return f"{ident} IS DISTINCT FROM ?"
    return f"{ident} {_OPS[op]} ?"


def parse_sort(text: str, columns: dict[str, Column]) -> str:
    """ORDER BY of ``name`` (ascending) or ``-name`` (descending), comma-separated; row order breaks ties."""
    keys = []
    for part in [p.strip() for p in (text or "").split(",") if p.strip()][:4]:
        desc = part.startswith("-")
        name = part.lstrip("+-")
        if name not in columns:
            raise FilterError(f"sort: no column named {name!r}; expected a grid column, '-' in front for descending "
                              f"(e.g. -border.area_ratio)", path="query.sort")
        keys.append(f"{quote(name)} {'DESC' if desc else 'ASC'} NULLS LAST")
    return ", ".join([*keys, '"index" ASC'])


def page(cursor, *, where: str = "TRUE", params: list | None = None, order: str = '"index" ASC',
         order_params: list | None = None, offset: int = 0, limit: int = 50) -> tuple[int, list[int]]:
    """(rows matching, the row indices of this page) of the grid; ``where`` and ``order`` are SQL
    built here (names checked, values as ``?`` parameters). Only the index is sorted and returned:
    the page's rows are read from results.jsonl by index (``values_of``), which is what keeps a deep
    page of 100,000 items fast (DuckDB then moves one column, not all of them)."""
    params = list(params or [])
    total = cursor.execute(f"SELECT count(*) FROM grid WHERE {where}", params).fetchone()[0]
    rows = cursor.execute(f'SELECT "index" FROM grid WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?',
                          [*params, *(order_params or []), int(limit), int(offset)]).fetchall()
    return int(total), [int(r[0]) for r in rows]


def values_of(record: dict, index: int, columns: dict[str, Column]) -> dict:
    """The grid row of one record: the values the Parquet columns hold, read from the record."""
    out = {}
    for column in columns.values():
        if column.name == "index":
            out["index"] = index
            continue
        value: object = record
        for part in column.key:
            value = value.get(part) if isinstance(value, dict) else None
        out[column.name] = value if value is None or column.type != "float" or isinstance(value, float) else float(value)
    return out


def decision_column(columns: dict[str, Column], table: str) -> Column:
    """The outcome column of ``table`` (named ``table``, or ``decision.table`` when a step took the name)."""
    want = f"decisions.{quote(table)}.outcome"
    for column in columns.values():
        if column.group == "decision" and column.sql == want:
            return column
    tables = [c.name for c in columns.values() if c.group == "decision" and not c.name.endswith(".rule")]
    raise FilterError(f"no decision table {table!r} in this run; expected one of {', '.join(tables) or '(none)'}",
                      path="query.table")
