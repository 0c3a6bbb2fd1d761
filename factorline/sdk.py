"""The public surface for extending factorline: operators, their outputs and parameters,
resources, backbones and rule functions. Import from here; everything else is internal.

    from factorline.sdk import Input, Kind, Output, Param, Params, operator, resource

    class GlareParams(Params):
        level: int = Param(240, ge=0, le=255, title="Level", description="Brightest grey that is not glare.")

    @operator(name="glare", version=1, title="Glare", group="quality", params=GlareParams,
              fields={"ratio": Output("float", "share of pixels above level", unit="ratio")})
    def glare(inputs, params, *, item, resources) -> dict:
        \"\"\"Share of blown-out pixels.\"\"\"
        frames = inputs["frames"].images
        return {"ratio": float((frames.max(axis=-1) > params.level).mean()), "evidence": []}

Names, once each: ``Output`` declares a field of an operator's factor output (``Field`` is the
same class under its old name), ``Param`` declares a parameter (pydantic's ``Field``) on a
``Params`` model. Declarations are checked when made: a wrong type, field, signature or a
duplicate raises ``PluginError`` with one line naming the operator and the fix.

A plugin reaches factorline through entry points or ``$FACTORLINE_PLUGINS`` (see
``factorline/plugins.py`` and docs/extending.md); ``factorline.testing.check_operator`` runs the
built-ins' contract battery on a plugin's operator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic import Field as Param

from .contract.errors import OperatorError, PluginError, ResourceError
from .contract.items import AudioTrack, FrameBatch, MediaInfo
from .contract.kinds import DTYPES, Kind
from .contract.operator import EVIDENCE_FIELD, Field, Input, NoParams, OperatorSpec, Output, operator
from .contract.registry import known_resources, resource
from .models.backbones import Backbone, ImagePreprocess, known_backbones
from .rules.functions import RuleFunction, rule_function


class Params(BaseModel):
    """Base of an operator's parameters: unknown keys in a pipeline are errors, not ignored.
    Give every parameter a default, a title and a description (the editor's form shows them)."""

    model_config = ConfigDict(extra="forbid")


def backbone(name: str, *, description: str = "") -> Callable[[Callable[[], Backbone]], Callable[[], Backbone]]:
    """Register a zero-argument loader returning a :class:`Backbone` under ``name``; pipelines
    and ``--backbone`` name it, ``factorline models backbones`` lists it. Loaded on first use."""

    def wrap(loader: Callable[[], Backbone]) -> Callable[[], Backbone]:
        _backbone_loader(name, loader, f"backbone {name!r}", description)
        return loader

    return wrap


def _backbone_loader(name: str, loader: Any, where: str, description: str = "") -> None:
    """Check and register a backbone loader (the ``factorline.backbones`` entry points too)."""
    from .contract.registry import origin
    from .models import backbones

    if not isinstance(name, str) or not name or ":" in name:
        raise PluginError(f"{where}: a backbone name is a non-empty word without ':' (prefixes like hf: are taken), found {name!r}")
    if not callable(loader):
        raise PluginError(f"{where} is {loader!r:.60}; expected a zero-argument function returning a factorline.sdk.Backbone")
    existing = backbones.BUILTIN.get(name)
    if existing is not None and origin(getattr(existing[0], "__wrapped__", existing[0])) != origin(loader):
        raise PluginError(f"{where}: backbone {name!r} is already registered by "
                          f"{origin(getattr(existing[0], '__wrapped__', existing[0]))}; choose another name")

    def checked() -> Backbone:
        out = loader()
        if not isinstance(out, Backbone):
            raise ResourceError(f"backbone {name!r}: its loader {origin(loader)} returned {type(out).__name__}; "
                                "expected a factorline.sdk.Backbone(id, modality, dim, revision, runtime, run)", path=name)
        return out

    checked.__wrapped__ = loader  # type: ignore[attr-defined]
    text = description or (getattr(loader, "__doc__", None) or "").strip().split("\n")[0] or f"plugin backbone ({origin(loader)})"
    backbones.register_backbone(name, checked, text)


__all__ = [
    "DTYPES",
    "EVIDENCE_FIELD",
    "AudioTrack",
    "Backbone",
    "Field",
    "FrameBatch",
    "ImagePreprocess",
    "Input",
    "Kind",
    "MediaInfo",
    "NoParams",
    "OperatorError",
    "OperatorSpec",
    "Output",
    "Param",
    "Params",
    "PluginError",
    "ResourceError",
    "RuleFunction",
    "backbone",
    "known_backbones",
    "known_resources",
    "operator",
    "resource",
    "rule_function",
]
