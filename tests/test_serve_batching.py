"""Cross-request batching: the MicroBatcher, the session wrapper, and the real NudeNet detector
giving the same detections batched as one call at a time."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from needs import needs_nudenet
from test_serve_support import LiveServer, decisions, jpeg, upload

from factorline.serve.batching import BatchingPool
from factorline.serve.microbatch import BatchedSession, MicroBatcher, batchable_session, swap_session
from factorline.serve.settings import ServeSettings


class Recorder:
    """fn(rows) -> [rows * 2, rows.sum(axis=1)], remembering every batch it saw."""

    def __init__(self, delay: float = 0.0):
        self.batches: list[int] = []
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, rows: np.ndarray) -> list[np.ndarray]:
        with self.lock:
            self.batches.append(len(rows))
        time.sleep(self.delay)
        return [rows * 2, rows.sum(axis=1)]


def _callers(batcher: MicroBatcher, inputs: list[np.ndarray]) -> list[list[np.ndarray]]:
    with ThreadPoolExecutor(len(inputs)) as pool:
        return list(pool.map(batcher, inputs))


def test_concurrent_calls_share_a_batch_and_get_their_own_rows():
    fn = Recorder(delay=0.02)
    batcher = MicroBatcher(fn, max_size=16, max_wait_s=0.05, max_callers=8)
    inputs = [np.full((i % 3 + 1, 4), i, np.float32) for i in range(8)]
    try:
        outputs = _callers(batcher, inputs)
    finally:
        batcher.close()
    for x, (doubled, sums) in zip(inputs, outputs):
        np.testing.assert_array_equal(doubled, x * 2)
        np.testing.assert_array_equal(sums, x.sum(axis=1))
    assert sum(fn.batches) == sum(len(x) for x in inputs)
    assert max(fn.batches) > 3  # more than one caller's rows went through one call


def test_batches_respect_max_size_and_shapes():
    fn = Recorder(delay=0.01)
    batcher = MicroBatcher(fn, max_size=4, max_wait_s=0.05)
    inputs = [np.ones((3, 2), np.float32)] * 4 + [np.ones((2, 5), np.float32)] * 2 + [np.ones((6, 2), np.float32)]
    try:
        outputs = _callers(batcher, inputs)
    finally:
        batcher.close()
    assert [o[0].shape for o in outputs] == [x.shape for x in inputs]
    assert all(b <= 4 for b in fn.batches if b != 6)  # a call larger than max_size goes alone, whole


def test_a_failing_batch_fails_each_caller_and_the_batcher_goes_on():
    calls = {"n": 0}

    def flaky(rows):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("model exploded")
        return [rows]

    batcher = MicroBatcher(flaky, max_size=8, max_wait_s=0.0)
    try:
        with pytest.raises(ValueError, match="exploded"):
            batcher(np.ones((1, 2)))
        np.testing.assert_array_equal(batcher(np.ones((1, 2)))[0], np.ones((1, 2)))
    finally:
        batcher.close()
    np.testing.assert_array_equal(batcher(np.zeros((2, 2)))[0], np.zeros((2, 2)))  # closed: direct call


class _Meta:
    def __init__(self, name, shape):
        self.name, self.shape = name, shape


class FakeSession:
    def __init__(self, inputs, outputs):
        self._inputs, self._outputs = inputs, outputs

    def get_inputs(self):
        return self._inputs

    def get_outputs(self):
        return self._outputs

    def get_providers(self):
        return ["CPUExecutionProvider"]

    def run(self, names, feed, options=None):
        x = next(iter(feed.values()))
        return [x + 1]


class Holder:
    def __init__(self, session):
        self.session = session


def test_swap_session_only_batches_what_is_safe():
    ok = FakeSession([_Meta("x", ["batch", 3])], [_Meta("y", ["batch", 3])])
    fixed = FakeSession([_Meta("x", [1, 3])], [_Meta("y", [1, 3])])
    stateful = FakeSession([_Meta("x", ["b", 3]), _Meta("state", [2, "b", 64])], [_Meta("y", ["b", 1])])
    assert batchable_session(ok) and not batchable_session(fixed) and not batchable_session(stateful)
    make = lambda fn: MicroBatcher(fn, max_size=8, max_wait_s=0.0)
    holder = Holder(ok)
    twin = swap_session(holder, make)
    assert twin is not holder and holder.session is ok and isinstance(twin.session, BatchedSession)
    np.testing.assert_array_equal(twin.session.run(None, {"x": np.zeros((2, 3))})[0], np.ones((2, 3)))
    assert twin.session.get_inputs()[0].name == "x"  # everything else is the session's
    twin.session.close()
    assert swap_session(Holder(fixed), make).session is fixed
    assert swap_session(Holder(stateful), make).session is stateful
    assert swap_session(Holder(ok), make, accelerated_only=True).session is ok  # auto mode on a CPU session


@needs_nudenet
def test_batched_detector_finds_the_same_as_unbatched():
    from skimage import data

    import factorline.operators  # noqa: F401  (registers the resource loaders)

    pool = BatchingPool(ServeSettings(batching="on", isolation="thread", workers=4, batch_max_wait_ms=20))
    try:
        batched = pool.get(("nudenet",))["nudenet"]
        plain = super(BatchingPool, pool).get(("nudenet",))["nudenet"]
        assert isinstance(batched.session, BatchedSession) and not isinstance(plain.session, BatchedSession)
        frames = [np.asarray(data.astronaut()), np.asarray(data.coffee()), np.asarray(data.chelsea()), np.asarray(data.astronaut())[::2, ::2]]
        alone = [plain.detect([f]) for f in frames]
        with ThreadPoolExecutor(4) as threads:
            together = list(threads.map(lambda f: batched.detect([f]), frames))
    finally:
        pool.close()
    for a, b in zip(alone, together):
        assert [d.label for d in a[0]] == [d.label for d in b[0]]
        for da, db in zip(a[0], b[0]):
            assert da.score == pytest.approx(db.score, abs=1e-4)
            assert da.box == pytest.approx(db.box, abs=0.05)
    assert any(d.label.startswith("FACE") for d in alone[0][0])  # the astronaut's face


@needs_nudenet
def test_server_batches_concurrent_requests():
    doc = {"name": "people", "input": "image", "steps": {"faces": {"op": "faces"}, "nsfw": {"op": "nsfw"}}, "decisions": decisions()}
    with LiveServer({"people": doc}, batching="on", isolation="thread", workers=4, batch_max_wait_ms=30) as live:
        pictures = [jpeg(size=(200, 150)) for _ in range(8)]

        def one(p):
            import httpx

            with httpx.Client(base_url=live.url, timeout=60) as c:
                return upload(c, "people", "p.jpg", p)

        with ThreadPoolExecutor(8) as threads:
            replies = list(threads.map(one, pictures))
        assert all(r.status_code == 200 and r.json()["error"] is None for r in replies)
        metrics = live.client.get("/metrics").text
        callers_sum = float(next(l for l in metrics.splitlines() if l.startswith('factorline_batch_callers_sum{resource="nudenet"}')).split()[-1])
        calls = float(next(l for l in metrics.splitlines() if l.startswith('factorline_batch_callers_count{resource="nudenet"}')).split()[-1])
        assert callers_sum == 8 and calls < 8  # some model calls served several requests
