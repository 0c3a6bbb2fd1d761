"""Cross-call batching of model sessions: the mechanism the HTTP server's pool uses.

An operator calls its model once per item, on that item's frames. When several items run at
once in threads (the server runs one request per worker thread), a :class:`MicroBatcher` in
front of a resource's model concatenates the calls that arrive together along the batch axis
(up to ``max_size`` rows, waiting at most ``max_wait_s`` for company), runs the model once
and hands every caller back its own rows. Operators do not change: a resource opts in by
registering an *adapter* that returns a copy of the resource whose model call goes through
the batcher::

    register_batching("nudenet", swap_session)   # NudeNetModel.session -> BatchedSession

(the server opts its resources in, in :mod:`factorline.serve.batching`; nothing here names one).

``swap_session`` works for any resource that keeps an onnxruntime session in ``.session``
whose single input and every output have a free batch dimension; anything else (stateful
models such as Silero VAD, multi-input models, OCR engines) is left alone. The batch axis is
the first one, so rows of different callers never mix: the model sees the same rows it would
have seen one call at a time.

Whether batching pays depends on the hardware: on a GPU one call of 16 frames costs little
more than a call of one; on a small CPU a convolutional model is compute-bound and a batch
costs about the sum of its rows. ``benchmarks/serve_load.py`` measures both.
"""

from __future__ import annotations

import copy
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

BatchFn = Callable[[np.ndarray], Sequence[np.ndarray]]
BatchHook = Callable[[int, int, float], None]  # (rows, callers, seconds) of one model call


@dataclass
class _Call:
    rows: np.ndarray
    done: threading.Event = field(default_factory=threading.Event)
    result: list[np.ndarray] | None = None
    error: BaseException | None = None


_STOP = object()


class MicroBatcher:
    """Runs ``fn`` on the concatenation of concurrent callers' rows; thread-safe.

    ``max_callers``: how many threads can call at once (the server's workers). Once that
    many calls are waiting, no one else can arrive, so the batch runs without waiting out
    ``max_wait_s``.
    """

    def __init__(
        self,
        fn: BatchFn,
        *,
        max_size: int = 16,
        max_wait_s: float = 0.005,
        max_callers: int | None = None,
        name: str = "batcher",
        on_batch: BatchHook | None = None,
    ):
        self.fn = fn
        self.max_size = max(1, int(max_size))
        self.max_wait_s = max(0.0, float(max_wait_s))
        self.max_callers = max_callers
        self.on_batch = on_batch
        self._queue: queue.Queue = queue.Queue()
        self._carry: _Call | None = None  # a call that did not fit the previous batch
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=f"factorline-{name}", daemon=True)
        self._thread.start()

    def __call__(self, rows: np.ndarray) -> list[np.ndarray]:
        call = _Call(np.asarray(rows))
        with self._lock:  # no call may be queued behind the stop marker
            closed = self._closed
            if not closed:
                self._queue.put(call)
        if closed:  # after shutdown: still correct, just unbatched
            return list(self.fn(call.rows))
        call.done.wait()
        if call.error is not None:
            raise call.error
        assert call.result is not None
        return call.result

    def close(self) -> None:
        """Stop the batching thread once the calls already queued are answered."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join(timeout=30)

    # -- the batching thread ---------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            first = self._carry or self._queue.get()
            self._carry = None
            if first is _STOP:
                return
            batch, stop = self._collect(first)
            self._run(batch)
            if stop:
                return

    def _collect(self, first: _Call) -> tuple[list[_Call], bool]:
        """``first`` plus the calls that arrive within the wait and fit the batch."""
        batch, rows = [first], len(first.rows)
        deadline = time.monotonic() + self.max_wait_s
        while rows < self.max_size and (self.max_callers is None or len(batch) < self.max_callers):
            try:
                nxt = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if nxt is _STOP:
                return batch, True
            # Rows of another shape or type cannot be stacked; a call that would overflow
            # the batch waits for the next one (a call is never split across batches).
            if not _stackable(first.rows, nxt.rows) or rows + len(nxt.rows) > self.max_size:
                self._carry = nxt
                break
            batch.append(nxt)
            rows += len(nxt.rows)
        return batch, False

    def _run(self, batch: list[_Call]) -> None:
        t0 = time.perf_counter()
        try:
            stacked = batch[0].rows if len(batch) == 1 else np.concatenate([c.rows for c in batch])
            outputs = [np.asarray(o) for o in self.fn(stacked)]
            offsets = np.cumsum([0] + [len(c.rows) for c in batch])
            for out in outputs:
                if out.shape[:1] != (offsets[-1],):
                    raise RuntimeError(f"batched model returned {out.shape[0]} rows for {offsets[-1]} inputs")
            for i, call in enumerate(batch):
                call.result = [out[offsets[i] : offsets[i + 1]] for out in outputs]
        except BaseException as exc:  # noqa: BLE001  (every caller of the batch sees the failure)
            for call in batch:
                call.error = exc
        finally:
            for call in batch:
                call.done.set()
        if self.on_batch is not None:
            self.on_batch(int(sum(len(c.rows) for c in batch)), len(batch), time.perf_counter() - t0)


def _stackable(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape[1:] == b.shape[1:] and a.dtype == b.dtype


# --------------------------------------------------------------------------- onnxruntime


def _free_batch_dim(shape: Sequence[Any]) -> bool:
    """True when the first dimension of an ONNX shape is symbolic (a name or None)."""
    return bool(shape) and not isinstance(shape[0], int)


def batchable_session(session: Any) -> bool:
    """An onnxruntime session with one input and a free batch dimension on it and every output."""
    try:
        inputs, outputs = session.get_inputs(), session.get_outputs()
    except AttributeError:
        return False
    return len(inputs) == 1 and _free_batch_dim(inputs[0].shape) and all(_free_batch_dim(o.shape) for o in outputs)


def runs_on_accelerator(session: Any) -> bool:
    """True when the session's first execution provider is not onnxruntime's CPU one."""
    try:
        providers = list(session.get_providers())
    except AttributeError:
        return False
    return bool(providers) and providers[0] != "CPUExecutionProvider"


class BatchedSession:
    """Drop-in for ``InferenceSession`` whose ``run(None, {input: rows})`` goes through a batcher.

    Other calls (named outputs, run options) go to the session directly.
    """

    def __init__(self, session: Any, make_batcher: Callable[[BatchFn], MicroBatcher]):
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.batcher = make_batcher(lambda rows: session.run(None, {self.input_name: rows}))

    def run(self, output_names: Any, input_feed: dict, run_options: Any = None) -> list[np.ndarray]:
        if output_names is None and run_options is None and list(input_feed) == [self.input_name]:
            return self.batcher(input_feed[self.input_name])
        return self.session.run(output_names, input_feed, run_options)

    def close(self) -> None:
        self.batcher.close()

    def __getattr__(self, name: str) -> Any:  # get_inputs, get_outputs, get_providers, ...
        return getattr(self.session, name)


Adapter = Callable[..., Any]  # (resource, make_batcher, *, accelerated_only) -> resource or its twin


def swap_session(resource: Any, make_batcher: Callable[[BatchFn], MicroBatcher], *, accelerated_only: bool = False) -> Any:
    """A shallow copy of ``resource`` whose ``.session`` is batched; ``resource`` itself when its
    session cannot be batched safely (or, with ``accelerated_only``, runs on the CPU, where a
    batch costs about the sum of its rows and serialising calls into one lane loses)."""
    session = getattr(resource, "session", None)
    if session is None or not batchable_session(session):
        return resource
    if accelerated_only and not runs_on_accelerator(session):
        return resource
    twin = copy.copy(resource)
    twin.session = BatchedSession(session, make_batcher)
    return twin


_ADAPTERS: dict[str, Adapter] = {}


def register_batching(resource_name: str, adapter: Adapter = swap_session) -> None:
    """Opt a named resource into cross-call batching."""
    _ADAPTERS[resource_name] = adapter


def batching_adapter(resource_name: str) -> Adapter | None:
    return _ADAPTERS.get(resource_name)


def close_batched(resource: Any) -> None:
    """Stop the batcher of a resource returned by an adapter (no-op for others)."""
    session = getattr(resource, "session", None)
    if isinstance(session, BatchedSession):
        session.close()


__all__ = [
    "BatchedSession",
    "MicroBatcher",
    "batchable_session",
    "batching_adapter",
    "close_batched",
    "register_batching",
    "runs_on_accelerator",
    "swap_session",
]
