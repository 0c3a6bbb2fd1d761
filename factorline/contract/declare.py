"""Checks made when an operator is declared, so a mistake fails at import with one line that
names the operator and the field, instead of failing every item at run time.

Also :func:`plain`: numpy values in an operator's output become plain Python values before
the output is checked and cached (``np.float32(0.5)`` -> ``0.5``, an array -> a list).
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
from pydantic import BaseModel

from .errors import PluginError

ITEM_KINDS = ("video", "image")
RESERVED_FIELDS = ("evidence",)  # every factor carries it; declared by the engine


def suggest(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for a close spelling, else empty."""
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def plain(value: Any) -> Any:
    """``value`` with numpy scalars and arrays turned into Python numbers, bools and lists
    (tuples become lists too: every list dtype is checked as a list)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def check_declaration(*, name: object, version: object, fields: object, inputs: object, params: object,
                      resources: object, item_kinds: object, fn: Callable) -> None:
    """Raise ``PluginError`` for the first thing wrong with an ``@operator(...)`` declaration."""
    from .operator import Input, Output

    where = f"operator {name!r}" if isinstance(name, str) else "an operator"
    if not isinstance(name, str) or not name.isidentifier():
        raise PluginError(f"{where}: name must be a lower-case identifier such as 'my_factor' (found {name!r})")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise PluginError(f"{where}: version must be an integer >= 1 (found {version!r}); bump it when outputs change meaning")
    where = f"operator {name}@{version}"
    if not isinstance(fields, Mapping) or not fields:
        raise PluginError(f"{where}: fields must be a non-empty dict of name -> Output(dtype, description) (found {fields!r:.80})")
    for field, out in fields.items():
        if not isinstance(field, str) or not field.isidentifier():
            raise PluginError(f"{where}: output field name {field!r} is not an identifier; rules read it as step.{field}")
        if field in RESERVED_FIELDS:
            raise PluginError(f"{where}: output field {field!r} is reserved (every factor carries it); leave it out of fields")
        if not isinstance(out, Output):
            raise PluginError(f"{where}: output field {field!r} is {_what(out)}; declare it as "
                              f"Output(dtype, description), e.g. Output('float', 'share of frames'), from factorline.sdk")
    if inputs is not None:
        if not isinstance(inputs, Mapping):
            raise PluginError(f"{where}: inputs must be a dict of name -> Input(kind, description) (found {inputs!r:.80})")
        for input_name, spec in inputs.items():
            if not isinstance(spec, Input):
                raise PluginError(f"{where}: input {input_name!r} is {_what(spec)}; declare it as Input(Kind.FRAMES, ...)")
    if not (isinstance(params, type) and issubclass(params, BaseModel)):
        raise PluginError(f"{where}: params must be a pydantic model class (a subclass of factorline.sdk.Params), found {_what(params)}")
    if isinstance(resources, str) or not all(isinstance(r, str) and r for r in resources):  # type: ignore[union-attr]
        raise PluginError(f"{where}: resources must be a tuple of resource names, e.g. ('ocr',) (found {resources!r})")
    bad_kinds = [k for k in item_kinds if k not in ITEM_KINDS] if not isinstance(item_kinds, str) else [item_kinds]  # type: ignore[union-attr]
    if bad_kinds:
        raise PluginError(f"{where}: item_kinds must be a tuple from {ITEM_KINDS} (found {item_kinds!r})")
    _check_signature(where, fn)


def _what(value: object) -> str:
    if type(value).__name__ == "FieldInfo":
        return "a pydantic Field (that declares a parameter)"
    if isinstance(value, type):
        return f"the class {value.__name__}"
    return f"{type(value).__name__} {value!r:.60}"


def _check_signature(where: str, fn: Callable) -> None:
    if not callable(fn):
        raise PluginError(f"{where}: @operator must decorate a function run(inputs, params, *, item, resources)")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # a builtin or C callable: nothing to check
    kinds = [p.kind for p in sig.parameters.values()]
    if inspect.Parameter.VAR_KEYWORD in kinds:
        return
    missing = [n for n in ("item", "resources") if n not in sig.parameters]
    positional = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if missing or (len(positional) < 2 and inspect.Parameter.VAR_POSITIONAL not in kinds):
        raise PluginError(f"{where}: {fn.__name__}{sig} must take (inputs, params, *, item, resources)"
                          + (f"; missing {', '.join(missing)}" if missing else ""))
