"""Resumable runs: part files, kill -9 at random moments, resume, fingerprints, assembly."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import media_fixtures as fx
import pytest
from corpus import PIPELINE

from factorline.batch import expand_inputs, run_pipeline
from factorline.batch.decide import decide_run, read_run
from factorline.batch.parts import PartWriter, RunLock, iter_part_records
from factorline.contract.errors import RunDirError
from factorline.engine.compiler import compile_pipeline
from factorline.engine.records import read_jsonl

DOC = PIPELINE
FAST = {"cache_dir": None, "isolate": False}  # in-process: for tests where killing workers is not the point


def stable(run_dir: Path) -> list[dict]:
    """Records minus timings: what two runs of the same items must agree on."""
    return [{k: v for k, v in r.items() if k != "timings_ms"} for r in read_jsonl(run_dir / "results.jsonl")]


@pytest.fixture(scope="module")
def items(tmp_path_factory) -> list[str]:
    """30 small items: 6 distinct files (two broken) under 5 names each, listed in a manifest."""
    d = tmp_path_factory.mktemp("items")
    fx.letterboxed_clip(d / "src_letterbox.mp4", seconds=1.0)
    fx.make_video(d / "src_noisy.mp4", 1.0, fps=10.0, noise=True)
    fx.make_video(d / "src_plain.mp4", 2.0, fps=10.0)
    fx.make_vfr_video(d / "src_vfr.mp4", [0.0, 0.2, 0.3, 0.9, 1.4])
    (d / "src_zero.mp4").write_bytes(b"")
    (d / "src_text.mp4").write_text("not a video\n" * 10)
    sources = sorted(d.glob("src_*.mp4"))
    paths = []
    for i in range(30):
        target = d / f"item_{i:02d}.mp4"
        shutil.copyfile(sources[i % len(sources)], target)
        paths.append(str(target))
    (d / "items.txt").write_text("\n".join(paths) + "\n")
    return paths


def _cli(pipeline: Path, items_txt: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "factorline.cli", "run", str(pipeline), str(items_txt), "--out", str(out),
            "--no-cache", "--workers", "2", "--no-report-pictures"]


# The same run through the library, with parts sealed every 3 records so kills land in seals too.
DRIVER = """
import json, sys
from factorline.batch import expand_inputs, run_pipeline
doc = json.load(open(sys.argv[1]))
run_pipeline(doc, expand_inputs([sys.argv[2]]), sys.argv[3], workers=2, cache_dir=None, part_records=3)
"""


def _driver(pipeline: Path, items_txt: Path, out: Path) -> list[str]:
    return [sys.executable, "-c", DRIVER, str(pipeline), str(items_txt), str(out)]


def _wait_for_records(out: Path, count: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        parts = out / "parts"
        lines = sum(p.read_bytes().count(b"\n") for p in parts.glob("part-*")) if parts.is_dir() else 0
        if lines >= count:
            return
        time.sleep(0.005)


def _resume(out: Path, paths: list[str]):
    # The lead's `factorline run ... --resume` calls exactly this; the killed run above is the real CLI.
    return run_pipeline(DOC, paths, out, workers=2, cache_dir=None, resume=True, part_records=3)


def test_kill_9_at_random_moments_then_resume_matches_an_uninterrupted_run(items, tmp_path):
    pipeline = tmp_path / "p.json"
    pipeline.write_text(json.dumps(DOC))
    items_txt = Path(items[0]).parent / "items.txt"
    assert expand_inputs([str(items_txt)]) == items
    t0 = time.monotonic()
    subprocess.run(_cli(pipeline, items_txt, tmp_path / "ref"), check=True, capture_output=True, timeout=120)
    full = time.monotonic() - t0
    reference = stable(tmp_path / "ref")
    assert [r["item"]["path"] for r in reference] == items
    rng = random.Random(7)
    for attempt in range(4):
        out = tmp_path / f"killed{attempt}"
        command = (_cli if attempt % 2 else _driver)(pipeline, items_txt, out)
        proc = subprocess.Popen(command, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Kill after a random number of finished items, plus a random few ms: between records,
        # mid-write, mid-seal, mid-assembly (k = 30) or before the run folder exists (k = 0).
        _wait_for_records(out, rng.randint(0, len(items)), deadline=time.monotonic() + 2 * full + 10)
        time.sleep(rng.uniform(0.0, 0.05))
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its workers, at once
        proc.wait(timeout=30)
        written = [r["item"]["path"] for _, r in iter_part_records(out / "parts")] if out.exists() else []
        torn = list((out / "parts").glob("*.tmp")) if out.exists() else []
        salvaged = sum(1 for t in torn for _ in read_jsonl(t))
        summary = _resume(out, items)
        assert stable(out) == reference, f"kill {attempt}: resumed output differs from the uninterrupted run"
        assert len(set(written)) == len(written), "a part holds an item twice"
        assert summary.skipped == len(written) + salvaged  # everything written before the kill was kept
        assert summary.total == len(items) == summary.succeeded + summary.failed + summary.skipped
        manifest = list(read_jsonl(out / "manifest.jsonl"))
        assert [m["path"] for m in manifest] == items and len({m["path"] for m in manifest}) == len(items)


def test_run_folder_layout_and_counts(items, tmp_path):
    summary = run_pipeline(DOC, items[:6], tmp_path / "run", part_records=4, **FAST)
    out = tmp_path / "run"
    assert {p.name for p in out.iterdir()} >= {"results.jsonl", "results.parquet", "pipeline.yaml", "run.json", "manifest.jsonl", "parts"}
    assert sorted(p.name for p in (out / "parts").iterdir()) == ["part-00000.jsonl", "part-00000.parquet", "part-00001.jsonl", "part-00001.parquet"]
    meta, records = read_run(out)
    assert meta["status"] == "complete" and meta["attempts"] == 1 and meta["engine"] == "local"
    assert meta["fingerprint"] == compile_pipeline(DOC).fingerprint and meta["parts"] == 2
    assert (summary.total, summary.succeeded, summary.failed, summary.skipped) == (6, 4, 2, 0)
    assert meta["items_failed"] == 2 and [r["item"]["path"] for r in records] == items[:6]
    manifest = list(read_jsonl(out / "manifest.jsonl"))
    assert [m["index"] for m in manifest] == list(range(6))
    assert {m["status"] for m in manifest} == {"succeeded", "failed"}


def test_resume_computes_only_new_items(items, tmp_path):
    run_pipeline(DOC, items[:5], tmp_path / "run", **FAST)
    seen = []
    summary = run_pipeline(DOC, items[:8], tmp_path / "run", resume=True, on_record=seen.append, **FAST)
    assert [r["item"]["path"] for r in seen] == items[5:8]
    assert (summary.total, summary.skipped, summary.succeeded + summary.failed) == (8, 5, 3)
    assert [r["item"]["path"] for r in read_jsonl(tmp_path / "run" / "results.jsonl")] == items[:8]
    assert json.loads((tmp_path / "run" / "run.json").read_text())["attempts"] == 2


def test_resume_refuses_a_pipeline_whose_steps_changed(items, tmp_path):
    run_pipeline(DOC, items[:2], tmp_path / "run", **FAST)
    changed = json.loads(json.dumps(DOC))
    changed["steps"]["border"]["params"] = {"threshold": 40}
    with pytest.raises(RunDirError, match=r"cannot resume: the pipeline changed .* steps, parameters or sampling changed"):
        run_pipeline(changed, items[:2], tmp_path / "run", resume=True, **FAST)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "complete"  # left as it was


def test_resume_refuses_changed_decisions_and_points_to_decide(items, tmp_path):
    run_pipeline(DOC, items[:2], tmp_path / "run", **FAST)
    changed = json.loads(json.dumps(DOC))
    changed["decisions"]["moderation"]["rules"][0]["when"] = "border.area_ratio > 0.5"
    with pytest.raises(RunDirError, match=r"only its decision tables changed.*factorline decide"):
        run_pipeline(changed, items[:2], tmp_path / "run", resume=True, **FAST)


def test_resume_after_an_in_place_decide_keeps_decisions_consistent(items, tmp_path):
    run_pipeline(DOC, items[:3], tmp_path / "run", **FAST)
    changed = json.loads(json.dumps(DOC))
    changed["decisions"]["moderation"]["rules"][0]["when"] = "border.area_ratio > 0.01"
    decide_run(compile_pipeline(changed), tmp_path / "run")  # rewrites results, not the parts
    run_pipeline(changed, items[:4], tmp_path / "run", resume=True, **FAST)
    records = list(read_jsonl(tmp_path / "run" / "results.jsonl"))
    fresh = run_pipeline(changed, items[:4], tmp_path / "fresh", **FAST)
    assert fresh.total == 4 and stable(tmp_path / "run") == stable(tmp_path / "fresh")
    assert {r["pipeline"]["fingerprint"] for r in records} == {compile_pipeline(changed).fingerprint}


def test_a_torn_open_part_is_recovered_and_its_whole_lines_kept(items, tmp_path):
    run_pipeline(DOC, items[:4], tmp_path / "ref", **FAST)
    out = tmp_path / "run"
    run_pipeline(DOC, items[:4], out, **FAST)
    # Make the folder look like a kill -9 in the middle of writing the third record.
    shutil.rmtree(out / "parts")
    for name in ("results.jsonl", "results.parquet", "manifest.jsonl"):
        (out / name).unlink()
    lines = (tmp_path / "ref" / "results.jsonl").read_text().splitlines(keepends=True)
    (out / "parts").mkdir()
    (out / "parts" / "part-00000.jsonl.tmp").write_text(lines[0] + lines[1] + lines[2][: len(lines[2]) // 2])
    seen = []
    summary = run_pipeline(DOC, items[:4], out, resume=True, on_record=seen.append, **FAST)
    assert summary.skipped == 2 and [r["item"]["path"] for r in seen] == items[2:4]
    assert stable(out) == stable(tmp_path / "ref")
    assert not list((out / "parts").glob("*.tmp"))


def test_assembly_is_idempotent_after_a_crash_in_it(items, tmp_path):
    out = tmp_path / "run"
    run_pipeline(DOC, items[:5], out, **FAST)
    before = stable(out)
    (out / "results.parquet").unlink()
    (out / "results.jsonl").write_text((out / "results.jsonl").read_text()[:100])  # half-written
    meta = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps({**meta, "status": "running"}))
    summary = run_pipeline(DOC, items[:5], out, resume=True, **FAST)
    assert summary.skipped == 5 and summary.succeeded == summary.failed == 0
    assert stable(out) == before and (out / "results.parquet").is_file()


def test_a_fresh_run_replaces_the_old_parts(items, tmp_path):
    run_pipeline(DOC, items[:6], tmp_path / "run", **FAST)
    run_pipeline(DOC, items[6:8], tmp_path / "run", **FAST)
    assert [r["item"]["path"] for _, r in iter_part_records(tmp_path / "run" / "parts")] == items[6:8]
    assert [r["item"]["path"] for r in read_jsonl(tmp_path / "run" / "results.jsonl")] == items[6:8]


def test_parts_without_run_json_are_not_resumed(items, tmp_path):
    out = tmp_path / "run"
    with PartWriter(out / "parts") as writer:
        writer.add({"item": {"path": items[0]}})
    with pytest.raises(RunDirError, match="run.json is missing, so the pipeline that made them is unknown"):
        run_pipeline(DOC, items[:1], out, resume=True, **FAST)


def test_two_runs_cannot_write_one_folder(items, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    with RunLock(out), pytest.raises(RunDirError, match=r"another `factorline run` is writing to .*pick another --out"):
        run_pipeline(DOC, items[:1], out, **FAST)


def test_a_record_that_cannot_be_json_becomes_an_error_record_not_a_crash(items):
    from factorline.batch.schedule import serialized

    plan = compile_pipeline(DOC)
    record = {"item": {"path": items[0]}, "factors": {"border": {"fill": {"a", "set"}}}, "error": None, "timings_ms": {"total": 5.0}}
    fixed, line = serialized(record, plan)
    assert fixed["error"]["type"] == "OperatorError" and "cannot be written as JSON" in fixed["error"]["message"]
    assert json.loads(line)["item"]["path"] == items[0] and fixed["decisions"]["moderation"]["outcome"] == "error"
