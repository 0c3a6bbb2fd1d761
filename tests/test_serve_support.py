"""Helpers of the server tests (no tests here): a real uvicorn server on 127.0.0.1 in a thread,
an httpx client on it, and a throwaway slow operator for back-pressure tests."""

from __future__ import annotations

import io
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Self

import httpx
import numpy as np
import uvicorn
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from factorline.contract.operator import Field as OpField
from factorline.contract.operator import operator
from factorline.contract.registry import unregister
from factorline.serve import ServeSettings, create_app
from factorline.serve.app import uvicorn_config

ROOT = Path(__file__).resolve().parent.parent
IMAGE_AUDIT = ROOT / "examples" / "image_audit.yaml"


def decisions(rules: list[dict] | None = None) -> dict:
    return {
        "moderation": {
            "policy": "first",
            "on_missing": "review",
            "on_error": "review",
            "rules": (rules or []) + [{"id": "ok", "default": True, "outcome": "accept"}],
        }
    }


class LiveServer:
    """uvicorn serving ``create_app(pipelines, settings)`` on 127.0.0.1 and a free port."""

    def __init__(self, pipelines, **settings):
        settings.setdefault("log_level", "warning")
        self.settings = ServeSettings(host="127.0.0.1", port=0, **settings)
        self.app = create_app(pipelines, settings=self.settings)
        self.state = self.app.state.factorline
        self.server = uvicorn.Server(uvicorn_config(self.app, self.settings))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = ""
        self.client: httpx.Client | None = None

    def __enter__(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.client = httpx.Client(base_url=self.url, timeout=60)
        return self

    def stop(self, timeout: float = 30) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)

    def __exit__(self, *exc) -> None:
        if self.client:
            self.client.close()
        self.stop()


@contextmanager
def slow_operator(name: str = "test_sleep"):
    """A registered operator that sleeps ``seconds`` (a param), unregistered afterwards so the
    contract battery of other test files never sees it. Registered in this process only: servers
    running it need ``isolation="thread"`` (worker processes would not know it)."""

    class SleepParams(BaseModel):
        model_config = ConfigDict(extra="forbid")
        seconds: float = Field(0.5, ge=0, le=30)

    def run(inputs, params, *, item, resources):
        time.sleep(params.seconds)
        return {"slept": params.seconds, "evidence": []}

    run.__doc__ = "Sleeps (tests only)."
    declared = operator(name=name, version=1, title="Sleep", group="test", params=SleepParams, fields={"slept": OpField("float", "seconds")})
    declared(run)
    try:
        yield run.spec  # type: ignore[attr-defined]
    finally:
        unregister(run.spec)  # type: ignore[attr-defined]


def sleepy_pipeline(seconds: float, name: str = "sleepy", op: str = "test_sleep") -> dict:
    return {"name": name, "input": "image", "steps": {"nap": {"op": op, "params": {"seconds": seconds}}}, "decisions": decisions()}


def upload(client: httpx.Client, pipeline: str, name: str, data: bytes, **kw) -> httpx.Response:
    return client.post(f"/api/pipelines/{pipeline}/run", files={"file": (name, data, "application/octet-stream")}, **kw)


def error_of(response: httpx.Response) -> dict:
    """The error object of a reply, checked to have the one shape every error has."""
    body = response.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert {"type", "message", "path"} <= set(err), err
    assert isinstance(err["type"], str) and isinstance(err["message"], str)
    return err


def jpeg(bars: int = 0, size: tuple[int, int] = (320, 240)) -> bytes:
    """A textured photo-like picture, optionally with black bars top and bottom."""
    w, h = size
    rng = np.random.default_rng(0)
    pixels = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    if bars:
        pixels[:bars] = 0
        pixels[-bars:] = 0
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=95)
    return buf.getvalue()
