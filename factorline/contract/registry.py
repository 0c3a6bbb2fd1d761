"""Operator and resource registries: what ``@operator`` and ``@resource`` write to.

Operators register themselves when their module is imported. This module only holds the
registrations: reading the catalogue (the built-ins and every plugin, loaded once, all or
nothing) is :func:`factorline.plugins.get_operator` / :func:`~factorline.plugins.list_operators`,
and resources are loaded lazily, once per process, by the engine's
:class:`~factorline.engine.pool.ResourcePool`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .declare import suggest
from .errors import ConfigError, PluginError
from .operator import OperatorSpec

_OPERATORS: dict[str, dict[int, OperatorSpec]] = {}
_RESOURCE_LOADERS: dict[str, Callable[[], Any]] = {}


@dataclass(frozen=True)
class ResourceSpec:
    """A named resource: its loader, what it is, and what identifies its weights."""

    name: str
    loader: Callable[[], Any]
    description: str = ""
    version: str | None = None
    files: tuple[str, ...] | Callable[[], Iterable[str]] = ()


_RESOURCES: dict[str, ResourceSpec] = {}


def origin(fn: object) -> str:
    """Where a declaration was made: ``module (file.py:line)``."""
    import inspect

    module = getattr(fn, "__module__", "?")
    try:
        code = inspect.unwrap(fn).__code__  # type: ignore[arg-type]
        return f"{module} ({code.co_filename.rsplit('/', 1)[-1]}:{code.co_firstlineno})"
    except AttributeError:
        return str(module)


def register(spec: OperatorSpec) -> None:
    versions = _OPERATORS.setdefault(spec.name, {})
    existing = versions.get(spec.version)
    if existing is not None and existing.run is not spec.run:
        if (existing.run.__module__, existing.run.__qualname__) == (spec.run.__module__, spec.run.__qualname__):
            versions[spec.version] = spec  # the same module imported again (a reload): the newer code wins
            return
        raise PluginError(f"operator {spec.id} is declared twice: in {origin(existing.run)} and in {origin(spec.run)}; "
                          f"rename one, or bump the version of the newer one", path=spec.id)
    versions[spec.version] = spec


def unregister(spec: OperatorSpec) -> None:
    """Remove one operator version (plugin reloads, tests that declare throwaway operators)."""
    versions = _OPERATORS.get(spec.name, {})
    if versions.get(spec.version) is spec:
        del versions[spec.version]
        if not versions:
            del _OPERATORS[spec.name]


def missing_resources(spec: OperatorSpec) -> list[str]:
    """One line per resource ``spec`` names that no loader provides (empty when all exist)."""
    return [f"operator {spec.id} ({origin(spec.run)}) needs resource {name!r}, which nothing registers"
            f"{suggest(name, _RESOURCES)}; register a loader with @resource({name!r}) or fix the name"
            for name in spec.resources if name not in _RESOURCES]


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``"black_border@1"`` -> ("black_border", 1); ``"black_border"`` -> ("black_border", None)."""
    name, sep, version = ref.partition("@")
    if not sep:
        return name, None
    if not version.isdigit():
        raise ConfigError(f"bad operator reference {ref!r}: expected name@<integer version>")
    return name, int(version)


def lookup(ref: str) -> OperatorSpec:
    """Look a registered operator up by ``name`` (newest version) or ``name@version``; loads
    nothing (:func:`factorline.plugins.get_operator` loads the catalogue first)."""
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


def registered() -> list[OperatorSpec]:
    """Every registered operator version, sorted by group then id; loads nothing."""
    return sorted((s for v in _OPERATORS.values() for s in v.values()), key=lambda s: (s.group, s.name, s.version))


def resource(name: str, *, description: str = "", version: str | None = None,
             files: Iterable[str] | Callable[[], Iterable[str]] = ()) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    """Register a zero-argument loader for a named resource (a model session, a backbone).

    ``version`` and ``files`` (weight files, or a function listing them) identify what the
    loader loads: both are in the cache key of every operator using the resource, so new
    weights never serve outputs computed with the old ones."""
    if not isinstance(name, str) or not name:
        raise PluginError(f"a resource needs a non-empty name, found {name!r}")

    def wrap(loader: Callable[[], Any]) -> Callable[[], Any]:
        if not callable(loader):
            raise PluginError(f"resource {name!r}: @resource must decorate a function that loads it, found {loader!r:.60}")
        existing = _RESOURCES.get(name)
        if existing is not None and existing.loader is not loader and origin(existing.loader) != origin(loader):
            raise PluginError(f"resource {name!r} is registered twice: by {origin(existing.loader)} and by {origin(loader)}; "
                              "rename one")
        files_ = files if callable(files) else tuple(str(f) for f in files)
        _RESOURCES[name] = ResourceSpec(name, loader, description or (loader.__doc__ or "").strip().split("\n")[0], version, files_)
        _RESOURCE_LOADERS[name] = loader
        return loader

    return wrap


def resource_loader(name: str) -> Callable[[], Any] | None:
    """The loader registered for resource ``name`` (``None`` when nothing registers it)."""
    return _RESOURCE_LOADERS.get(name)


def known_resources() -> dict[str, ResourceSpec]:
    return dict(_RESOURCES)


def resource_fingerprint(name: str) -> str:
    """The fingerprint of a registered resource (``contract/fingerprint.py``); unknown: its name."""
    from .fingerprint import resource_fingerprint as digest

    spec = _RESOURCES.get(name)
    if spec is None:
        return "unregistered"
    return digest(spec.loader, spec.version, spec.files)


def snapshot() -> tuple:
    """The registries' state (the plugin loader restores it when a plugin fails)."""
    return ({k: dict(v) for k, v in _OPERATORS.items()}, dict(_RESOURCE_LOADERS), dict(_RESOURCES))


def restore(state: tuple) -> None:
    operators, loaders, resources = state
    _OPERATORS.clear()
    _OPERATORS.update(operators)
    _RESOURCE_LOADERS.clear()
    _RESOURCE_LOADERS.update(loaders)
    _RESOURCES.clear()
    _RESOURCES.update(resources)
