"""Operator and resource registries.

Operators register themselves when their module is imported (``factorline.operators``
imports the built-in catalogue; third-party packages add theirs through the
``factorline.operators`` entry-point group). Resources (models, sessions) are loaded lazily,
once per process, by a ``ResourcePool`` that the executor is given.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from ..errors import ConfigError, ResourceError
from .operator import OperatorSpec

_OPERATORS: dict[str, dict[int, OperatorSpec]] = {}
_RESOURCE_LOADERS: dict[str, Callable[[], Any]] = {}
_loaded_catalogue = False


def register(spec: OperatorSpec) -> None:
    versions = _OPERATORS.setdefault(spec.name, {})
    existing = versions.get(spec.version)
    if existing is not None and existing.run is not spec.run:
        raise ConfigError(f"operator {spec.id} is registered twice", path=spec.id)
    versions[spec.version] = spec


def unregister(spec: OperatorSpec) -> None:
    """Remove one operator version (plugin reloads, tests that declare throwaway operators)."""
    versions = _OPERATORS.get(spec.name, {})
    if versions.get(spec.version) is spec:
        del versions[spec.version]
        if not versions:
            del _OPERATORS[spec.name]


def _load_catalogue() -> None:
    global _loaded_catalogue
    if _loaded_catalogue:
        return
    _loaded_catalogue = True
    import_module("factorline.operators")
    for ep in entry_points(group="factorline.operators"):
        ep.load()
    # Modules named here register operators without packaging (worker processes inherit it).
    for name in filter(None, (n.strip() for n in os.environ.get("FACTORLINE_PLUGINS", "").split(","))):
        import_module(name)


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``"black_border@1"`` -> ("black_border", 1); ``"black_border"`` -> ("black_border", None)."""
    name, sep, version = ref.partition("@")
    if not sep:
        return name, None
    if not version.isdigit():
        raise ConfigError(f"bad operator reference {ref!r}: expected name@<integer version>")
    return name, int(version)


def get_operator(ref: str) -> OperatorSpec:
    """Look an operator up by ``name`` (newest version) or ``name@version``."""
    _load_catalogue()
    name, version = parse_ref(ref)
    versions = _OPERATORS.get(name)
    if not versions:
        known = ", ".join(sorted(_OPERATORS)) or "none"
        raise ConfigError(f"unknown operator {name!r}; known operators: {known}")
    if version is None:
        return versions[max(versions)]
    if version not in versions:
        raise ConfigError(f"operator {name!r} has no version {version}; available: {sorted(versions)}")
    return versions[version]


def list_operators() -> list[OperatorSpec]:
    """Every registered operator version, sorted by group then id."""
    _load_catalogue()
    return sorted((s for v in _OPERATORS.values() for s in v.values()), key=lambda s: (s.group, s.name, s.version))


def resource(name: str) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    """Register a zero-argument loader for a named resource (a model session, a backbone)."""

    def wrap(loader: Callable[[], Any]) -> Callable[[], Any]:
        _RESOURCE_LOADERS[name] = loader
        return loader

    return wrap


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
                loader = _RESOURCE_LOADERS.get(name)
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
