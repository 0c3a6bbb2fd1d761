"""Prometheus metrics, one registry per app (two apps in one process never collide).

Requests are labelled by their route *template* (``/api/pipelines/{name}/run``), never by
the raw path, so a client cannot blow up the number of series.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter("factorline_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=r)
        self.latency = Histogram("factorline_http_request_seconds", "HTTP request latency", ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.queue_depth = Gauge("factorline_queue_depth", "runs holding a queue slot (running or waiting)", registry=r)
        self.queue_capacity = Gauge("factorline_queue_capacity", "most runs admitted at once", registry=r)
        self.rejected = Counter("factorline_rejected", "requests refused by back-pressure", ["reason"], registry=r)
        self.items = Counter("factorline_items", "items run", ["pipeline", "result"], registry=r)
        self.item_seconds = Histogram("factorline_item_seconds", "time of one item in a worker", ["pipeline"], buckets=LATENCY_BUCKETS, registry=r)
        self.batch_rows = Histogram(
            "factorline_batch_rows", "rows (frames) per batched model call", ["resource"], buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=r
        )
        self.batch_callers = Histogram(
            "factorline_batch_callers", "requests sharing one batched model call", ["resource"], buckets=(1, 2, 3, 4, 6, 8, 16, 32), registry=r
        )
        self.worker_kills = Counter(
            "factorline_worker_kills", "worker processes killed (memory, timeout) or found dead (died, startup)", ["reason"], registry=r
        )
        self.ready = Gauge("factorline_ready", "1 when the server takes runs", registry=r)

    def on_batch(self, resource: str, rows: int, callers: int, seconds: float) -> None:
        self.batch_rows.labels(resource).observe(rows)
        self.batch_callers.labels(resource).observe(callers)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every HTTP request by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.requests.labels(scope.get("method", ""), route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)
