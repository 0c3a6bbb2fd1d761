"""The Parquet side of `decide`: results.parquet rewritten a batch at a time, in a thread of this
process or, on big runs, in a helper process.

The JSONL side decides each batch itself (the vectorized evaluator over the few columns the
rules read) and hands the writer what each row needs (``codes``) and the decisions the per-item
evaluator wrote (``fresh``); the writer reads the whole batch, rebuilds its ``decisions`` and
``pipeline`` columns and writes it. Data only flows to the writer, so the JSONL side never waits
for it: not for a batch, and not while a spawned helper imports and compiles (seconds, which
on a two-core machine used to be spent idle).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from ..engine.compiler import compile_pipeline
from ..engine.records import ParquetSink, record_schema
from ..contract.errors import RunDirError
from .redecide import Redecider, no_gc

QUEUED = 16  # batches handed to the helper and not yet written: bounds the memory they hold


@dataclass(frozen=True)
class ColumnJob:
    """What the Parquet side needs, picklable (it may run in another process)."""

    doc: dict
    run_dir: str
    source: str
    target: str
    batch_size: int


def _rewrite(job: ColumnJob, redecider: Redecider, sink: ParquetSink, batches, codes: dict[str, np.ndarray],
             fresh: dict[str, list]) -> None:
    batch = next(batches, None)
    if batch is None or any(len(c) != batch.num_rows for c in codes.values()):
        raise RunDirError("the Parquet writer of `decide` ran out of step with results.parquet", path=job.run_dir)
    sink.write(redecider.parquet(batch, codes, fresh, sink.schema))


def _rest(job: ColumnJob, batches) -> None:
    if next(batches, None) is not None:
        raise RunDirError("the Parquet writer of `decide` got fewer batches than results.parquet holds", path=job.run_dir)


class LocalColumns:
    """In this process: a thread reads, rebuilds and writes batch k while the caller works on k+1."""

    def __init__(self, job: ColumnJob, redecider: Redecider):
        self.job, self.redecider = job, redecider
        self.sink = ParquetSink(job.target, record_schema(redecider.plan))
        self.batches = pq.ParquetFile(job.source).iter_batches(batch_size=job.batch_size)
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="factorline-parquet")
        self.pending: Future | None = None

    def put(self, codes: dict[str, np.ndarray], fresh: dict[str, list]) -> None:
        self._wait()
        self.pending = self.pool.submit(_rewrite, self.job, self.redecider, self.sink, self.batches, codes, fresh)

    def _wait(self) -> None:
        if self.pending is not None:
            self.pending, pending = None, self.pending
            pending.result()

    def finish(self) -> None:
        self._wait()
        _rest(self.job, self.batches)
        self.pool.shutdown()
        self.sink.commit()

    def abort(self) -> None:
        self.pool.shutdown(cancel_futures=True)
        self.sink.abort()


def _worker(conn, job: ColumnJob) -> None:
    """The helper process: says "ready" once it has compiled the plan, then rewrites a batch per
    message until "end"."""
    try:
        run_dir = Path(job.run_dir)
        from .decide import make_redecider, read_meta  # the helper imports decide anyway (spawn)

        redecider = make_redecider(compile_pipeline(job.doc), run_dir, Path(job.source), read_meta(run_dir))
        conn.send(("ready",))
        with ParquetSink(job.target, record_schema(redecider.plan)) as sink, no_gc():
            batches = pq.ParquetFile(job.source).iter_batches(batch_size=job.batch_size)
            while (message := conn.recv())[0] == "batch":
                _rewrite(job, redecider, sink, batches, message[1], message[2])
            _rest(job, batches)
        conn.send(("done",))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


class HelperColumns:
    """In a spawned helper process. Batches go out through a sender thread (a send blocks until
    the helper reads), and are kept until the helper says it started: if it cannot (a script
    without a ``__main__`` guard, no room for a process), they are written here instead."""

    def __init__(self, job: ColumnJob, redecider: Redecider):
        self.job, self.redecider = job, redecider
        ctx = get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, job), name="factorline-decide-parquet", daemon=True)
        self.proc.start()
        child.close()
        self.outbox: queue.Queue = queue.Queue(QUEUED)
        self.sender = threading.Thread(target=self._send, name="factorline-decide-send", daemon=True)
        self.sender.start()
        self.unconfirmed: list[tuple] | None = []  # None once the helper said "ready"
        self.local: LocalColumns | None = None

    def _send(self) -> None:
        gone = False
        while (message := self.outbox.get()) is not None:
            if not gone:
                try:
                    self.conn.send(message)
                except OSError:  # the helper is gone (_receive reads why); keep emptying the queue
                    gone = True

    def _receive(self, block: bool) -> str | None:
        """Handle the helper's messages; the last one's kind (None: nothing waiting)."""
        kind = None
        while block or self.conn.poll():
            try:
                message = self.conn.recv()
            except (EOFError, OSError) as exc:
                return self._died(exc)
            kind = message[0]
            if kind == "ready":
                self.unconfirmed = None
            elif kind == "error":
                raise RunDirError(f"writing results.parquet failed: {message[1]}", path=self.job.run_dir)
            elif kind == "done":
                return kind
        return kind

    def _died(self, exc: BaseException) -> str:
        from .isolate import describe_exit  # the worker machinery, only imported to say why

        self.proc.join(timeout=5)
        if self.unconfirmed is None:
            raise RunDirError(f"the Parquet writer process of `decide` died ({describe_exit(self.proc.exitcode)})",
                              path=self.job.run_dir, cause=exc) from exc
        self.local = LocalColumns(self.job, self.redecider)  # it never started: write here instead
        for codes, fresh in self.unconfirmed:
            self.local.put(codes, fresh)
        self.unconfirmed = None
        return "local"

    def put(self, codes: dict[str, np.ndarray], fresh: dict[str, list]) -> None:
        if self.local is None:
            self._receive(block=False)
        if self.local is not None:
            self.local.put(codes, fresh)
            return
        if self.unconfirmed is not None:
            self.unconfirmed.append((codes, fresh))
        self.outbox.put(("batch", {n: c.astype(np.int8) for n, c in codes.items()}, fresh))

    def finish(self) -> None:
        if self.local is None:
            self.outbox.put(("end",))
            self.outbox.put(None)
            self.sender.join()
            while self.local is None and self._receive(block=True) != "done":
                pass
        if self.local is not None:
            self.local.finish()
        self.proc.join(timeout=30)

    def abort(self) -> None:
        if self.proc.is_alive():  # stopped half-way
            self.proc.kill()
            self.proc.join(timeout=5)
        with contextlib.suppress(queue.Full):
            self.outbox.put_nowait(None)  # the sender's send fails now that the helper is gone
        self.conn.close()
        if self.local is not None:
            self.local.abort()
        ParquetSink.temporary(Path(self.job.target)).unlink(missing_ok=True)
