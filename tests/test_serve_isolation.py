"""Process isolation in the server: an item over the memory cap or past the time limit kills its
worker process, not the server; records match thread isolation; workers that cannot start fail
clearly. The stress plugin (tests/stress_plugin.py) makes items hang or crash inside workers."""

from __future__ import annotations

import os
import re
import struct
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import stressed
from pydantic import ValidationError
from test_serve_support import IMAGE_AUDIT, LiveServer, error_of, jpeg, sleepy_pipeline, slow_operator, upload

from factorline.batch.schedule import EngineConfig
from factorline.contract.errors import ResourceError
from factorline.contract.items import Limits
from factorline.engine.compiler import compile_pipeline
from factorline.engine.document import load_text
from factorline.serve import ServeSettings
from factorline.serve.workers import WorkerPool, server_watch

CAP_MB = 320  # a worker holds ~175 MiB with these pipelines; decoding the huge PNG goes far past 320
TIMEOUT_S = 10.0  # the hard limit is 10 s + the 2 s grace: room for a loaded CI machine (the work of an item is ~1 s)


def huge_png(width: int = 8000, height: int = 8000) -> bytes:
    """A ~200 KB PNG of one colour that decodes to width*height*3 bytes (within the default max_pixels)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer, row = zlib.compressobj(9), b"\x00" + b"\x40\x80\xc0" * width
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


if __name__ in os.environ.get("FACTORLINE_PLUGINS", "").split(","):  # imported as a plugin by a worker process:
    WORKER_SLEEP = slow_operator()  # its own `test_sleep` (the server's is registered by test_operators), kept
    WORKER_SLEEP.__enter__()  # registered while this reference lives, i.e. as long as the worker


@pytest.fixture(scope="module")
def test_operators():
    """`stress` (tests/stress_plugin.py) and `test_sleep` (test_serve_support), registered here and
    in the worker processes spawned meanwhile (they import the modules named in FACTORLINE_PLUGINS)."""
    from factorline.contract.registry import register, unregister

    with pytest.MonkeyPatch.context() as mp, slow_operator():
        tests_dir = str(Path(__file__).resolve().parent)
        mp.setenv("FACTORLINE_PLUGINS", f"stress_plugin,{__name__}")
        mp.setenv("PYTHONPATH", os.pathsep.join(filter(None, [tests_dir, os.environ.get("PYTHONPATH")])))
        import stress_plugin

        register(stress_plugin.stress.spec)
        yield
        unregister(stress_plugin.stress.spec)


@pytest.fixture(scope="module")
def audit(test_operators) -> dict:
    return {**load_text(IMAGE_AUDIT), "name": "audit"}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("isolation-data")
    (root / "bars.jpg").write_bytes(jpeg(bars=40))
    return root


@pytest.fixture(scope="module")
def servers(audit, data_root):
    """(process, thread): one server of each kind on the same pipeline and data root."""
    common = {"data_root": data_root, "request_timeout_s": TIMEOUT_S}
    with LiveServer({"audit": audit, "sleepy": sleepy_pipeline(30)}, workers=2, max_item_memory_mb=CAP_MB, **common) as process, \
         LiveServer({"audit": audit}, isolation="thread", **common) as thread:
        pool = process.state.runner.processes
        assert pool is not None and thread.state.runner.processes is None
        yield process, thread
        pids = pool.pids()
    deadline = time.monotonic() + 5  # stopping the server stops its workers
    while any(os.path.exists(f"/proc/{pid}") for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pids and not any(os.path.exists(f"/proc/{pid}") for pid in pids)


def _kills(server, reason: str) -> float:
    found = re.search(rf'factorline_worker_kills_total{{reason="{reason}"}} (\S+)', server.client.get("/metrics").text)
    return float(found.group(1)) if found else 0.0


def _warm_both_workers(process) -> None:
    """Both workers load the audit models first: a worker's first use of a pipeline loads them,
    which on a loaded machine can take longer than this server's request budget; the timings
    of a test are then about its own item only."""
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda name: upload(process.client, "audit", name, jpeg()), ["w1.jpg", "w2.jpg"]))


def test_process_isolation_gives_the_records_of_thread_isolation(servers):
    process, thread = servers

    def runs(live) -> list[dict]:
        uploaded = upload(live.client, "audit", "bars.jpg", jpeg(bars=40)).json()
        by_path = live.client.post("/api/pipelines/audit/run-path?thumbnails=true", json={"path": "bars.jpg"}).json()
        return [{k: v for k, v in r.items() if k != "timings_ms"} for r in (uploaded, by_path)]

    in_workers, in_threads = runs(process), runs(thread)
    assert in_workers == in_threads
    uploaded, by_path = in_workers
    assert uploaded["error"] is None and uploaded["factors"]["border"]["top"] == 40
    assert by_path["item"]["path"] == "bars.jpg" and by_path["thumbnails"]["shots"]  # grabbed inside the worker


def test_an_item_over_the_memory_cap_kills_its_worker_and_the_server_goes_on(servers):
    process, _ = servers
    _warm_both_workers(process)
    r = upload(process.client, "audit", "big.png", huge_png())
    assert r.status_code == 200, r.text
    record = r.json()
    assert record["error"]["type"] == "MediaLimitError" and record["item"]["path"] == "big.png"
    assert re.fullmatch(rf"the worker's memory went over the cap of {CAP_MB} MiB while running this item and its worker "
                        r"process was killed; raise max_item_memory_mb \(factorline serve --max-item-memory-mb\) if such "
                        "items are legitimate", record["error"]["message"])
    assert record["decisions"]["moderation"]["outcome"] == "review"  # on_error
    assert _kills(process, "memory") == 1
    after = upload(process.client, "audit", "bars.jpg", jpeg(bars=40))
    assert after.status_code == 200 and after.json()["error"] is None
    assert list(process.state.uploads.path.iterdir()) == []


def test_an_item_past_the_time_limit_is_killed_and_others_still_run(servers):
    process, _ = servers
    _warm_both_workers(process)
    t0 = time.monotonic()
    r = upload(process.client, "sleepy", "a.jpg", jpeg())
    assert r.status_code == 504 and error_of(r)["type"] == "RequestTimeoutError"
    assert upload(process.client, "audit", "bars.jpg", jpeg(bars=40)).json()["error"] is None  # the other worker
    while _kills(process, "timeout") < 1 and time.monotonic() - t0 < TIMEOUT_S + 6:
        time.sleep(0.1)
    assert _kills(process, "timeout") == 1
    assert process.client.get("/ready").json()["queue"]["depth"] == 0  # its slot is free again


def test_worker_records_of_a_hung_and_a_crashed_item(audit, tmp_path):
    """The records nobody sees over HTTP (the request got its 504 first) and a crash: straight from the pool."""
    doc = stressed(audit, on="stuck.png", sleep_s=60)
    doc["steps"]["crash"] = {"op": "stress", "params": {"on": "crash.png", "crash": True}}
    plan = compile_pipeline(doc)
    config = EngineConfig(doc, None, Limits(item_timeout_s=0.5))
    kills: list[str] = []
    pool = WorkerPool(1, server_watch(0.5, grace_s=0.5), on_kill=kills.append)
    paths = {name: tmp_path / name for name in ("stuck.png", "crash.png")}
    for path in paths.values():
        path.write_bytes(jpeg())
    try:
        hung = pool.run_item(plan, config, str(paths["stuck.png"]), thumbnails=True)
        crashed = pool.run_item(plan, config, str(paths["crash.png"]))
    finally:
        pool.close()
    assert hung["error"]["type"] == "ItemTimeoutError" and hung["item"]["path"] == str(paths["stuck.png"])
    assert "past the hard time limit of 1 s" in hung["error"]["message"]
    assert "raise the server's request_timeout_s if such items are legitimate" in hung["error"]["message"]
    assert hung["thumbnails"] == {"shots": [], "note": "no pictures: the item did not finish"}
    assert crashed["error"]["type"] == "MediaError"
    assert "the worker process died (killed by signal SIGSEGV)" in crashed["error"]["message"]
    assert kills == ["timeout", "died"]


class _DeadOnArrival:
    spawned = 0

    def __init__(self):
        type(self).spawned += 1

    def ready(self): return False
    def results(self): return []
    def death(self): return "exit code 1"
    def wait(self, timeout): pass
    def kill(self): pass


def test_workers_that_die_at_startup_fail_clearly_not_forever():
    plan = compile_pipeline(load_text(IMAGE_AUDIT))
    config = EngineConfig(plan.doc.to_dict(), None, Limits())
    kills: list[str] = []
    pool = WorkerPool(2, server_watch(5.0), spawn=_DeadOnArrival, on_kill=kills.append)
    issues = pool.warm(plan, config)  # at startup: the server refuses to start with this
    assert len(issues) == 1
    assert issues[0].message.startswith("3 worker processes in a row died at startup (last: exit code 1)")
    with pytest.raises(ResourceError, match=r"4 worker processes in a row died at startup .*--isolation thread"):
        pool.run_item(plan, config, "a.png")  # later: one more try each, then the same error (503)
    assert _DeadOnArrival.spawned == 4 and kills == ["startup"] * 4


def test_batching_on_needs_thread_isolation():
    with pytest.raises(ValidationError, match=r"batching=on joins the model calls .* use isolation=thread"):
        ServeSettings(batching="on")
    assert ServeSettings(batching="on", isolation="thread").batching == "on"
    with pytest.raises(ValidationError, match="max_item_memory_mb"):
        ServeSettings(max_item_memory_mb=10)


class _Idle:
    """An idle worker as the pool sees it: started (ready or not) and the pipelines it holds."""

    def __init__(self, name: str, ready: bool, holds: tuple[str, ...] = ()):
        self.name, self._ready, self.holds = name, ready, dict.fromkeys(holds)

    def ready(self): return self._ready
    def results(self): return []


def test_a_job_goes_to_an_idle_worker_that_already_holds_its_pipeline():
    pool = WorkerPool(3, server_watch(5.0), spawn=_DeadOnArrival)
    pool._idle = [_Idle("warm-other", True, ("other",)), _Idle("warm-audit", True, ("audit",)),
                  _Idle("fresh", True), _Idle("starting", False)]
    assert pool._pop_idle("audit").name == "warm-audit"  # not the fresh one started after a kill
    assert pool._pop_idle("audit").name in {"warm-other", "fresh"}  # any ready one next
    pool._pop_idle("audit")
    assert pool._pop_idle("audit").name == "starting"
