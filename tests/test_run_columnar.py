"""Columnar run folders: streaming assembly, and the vectorized `decide` against the per-item
evaluator on every item of fabricated runs (all dtypes, missing values, failed items)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from factorline.batch import assemble as assemble_module
from factorline.batch import columns as columns_module
from factorline.batch.decide import CHANGES_FILE, decide_run
from factorline.batch.fabricate import fabricate_run
from factorline.batch.lines import line_blocks
from factorline.cache import jsonable
from factorline.contract.errors import RunDirError
from factorline.engine.compiler import compile_pipeline
from factorline.engine.document import load_text
from factorline.engine.records import flat_decision, read_jsonl

DOC = load_text(Path(__file__).resolve().parent.parent / "examples" / "video_audit.yaml")
ITEMS = 700


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return fabricate_run(DOC, ITEMS, tmp_path_factory.mktemp("fab") / "run", part_records=64, seed=3)


def _variant(edit) -> dict:
    doc = copy.deepcopy(DOC)
    edit(doc["decisions"])
    for table in doc["decisions"].values():
        table["cases"] = []
    return doc


VARIANTS = {
    "same": lambda d: None,
    "threshold": lambda d: d["moderation"]["rules"][1].update(when="border.area_ratio > 0.5 and not slides.is_slideshow"),
    "new_rule_first": lambda d: d["moderation"]["rules"].insert(0, {"id": "short", "when": "item.duration_s < 60", "outcome": "review"}),
    "fallbacks": lambda d: d["moderation"].update(on_missing="accept", on_error="reject"),
    "collect_to_first": lambda d: d["tags"].update(policy="first"),
    "new_and_removed_table": lambda d: (d.pop("tags"), d.update(sharp={"on_missing": "unknown", "on_error": "failed", "rules": [
        {"id": "sharp", "when": "clarity.score > 0.7 or count(subs.lines) >= 2", "outcome": "sharp"},
        {"id": "rest", "default": True, "outcome": "soft"}]})),
}


def test_assembly_streams_the_parts_in_input_order(run):
    records = list(read_jsonl(run / "results.jsonl"))
    assert [r["item"]["path"] for r in records] == [f"fabricated/{i:08d}.mp4" for i in range(ITEMS)]
    table = pq.read_table(run / "results.parquet")
    assert table.num_rows == ITEMS and table.column("item").combine_chunks().field("path").to_pylist()[:3] == \
        [r["item"]["path"] for r in records[:3]]
    manifest = list(read_jsonl(run / "manifest.jsonl"))
    assert [m["index"] for m in manifest] == list(range(ITEMS))
    failed = sum(1 for r in records if r["error"])
    assert failed > 0 and sum(m["status"] == "failed" for m in manifest) == failed
    assert json.loads((run / "run.json").read_text())["items_failed"] == failed
    assert len(list((run / "parts").glob("*.parquet"))) == len(list((run / "parts").glob("*.jsonl"))) == 11


def test_small_chunks_give_the_same_files(run, tmp_path, monkeypatch):
    monkeypatch.setattr(assemble_module, "CHUNK", 50)
    other = fabricate_run(DOC, ITEMS, tmp_path / "run", part_records=64, seed=3)
    for name in ("results.jsonl", "manifest.jsonl"):
        assert (other / name).read_bytes() == (run / name).read_bytes()
    assert pq.read_table(other / "results.parquet").equals(pq.read_table(run / "results.parquet"))


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_vectorized_decide_matches_the_per_item_evaluator_on_every_item(run, tmp_path, name):
    plan = compile_pipeline(_variant(VARIANTS[name]))
    summary = decide_run(plan, run, tmp_path / "out", batch_size=97, sample=5)
    before = list(read_jsonl(run / "results.jsonl"))
    after = list(read_jsonl(tmp_path / "out" / "results.jsonl"))
    table = pq.read_table(tmp_path / "out" / "results.parquet").to_pylist()
    expected_changes = []
    for old, new, row in zip(before, after, table, strict=True):
        want = jsonable(plan.decisions.decide(old["factors"], error=old["error"], item=old["item"]))
        assert new["decisions"] == want, old["item"]["path"]
        assert {k: v for k, v in new.items() if k not in ("decisions", "pipeline")} == \
            {k: v for k, v in old.items() if k not in ("decisions", "pipeline")}
        assert new["pipeline"]["fingerprint"] == row["pipeline"]["fingerprint"] == plan.fingerprint
        assert row["decisions"] == {t: {"outcomes": None, "missing": None, **flat_decision(d)} for t, d in want.items()}
        for t, d in want.items():
            if (old["decisions"].get(t) or {}).get("outcome") != d["outcome"]:
                expected_changes.append((old["item"]["path"], t, d["outcome"]))
    changes = list(read_jsonl(tmp_path / "out" / CHANGES_FILE))
    assert sorted((c["item"], c["table"], c["after"]) for c in changes) == sorted(expected_changes)
    assert summary.changed == len(changes) == sum(t["items"] for t in summary.transitions)
    assert summary.sample == changes[: len(summary.sample)] and len(summary.sample) == min(5, len(changes))
    changed_tables = {"same": [], "collect_to_first": ["tags"], "new_and_removed_table": ["sharp"]}
    assert summary.tables_changed == changed_tables.get(name, ["moderation"])
    assert (summary.changed > 0) == (name not in ("same", "collect_to_first"))  # first decides what collect decided


def test_decide_in_place_then_back_restores_the_records(run, tmp_path):
    import shutil

    copy_dir = tmp_path / "run"
    shutil.copytree(run, copy_dir)
    original = (copy_dir / "results.jsonl").read_bytes()
    decide_run(compile_pipeline(_variant(VARIANTS["threshold"])), copy_dir)
    summary = decide_run(compile_pipeline(_variant(VARIANTS["same"])), copy_dir)
    assert summary.changed > 0
    assert [json.loads(x) for x in (copy_dir / "results.jsonl").read_bytes().splitlines()] == \
        [{**json.loads(x), "pipeline": json.loads(x)["pipeline"] | {"fingerprint": compile_pipeline(_variant(VARIANTS["same"])).fingerprint}}
         for x in original.splitlines()]


def test_decide_rebuilds_a_missing_parquet_and_refuses_a_torn_one(run, tmp_path):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(run, old)
    (old / "results.parquet").unlink()  # a run folder from before typed Parquet
    summary = decide_run(compile_pipeline(_variant(VARIANTS["threshold"])), old, tmp_path / "out")
    assert summary.items == ITEMS and not list((tmp_path / "out").glob(".*"))
    lines = (run / "results.jsonl").read_bytes().splitlines(keepends=True)
    (old / "results.jsonl").write_bytes(b"".join(lines[:-3]))
    shutil.copy(run / "results.parquet", old / "results.parquet")
    with pytest.raises(RunDirError, match=r"results.jsonl and results.parquet disagree .*--resume"):
        decide_run(compile_pipeline(_variant(VARIANTS["threshold"])), old, tmp_path / "out2")


def test_query_views_have_stable_names_and_match_the_records(run, tmp_path):
    from factorline.batch.query import run_query

    records = list(read_jsonl(run / "results.jsonl"))
    counts = run_query(run, 'SELECT "table", outcome, count(*) AS n FROM decisions GROUP BY ALL')
    assert sorted(counts.rows) == sorted(
        (t, o, n) for (t, o), n in __import__("collections").Counter(
            (t, d["outcome"]) for r in records for t, d in r["decisions"].items()).items())
    big = run_query(run, 'SELECT path, "border.area_ratio" AS area FROM factors WHERE "border.area_ratio" > 0.5 ORDER BY "index"',
                    limit=3, out=tmp_path / "big.jsonl")
    want = [r["item"]["path"] for r in records if (r["factors"].get("border") or {}).get("area_ratio") is not None
            and r["factors"]["border"]["area_ratio"] > 0.5]
    assert big.total == len(want) and [row[0] for row in big.rows] == want[:3]
    assert [json.loads(x)["path"] for x in (tmp_path / "big.jsonl").read_text().splitlines()] == want
    failed = run_query(run, "SELECT path, error_type FROM items WHERE error_type IS NOT NULL")
    assert {p for p, _ in failed.rows} == {r["item"]["path"] for r in records if r["error"]}


def test_query_errors_name_the_views_and_the_file(run, tmp_path):
    from factorline.batch.query import run_query
    from factorline.contract.errors import QueryError

    with pytest.raises(QueryError, match=r"syntax error.*views are items, factors, decisions and results"):
        run_query(run, "SELEC 1")
    with pytest.raises(QueryError, match=r"cannot write out.txt: expected a .csv, .parquet or .jsonl"):
        run_query(run, "SELECT 1", out=tmp_path / "out.txt")
    with pytest.raises(RunDirError, match=r"no results.parquet in .*factorline run"):
        run_query(tmp_path, "SELECT 1")


def test_diff_counts_transitions_between_a_run_and_its_re_decided_copy(run, tmp_path):
    from factorline.batch.query import diff_runs

    plan = compile_pipeline(_variant(VARIANTS["new_and_removed_table"]))
    decide_run(plan, run, tmp_path / "b")
    summary = diff_runs(run, tmp_path / "b", out=tmp_path / "diff.jsonl", sample=4)
    before = {r["item"]["path"]: r["decisions"] for r in read_jsonl(run / "results.jsonl")}
    after = {r["item"]["path"]: r["decisions"] for r in read_jsonl(tmp_path / "b" / "results.jsonl")}
    want = sorted((p, t, (before[p].get(t) or {}).get("outcome"), (after[p].get(t) or {}).get("outcome"))
                  for p in before for t in set(before[p]) | set(after[p])
                  if (before[p].get(t) or {}).get("outcome") != (after[p].get(t) or {}).get("outcome"))
    got = sorted((c["item"], c["table"], c["before"], c["after"]) for c in read_jsonl(tmp_path / "diff.jsonl"))
    assert got == want and summary.changed == len(want) and len(summary.sample) == 4
    assert {t["table"] for t in summary.transitions} == {"tags", "sharp"} and summary.only_a == summary.only_b == 0


def test_the_report_of_a_big_run_is_bounded_and_shows_items_that_ended_early(run, tmp_path):
    from factorline.report import build_report

    summary = build_report(run, out=tmp_path / "report.html", pictures=False, max_items=20, per_outcome=5)
    html = (tmp_path / "report.html").read_text()
    records = list(read_jsonl(run / "results.jsonl"))
    assert summary.items == ITEMS and summary.detailed == 20 and html.count('<section class="item"') == 20
    partial = sum(1 for r in records if r["item"]["partial"])
    assert partial and f"<b>{partial}</b>ended early" in html
    listed = html.count("<tr data-tags=")
    outcomes = {(t, d["outcome"]) for r in records for t, d in r["decisions"].items()}
    assert 5 <= listed <= 5 * (len(outcomes) + 1) and f"The index lists {listed} of {ITEMS} items" in html
    assert "factorline query RUN" in html


def test_decide_with_the_parquet_side_in_a_helper_process_writes_the_same_files(run, tmp_path):
    plan = compile_pipeline(_variant(VARIANTS["threshold"]))
    here = decide_run(plan, run, tmp_path / "here", batch_size=97, parallel=False)
    there = decide_run(plan, run, tmp_path / "there", batch_size=97, parallel=True)
    assert (here.changed, here.transitions) == (there.changed, there.transitions)
    for name in ("results.jsonl", CHANGES_FILE):
        assert (tmp_path / "here" / name).read_bytes() == (tmp_path / "there" / name).read_bytes()
    assert pq.read_table(tmp_path / "here" / "results.parquet").equals(pq.read_table(tmp_path / "there" / "results.parquet"))
    lines = (run / "results.jsonl").read_bytes().splitlines(keepends=True)
    torn = tmp_path / "torn"
    import shutil

    shutil.copytree(run, torn)
    (torn / "results.jsonl").write_bytes(b"".join(lines[:-3]))
    with pytest.raises(RunDirError, match=r"results.jsonl and results.parquet disagree"):
        decide_run(plan, torn, tmp_path / "out", batch_size=97, parallel=True)
    assert not (tmp_path / "out" / "results.parquet").exists() and not list((tmp_path / "out").glob(".*.tmp"))


def test_decide_skips_blank_lines_like_every_reader(run, tmp_path):
    import shutil

    spaced = tmp_path / "spaced"
    shutil.copytree(run, spaced)
    lines = (run / "results.jsonl").read_bytes().splitlines(keepends=True)
    lines.insert(0, b"\n")
    lines.insert(100, b"   \n")
    (spaced / "results.jsonl").write_bytes(b"".join(lines).rstrip(b"\n"))  # and no newline at the end
    plan = compile_pipeline(_variant(VARIANTS["threshold"]))
    decide_run(plan, run, tmp_path / "plain", batch_size=97)
    decide_run(plan, spaced, tmp_path / "spaced-out", batch_size=97)
    assert (tmp_path / "plain" / "results.jsonl").read_bytes() == (tmp_path / "spaced-out" / "results.jsonl").read_bytes()


def test_line_blocks_hand_out_every_line_whatever_the_read_size(tmp_path):
    """Lines longer than a read, blank lines, no newline at the end: the same lines as splitting
    the file, ``size`` at a time, each with its newline at the end of its span."""
    import random

    rng = random.Random(5)
    for trial in range(150):
        lines = [b"" if rng.random() < 0.1 else b" \t" if rng.random() < 0.1 else b'{"i":%d,"pad":"%s"}' % (i, b"x" * rng.randint(0, 30))
                 for i in range(rng.randint(0, 40))]
        path = tmp_path / f"{trial}.jsonl"
        path.write_bytes(b"\n".join(lines) + rng.choice([b"", b"\n"]))
        size, block = rng.randint(1, 9), rng.randint(1, 120)
        want = [line for line in path.read_bytes().split(b"\n") if line.strip()]
        got = []
        for part in line_blocks(path, size, block):
            assert 0 < len(part) <= size
            for row in range(len(part)):
                start, end = part.span(row, row + 1)
                assert bytes(part.data[start:end]) == part[row] + b"\n"
            got += part.lines()  # before the next block reuses the buffer
        assert got == want, trial


def _helper_that_dies(conn, job):
    os._exit(3)


def test_decide_writes_the_parquet_here_when_the_helper_cannot_start(run, tmp_path, monkeypatch):
    plan = compile_pipeline(_variant(VARIANTS["threshold"]))
    decide_run(plan, run, tmp_path / "here", batch_size=97, parallel=False)
    monkeypatch.setattr(columns_module, "_worker", _helper_that_dies)
    decide_run(plan, run, tmp_path / "fallback", batch_size=97, parallel=True)
    assert (tmp_path / "here" / "results.jsonl").read_bytes() == (tmp_path / "fallback" / "results.jsonl").read_bytes()
    assert pq.read_table(tmp_path / "here" / "results.parquet").equals(pq.read_table(tmp_path / "fallback" / "results.parquet"))
