"""The pipeline document: one YAML/JSON shape that the CLI, the server and the editor share.

Loading is strict about structure (duplicate keys are reported, not silently collapsed) and
lenient about content: content problems are collected by the compiler so that a user sees
every mistake at once. Saving writes the normalized form; load -> save -> load is stable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ..contract.errors import ConfigError, Issue, PipelineError, brief

STEP_NAME_PATTERN = r"^[a-z_][a-z0-9_]{0,63}$"
MAX_DOCUMENT_BYTES = 1_000_000
# Nodes that YAML aliases (*name) may add beyond those written. Aliases share one object, so a
# ~800-byte "billion laughs" (aliases of aliases of lists) loads fast and small, but anything that
# walks it (a repr, json.dumps, pydantic) meets 10**9 values. Real pipelines repeat a few params.
MAX_ALIAS_NODES = 10_000
_SIZE_CAP = 10**12  # sizes are counted up to here, so the arithmetic stays small too


class SamplingDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fps: float = Field(1.0, gt=0, le=60, title="Frames per second", description="How many frames per second to sample.")
    max_frames: int = Field(
        64, ge=1, le=2048, title="Max frames", description="At most this many frames; spread over the item when exceeded."
    )
    min_frames: int = Field(
        4,
        ge=1,
        le=64,
        title="Min frames",
        description="A short video gets at least this many frames, spread over it (up to the frames it has).",
    )
    max_side: int = Field(
        1280, ge=16, le=8192, title="Max side", description="Analysis frames are downscaled to fit this many pixels."
    )


class StepDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    op: str = Field(title="Operator", description="Operator name, optionally with a version: black_border@1.")
    params: dict[str, Any] = Field(default_factory=dict, title="Parameters")
    inputs: dict[str, str] = Field(
        default_factory=dict, title="Inputs", description="Wire an input to a field of another step: {text: subs.text}."
    )


class PointDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    x: int = Field(ge=-1_000_000, le=1_000_000, title="x (px)", description="Whole pixels on the canvas.")
    y: int = Field(ge=-1_000_000, le=1_000_000, title="y (px)", description="Whole pixels on the canvas.")


class LayoutDoc(BaseModel):
    """Where the editor draws each step and decision table. The engine never reads it: it is in no
    fingerprint, so moving a node changes no result."""

    model_config = ConfigDict(extra="forbid")

    steps: dict[str, PointDoc] = Field(default_factory=dict, title="Step positions")
    tables: dict[str, PointDoc] = Field(default_factory=dict, title="Decision table positions")


class PipelineDoc(BaseModel):
    """The normalized document. ``decisions`` holds raw tables; the rules layer validates them.
    ``layout`` (optional) is the editor's node positions, ignored by the engine."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", title="Name")
    description: str = Field("", title="Description")
    input: Literal["video", "image"] = Field("video", title="Input kind")
    sampling: SamplingDoc = Field(default_factory=SamplingDoc, title="Frame sampling")
    steps: dict[str, StepDoc] = Field(default_factory=dict, title="Steps")
    decisions: dict[str, dict[str, Any]] = Field(default_factory=dict, title="Decision tables")
    layout: LayoutDoc | None = Field(None, title="Editor layout", description="Node positions the editor draws; the engine ignores them.")

    def to_dict(self) -> dict:
        return self.model_dump(mode="json", exclude_unset=True, exclude_defaults=False)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that records duplicate mapping keys instead of keeping the last one."""

    def __init__(self, stream):
        super().__init__(stream)
        self.duplicates: list[Issue] = []


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            line = key_node.start_mark.line + 1
            loader.duplicates.append(Issue(f"line {line}", f"duplicate key {brief(key)} (first at line {seen[key]})", "duplicate"))
        else:
            seen[key] = key_node.start_mark.line + 1
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _alias_issue(root: yaml.Node) -> Issue | None:
    """An issue when aliases make the document much larger than written, or contain themselves.

    Counts the nodes of the document as a tree (every alias counted as a full copy of what it
    names) on the composed node graph, once per distinct node: linear in what was written.
    """
    size: dict[int, int] = {}
    uses: dict[int, int] = {}
    nodes: dict[int, yaml.Node] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    walking: set[int] = set()
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        kids = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else (
            node.value if isinstance(node, yaml.SequenceNode) else [])
        if children_done:
            walking.discard(key)
            size[key] = min(_SIZE_CAP, 1 + sum(size[id(k)] for k in kids))
            continue
        if key in size:
            continue
        if key in walking:
            line = node.start_mark.line + 1
            return Issue(f"line {line}", "a YAML alias refers to the anchor it is inside (a recursive document); "
                                         "pipelines are trees: replace the alias with the values it should hold", "alias")
        walking.add(key)
        nodes[key] = node
        stack.append((node, True))
        for kid in kids:
            uses[id(kid)] = uses.get(id(kid), 0) + 1
            stack.append((kid, False))
    total, written = size[id(root)], len(size)
    if total - written <= MAX_ALIAS_NODES:
        return None
    worst = max((k for k, n in uses.items() if n > 1), key=lambda k: size[k] * uses[k])
    line = nodes[worst].start_mark.line + 1
    expanded = f"{total:,}" if total < _SIZE_CAP else f"more than {_SIZE_CAP:,}"
    return Issue(f"line {line}", f"YAML aliases expand this document to {expanded} values from {written:,} written "
                                 f"(the anchor at line {line} is used {uses[worst]} times); at most {MAX_ALIAS_NODES:,} "
                                 "more than written are allowed: write the repeated values out or nest fewer aliases",
                 "alias")


def _load_yaml(text: str, source: str) -> Any:
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        problem = _alias_issue(node)
        if problem is not None:
            raise PipelineError([problem], source=source)
        data = loader.construct_document(node)
    finally:
        loader.dispose()
    if loader.duplicates:
        raise PipelineError(loader.duplicates, source=source)
    return data


def _reject_duplicate_json_keys(pairs: list[tuple[str, Any]]) -> dict:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ConfigError(f"duplicate key {brief(key)}", path=key)
        out[key] = value
    return out


def parse_text(text: str, *, source: str = "<text>") -> dict:
    """Parse YAML or JSON text into a plain dict, refusing duplicate keys and huge input."""
    if len(text.encode("utf-8", "replace")) > MAX_DOCUMENT_BYTES:
        raise PipelineError([Issue("", f"document is larger than {MAX_DOCUMENT_BYTES} bytes", "too_large")], source=source)
    stripped = text.lstrip()
    try:
        if stripped.startswith("{"):
            data = json.loads(text, object_pairs_hook=_reject_duplicate_json_keys)
        else:
            data = _load_yaml(text, source)
    except ConfigError as exc:
        if isinstance(exc, PipelineError):
            raise
        raise PipelineError([Issue(exc.path, exc.message, "duplicate")], source=source) from exc
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise PipelineError([Issue("", f"not valid YAML or JSON: {exc}", "syntax")], source=source) from exc
    except RecursionError as exc:
        raise PipelineError([Issue("", "the document is nested too deeply to read; a pipeline needs a few levels", "too_deep")],
                            source=source) from exc
    if not isinstance(data, dict):
        found = type(data).__name__
        raise PipelineError([Issue("", f"expected a mapping with name/steps, found {found}", "type")], source=source)
    return data


def load_text(path: str | Path) -> dict:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read pipeline file: {exc.strerror}", path=str(path), cause=exc) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError("pipeline file is not UTF-8 text", path=str(path), cause=exc) from exc
    return parse_text(text, source=str(path))


def dump_text(doc: PipelineDoc | dict, *, fmt: Literal["yaml", "json"] = "yaml") -> str:
    data = doc.to_dict() if isinstance(doc, PipelineDoc) else doc
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


def save(doc: PipelineDoc | dict, path: str | Path) -> Path:
    path = Path(path)
    fmt = "json" if path.suffix.lower() == ".json" else "yaml"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(dump_text(doc, fmt=fmt), encoding="utf-8")
    tmp.replace(path)
    return path
