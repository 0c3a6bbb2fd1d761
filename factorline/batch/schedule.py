"""Handing items to workers that can be killed, and turning a killed item into a record.

One scheduler serves both engines: local worker processes (isolate.py) and Ray actors
(ray_engine.py) are "workers" with the same small surface. Each worker runs one item at a
time, so the parent always knows which item a worker is on and since when. A worker whose
item runs past ``limits.item_timeout_s`` plus a grace (the engine's own cooperative deadline
gets the first chance), or whose memory passes the cap, is killed and replaced, and the item
gets an ItemTimeoutError or MediaLimitError record; a worker that dies by itself (a decoder
segfault, the OOM killer) gives its item a MediaError record. The run goes on either way.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from ..cache import NullCache, StepCache, jsonable
from ..contract.errors import ItemTimeoutError, MediaError, MediaLimitError, OperatorError, ResourceError
from ..contract.items import Limits
from ..engine.compiler import Plan, compile_pipeline
from ..engine.executor import Engine, empty_item
from ..engine.records import dumps_record

MAX_STARTUP_DEATHS = 3  # workers that die before taking an item point at the setup, not an item


@dataclass(frozen=True)
class EngineConfig:
    """What a worker needs to build its Engine (picklable: it crosses process boundaries)."""

    doc: dict
    cache_dir: str | None
    limits: Limits


def make_engine(config: EngineConfig) -> Engine:
    cache = StepCache(config.cache_dir) if config.cache_dir else NullCache()
    return Engine(compile_pipeline(config.doc), cache=cache, limits=config.limits)


def prewarm(engine: Engine) -> None:
    """Load every step's models now, once per worker, so loading is not billed to an item."""
    for step in engine.plan.steps:
        with contextlib.suppress(Exception):  # the step fails again on each item and records why
            engine.resources.get(step.spec.resources)


@dataclass(frozen=True)
class Watch:
    """The hard limits the parent enforces by killing a worker."""

    item_timeout_s: float
    max_rss_bytes: int | None = None
    grace_s: float | None = None  # default: 10% of the time limit, at least 2 s
    # What a killed item's message tells the user to raise (the server names its own settings).
    timeout_hint: str = "--item-timeout (factorline run)"
    memory_hint: str = "--max-rss-mb (factorline run)"

    @property
    def hard_s(self) -> float:
        grace = self.grace_s if self.grace_s is not None else max(2.0, 0.1 * self.item_timeout_s)
        return self.item_timeout_s + grace


class Worker(Protocol):
    def ready(self) -> bool: ...  # started, engine built, able to take an item
    def send(self, path: str) -> None: ...
    def results(self) -> list[dict]: ...  # records finished since the last call
    def death(self) -> str | None: ...  # why the worker is gone, None while it lives
    def rss(self) -> int | None: ...  # resident bytes, None when unknown
    def kill(self) -> None: ...
    def stop(self) -> None: ...


class Backend(Protocol):
    def spawn(self) -> Worker: ...
    def wait(self, workers: list[Worker], timeout: float) -> None: ...  # until one has news


def failure_record(plan: Plan, path: str, error: dict, elapsed_ms: float) -> dict:
    """The record of an item whose worker was killed or died.

    Built in the parent without reading the file: the file is the suspect (its digest could
    hang on a FIFO or take long on a huge file), so ``item.id`` is None."""
    return {
        "item": empty_item(path),
        "factors": {},
        "decisions": jsonable(plan.decisions.decide({}, error=error)),
        "error": error,
        "pipeline": {"name": plan.name, "fingerprint": plan.fingerprint},
        "timings_ms": {"total": round(elapsed_ms, 2)},
    }


def serialized(record: dict, plan: Plan) -> tuple[dict, str]:
    """The record and its JSON line, or an error record when it cannot be written as JSON (an
    operator returned something exotic that its contract check let through): one item fails,
    not the run."""
    try:
        return record, dumps_record(record)
    except (TypeError, ValueError) as exc:
        error = OperatorError(f"the item's record cannot be written as JSON ({exc}); an operator returned a value "
                              "of a type it did not declare").to_record()
        record = failure_record(plan, record["item"]["path"], error, (record.get("timings_ms") or {}).get("total", 0.0))
        return record, dumps_record(record)


class Seat:
    """A worker and the one item it runs."""

    def __init__(self, worker: Worker):
        self.worker = worker
        self.path: str | None = None
        self.started = 0.0


def verdict(seat: Seat, watch: Watch) -> dict | None:
    """The error to record when the seat's worker must go, else None."""
    death = seat.worker.death()
    if death:
        return MediaError(f"the worker process died ({death}) while running this item: a decoder or operator "
                          "crashed on it, or the machine ran out of memory").to_record()
    if seat.path is None:
        return None
    if time.monotonic() - seat.started > watch.hard_s:
        return ItemTimeoutError(f"item ran past the hard time limit of {watch.hard_s:g} s (the item time limit "
                                f"{watch.item_timeout_s:g} s + grace) and its worker process was killed; raise "
                                f"{watch.timeout_hint} if such items are legitimate").to_record()
    rss = seat.worker.rss() if watch.max_rss_bytes else None
    if rss is not None and rss > watch.max_rss_bytes:
        return MediaLimitError(f"the worker's memory went over the cap of {watch.max_rss_bytes / 2**20:.0f} MiB while "
                               f"running this item and its worker process was killed; raise {watch.memory_hint} if "
                               "such items are legitimate").to_record()
    return None


def run_tasks(backend: Backend, plan: Plan, paths: Iterable[str], *, workers: int, watch: Watch,
              poll_s: float = 0.2) -> Iterator[dict]:
    """Records of ``paths`` in completion order, one per path, whatever the items do."""
    pending = deque(paths)
    seats = [Seat(backend.spawn()) for _ in range(min(workers, len(pending)))]
    startup_deaths = 0
    try:
        while pending or any(s.path is not None for s in seats):
            for seat in seats:
                if seat.path is None and pending and seat.worker.ready():
                    seat.path, seat.started = pending.popleft(), time.monotonic()
                    seat.worker.send(seat.path)
            backend.wait([s.worker for s in seats], poll_s)
            for seat in list(seats):
                for record in seat.worker.results():  # one item in flight: the record is seat.path's
                    seat.path, startup_deaths = None, 0
                    yield record
                error = verdict(seat, watch)
                if error is None:
                    continue
                seat.worker.kill()
                seats.remove(seat)
                if seat.path is not None:
                    yield failure_record(plan, seat.path, error, (time.monotonic() - seat.started) * 1000.0)
                else:
                    startup_deaths += 1
                    if startup_deaths >= MAX_STARTUP_DEATHS:
                        raise ResourceError(f"{startup_deaths} worker processes in a row died before taking an item "
                                            f"(last: {seat.worker.death()}); see their error output above. Scripts that "
                                            "call run_pipeline need an `if __name__ == '__main__':` guard (local workers "
                                            "are spawned and import the script)")
                if pending:
                    seats.append(Seat(backend.spawn()))
    finally:
        for seat in seats:
            seat.worker.stop()
