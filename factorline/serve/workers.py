"""Worker processes for ``isolation="process"``: an item that eats memory or hangs is killed, not the server.

A :class:`WorkerPool` holds up to ``workers`` spawned processes (:class:`ServeWorker`, the batch
engine's :class:`~factorline.batch.isolate.ProcessWorker` with a target that serves every pipeline).
A process is started when a job finds none idle (the first at startup, by the warm-up), and
kept. It compiles each pipeline it is sent once and keeps the last :data:`MAX_ENGINES`
Engines by fingerprint; models live in its resource pool, loaded once per process, and their
loading is not billed to the item (:data:`LOADING_S` bounds it). Thumbnails are grabbed in the
process too, while the item's file still exists; a data-root file is read through the
server's descriptor (:func:`worker_path`).

The runner's thread for a request hands the item to an idle process and waits, polling the
pipe, the process's resident memory and the clock every :data:`POLL_S`. The batch
scheduler's verdict (:func:`factorline.batch.schedule.verdict`, with this server's settings
named in its hints) decides: memory over ``max_item_memory_mb`` -> killed, a MediaLimitError
record; past ``request_timeout_s`` plus a grace -> killed, ItemTimeoutError; dead by itself (a
decoder segfault, the OOM killer) -> MediaError. The pool starts a fresh process at once; one
still holding more than the cap after its item is retired the same way. Processes that keep dying before they are ready raise ResourceError (503, and the server
does not start when it happens at warm-up) instead of being respawned forever.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import wait

from ..batch.isolate import ProcessWorker, die_with_parent
from ..batch.schedule import (
    MAX_STARTUP_DEATHS,
    EngineConfig,
    Seat,
    Watch,
    failure_record,
    make_engine,
    prewarm,
    verdict,
)
from ..contract.errors import Issue, ResourceError, error_record
from ..engine.compiler import Plan
from ..engine.executor import Engine
from ..models.store import confined_models
from .batching import warm
from .pictures import with_thumbnails

log = logging.getLogger("factorline.serve")

POLL_S = 0.1  # how often a waiting request thread looks at its worker's pipe, memory and clock
STARTUP_S = 60.0  # a worker not ready by then counts as dead at startup
LOADING_S = 300.0  # longest a worker may take to compile a pipeline and load its models
MAX_ENGINES = 8  # compiled pipelines a worker keeps (models stay loaded in its pool regardless)

def server_watch(timeout_s: float, max_rss_bytes: int | None = None, grace_s: float | None = None) -> Watch:
    """The scheduler's hard limits, with messages that name this server's settings."""
    return Watch(timeout_s, max_rss_bytes, grace_s, timeout_hint="the server's request_timeout_s",
                 memory_hint="max_item_memory_mb (factorline serve --max-item-memory-mb)")


KILL_REASONS = {"MediaLimitError": "memory", "ItemTimeoutError": "timeout", "ResourceError": "timeout"}  # else "died"


@dataclass(frozen=True)
class Job:
    """One request for a worker: run ``path`` (or, with ``path=None``, only load the models)."""

    fingerprint: str
    config: EngineConfig
    path: str | None = None
    thumbnails: bool = False


# ----------------------------------------------------------------------------- in the worker


def _serve_main(conn, model_roots: tuple[str, ...]) -> None:
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the server decides
    conn.send(("ready", os.getpid()))
    engines: OrderedDict[str, Engine] = OrderedDict()
    for job in iter(lambda: _next_job(conn), None):  # None: stop
        with confined_models(model_roots):
            conn.send(("reply", _do(job, engines, conn)))


def _next_job(conn) -> Job | None:
    try:
        return conn.recv()
    except (EOFError, OSError):  # the server is gone
        return None


def _do(job: Job, engines: OrderedDict[str, Engine], conn) -> dict:
    try:
        engine = engines.get(job.fingerprint)
        if engine is None:
            engine = make_engine(job.config)
            prewarm(engine)
            engines[job.fingerprint] = engine
        engines.move_to_end(job.fingerprint)
        while len(engines) > MAX_ENGINES:
            engines.popitem(last=False)
    except Exception as exc:  # noqa: BLE001 - the server compiled it: only an operator missing here fails
        return {"error": error_record(exc)}
    if job.path is None:
        return {"issues": warm(engine.resources, engine.plan)}
    conn.send(("started", {"started": True}))  # the item's clock starts now, not while models loaded
    record = engine.run_item(job.path)
    return {"record": with_thumbnails(record, job.path) if job.thumbnails else record}


# ----------------------------------------------------------------------------- in the server


class ServeWorker(ProcessWorker):
    """A :class:`ProcessWorker` whose process runs :class:`Job` s of any pipeline."""

    def __init__(self, model_roots: tuple[str, ...]):  # not ProcessWorker's: no engine yet, any pipeline later
        ctx = get_context("spawn")  # spawn: the server's threads, decoders and sockets stay out of it
        self._conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve_main, args=(child, model_roots), name="factorline-serve-worker")
        self.proc.start()
        child.close()
        self._ready = False
        # Pipelines (fingerprints) this process has compiled, as far as the server knows: a job
        # goes to an idle worker that holds its models, not one that must load them first.
        self.holds: OrderedDict[str, None] = OrderedDict()

    def hold(self, fingerprint: str) -> None:
        self.holds[fingerprint] = None
        self.holds.move_to_end(fingerprint)
        while len(self.holds) > MAX_ENGINES:  # the process keeps the same last MAX_ENGINES
            self.holds.popitem(last=False)

    def wait(self, timeout: float) -> None:
        handles = [h for h in self.handles() if not getattr(h, "closed", False)]
        if handles:
            wait(handles, timeout)
        else:
            time.sleep(timeout)


class WorkerPool:
    """Up to ``size`` worker processes, each running one job at a time. The first starts with
    the first job (the warm-up, at server startup), more when jobs find none idle; a killed or
    retired worker is replaced at once, so the next job rarely waits for a start."""

    def __init__(self, size: int, watch: Watch, *, model_roots: tuple[str, ...] = (),
                 on_kill: Callable[[str], None] | None = None, spawn: Callable[[], ServeWorker] | None = None):
        self.size = size
        self.watch = watch
        self.on_kill = on_kill or (lambda reason: None)
        self._spawn = spawn or (lambda: ServeWorker(model_roots))
        self._idle: list[ServeWorker] = []  # started, maybe not ready yet
        self._running: set[ServeWorker] = set()
        self._held = 0  # workers taken by jobs, including ones still starting
        self._startup_deaths = 0  # in a row; reset by a worker that gets ready
        self._closed = False
        self._cond = threading.Condition()

    # -- jobs ----------------------------------------------------------------------------
    def run_item(self, plan: Plan, config: EngineConfig, path: str, *, thumbnails: bool = False) -> dict:
        """The record of ``path``, whatever the item does."""
        seen = worker_path(path)
        reply = self._run(Job(plan.fingerprint, config, seen, thumbnails))
        if "record" in reply:
            return _as_named(reply["record"], seen, path)
        record = failure_record(plan, path, reply["error"], reply.get("elapsed_ms", 0.0))
        if thumbnails:
            record["thumbnails"] = {"shots": [], "note": "no pictures: the item did not finish"}
        return record

    def warm(self, plan: Plan, config: EngineConfig) -> list[Issue]:
        """Load ``plan``'s models in a worker now; the issues that make it unusable."""
        try:
            reply = self._run(Job(plan.fingerprint, config))
        except ResourceError as exc:
            return [Issue("", exc.message, "resource")]
        if "error" in reply:
            return [Issue("", reply["error"]["message"], "resource")]
        issues = list(reply["issues"])
        cap, rss = self.watch.max_rss_bytes, reply["rss"]
        if cap and rss is not None and rss > cap:
            issues.append(Issue("", f"a worker process holds {rss / 2**20:.0f} MiB once this pipeline's models are "
                                f"loaded, over the cap of {cap / 2**20:.0f} MiB: raise max_item_memory_mb "
                                "(factorline serve --max-item-memory-mb)", "resource"))
        return issues

    def _run(self, job: Job) -> dict:
        worker = self._take(job.fingerprint)
        seat = Seat(worker)
        seat.path = job.path or "(loading models)"
        loading = time.monotonic()  # until the worker says the item started (never, for a warm-up)
        try:
            worker.send(job)
            while True:
                if loading:
                    seat.started = time.monotonic()  # loading is not billed to the item; LOADING_S bounds it
                worker.wait(POLL_S)
                for reply in worker.results():  # one job in flight: the replies are this job's
                    if reply.get("started"):
                        seat.started, loading = time.monotonic(), 0.0
                        continue
                    reply["rss"] = worker.rss()
                    if "error" not in reply:
                        worker.hold(job.fingerprint)
                    cap = self.watch.max_rss_bytes  # malloc may keep what the item freed: the next item would be blamed
                    self._release(worker, keep=not (cap and reply["rss"] is not None and reply["rss"] > cap))
                    return reply
                error = verdict(seat, self.watch) or _slow_loading(loading)
                if error is not None:
                    self._release(worker, killed=KILL_REASONS.get(error["type"], "died"))
                    return {"error": error, "elapsed_ms": (time.monotonic() - seat.started) * 1000.0}
        except BaseException:
            self._release(worker, killed="died")
            raise

    # -- the processes -------------------------------------------------------------------
    def _take(self, fingerprint: str) -> ServeWorker:
        with self._cond:
            while not (self._closed or self._idle or self._held < self.size):
                self._cond.wait()
            if self._closed:
                raise _shutting_down()
            self._held += 1
            worker = self._pop_idle(fingerprint)
        try:
            worker = self._started(worker)
        except BaseException:
            with self._cond:
                self._held -= 1
                self._cond.notify()
            raise
        with self._cond:
            self._running.add(worker)
            closed = self._closed
        if closed:
            self._release(worker, killed="died")
            raise _shutting_down()
        return worker

    def _pop_idle(self, fingerprint: str) -> ServeWorker | None:
        for worker in self._idle:
            if not worker.ready():
                worker.results()  # reads its "ready" if it came
        # Taken first (sorted last): a ready worker that holds this pipeline's models, then any ready one.
        self._idle.sort(key=lambda w: (w.ready(), fingerprint in w.holds))
        return self._idle.pop() if self._idle else None

    def _started(self, worker: ServeWorker | None) -> ServeWorker:
        """``worker`` (or a new one) once ready: one that died is replaced, but MAX_STARTUP_DEATHS in a
        row dying before they are ready raise ResourceError."""
        while True:
            worker = worker or self._spawn()
            deadline = time.monotonic() + STARTUP_S
            while not worker.ready() and worker.death() is None and time.monotonic() < deadline:
                worker.wait(POLL_S)
                worker.results()
            why = worker.death()
            if why is None and worker.ready():
                self._startup_deaths = 0
                return worker
            worker.kill()
            if worker.ready():  # it died idle (the OOM killer, say): not a startup problem
                log.warning("an idle worker process was gone (%s); starting another", why)
                worker = None
                continue
            why = why or f"not ready after {STARTUP_S:g} s"
            worker = None
            self.on_kill("startup")
            self._startup_deaths += 1
            log.warning("a worker process died at startup (%s)", why)
            if self._startup_deaths >= MAX_STARTUP_DEATHS:
                # Not reset: while workers cannot start, each job tries one more and fails fast.
                raise ResourceError(
                    f"{self._startup_deaths} worker processes in a row died at startup (last: {why}); see the "
                    "server's error output. A script that starts the server needs an `if __name__ == '__main__':` "
                    "guard (workers are spawned and import it); --isolation thread runs items without workers"
                )

    def _release(self, worker: ServeWorker, *, keep: bool = False, killed: str | None = None) -> None:
        """Give back a taken worker: kept idle, or ended (``killed`` says why; else stopped) and
        replaced by a fresh one unless the pool is closing."""
        fresh = None
        if not keep:
            if killed:
                worker.kill()
                if not self._closed:  # at shutdown the pool killed it
                    self.on_kill(killed)
            else:
                log.info("retiring a worker process that holds more than the memory cap after its item")
                worker.stop()
            fresh = self._fresh()
        with self._cond:
            self._held -= 1
            self._running.discard(worker)
            closed = self._closed
            if not closed:
                self._idle += [w for w in (worker if keep else None, fresh) if w is not None]
            self._cond.notify()
        if closed:
            for leftover in (worker if keep else None, fresh):
                if leftover is not None:
                    leftover.stop()

    def _fresh(self) -> ServeWorker | None:
        if self._closed:
            return None
        try:
            return self._spawn()
        except OSError as exc:  # no process now: the next job starts one
            log.warning("could not start a worker process: %s", exc)
            return None

    def close(self) -> None:
        """Stop idle workers, kill busy ones (their jobs end with a MediaError record)."""
        with self._cond:
            self._closed = True
            idle, running = list(self._idle), list(self._running)
            self._idle.clear()
            self._cond.notify_all()
        for worker in idle:
            worker.results()  # its "ready", if it came: a worker still starting is killed, not waited for
            if worker.ready():
                worker.stop()
            else:
                worker.kill()
        for worker in running:  # its job's thread sees the death, records it and closes the pipe
            if worker.proc.is_alive():
                worker.proc.kill()

    def pids(self) -> list[int]:
        with self._cond:
            return [w.proc.pid for w in (*self._idle, *self._running) if w.proc.pid]


def _slow_loading(since: float) -> dict | None:
    if since and time.monotonic() - since > LOADING_S:
        return ResourceError(f"loading the pipeline and its models in a worker process took longer than {LOADING_S:g} s; "
                             "the worker was killed").to_record()
    return None


def _shutting_down() -> Exception:
    from .errors import UnavailableError  # FastAPI: imported by the server only, not by workers

    return UnavailableError("the server is shutting down", headers={"Retry-After": "5"})


def worker_path(path: str) -> str:
    """``path`` as a worker process can open it: a data-root file is read through the server's
    descriptor (``/proc/self/fd/N``, see ``paths``), which is ``/proc/<server pid>/fd/N`` there."""
    return f"/proc/{os.getpid()}/{path[len('/proc/self/'):]}" if path.startswith("/proc/self/") else path


def _as_named(record: dict, seen: str, path: str) -> dict:
    """``record`` naming ``path`` where the worker named ``seen`` (the routes swap ``path`` for the client's name)."""
    if seen == path:
        return record
    error = record.get("error")
    if error and isinstance(error.get("message"), str):
        record = {**record, "error": {**error, "message": error["message"].replace(seen, path)}}
    return {**record, "item": {**record["item"], "path": path}}
