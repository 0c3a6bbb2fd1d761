"""Runs items for requests: a bounded thread pool behind the admission queue.

``workers`` threads take the admitted items; the event loop only waits. A request's wait is
capped by ``request_timeout_s`` (504); the engine gets the same budget as its item deadline.

``isolation="process"`` (default): each thread hands its item to a worker process
(:mod:`.workers`) and watches it; a process over ``max_item_memory_mb`` or past the deadline plus
a grace is killed and replaced, and the item gets an error record. Models load in the workers.

``isolation="thread"``: the thread runs the item itself. Decoding (PyAV), numpy and onnxruntime
release the GIL, so threads overlap, and every engine shares one resource pool (one copy of
each model, warmed at startup; batched across requests with ``batching``). A slow item stops
at its next step boundary; nothing caps its memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

from ..batch.schedule import EngineConfig
from ..cache import NullCache, StepCache
from ..contract.errors import Issue
from ..contract.items import Limits
from ..engine.compiler import Plan
from ..engine.executor import Engine
from ..engine.pool import ResourcePool
from ..models.store import confined_models
from .batching import BatchingPool, make_pool, warm
from .errors import HttpError, RequestTimeoutError, UnavailableError
from .limits import Admission, Slot, UploadGate
from .metrics import Metrics
from .pictures import with_thumbnails
from .pipelines import Entry
from .settings import ServeSettings
from .uploads import Pace
from .workers import WorkerPool, server_watch

log = logging.getLogger("factorline.serve")


class Runner:
    def __init__(self, settings: ServeSettings, metrics: Metrics):
        self.settings = settings
        self.metrics = metrics
        self.cache = StepCache(settings.cache_dir) if settings.cache_dir else NullCache()
        self.limits = Limits(item_timeout_s=settings.request_timeout_s)
        self.processes: WorkerPool | None = None
        if settings.isolation == "process":
            self.pool: ResourcePool = ResourcePool()  # stays empty: the models load in the workers
            watch = server_watch(settings.request_timeout_s, settings.max_item_memory_mb * 2**20)
            self.processes = WorkerPool(settings.workers, watch, model_roots=tuple(map(str, settings.model_roots)),
                                        on_kill=lambda reason: metrics.worker_kills.labels(reason).inc())
        else:
            self.pool = make_pool(settings, metrics.on_batch)
        self.admission = Admission(settings.queue_size, settings.workers)
        self.admission.on_change = metrics.queue_depth.set
        metrics.queue_capacity.set(settings.queue_size)
        self.executor = ThreadPoolExecutor(settings.workers, thread_name_prefix="factorline-item")
        self.uploading = UploadGate(settings.max_uploads)
        self.pace = Pace(settings.upload_stall_s, settings.upload_min_bytes_per_s)

    def make_engine(self, plan: Plan) -> Engine:
        return Engine(plan, cache=self.cache, resources=self.pool, limits=self.limits)

    def engine_config(self, plan: Plan) -> EngineConfig:
        """What a worker process needs to build ``plan``'s Engine."""
        cache_dir = str(self.settings.cache_dir) if self.settings.cache_dir else None
        return EngineConfig(plan.doc.to_dict(), cache_dir, self.limits)

    def warm(self, plan: Plan) -> list[Issue]:
        """Load ``plan``'s models now (in a worker process with process isolation)."""
        if self.processes is None:
            return warm(self.pool, plan)
        return self.processes.warm(plan, self.engine_config(plan))

    def admit(self) -> Slot:
        try:
            return self.admission.admit()
        except HttpError:
            self._count_refusal()
            raise

    def check_room(self) -> None:
        """429/503 now if a run could not be admitted (an upload is refused before it is read)."""
        try:
            self.admission.check()
        except HttpError:
            self._count_refusal()
            raise

    def _count_refusal(self) -> None:
        self.metrics.rejected.labels("draining" if self.admission.draining else "queue_full").inc()

    def deadline(self) -> float:
        """Loop time by which a request admitted now must be answered (upload included)."""
        return asyncio.get_running_loop().time() + self.settings.request_timeout_s

    async def run(self, slot: Slot, entry: Entry, path: str, deadline: float, *, thumbnails: bool = False) -> dict:
        """The record of ``path``; the slot is released when the worker is done with it.

        ``thumbnails``: also grab pictures at the evidence times, in the same worker job,
        because the file is gone (or its descriptor closed) once the slot is released.
        """
        started = time.perf_counter()
        if self.processes is None:
            job = partial(_run_item, entry, path, self.settings.model_roots, thumbnails)
        else:
            job = partial(self.processes.run_item, entry.plan, self.engine_config(entry.plan), path, thumbnails=thumbnails)
        try:
            future = self.executor.submit(job)
        except RuntimeError as exc:  # the pool is shut down
            raise UnavailableError("the server is shutting down", headers={"Retry-After": "5"}) from exc
        slot.hand_off()
        future.add_done_callback(self._finisher(slot, entry.name, started))
        try:
            async with asyncio.timeout_at(deadline):
                return await asyncio.wrap_future(future)
        except TimeoutError:
            # Cancelling the asyncio wrapper cancels a queued item; a running one stops at its
            # engine deadline. Either way the done-callback releases the slot.
            self.metrics.rejected.labels("timeout").inc()
            raise RequestTimeoutError(
                f"the run took longer than {self.settings.request_timeout_s:g} s", headers={"Retry-After": "1"}
            ) from None

    def _finisher(self, slot: Slot, pipeline: str, started: float) -> Callable[[Future], None]:
        def done(future: Future) -> None:
            seconds = time.perf_counter() - started
            if not future.cancelled():
                error = future.exception()
                record = None if error else future.result()
                result = "error" if error or (record and record.get("error")) else "ok"
                self.metrics.items.labels(pipeline, result).inc()
                self.metrics.item_seconds.labels(pipeline).observe(seconds)
            slot.release(None if future.cancelled() else seconds)

        return done

    def shutdown(self, grace_s: float) -> None:
        """Refuse new runs, let admitted ones finish (up to ``grace_s``), stop the batchers."""
        self.admission.draining = True
        if not self.admission.wait_idle(grace_s):
            log.warning("shutdown: %d run(s) still going after %.0f s", self.admission.depth, grace_s)
        self.executor.shutdown(wait=False, cancel_futures=True)
        if self.processes is not None:
            self.processes.close()
        if isinstance(self.pool, BatchingPool):
            self.pool.close()


def _run_item(entry: Entry, path: str, model_roots: tuple, thumbnails: bool) -> dict:
    """One item in a worker thread (isolation="thread"), models confined as when the pipeline was checked."""
    with confined_models(model_roots):
        record = entry.engine.run_item(path)
    return with_thumbnails(record, path) if thumbnails else record
