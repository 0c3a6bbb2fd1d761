"""The run browser's grid over a fabricated run of thousands of items (benchmarks/review_items.py
times 100,000): filtered counts agree with polars over the same Parquet, rows read from
results.jsonl agree with the Parquet columns, deep pages stay fast, samples are seeded."""

from __future__ import annotations

import math
import time

import polars as pl
import pytest
from review_support import PIPELINE

from factorline.batch.fabricate import fabricate_run
from factorline.review.grid import decision_column, page, parse_filter, parse_sort
from factorline.review.items import item_rows
from factorline.review.queues import sample_indices, sample_size
from factorline.review.runs import RunCatalog

ITEMS = 4000


@pytest.fixture(scope="module")
def view(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    fabricate_run(PIPELINE, ITEMS, root / "fab", seed=5, part_records=1000)
    return RunCatalog(root).get("fab")


@pytest.fixture(scope="module")
def frame(view):
    df = pl.read_parquet(view.parquet)
    return df.select(pl.col("factors").struct.field("logo").struct.field("has_logo").alias("has_logo"),
                     pl.col("factors").struct.field("border").struct.field("area_ratio").alias("ratio"),
                     pl.col("decisions").struct.field("moderation").struct.field("outcome").alias("outcome"),
                     pl.col("error").struct.field("type").alias("error"))


def _urls(index, what, **_):
    return f"media/{index}/{what}"


@pytest.mark.parametrize(("text", "expected"), [
    ("logo.has_logo is true and moderation is review", pl.col("has_logo") & (pl.col("outcome") == "review")),
    ("border.area_ratio > 0.5 and moderation != accept", (pl.col("ratio") > 0.5) & (pl.col("outcome") != "accept")),
    ("logo.has_logo is null", pl.col("has_logo").is_null()),
    ("error is not null", pl.col("error").is_not_null()),
])
def test_filtered_counts_agree_with_polars(view, frame, text, expected):
    where, params = parse_filter(text, view.columns)
    total, _ = page(view.cursor(), where=where, params=params)
    assert total == frame.filter(expected).height > 0


def test_rows_from_jsonl_match_the_parquet_columns(view):
    total, rows = item_rows(view, _urls, filter="border.area_ratio >= 0.25", sort="-border.area_ratio", offset=100, limit=40)
    columns = ", ".join(f'"{c}"' for c in view.columns)
    where, params = parse_filter("border.area_ratio >= 0.25", view.columns)
    expected = view.cursor().execute(f"SELECT {columns} FROM grid WHERE {where} ORDER BY {parse_sort('-border.area_ratio', view.columns)} "
                                     "LIMIT 40 OFFSET 100", params).fetchall()
    assert [tuple(r["values"].values()) for r in rows] == [tuple(e) for e in expected]
    ratios = [r["values"]["border.area_ratio"] for r in rows]
    assert ratios == sorted(ratios, reverse=True) and total > 140


def test_deep_pages_stay_fast(view):
    item_rows(view, _urls, sort="-logo.confidence", offset=ITEMS - 50)  # warm: line index, view
    started = time.perf_counter()
    total, rows = item_rows(view, _urls, filter="logo.has_logo is true", sort="-logo.confidence", offset=500, limit=50)
    assert time.perf_counter() - started < 1.0 and len(rows) == 50 and total > 550


def test_samples_are_seeded_and_sized(view, frame):
    column = decision_column(view.columns, "moderation")
    population = frame.filter(pl.col("outcome") == "accept").height
    n = sample_size(0.95, 0.05, population)
    n0 = 1.959964 ** 2 * 0.25 / 0.05**2  # z^2 p (1 - p) / E^2, then the finite population correction
    assert n == math.ceil(n0 / (1 + (n0 - 1) / population)) < population
    found, first = sample_indices(view, column, "accept", n, seed=1)
    _, again = sample_indices(view, column, "accept", n, seed=1)
    _, other = sample_indices(view, column, "accept", n, seed=2)
    assert found == population and first == again != other and len(set(first)) == n
    assert all(view.record(i)["decisions"]["moderation"]["outcome"] == "accept" for i in first[:20])
