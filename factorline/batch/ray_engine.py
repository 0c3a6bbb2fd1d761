"""The Ray engine: the same run on a Ray cluster, one actor per worker holding an Engine.

Each actor builds its Engine once (models loaded once per actor) and runs one item at a time;
the driver keeps the run folder, so the output and resume semantics are the local engine's.
The scheduler (schedule.py) applies the same limits: an item past its hard time limit or an
actor over the memory cap gets its actor killed (``ray.kill``) and replaced, and an actor
that dies by itself gives its item an error record.

Media paths are opened by the actors: on a real cluster they must be readable at the same
path on every node (a shared filesystem), and factorline must be installed on every node.

With ``worker_parts`` each actor also writes its records straight into the run folder's
``parts/`` (its own numbered parts, ``part-00000-w3.jsonl``: the folder must be on storage
every node mounts at the same path) and sends the driver only a stub (path, error type,
partial, total time) to count and show: the records never travel through the driver.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..contract.errors import ConfigError
from ..engine.records import record_schema
from .parts import PartWriter
from .schedule import EngineConfig, make_engine, prewarm, serialized

RSS_POLL_S = 0.5  # how often the driver asks a busy actor for its memory


def _ray():
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("--engine ray needs the `ray` package: pip install ray", path="engine", cause=exc) from exc
    return ray


@dataclass(frozen=True)
class PartsTarget:
    """Where an actor writes its records (``worker_parts``)."""

    folder: str
    max_records: int
    max_seconds: float


def stub(record: dict) -> dict:
    """What the driver needs of a record an actor stored itself: count it and show it."""
    item, error = record.get("item") or {}, record.get("error")
    return {"item": {"path": item.get("path"), "partial": item.get("partial")},
            "error": {"type": error.get("type")} if error else None,
            "timings_ms": {"total": (record.get("timings_ms") or {}).get("total")}, "stored": True}


class EngineActor:
    """Made a Ray actor at run time (``ray.remote`` needs ray imported, which is optional)."""

    def __init__(self, config: EngineConfig, cwd: str, parts: PartsTarget | None = None, tag: str = ""):
        # Relative input paths mean the driver's folder; it exists on a local cluster and on
        # nodes that mount the same filesystem at the same place.
        if os.path.isdir(cwd):
            os.chdir(cwd)
        self.engine = make_engine(config)
        self.writer = None
        if parts is not None:
            self.writer = PartWriter(Path(parts.folder), max_records=parts.max_records, max_seconds=parts.max_seconds,
                                     schema=record_schema(self.engine.plan), tag=tag)
        prewarm(self.engine)

    def ready(self) -> int:
        return os.getpid()

    def run(self, path: str) -> dict:
        record = self.engine.run_item(path)
        if self.writer is None:
            return record
        record, line = serialized(record, self.engine.plan)
        self.writer.add_line(line)  # flushed: a kill after this keeps the record
        return stub(record)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.seal()

    def rss(self) -> int | None:
        from .isolate import rss_bytes

        return rss_bytes(os.getpid())


def _is_done(ray, ref) -> bool:
    return bool(ray.wait([ref], timeout=0)[0])


class RayWorker:
    """One actor (see schedule.Worker). ``max_concurrency=2`` lets ``rss`` answer while ``run`` is busy."""

    def __init__(self, ray, actor_cls, config: EngineConfig, cwd: str, parts: PartsTarget | None = None, tag: str = ""):
        self.ray = ray
        self.actor = actor_cls.remote(config, cwd, parts, tag)
        self._writes_parts = parts is not None
        self._ready_ref = self.actor.ready.remote()
        self._run_ref = None
        self._rss_ref = None
        self._rss: int | None = None
        self._rss_asked = 0.0
        self._death: str | None = None

    def refs(self) -> list:
        return [r for r in (self._ready_ref, self._run_ref, self._rss_ref) if r is not None]

    def ready(self) -> bool:
        return self._ready_ref is None and self._death is None

    def send(self, path: str) -> None:
        self._rss = None
        self._run_ref = self.actor.run.remote(path)

    def _get(self, ref):
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:
            first = str(exc).strip().splitlines()
            self._death = f"{type(exc).__name__}: {first[0] if first else ''}"
            return None

    def results(self) -> list[dict]:
        out: list[dict] = []
        if self._ready_ref is not None and _is_done(self.ray, self._ready_ref):
            ref, self._ready_ref = self._ready_ref, None
            self._get(ref)
        if self._run_ref is not None and _is_done(self.ray, self._run_ref):
            ref, self._run_ref = self._run_ref, None
            record = self._get(ref)
            if record is not None:
                out.append(record)
        if self._rss_ref is not None and _is_done(self.ray, self._rss_ref):
            ref, self._rss_ref = self._rss_ref, None
            self._rss = self._get(ref)
        return out

    def death(self) -> str | None:
        return self._death

    def rss(self) -> int | None:
        # Asked asynchronously: the answer seen now is at most one poll old.
        if self._run_ref is not None and self._rss_ref is None and time.monotonic() - self._rss_asked > RSS_POLL_S:
            self._rss_ref, self._rss_asked = self.actor.rss.remote(), time.monotonic()
        return self._rss

    def kill(self) -> None:
        with contextlib.suppress(Exception):  # already gone
            self.ray.kill(self.actor, no_restart=True)

    def stop(self) -> None:
        """Seal the actor's open part (worker_parts), then end it; a part left open by a killed
        actor is sealed by ``parts.recover`` before assembly."""
        if self._writes_parts:
            with contextlib.suppress(Exception):
                self.ray.get(self.actor.close.remote(), timeout=10)
        self.kill()


class RayBackend:
    def __init__(self, config: EngineConfig, parts: PartsTarget | None = None):
        self.ray = _ray()
        self.config = config
        self.parts = parts
        self.actor_cls = self.ray.remote(num_cpus=1, max_concurrency=2)(EngineActor)
        self.cwd = os.getcwd()
        self._spawned = 0

    def spawn(self) -> RayWorker:
        # Each actor writes its own parts: a tag unique in this run (a replacement gets a new one).
        self._spawned += 1
        tag = f"w{self._spawned}p{os.getpid()}" if self.parts else ""
        return RayWorker(self.ray, self.actor_cls, self.config, self.cwd, self.parts, tag)

    def wait(self, workers: list[RayWorker], timeout: float) -> None:
        refs = [r for w in workers for r in w.refs()]
        if refs:
            self.ray.wait(refs, num_returns=1, timeout=timeout)
        else:
            time.sleep(timeout)

    def capacity(self) -> int:
        """Actors the cluster can hold at once (one CPU each)."""
        return max(1, int(self.ray.cluster_resources().get("CPU", 1)))


def connect(address: str | None) -> bool:
    """Join ``address`` (or $RAY_ADDRESS, else start a local Ray); True when this call connected
    (so the run disconnects at the end), False when the caller had already called ray.init."""
    ray = _ray()
    if ray.is_initialized():
        return False
    # Not ray.init()'s own default: it joins the last `ray start` cluster of this machine, and
    # waits a long time when that one is gone. `--address auto` asks for that on purpose.
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    except ConnectionError as exc:
        raise ConfigError(f"cannot reach the Ray cluster at {address}: {exc}; start one with "
                          "`ray start --head` or check --address (host:port of the head node, or 'auto')",
                          path="address", cause=exc) from exc
    return True


def disconnect(connected_here: bool) -> None:
    if connected_here:
        _ray().shutdown()
