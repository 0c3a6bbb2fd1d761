"""Bad media at scale: every file gives a record, nothing crashes, hangs or bloats the run."""

from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import stressed
from corpus import MEDIA_ERRORS, PIPELINE, build_corpus

from factorline.batch import run_pipeline
from factorline.batch.schedule import Watch, run_tasks
from factorline.contract.errors import ResourceError
from factorline.contract.items import Limits
from factorline.engine.compiler import compile_pipeline
from factorline.engine.records import read_jsonl

DOC = PIPELINE
LIMITS = Limits(item_timeout_s=2.0)  # the hanging files cost timeout + grace = 4 s each


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(tmp_path_factory.mktemp("corpus"), mutants=300, seed=0)


@pytest.fixture(scope="module")
def corpus_run(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus_run")
    started = time.monotonic()
    summary = run_pipeline(DOC, corpus.paths, out, workers=2, cache_dir=None, limits=LIMITS, max_rss_mb=1024)
    return summary, list(read_jsonl(out / "results.jsonl")), time.monotonic() - started


def _sane(record: dict) -> bool:
    border, clarity = record["factors"]["border"], record["factors"]["clarity"]
    return (0.0 <= border["area_ratio"] <= 1.0 and min(border["top"], border["bottom"], border["left"], border["right"]) >= 0
            and 0.0 <= clarity["score"] <= 1.0 and all(math.isfinite(s) for s in clarity["frame_scores"]))


def test_every_file_gives_exactly_one_record_in_input_order(corpus, corpus_run):
    summary, records, seconds = corpus_run
    assert [r["item"]["path"] for r in records] == corpus.paths
    assert summary.total == len(corpus.paths) == summary.succeeded + summary.failed
    assert seconds < 120, "the corpus run took too long: something hung"


def test_every_file_gives_a_correct_result_or_an_expected_error(corpus, corpus_run):
    _, records, _ = corpus_run
    for record in records:
        path, error = record["item"]["path"], record["error"]
        expect = corpus.expect[path]
        if expect in ("ok", "partial"):
            assert error is None, f"{path}: {error}"
            assert record["item"]["partial"] is (expect == "partial"), f"{path}: {record['item']}"
        elif isinstance(expect, set):
            assert error and error["type"] in expect, f"{path}: expected {expect}, got {error}"
        else:
            assert error is None or error["type"] in MEDIA_ERRORS, f"{path}: {error}"
        if error is None:
            assert _sane(record), f"{path}: factor values out of range: {record['factors']}"
        else:
            assert record["decisions"]["moderation"]["outcome"] == "error"


def test_named_cases_keep_their_meaning(corpus, corpus_run):
    _, records, _ = corpus_run
    by_path = {r["item"]["path"]: r for r in records}
    rotated = by_path[corpus.named("rotated")]
    assert (rotated["item"]["width"], rotated["item"]["height"]) == (240, 320)
    assert abs(rotated["factors"]["border"]["left"] - 24) <= 2
    assert by_path[corpus.named("letterbox")]["factors"]["border"]["top"] == pytest.approx(24, abs=2)
    assert "has no video stream" in by_path[corpus.named("audio_only")]["error"]["message"]
    assert "over the cap" in by_path[corpus.named("huge")]["error"]["message"]
    for stem in ("fifo", "endless"):  # refused before anything reads them
        assert "is not a regular file" in by_path[corpus.named(stem)]["error"]["message"]
    for stem, expected in {"cut_photo": "cut_photo.jpg is a damaged JPEG image: the file ends before its picture data",
                           "zeroed": "zeroed.png is a damaged PNG image: its header cannot be parsed",
                           "phone": "phone.heic is a HEIC image, which this installation cannot decode",
                           "photo": "photo.avif is an image, but pipeline 'batch_check' reads videos",
                           "still_named": "still_named.mp4 is an image, but pipeline 'batch_check' reads videos",
                           "fifo": "fifo.mp4 is not a regular file: it is a named pipe (FIFO)",
                           "endless": "endless.mp4 is not a regular file: it is a symbolic link to /dev/zero, which is a device",
                           "folder": "folder.mp4 is not a regular file: it is a folder"}.items():
        assert expected in by_path[corpus.named(stem)]["error"]["message"]
    assert all("Errno" not in (r["error"] or {}).get("message", "") for r in records)  # FFmpeg's numbers are put in words


def test_mutants_mostly_fail_cleanly_and_some_still_decode(corpus, corpus_run):
    _, records, _ = corpus_run
    mutants = [r for r in records if "/mutants/" in r["item"]["path"]]
    assert len(mutants) == 300
    assert 0 < sum(r["error"] is None for r in mutants) < 300  # the corpus exercises both paths


def _stuck(corpus, tmp_path: Path) -> str:
    """A good clip under the name the stress operator misbehaves on."""
    path = tmp_path / "stuck.mp4"
    shutil.copyfile(corpus.named("letterbox"), path)
    return str(path)


def test_an_item_past_the_hard_time_limit_is_killed(tmp_path, corpus, stress_operator):
    doc = stressed(DOC, on="stuck.mp4", sleep_s=60)
    paths = [_stuck(corpus, tmp_path), corpus.named("with_audio")]
    summary = run_pipeline(doc, paths, tmp_path / "run", cache_dir=None, limits=Limits(item_timeout_s=1))
    stuck, after = read_jsonl(tmp_path / "run" / "results.jsonl")
    assert stuck["error"]["type"] == "ItemTimeoutError" and "hard time limit" in stuck["error"]["message"]
    assert after["error"] is None and summary.failed == 1 and summary.succeeded == 1


def test_a_worker_over_the_memory_cap_is_killed(tmp_path, corpus, stress_operator):
    # Any worker is over a 1 MiB cap; the stuck item keeps this one busy until the parent looks.
    doc = stressed(DOC, on="stuck.mp4", sleep_s=60)
    summary = run_pipeline(doc, [_stuck(corpus, tmp_path)], tmp_path / "run", cache_dir=None, limits=Limits(item_timeout_s=60), max_rss_mb=1)
    record = next(read_jsonl(tmp_path / "run" / "results.jsonl"))
    assert summary.failed == 1 and record["error"]["type"] == "MediaLimitError"
    assert "memory went over the cap of 1 MiB" in record["error"]["message"]


def test_a_crashed_worker_gives_an_error_record_and_is_replaced(tmp_path, corpus, stress_operator):
    good, also_good = corpus.named("letterbox"), corpus.named("with_audio")
    paths = [good, _stuck(corpus, tmp_path), also_good]
    run_pipeline(stressed(DOC, on="stuck.mp4", crash=True), paths, tmp_path / "run", cache_dir=None, limits=Limits(item_timeout_s=60))
    first, crashed, after = read_jsonl(tmp_path / "run" / "results.jsonl")
    assert crashed["error"]["type"] == "MediaError"
    assert "worker process died (killed by signal SIGSEGV)" in crashed["error"]["message"]
    assert first["error"] is None and after["error"] is None and after["item"]["path"] == also_good


class _DeadOnArrival:
    def ready(self): return False
    def send(self, path): raise AssertionError("never ready")
    def results(self): return []
    def death(self): return "exit code 1"
    def rss(self): return None
    def kill(self): pass
    def stop(self): pass


class _Backend:
    def spawn(self): return _DeadOnArrival()
    def wait(self, workers, timeout): pass


def test_workers_that_die_at_startup_stop_the_run_with_a_hint():
    with pytest.raises(ResourceError, match=r"3 worker processes in a row died before taking an item \(last: exit code 1\)"):
        list(run_tasks(_Backend(), compile_pipeline(DOC), ["a.mp4"], workers=2, watch=Watch(10.0)))
