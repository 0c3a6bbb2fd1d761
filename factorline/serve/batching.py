"""The server's resource pool: models loaded once at startup, batched across requests.

:class:`BatchingPool` is a :class:`~factorline.engine.pool.ResourcePool` that hands out,
for every resource registered with :func:`factorline.serve.microbatch.register_batching`, a
twin whose model calls go through one :class:`~factorline.serve.microbatch.MicroBatcher`
(``batch_max_size`` rows, ``batch_max_wait_ms``, at most ``workers`` callers). Every engine
of the server shares the pool, so frames of concurrent requests, even of different
pipelines, meet in the same model call. ``batching="off"`` uses a plain pool; ``"auto"``
batches only sessions that run on an accelerator (measured on a 2-core CPU, batching the
NudeNet detector lost throughput: see benchmarks/serve_load.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..contract.errors import Issue, ResourceError
from ..engine.compiler import Plan
from ..engine.pool import ResourcePool
from .microbatch import BatchFn, MicroBatcher, batching_adapter, close_batched, register_batching, swap_session
from .settings import ServeSettings

BatchHook = Callable[[str, int, int, float], None]  # resource, rows, callers, seconds

# The built-in detector behind nsfw@1 and faces@1 (YOLOv8-n, free batch dimension).
register_batching("nudenet", swap_session)


class BatchingPool(ResourcePool):
    def __init__(self, settings: ServeSettings, on_batch: BatchHook | None = None):
        super().__init__()
        self.settings = settings
        self.on_batch = on_batch
        self._twins: dict[str, Any] = {}
        self._twins_lock = threading.Lock()

    def get(self, names: tuple[str, ...]) -> dict[str, Any]:
        return {n: self._twin(n) for n in names}

    def _twin(self, name: str) -> Any:
        twin = self._twins.get(name)  # the common case: no lock on the request path
        if twin is not None:
            return twin
        with self._twins_lock:
            if name not in self._twins:
                plain = super().get((name,))[name]
                adapter = batching_adapter(name)
                auto = self.settings.batching == "auto"
                self._twins[name] = adapter(plain, self._batcher_factory(name), accelerated_only=auto) if adapter else plain
            return self._twins[name]

    def _batcher_factory(self, name: str) -> Callable[[BatchFn], MicroBatcher]:
        s = self.settings
        hook = (lambda rows, callers, secs: self.on_batch(name, rows, callers, secs)) if self.on_batch else None
        return lambda fn: MicroBatcher(
            fn, max_size=s.batch_max_size, max_wait_s=s.batch_max_wait_ms / 1000.0, max_callers=s.workers, name=name, on_batch=hook
        )

    def close(self) -> None:
        with self._twins_lock:
            for twin in self._twins.values():
                close_batched(twin)


def make_pool(settings: ServeSettings, on_batch: BatchHook | None = None) -> ResourcePool:
    return ResourcePool() if settings.batching == "off" else BatchingPool(settings, on_batch)


def warm(pool: ResourcePool, plan: Plan) -> list[Issue]:
    """Load every resource the plan's steps name, now, so no request waits for a model load."""
    issues = []
    for step in plan.steps:
        try:
            pool.get(step.spec.resources)
        except ResourceError as exc:
            issues.append(Issue(f"steps.{step.name}.op", exc.message, "resource"))
    return issues
