"""ResourcePool: the named resources a plan's steps ask for, loaded once and shared.

Loaders are registered with ``@resource`` (:mod:`factorline.contract.registry`); a pool calls
each one the first time a step needs it. Tests and servers inject their own pool (or
``overrides``) instead of the global one; the server's :class:`~factorline.serve.batching.BatchingPool`
hands out batched twins.
"""

from __future__ import annotations

import threading
from typing import Any

from ..contract.errors import ResourceError
from ..contract.registry import resource_loader


class ResourcePool:
    """Loads each named resource once and hands the same object to every step that asks.

    Tests and servers inject their own pool (or ``overrides``) instead of the global one.
    """

    def __init__(self, overrides: dict[str, Any] | None = None):
        self._objects: dict[str, Any] = dict(overrides or {})
        self._lock = threading.Lock()

    def get(self, names: tuple[str, ...]) -> dict[str, Any]:
        return {n: self._load(n) for n in names}

    def _load(self, name: str) -> Any:
        with self._lock:
            if name not in self._objects:
                loader = resource_loader(name)
                if loader is None:
                    raise ResourceError(f"no loader registered for resource {name!r}", path=name)
                try:
                    self._objects[name] = loader()
                except ResourceError:
                    raise
                except Exception as exc:  # a broken model file or missing extra
                    raise ResourceError(f"could not load resource {name!r}: {exc}", path=name, cause=exc) from exc
            return self._objects[name]


GLOBAL_POOL = ResourcePool()
