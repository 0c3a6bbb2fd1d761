"""Holding under load: the bounded queue (429 + Retry-After), the per-request timeout (504),
graceful shutdown that drains requests in flight."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from test_serve_support import LiveServer, error_of, jpeg, sleepy_pipeline, slow_operator, upload

from factorline.contract.errors import FactorlineError
from factorline.serve.limits import Admission

PICTURE = jpeg(size=(64, 48))


@pytest.fixture(scope="module")
def sleeping_op():
    with slow_operator() as spec:
        yield spec


def _burst(url: str, pipeline: str, n: int) -> list[httpx.Response]:
    def one(_):
        with httpx.Client(base_url=url, timeout=60) as c:
            return upload(c, pipeline, "a.jpg", PICTURE)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_full_queue_answers_429_with_retry_after(sleeping_op):
    with LiveServer({"sleepy": sleepy_pipeline(0.6)}, workers=1, queue_size=2, isolation="thread") as live:
        replies = _burst(live.url, "sleepy", 8)
        codes = sorted(r.status_code for r in replies)
        assert codes.count(200) >= 2 and codes.count(429) >= 1, codes
        assert set(codes) <= {200, 429}
        refused = next(r for r in replies if r.status_code == 429)
        assert int(refused.headers["retry-after"]) >= 1
        assert error_of(refused)["type"] == "QueueFullError"
        assert list(live.state.uploads.path.iterdir()) == []  # refused uploads were never written
        assert live.client.get("/ready").json()["queue"]["depth"] == 0
        assert 'factorline_rejected_total{reason="queue_full"}' in live.client.get("/metrics").text


def test_slow_item_times_out_with_504_and_frees_its_slot(sleeping_op):
    with LiveServer({"sleepy": sleepy_pipeline(1.2)}, workers=1, queue_size=4, request_timeout_s=0.4, isolation="thread") as live:
        t0 = time.monotonic()
        r = upload(live.client, "sleepy", "a.jpg", PICTURE)
        assert r.status_code == 504 and error_of(r)["type"] == "RequestTimeoutError"
        assert time.monotonic() - t0 < 1.1  # answered at the deadline, not when the item ended
        # The slot is held until the worker is really done, then given back.
        deadline = time.monotonic() + 5
        while live.client.get("/ready").json()["queue"]["depth"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert live.client.get("/ready").json()["queue"]["depth"] == 0
        assert list(live.state.uploads.path.iterdir()) == []


def test_shutdown_drains_requests_in_flight(sleeping_op):
    live = LiveServer({"sleepy": sleepy_pipeline(1.0)}, workers=2, shutdown_grace_s=10, isolation="thread")
    with live:
        results: list[httpx.Response] = []
        thread = threading.Thread(target=lambda: results.append(upload(httpx.Client(base_url=live.url, timeout=30), "sleepy", "a.jpg", PICTURE)))
        thread.start()
        deadline = time.monotonic() + 5
        while live.state.runner.admission.depth == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        folder = live.state.uploads.path
        live.stop()  # what SIGTERM does: stop accepting, finish what is in flight
        thread.join(10)
        assert results and results[0].status_code == 200, results
        assert results[0].json()["factors"]["nap"]["slept"] == 1.0
        assert not live.thread.is_alive() and not folder.exists()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{live.url}/health", timeout=2)


def test_admission_unit():
    a = Admission(capacity=2, workers=1)
    s1, s2 = a.admit(), a.admit()
    with pytest.raises(FactorlineError) as full:
        a.admit()
    assert full.value.status == 429 and int(full.value.headers["Retry-After"]) >= 1
    s1.release(2.0)
    s1.release(2.0)  # idempotent: a slot is given back once
    assert a.depth == 1
    a.draining = True
    with pytest.raises(FactorlineError) as draining:
        a.admit()
    assert draining.value.status == 503
    with s2:  # not handed off: released on exit
        pass
    assert a.depth == 0 and a.wait_idle(0.1)


SERVE_SCRIPT = """
import sys, time
from pathlib import Path
from test_serve_support import slow_operator
from factorline.serve import ServeSettings, serve

with slow_operator():
    serve([Path(sys.argv[1])], ServeSettings(host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", shutdown_grace_s=10,
                                             isolation="thread"))
"""


def test_serve_entry_point_drains_on_sigterm(tmp_path):
    """The real entry point in its own process: SIGTERM lets the request in flight finish."""
    import json
    import os
    import signal
    import socket
    import subprocess
    import sys

    pipeline = tmp_path / "sleepy.json"
    pipeline.write_text(json.dumps(sleepy_pipeline(1.0)))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(private_tmp),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", SERVE_SCRIPT, str(pipeline), str(port)], env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        results: list[httpx.Response] = []
        thread = threading.Thread(target=lambda: results.append(upload(httpx.Client(base_url=url, timeout=30), "sleepy", "a.jpg", PICTURE)))
        thread.start()
        time.sleep(0.4)  # the request is in flight
        proc.send_signal(signal.SIGTERM)
        thread.join(15)
        code = proc.wait(15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert results and results[0].status_code == 200, results
    assert code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it drained for
    assert "Traceback" not in proc.stderr.read()
    assert list(private_tmp.iterdir()) == []  # the upload folder went with the server
