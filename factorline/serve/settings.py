"""Server settings: one validated object that ``create_app`` and ``serve`` read."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class ServeSettings(BaseModel):
    """What the server binds to and how hard it lets itself be pushed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="Interface to bind; anything beyond loopback warns without a token.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port (0 picks a free one).")
    token_file: Path | None = Field(None, description="File holding the bearer token; /api and /metrics then need it.")
    data_root: Path | None = Field(None, description="Allowlisted folder for run-path; None disables server-side paths.")
    model_roots: tuple[Path, ...] = Field(
        (), description="Folders whose model version folders pipelines may name by path; otherwise models come only "
        "from the model store, by name."
    )
    runs_root: Path | None = Field(
        None, description="Folder whose run folders (direct sub-folders holding run.json) the run browser may open "
        "(/api/runs); None: run browsing is off."
    )
    media_roots: tuple[Path, ...] = Field(
        (), description="Folders whose media files the run browser may stream (with data_root); an item's file "
        "elsewhere is not served."
    )
    pipelines_dir: Path | None = Field(
        None, description="Where PUT saves new pipelines; None: the folder the pipelines came from (none for dicts)."
    )
    cache_dir: Path | None = Field(None, description="Step cache folder; None: no cache (uploads leave no trace).")
    max_body_bytes: int = Field(256 * 1024**2, ge=1024, description="Largest request body; beyond it 413.")
    queue_size: int = Field(64, ge=1, le=100_000, description="Items running plus waiting; beyond it 429.")
    workers: int = Field(
        4, ge=1, le=256, description="Items run at once: worker processes (isolation=process) or threads (isolation=thread)."
    )
    isolation: Literal["process", "thread"] = Field(
        "process", description="Where items run: process (spawned worker processes, killed and replaced when an item "
        "goes over max_item_memory_mb or request_timeout_s; each loads its own models) or thread (threads in the server "
        "process sharing one copy of the models; no memory cap; needed for batching=on)."
    )
    max_item_memory_mb: int = Field(
        4096, ge=64, le=1024**2, description="Resident memory cap of one worker process (models included), in MiB; a "
        "worker over it is killed and its item gets a MediaLimitError record. Only with isolation=process."
    )
    request_timeout_s: float = Field(120.0, gt=0, le=24 * 3600, description="Per-request budget of a run; then 504.")
    max_uploads: int = Field(64, ge=1, le=100_000, description="Uploads received at once (before they queue); beyond it 429.")
    upload_stall_s: float = Field(30.0, gt=0, le=3600, description="An upload that sends nothing for this long gets 408.")
    upload_min_bytes_per_s: float = Field(
        1024.0, ge=0, description="After its first upload_stall_s, an upload slower than this on average gets 408 (0: off)."
    )
    batching: Literal["auto", "on", "off"] = Field(
        "auto", description="Batch model calls of concurrent requests: on, off, or auto (only models on an accelerator). "
        "Only with isolation=thread: a worker process runs one item at a time, so it has nothing to batch with."
    )
    batch_max_size: int = Field(16, ge=1, le=1024, description="Most frames in one batched model call.")
    batch_max_wait_ms: float = Field(5.0, ge=0, le=1000, description="Longest a model call waits for company.")
    shutdown_grace_s: float = Field(30.0, ge=0, le=3600, description="How long shutdown waits for requests in flight.")
    log_level: str = Field("info", description="uvicorn log level.")
    allowed_hosts: tuple[str, ...] = Field(
        (), description="Host names (name or name:port) clients may use besides 127.0.0.1, localhost and [::1]; "
        "pages from these origins may call the API too. '*' accepts any Host (Origin is still checked)."
    )

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            if entry != "*" and split_host(entry) is None:
                raise ValueError(f"allowed host {entry!r}: expected a name or address, optionally with :port "
                                 "(example.com, example.com:8443, 10.0.0.5, [::1]:8000), or *")
        return value

    @field_validator("batching", mode="before")
    @classmethod
    def _bool_batching(cls, value: object) -> object:
        if isinstance(value, bool):  # batching=True / False read naturally too
            return "on" if value else "off"
        return value

    @model_validator(mode="after")
    def _batching_needs_threads(self) -> ServeSettings:
        if self.batching == "on" and self.isolation == "process":
            raise ValueError("batching=on joins the model calls of concurrent requests inside one process, and worker "
                             "processes run one item each: use isolation=thread (--isolation thread) to batch, or "
                             "batching=auto/off to keep process isolation")
        return self


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def is_specific(host: str) -> bool:
    """True when ``host`` is one address or name (not 0.0.0.0, :: or empty: every interface)."""
    text = host.strip().strip("[]")
    try:
        return bool(text) and not ipaddress.ip_address(text).is_unspecified
    except ValueError:
        return True


def split_host(text: str) -> tuple[str, int | None] | None:
    """``'Example.com:8000'`` -> ``('example.com', 8000)``, ``'[::1]'`` -> ``('::1', None)``; None
    when malformed (a Host header, an Origin's host, an allowed_hosts entry)."""
    text = text.strip().lower()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ("" if not rest else "?")
    elif text.count(":") > 1:  # a bare IPv6 address
        host, port = text, ""
    else:
        host, _, port = text.partition(":")
    if not host or (port and not port.isdigit()) or any(c.isspace() or c in "/@\\?#[]" for c in host):
        return None
    return host, (int(port) if port else None)
