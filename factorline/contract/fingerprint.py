"""Code fingerprints: what an operator's cached outputs depend on besides its inputs.

A step's cache key holds the operator's id with its version (which marks a change of
meaning), and since the code can change without a version bump, also a fingerprint of the
code itself (:func:`code_fingerprint`):

- the source of the module that defines ``run``, and of the modules of the same package that
  module uses directly (``from .features import score`` or ``from . import features``): the
  pure functions beside an operator are part of it;
- every resource it declares (:func:`resource_fingerprint`): the source of the loader's module,
  the ``version`` the resource declares and the sha256 of the ``files`` it names (model
  weights), so replacing a weight file never serves results computed with the old one.

Fingerprints are computed once per process (sources are read from disk; a file's digest is
kept per path, size and modification time), so worker processes agree with their parent.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

_LOCK = threading.Lock()
_CODE: dict[int, tuple[Callable, str]] = {}  # id(run) -> (run, digest); run kept so its id is not reused
_FILES: dict[tuple[str, int, int], str] = {}


def _module_source(module: ModuleType) -> bytes:
    """The bytes of the file a module was loaded from (or its source as inspect sees it)."""
    path = getattr(module, "__file__", None)
    if path and path.endswith(".py"):
        try:
            return Path(path).read_bytes()
        except OSError:
            pass
    try:
        return inspect.getsource(module).encode()
    except (OSError, TypeError):
        return module.__name__.encode()  # no source at all (a built-in or frozen module)


def _function_source(fn: Callable) -> bytes:
    """A function's own source; its bytecode and constants when the source is not on disk."""
    try:
        return inspect.getsource(fn).encode()
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        if code is None:
            return repr(fn).encode()
        return code.co_code + repr(code.co_consts).encode() + repr(code.co_names).encode()


def _package(name: str) -> str:
    return name.rpartition(".")[0]


def _siblings(module: ModuleType) -> list[ModuleType]:
    """Modules of ``module``'s own package that it uses directly (by import or by name)."""
    package = _package(module.__name__)
    if not package:  # a single-module plugin: only its own source
        return []
    found: dict[str, ModuleType] = {}
    for value in list(vars(module).values()):
        if isinstance(value, ModuleType):
            name = value.__name__
        else:
            name = getattr(value, "__module__", None) if callable(value) else None
        if not isinstance(name, str) or name == module.__name__ or _package(name) != package:
            continue
        other = sys.modules.get(name)
        if other is not None:
            found[name] = other
    return [found[n] for n in sorted(found)]


def code_fingerprint(run: Callable) -> str:
    """sha256 over the code of an operator's ``run`` (its module and the sibling modules it uses)."""
    with _LOCK:
        hit = _CODE.get(id(run))
        if hit is not None and hit[0] is run:
            return hit[1]
    module = sys.modules.get(getattr(run, "__module__", "") or "")
    h = hashlib.sha256()
    if module is None or getattr(module, "__name__", "") == "__main__":
        h.update(_function_source(run))
    else:
        for part in [module, *_siblings(module)]:
            h.update(part.__name__.encode() + b"\0" + _module_source(part) + b"\0")
    digest = h.hexdigest()
    with _LOCK:
        _CODE[id(run)] = (run, digest)
    return digest


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file, computed once per (path, size, modification time)."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return "absent:" + str(p)  # a missing file is part of the identity too (loading will fail)
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    with _LOCK:
        if key in _FILES:
            return _FILES[key]
    h = hashlib.sha256()
    with p.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    with _LOCK:
        _FILES[key] = digest
    return digest


def resource_fingerprint(loader: Callable[[], Any], version: str | None, files: Iterable[str | os.PathLike]
                         | Callable[[], Iterable[str | os.PathLike]]) -> str:
    """sha256 over a resource's loader code, declared version and weight files."""
    h = hashlib.sha256()
    h.update(code_fingerprint(loader).encode())
    h.update(b"\0" + str(version or "").encode())
    paths = files() if callable(files) else files
    for path in sorted(str(p) for p in paths):
        h.update(b"\0" + Path(path).name.encode() + b"=" + file_sha256(path).encode())
    return h.hexdigest()


def forget() -> None:
    """Drop memoized fingerprints (tests that rewrite a module in place and reload it)."""
    with _LOCK:
        _CODE.clear()
        _FILES.clear()
