"""The Ray engine on a local Ray started by the test: same records, same resume, same limits."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import media_fixtures as fx
import pytest
import ray
from conftest import stressed
from corpus import PIPELINE

from factorline.batch import run_pipeline
from factorline.contract.errors import ConfigError, RunDirError
from factorline.contract.items import Limits
from factorline.engine.records import read_jsonl

LIMITS = Limits(item_timeout_s=5.0)  # the hard limit (2x) kills stuck.mp4; room for a loaded machine


@pytest.fixture(scope="module")
def local_ray():
    # Actors must be able to import tests/stress_plugin.py (see conftest.stress_operator).
    tests_dir = str(Path(__file__).resolve().parent)
    env = {"FACTORLINE_PLUGINS": "stress_plugin", "PYTHONPATH": tests_dir}
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def items(tmp_path_factory) -> list[str]:
    d = tmp_path_factory.mktemp("ray_items")
    letterbox = fx.letterboxed_clip(d / "letterbox.mp4", seconds=1.0)
    fx.make_video(d / "plain.mp4", 1.0, fps=10.0)
    (d / "zero.mp4").write_bytes(b"")
    fx.remux(letterbox, d / "rotated.mp4", rotation_cw=90)
    shutil.copyfile(d / "plain.mp4", d / "stuck.mp4")  # the stress operator blocks on this name
    for i in range(4):
        shutil.copyfile(d / "plain.mp4", d / f"copy_{i}.mp4")
    return sorted(str(p) for p in d.iterdir())


@pytest.fixture
def head_node(tmp_path, monkeypatch):
    """A real `ray start --head` on 127.0.0.1 (token auth off: nothing outside this machine joins it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    # `ray start` records itself here for later ray.init() calls; restore what was there after.
    current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
    before = current.read_text() if current.is_file() else None
    log = tmp_path / "ray_start.log"
    ray_cli = str(Path(sys.executable).with_name("ray"))
    command = [ray_cli, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
               "--include-dashboard=false", "--disable-usage-stats"]
    with log.open("w") as out:
        head = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while "ray stop" not in log.read_text() and head.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert head.poll() is None, log.read_text()
    yield f"127.0.0.1:{port}"
    head.send_signal(signal.SIGTERM)  # `ray start --block` stops the processes it started
    try:
        head.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)
    if current.is_file() and current.read_text().strip().endswith(f":{port}"):
        current.unlink() if before is None else current.write_text(before)


def test_ray_joins_a_head_node_by_address(head_node, items, tmp_path):
    # First in this file: the in-process Ray of the other tests is not started yet.
    assert not ray.is_initialized()
    summary = run_pipeline(PIPELINE, items[:3], tmp_path / "run", workers=2, cache_dir=None, engine="ray", address=head_node)
    assert summary.total == 3 and summary.succeeded + summary.failed == 3
    assert not ray.is_initialized()  # the run disconnected from the cluster it joined


def stable(run_dir) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "timings_ms"} for r in read_jsonl(run_dir / "results.jsonl")]


def test_ray_gives_the_local_engines_records_and_resumes_like_it(local_ray, items, tmp_path, stress_operator):
    doc = stressed(PIPELINE, on="stuck.mp4", sleep_s=60)
    run_pipeline(doc, items, tmp_path / "local", workers=2, cache_dir=None, limits=LIMITS)
    # A local run killed after 3 items, resumed on Ray: the run folder does not care who wrote a part.
    run_pipeline(doc, items[:3], tmp_path / "ray", workers=2, cache_dir=None, limits=LIMITS, isolate=False)
    summary = run_pipeline(doc, items, tmp_path / "ray", workers=2, cache_dir=None, limits=LIMITS,
                           engine="ray", resume=True)
    assert (summary.total, summary.skipped) == (len(items), 3)
    assert summary.succeeded + summary.failed == len(items) - 3
    assert stable(tmp_path / "ray") == stable(tmp_path / "local")
    stuck = next(r for r in read_jsonl(tmp_path / "ray" / "results.jsonl") if r["item"]["path"].endswith("stuck.mp4"))
    assert stuck["error"]["type"] == "ItemTimeoutError" and "worker process was killed" in stuck["error"]["message"]
    assert ray.is_initialized()  # the caller's Ray is left running


def test_ray_resume_refuses_a_changed_pipeline(local_ray, items, tmp_path):
    run_pipeline(PIPELINE, items[:1], tmp_path / "run", cache_dir=None, engine="ray")
    changed = {**PIPELINE, "sampling": {"fps": 1.0, "max_frames": 4}}
    with pytest.raises(RunDirError, match="steps, parameters or sampling changed"):
        run_pipeline(changed, items[:1], tmp_path / "run", cache_dir=None, engine="ray", resume=True)


def test_address_needs_the_ray_engine(tmp_path):
    with pytest.raises(ConfigError, match="--address only applies to --engine ray"):
        run_pipeline(PIPELINE, [], tmp_path / "run", address="127.0.0.1:6379")


def test_an_actor_over_the_memory_cap_is_killed_and_replaced(local_ray, items, tmp_path, stress_operator):
    stuck, good = next(p for p in items if p.endswith("stuck.mp4")), items[0]
    summary = run_pipeline(stressed(PIPELINE, on="stuck.mp4", sleep_s=60), [stuck, good], tmp_path / "run", cache_dir=None, engine="ray",
                           limits=Limits(item_timeout_s=60), max_rss_mb=1)
    first, second = read_jsonl(tmp_path / "run" / "results.jsonl")
    assert first["error"]["type"] == "MediaLimitError" and "memory went over the cap of 1 MiB" in first["error"]["message"]
    assert summary.total == 2 and second["item"]["path"] == good


def test_actors_write_their_own_parts_and_the_run_is_the_same(local_ray, items, tmp_path, stress_operator):
    doc = stressed(PIPELINE, on="stuck.mp4", sleep_s=60)
    run_pipeline(doc, items, tmp_path / "local", workers=2, cache_dir=None, limits=LIMITS)
    seen: list[dict] = []
    summary = run_pipeline(doc, items, tmp_path / "ray", workers=2, cache_dir=None, limits=LIMITS, engine="ray",
                           worker_parts=True, on_record=seen.append)
    assert summary.total == len(items) and summary.succeeded + summary.failed == len(items)
    assert stable(tmp_path / "ray") == stable(tmp_path / "local")
    parts = sorted(p.name for p in (tmp_path / "ray" / "parts").glob("*.jsonl"))
    # The actors' parts hold the records; the driver's part only the killed item's failure record.
    assert [p for p in parts if "-w" not in p] == ["part-00000.jsonl"]
    assert len(read_jsonl_list(tmp_path / "ray" / "parts" / "part-00000.jsonl")) == 1
    assert all(s.get("stored") for s in seen if not (s.get("error") or {}).get("type") == "ItemTimeoutError")
    assert not list((tmp_path / "ray" / "parts").glob("*.tmp"))


def read_jsonl_list(path) -> list[dict]:
    return list(read_jsonl(path))


def test_worker_parts_need_the_ray_engine(tmp_path):
    with pytest.raises(ConfigError, match="--worker-parts only applies to --engine ray"):
        run_pipeline(PIPELINE, [], tmp_path / "run", worker_parts=True)
