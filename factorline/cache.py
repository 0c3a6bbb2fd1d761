"""A content-addressed cache of step outputs and probes, on disk, shared by all processes.

A step's key covers everything its output depends on: the media digest, the operator id
with its version, its full parameters, the sampling it saw, and the keys of the steps that
feed it. Same key, same output; so a second run of an unchanged pipeline decodes nothing.
Entries are written to a temporary name and renamed, so readers never see half a file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any


def cache_key(*parts: Any) -> str:
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def default_cache_dir() -> Path:
    env = os.environ.get("FACTORLINE_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "factorline"


def jsonable(value: Any) -> Any:
    """Plain JSON values: NaN and inf become None, tuples become lists, numpy scalars unwrap."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return jsonable(value.item())
    return value


class StepCache:
    """Key -> JSON value store under ``root`` (two-level fan-out to keep folders small)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, namespace: str, key: str) -> Path:
        return self.root / namespace / key[:2] / f"{key}.json"

    def get(self, namespace: str, key: str) -> Any | None:
        path = self._path(namespace, key)
        try:
            with path.open("r", encoding="utf-8") as fh:
                return json.load(fh)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            # A damaged entry is a miss, never an error: it gets rewritten.
            return None

    def put(self, namespace: str, key: str, value: Any) -> None:
        path = self._path(namespace, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(jsonable(value), fh, ensure_ascii=False, allow_nan=False)
        os.replace(tmp, path)


class NullCache(StepCache):
    """A cache that stores nothing (``--no-cache``)."""

    def __init__(self) -> None:
        super().__init__("/nonexistent")

    def get(self, namespace: str, key: str) -> Any | None:
        return None

    def put(self, namespace: str, key: str, value: Any) -> None:
        return None
