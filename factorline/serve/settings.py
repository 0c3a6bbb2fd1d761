"""Server settings: one validated object that ``create_app`` and ``serve`` read."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ServeSettings(BaseModel):
    """What the server binds to and how hard it lets itself be pushed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="Interface to bind; anything beyond loopback warns without a token.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port (0 picks a free one).")
    token_file: Path | None = Field(None, description="File holding the bearer token; /api and /metrics then need it.")
    data_root: Path | None = Field(None, description="Allowlisted folder for run-path; None disables server-side paths.")
    pipelines_dir: Path | None = Field(
        None, description="Where PUT saves new pipelines; None: the folder the pipelines came from (none for dicts)."
    )
    cache_dir: Path | None = Field(None, description="Step cache folder; None: no cache (uploads leave no trace).")
    max_body_bytes: int = Field(256 * 1024**2, ge=1024, description="Largest request body; beyond it 413.")
    queue_size: int = Field(64, ge=1, le=100_000, description="Items running plus waiting; beyond it 429.")
    workers: int = Field(4, ge=1, le=256, description="Threads running items.")
    request_timeout_s: float = Field(120.0, gt=0, le=24 * 3600, description="Per-request budget of a run; then 504.")
    batching: Literal["auto", "on", "off"] = Field(
        "auto", description="Batch model calls of concurrent requests: on, off, or auto (only models on an accelerator)."
    )
    batch_max_size: int = Field(16, ge=1, le=1024, description="Most frames in one batched model call.")
    batch_max_wait_ms: float = Field(5.0, ge=0, le=1000, description="Longest a model call waits for company.")
    shutdown_grace_s: float = Field(30.0, ge=0, le=3600, description="How long shutdown waits for requests in flight.")
    log_level: str = Field("info", description="uvicorn log level.")

    @field_validator("batching", mode="before")
    @classmethod
    def _bool_batching(cls, value: object) -> object:
        if isinstance(value, bool):  # batching=True / False read naturally too
            return "on" if value else "off"
        return value


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False
