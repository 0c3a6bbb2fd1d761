"""The operator contract: an operator is declared once, and that declaration feeds the
engine, the compiler, the CLI listing, the HTTP palette and the editor's forms.

    @operator(name="black_border", version=1, title="Black borders", group="layout",
              params=BorderParams, inputs={"frames": Input(Kind.FRAMES, "sampled frames")},
              fields={"top": Field("int", "bar height in source px"), ...})
    def black_border(inputs, params, *, item, resources) -> dict: ...

``run`` receives its declared inputs by name, its validated parameters, the item's probe and
the resources it named (loaded once per process), and returns exactly its declared fields
plus ``evidence``. The math lives in pure functions beside it.

Output fields are declared with :class:`Output` (``Field`` is the same class under its old
name, kept for existing modules; parameters are pydantic models whose fields plugin code
declares with ``factorline.sdk.Param``, which is pydantic's ``Field``). A declaration is
checked when it is made (:mod:`.declare`): a wrong type, name or shape is a one-line
``PluginError`` that names the operator and the field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from ..cards import load_card, summary_line
from .errors import PluginError
from .items import MediaInfo
from .kinds import DTYPES, Kind, edge_kind, value_fits

EVIDENCE_FIELD = "evidence"


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Input:
    kind: Kind
    description: str = ""
    optional: bool = False

    def schema(self) -> dict:
        return {"kind": self.kind.value, "description": self.description, "optional": self.optional}


@dataclass(frozen=True)
class Output:
    """One named field of an operator's factor output: its type (a ``kinds.DTYPES`` key),
    what it means, its unit, and for text fields optionally the only values it takes."""

    dtype: str
    description: str = ""
    unit: str | None = None
    values: tuple[str, ...] | None = None  # a closed vocabulary: a rule comparing with anything else never matches

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            from .declare import suggest

            raise PluginError(f"unknown output type {self.dtype!r}{suggest(str(self.dtype), DTYPES)}; "
                              f"expected one of {', '.join(sorted(DTYPES))}")
        if self.values is not None and self.dtype != "str":
            raise PluginError(f"values (a closed vocabulary) are for str fields, not {self.dtype}; "
                              "declare the field as Output('str', values=(...)) or drop values")

    @property
    def kind(self) -> Kind:
        return edge_kind(self.dtype)

    def schema(self) -> dict:
        out = {"dtype": self.dtype, "kind": self.kind.value, "description": self.description}
        if self.unit:
            out["unit"] = self.unit
        if self.values is not None:
            out["values"] = list(self.values)
        return out


Field = Output  # the name operator modules used before factorline.sdk; same class


class RunFn(Protocol):
    def __call__(self, inputs: dict[str, Any], params: Any, *, item: MediaInfo, resources: dict) -> dict: ...


@dataclass(frozen=True)
class OperatorSpec:
    name: str
    version: int
    title: str
    description: str
    group: str
    params: type[BaseModel]
    inputs: dict[str, Input]
    fields: dict[str, Field]
    run: RunFn
    resources: tuple[str, ...] = ()
    item_kinds: frozenset[str] = field(default_factory=lambda: frozenset({"video", "image"}))
    limits: tuple[str, ...] = ()  # known limits, shown on the operator's factor card
    # Text fields whose values depend on the parameters (a trained model's labels): params ->
    # {field: the only values it takes}; validation flags rules comparing them with others.
    vocabulary: Callable[[Any], dict[str, tuple[str, ...]]] | None = None

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def fingerprint(self) -> str:
        """What cached outputs of this operator depend on besides id and parameters: its code
        and its resources' code, versions and weight files (``contract/fingerprint.py``)."""
        from .fingerprint import code_fingerprint
        from .registry import resource_fingerprint

        parts = [code_fingerprint(self.run), *(f"{n}={resource_fingerprint(n)}" for n in self.resources)]
        return "|".join(parts)

    def call(self, inputs: dict[str, Any], params: Any, *, item: MediaInfo, resources: dict) -> object:
        """``run`` with numpy values in its output made plain (np.float32 -> float, arrays ->
        lists), as the output check and the cache expect."""
        from .declare import plain

        return plain(self.run(inputs, params, item=item, resources=resources))

    @property
    def output_fields(self) -> dict[str, Field]:
        """Declared fields plus the evidence every factor carries."""
        return {**self.fields, EVIDENCE_FIELD: Field("evidence", "where the factor was seen")}

    def schema(self) -> dict:
        """The JSON the CLI, the HTTP palette and the editor all read."""
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "title": self.title,
            "description": self.description,
            "group": self.group,
            "item_kinds": sorted(self.item_kinds),
            "params": self.params.model_json_schema(),
            "inputs": {n: i.schema() for n, i in self.inputs.items()},
            "output": {
                "kind": Kind.FACTOR.value,
                "fields": {n: f.schema() for n, f in self.output_fields.items()},
            },
            "resources": list(self.resources),
            "limits": list(self.limits),
            "card": summary_line(load_card(self.name), self.id),
        }

    def check_output(self, out: object) -> list[str]:
        """Problems with a run's output against the declaration (empty when it fits)."""
        if not isinstance(out, dict):
            return [f"expected a dict of fields, got {type(out).__name__}"]
        declared = self.output_fields
        problems = [f"missing field {n!r}" for n in declared if n not in out]
        problems += [f"undeclared field {n!r}" for n in out if n not in declared]
        problems += [
            f"field {n!r} expected {f.dtype}, got {out[n]!r:.80}"
            for n, f in declared.items()
            if n in out and not value_fits(f.dtype, out[n])
        ]
        return problems


def operator(
    *,
    name: str,
    version: int,
    title: str,
    group: str,
    fields: dict[str, Field],
    inputs: dict[str, Input] | None = None,
    params: type[BaseModel] = NoParams,
    resources: tuple[str, ...] = (),
    item_kinds: tuple[str, ...] = ("video", "image"),
    description: str | None = None,
    limits: tuple[str, ...] = (),
    vocabulary: Callable[[Any], dict[str, tuple[str, ...]]] | None = None,
) -> Callable[[RunFn], RunFn]:
    """Declare and register an operator; the function's docstring is its description.

    ``vocabulary``: for text fields whose values depend on the parameters (a model's labels),
    a function of the validated parameters giving each such field's only values."""

    def wrap(fn: RunFn) -> RunFn:
        from .declare import check_declaration
        from .registry import register

        check_declaration(name=name, version=version, fields=fields, inputs=inputs, params=params,
                          resources=resources, item_kinds=item_kinds, fn=fn)
        spec = OperatorSpec(
            name=name,
            version=version,
            title=title,
            description=description or (fn.__doc__ or "").strip().split("\n\n")[0],
            group=group,
            params=params,
            inputs=dict(inputs or {"frames": Input(Kind.FRAMES, "sampled frames of the item")}),
            fields=dict(fields),
            run=fn,
            resources=tuple(resources),
            item_kinds=frozenset(item_kinds),
            limits=tuple(limits),
            vocabulary=vocabulary,
        )
        register(spec)
        fn.spec = spec  # type: ignore[attr-defined]
        return fn

    return wrap
