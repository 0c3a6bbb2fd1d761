"""Local workers: plain spawn processes, one Pipe each, that the parent can kill one by one.

A ProcessPoolExecutor cannot stop one task or tell which task killed a worker, so each worker
here is a ``multiprocessing.Process`` that builds its Engine once (models loaded once per
worker), then runs the items the parent sends one at a time. The scheduler (schedule.py)
watches each worker's time and memory and kills it when an item goes over a limit.
"""

from __future__ import annotations

import os
import signal
import sys
from multiprocessing import get_context
from multiprocessing.connection import wait

from .schedule import EngineConfig, make_engine, prewarm

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker when the parent dies, even by kill -9: a worker stuck
    in a hostile file would otherwise outlive the run (an idle one exits on the closed pipe)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    if os.getppid() == 1:  # the parent died before the request took effect
        os._exit(0)


def _worker_main(conn, config: EngineConfig) -> None:
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    engine = make_engine(config)
    prewarm(engine)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            path = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if path is None:
            return
        conn.send(("record", engine.run_item(path)))


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def rss_bytes(pid: int) -> int | None:
    """Resident memory of ``pid`` from /proc (Linux); None elsewhere or when it is gone."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


class ProcessWorker:
    """One worker process (see schedule.Worker for the surface the scheduler uses)."""

    def __init__(self, config: EngineConfig):
        # spawn, not fork: decoders and thread pools in the parent must not leak into children.
        ctx = get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, config), name="factorline-worker")
        self.proc.start()
        child.close()
        self._ready = False

    def ready(self) -> bool:
        return self._ready

    def send(self, path: str) -> None:
        try:
            self._conn.send(path)
        except OSError:
            pass  # it died: death() says so on the next look

    def results(self) -> list[dict]:
        out: list[dict] = []
        try:
            while self._conn.poll():
                kind, payload = self._conn.recv()
                if kind == "ready":
                    self._ready = True
                else:
                    out.append(payload)
        except (EOFError, OSError):
            pass  # it died: death() says so
        return out

    def death(self) -> str | None:
        return None if self.proc.is_alive() else describe_exit(self.proc.exitcode)

    def rss(self) -> int | None:
        return rss_bytes(self.proc.pid) if self.proc.pid else None

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self._conn.close()

    def stop(self) -> None:
        if self.proc.is_alive():
            try:
                self._conn.send(None)
            except OSError:
                pass
            self.proc.join(2)
        self.kill()

    def handles(self) -> list:
        return [self._conn, self.proc.sentinel]


class ProcessBackend:
    def __init__(self, config: EngineConfig):
        self.config = config

    def spawn(self) -> ProcessWorker:
        return ProcessWorker(self.config)

    def wait(self, workers: list[ProcessWorker], timeout: float) -> None:
        handles = [h for w in workers for h in w.handles() if not getattr(h, "closed", False)]
        if handles:
            wait(handles, timeout)
