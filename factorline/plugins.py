"""The one plugin loader and the catalogue it fills: every command, the server and every
worker process run it once; ``get_operator`` and ``list_operators`` read the catalogue (built-ins
and plugins loaded first).

Plugins come from entry points of installed packages and from ``$FACTORLINE_PLUGINS``::

    [project.entry-points."factorline.operators"]       # a module (importing it registers)
    acme = "acme_factors.operators"                       # or a decorated operator function
    [project.entry-points."factorline.backbones"]        # name = a zero-argument loader -> Backbone
    acme-tiny = "acme_factors.backbones:load_tiny"
    [project.entry-points."factorline.resources"]        # name = a zero-argument loader
    acme_model = "acme_factors.models:load_model"
    [project.entry-points."factorline.rule_functions"]   # a module, or one declared function
    acme = "acme_factors.rules"

    FACTORLINE_PLUGINS=acme_factors.operators,my_local_module   # modules, comma-separated

Loading is all or nothing: when one plugin fails, every registration plugins made is undone
and the same one-line ``PluginError`` (which plugin, where, what to do) is raised by every
later call, so a server never runs with half a catalogue. After loading, every operator's
resources must exist.
"""

from __future__ import annotations

import os
import pkgutil
import threading
import traceback
from importlib import import_module
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .contract.errors import PluginError

if TYPE_CHECKING:
    from .contract.operator import OperatorSpec

GROUPS = ("factorline.operators", "factorline.resources", "factorline.backbones", "factorline.rule_functions")
ENV = "FACTORLINE_PLUGINS"
_PACKAGE_DIR = str(Path(__file__).resolve().parent)

_LOCK = threading.RLock()
_state: dict[str, Any] = {"status": None, "error": None, "loaded": []}  # status: None | "loading" | "ok" | "failed"


def load_plugins() -> list[str]:
    """Load every plugin once per process; the names of what was loaded (``module`` or
    ``group:name``). Raises ``PluginError`` (the same one on every call) when one failed."""
    with _LOCK:
        if _state["status"] == "failed":
            raise _state["error"]
        if _state["status"] in ("ok", "loading"):  # "loading": a plugin asked for the catalogue while importing
            return list(_state["loaded"])
        _state["status"] = "loading"
        import_module("factorline.operators")  # the built-ins first (kept if a plugin fails)
        saved = _snapshot()
        try:
            loaded = _load_all()
            _check_resources()
        except PluginError as exc:
            _restore(saved)
            _state.update(status="failed", error=exc)
            raise
        except BaseException:
            _restore(saved)
            _state["status"] = None
            raise
        _state.update(status="ok", loaded=loaded)
        return list(loaded)


def reset() -> None:
    """Forget the outcome of loading (tests that change $FACTORLINE_PLUGINS or entry points)."""
    with _LOCK:
        _state.update(status=None, error=None, loaded=[])


# -- the catalogue: the registries once the built-ins and every plugin are in ---------------
def _load_catalogue() -> None:
    import_module("factorline.operators")  # a dict lookup after the first call
    load_plugins()  # once per process; raises the same PluginError on every call when a plugin failed


def get_operator(ref: str) -> OperatorSpec:
    """Look an operator of the catalogue up by ``name`` (newest version) or ``name@version``."""
    from .contract.registry import lookup

    _load_catalogue()
    return lookup(ref)


def list_operators() -> list[OperatorSpec]:
    """Every operator version of the catalogue, sorted by group then id."""
    from .contract.registry import registered

    _load_catalogue()
    return registered()


def env_modules() -> list[str]:
    return [n.strip() for n in os.environ.get(ENV, "").split(",") if n.strip()]


# -- loading --------------------------------------------------------------------------------
def _load_all() -> list[str]:
    loaded = []
    found = entry_points()  # one scan of the installed packages for every group
    for group in GROUPS:
        for ep in sorted(found.select(group=group), key=lambda e: e.name):
            where = f"entry point {ep.name!r} = {ep.value!r} (group {group}{_dist(ep)})"
            obj = _guarded(where, ep.value.partition(":")[0], ep.load)
            _guarded(where, ep.module, lambda g=group, e=ep, o=obj, w=where: _register(g, e.name, o, w))
            loaded.append(f"{group}:{ep.name}")
    for name in env_modules():
        where = f"{ENV} module {name!r}"
        _guarded(where, name, lambda n=name: import_module(n))
        loaded.append(name)
    return loaded


def _dist(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f", package {dist.name}" if dist is not None else ""


def _register(group: str, name: str, obj: Any, where: str) -> None:
    """An entry point's object: a module registers by being imported; others are added here."""
    if isinstance(obj, ModuleType):
        return
    if group == "factorline.operators":
        if getattr(obj, "spec", None) is None:
            raise PluginError(f"{where} is {type(obj).__name__} {obj!r:.60}; expected a module or a function "
                              "decorated with @operator")
    elif group == "factorline.backbones":
        from .sdk import _backbone_loader

        _backbone_loader(name, obj, where)
    elif group == "factorline.resources":
        from .contract.registry import known_resources, resource

        if not callable(obj):
            raise PluginError(f"{where} is {obj!r:.60}; expected a zero-argument function that loads the resource")
        if name not in known_resources() or known_resources()[name].loader is not obj:
            resource(name)(obj)
    elif group == "factorline.rule_functions" and getattr(obj, "rule_function", None) is None:
        raise PluginError(f"{where} is {obj!r:.60}; expected a module or a function decorated with @rule_function")


def _guarded(where: str, module: str, action):
    """Run ``action``; any failure becomes one PluginError line saying where and what to do."""
    try:
        return action()
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module == missing or module.startswith(missing + ".")):
            raise PluginError(f"{where}: no module named {missing!r}{_close_module(missing)}; check the spelling, "
                              "install the package (pip install ...) or put its folder on PYTHONPATH") from None
        raise PluginError(f"{where}: it imports {missing!r}, which is not installed; pip install the package that "
                          f"provides {missing.split('.')[0]!r}") from None
    except PluginError as exc:
        raise PluginError(f"{where}{_place(exc)}: {exc.message}") from None
    except Exception as exc:  # noqa: BLE001 - any failure of plugin code becomes one line
        raise PluginError(f"{where} failed to load{_place(exc)}: {type(exc).__name__}: {exc}; "
                          "fix the plugin or leave it out") from None


def _place(exc: BaseException) -> str:
    """`` at file.py:12``: the plugin's own line nearest to the failure."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith(_PACKAGE_DIR) and not f.filename.startswith("<")
              and "importlib" not in f.filename]
    return f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""


def _close_module(name: str) -> str:
    import difflib

    parent, _, leaf = name.rpartition(".")
    try:
        pool = [m.name for m in pkgutil.iter_modules(import_module(parent).__path__)] if parent else \
            [m.name for m in pkgutil.iter_modules()]
    except Exception:  # noqa: BLE001 - only used to word an error message
        return ""
    close = difflib.get_close_matches(leaf, pool, n=1, cutoff=0.7)
    return f" (did you mean {'.'.join(filter(None, (parent, close[0])))!r}?)" if close else ""


def _check_resources() -> None:
    from .contract.registry import missing_resources, registered

    problems = [p for spec in registered() for p in missing_resources(spec)]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise PluginError(problems[0] + more)


# -- all or nothing -------------------------------------------------------------------------
def _snapshot() -> tuple:
    """The registries with the built-ins in them (imported first: a restore never drops them)."""
    import_module("factorline.operators")
    from .contract import registry
    from .models import backbones
    from .rules import functions

    return registry.snapshot(), dict(backbones.BUILTIN), functions.snapshot()


def _restore(saved: tuple) -> None:
    from .contract import registry
    from .models import backbones
    from .rules import functions

    ops, bbs, fns = saved
    registry.restore(ops)
    backbones.BUILTIN.clear()
    backbones.BUILTIN.update(bbs)
    functions.restore(fns)
