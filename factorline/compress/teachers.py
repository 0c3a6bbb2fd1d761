"""What is compressed (the parent of the first child, the teacher of a distillation), by reference.

=================================  ============================================================
``name`` / ``name@N`` / folder     a stored model: a head on a frozen backbone (``factorline
                                   train``) or a compressed child; its probabilities per frame
                                   are computed exactly as the ``learned`` operator computes
                                   them (same backbone, cache, head)
``op:<operator>.<field>``          a factor operator run for real on each sampled frame on its
                                   own (``--teacher-level item``: on the item's whole frame
                                   batch); the field must be ``bool`` (classes ``false`` /
                                   ``true``) or ``str`` (classes: the values seen); operators
                                   reading audio or wired inputs cannot be distilled alone:
                                   distill a pipeline that wires them
``pipeline:<file>[#table]``        a pipeline's decision: the engine runs the whole pipeline on
                                   each item and the table's outcome (default: the first table)
                                   is every frame's class
=================================  ============================================================

Teacher outputs of operators and pipelines are cached by content digest (step cache
namespace ``compress``; the pipeline's own steps through the engine's cache), so a second
compression of the same data runs no OCR and no pipeline again.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import NullCache, StepCache, cache_key
from ..contract.errors import ConfigError
from ..contract.items import FrameBatch, MediaInfo, Sampling
from ..contract.kinds import Kind
from ..models.backbones import ImagePreprocess
from ..models.store import NAME_PATTERN, ModelStore, StoredModel
from .data import Item

NAMESPACE = "compress"


def safe_name(text: str) -> str:
    name = re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-._") or "model"
    return name[:40]


@dataclass
class Teacher(ABC):
    ref: str
    kind: str  # stored | operator | pipeline
    fingerprint: str
    task: str  # media | image | video | text (what read_items keeps)
    level: str  # frame | item
    classes: list[str] | None
    positive: str | None = None
    threshold: float | None = None
    sampling: Sampling | None = None
    base_name: str = "model"
    data_source: str | None = None
    card_labels: dict[str, str] = field(default_factory=dict)  # digest -> label
    card_splits: dict[str, str] = field(default_factory=dict)  # digest -> train | test

    @property
    def is_network(self) -> bool:
        return self.kind == "stored"

    def describe(self) -> dict:
        return {"ref": self.ref, "kind": self.kind, "fingerprint": self.fingerprint, "level": self.level}

    @abstractmethod
    def frame_values(self, index: int, item: Item, batch: FrameBatch) -> list:
        """Frame values (probability rows or raw values), one per frame of ``batch``."""

    def text_values(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - abstract
        raise ConfigError(f"{self.ref} does not classify texts", path="MODEL")


# --------------------------------------------------------------------------- stored models


class StoredTeacher(Teacher):
    def __init__(self, stored: StoredModel, store: ModelStore, cache: StepCache):
        from ..models.embed import EmbeddingCache
        from ..models.hub import ModelHub

        card = stored.card
        self.stored = stored
        self.hub = ModelHub(store, EmbeddingCache(cache))
        sampling = card.get("data", {}).get("sampling")
        splits = card.get("data", {}).get("splits", {})
        labels = {d: lab for s in splits.values() for d, lab in s.get("items", []) if lab is not None}
        sides = {d: name for name, s in splits.items() for d, _ in s.get("items", []) if name in {"train", "test"}}
        super().__init__(
            ref=stored.ref, kind="stored", fingerprint=card["card_digest"],
            task="text" if card["task"] == "text" else "media", level="frame", classes=list(card["head"]["classes"]),
            positive=card["head"].get("positive"), threshold=card["head"].get("threshold"),
            sampling=Sampling(**sampling) if sampling else None, base_name=card["name"],
            data_source=card.get("data", {}).get("source"), card_labels=labels, card_splits=sides)

    @property
    def model(self):
        return self.hub.model(self.stored.ref)

    @property
    def prep(self) -> ImagePreprocess | None:
        return self.model.backbone.preprocess

    def frame_values(self, index: int, item: Item, batch: FrameBatch) -> list:
        model = self.model
        x = self.hub.cache.frames(model.backbone, item.digest, batch.images, list(batch.times))
        return list(model.head.predict_proba(x))

    def text_values(self, texts: list[str]) -> np.ndarray:
        model = self.model
        return model.head.predict_proba(self.hub.cache.texts(model.backbone, texts))


# --------------------------------------------------------------------------- operators


class OperatorTeacher(Teacher):
    def __init__(self, ref: str, params: dict | None, level: str, cache: StepCache):
        from ..engine.pool import GLOBAL_POOL
        from ..plugins import get_operator

        body = ref[len("op:"):]
        op_ref, dot, fname = body.rpartition(".")
        if not dot or not op_ref or not fname:
            raise ConfigError(f"expected op:<operator>.<field> (e.g. op:subtitles.has_subtitles), found {ref!r}", path="MODEL")
        spec = get_operator(op_ref)
        if fname not in spec.fields:
            raise ConfigError(f"{spec.id} has no field {fname!r}; fields: {', '.join(spec.fields)}", path="MODEL")
        dtype = spec.fields[fname].dtype
        if dtype not in {"bool", "str"}:
            raise ConfigError(f"{spec.id}.{fname} is a {dtype} field; a student learns classes: distill a bool or str field "
                              f"(fields of {spec.name}: "
                              + ", ".join(f"{n} ({f.dtype})" for n, f in spec.fields.items()) + ")", path="MODEL")
        others = [f"{n} ({i.kind.value})" for n, i in spec.inputs.items() if i.kind != Kind.FRAMES]
        if others:
            raise ConfigError(f"{spec.id} reads {', '.join(others)} besides frames; an operator is distilled from frames alone: "
                              f"distill a pipeline that wires it instead (pipeline:FILE)", path="MODEL")
        try:
            self.params = spec.params(**(params or {}))
        except Exception as exc:
            raise ConfigError(f"--op-params for {spec.id}: {exc}", path="--op-params") from exc
        self.spec, self.field, self.cache, self.pool = spec, fname, cache, GLOBAL_POOL
        params_json = self.params.model_dump(mode="json")
        super().__init__(
            ref=f"op:{spec.id}.{fname}", kind="operator", fingerprint="sha256:" + cache_key(spec.id, params_json, fname, level),
            task="media", level=level, classes=["false", "true"] if dtype == "bool" else None,
            positive="true" if dtype == "bool" else None, threshold=0.5 if dtype == "bool" else None,
            base_name=safe_name(f"{spec.name}.{fname}"))
        self.params_json = params_json

    def _run(self, batch: FrameBatch, info: MediaInfo) -> Any:
        out = self.spec.call({"frames": batch}, self.params, item=info, resources=self.pool.get(self.spec.resources))
        value = out[self.field]
        return ("true" if value else "false") if isinstance(value, bool) else str(value)

    def frame_values(self, index: int, item: Item, batch: FrameBatch) -> list:
        info = item.info
        if self.level == "item":
            key = cache_key(NAMESPACE, self.fingerprint, self.spec.fingerprint, item.digest, [float(t) for t in batch.times],
                            list(batch.images.shape))  # the operator's code too: an edit never serves old labels
            value = self.cache.get(NAMESPACE, key)
            if value is None:
                value = self._run(batch, info)  # type: ignore[arg-type]
                self.cache.put(NAMESPACE, key, value)
            return [value] * len(batch)
        out = []
        for i in range(len(batch)):
            key = cache_key(NAMESPACE, self.fingerprint, self.spec.fingerprint, item.digest, round(float(batch.times[i]), 4),
                            list(batch.images.shape[1:]))
            value = self.cache.get(NAMESPACE, key)
            if value is None:
                one = FrameBatch(batch.images[i : i + 1], batch.times[i : i + 1], batch.source_width, batch.source_height, batch.scale)
                value = self._run(one, info)  # type: ignore[arg-type]
                self.cache.put(NAMESPACE, key, value)
            out.append(value)
        return out

    def frames_call(self, frames: list[np.ndarray], batch: int):
        """One timed call of the operator on ``batch`` decoded frames handed over as one item
        (batch 1: each frame in turn; a fresh FrameBatch each call, so nothing is memoized)."""
        from .runners import chunks, cycle

        stacks = [np.stack(list(c)) for c in chunks(frames, batch)]
        h, w = stacks[0].shape[1:3]
        info = MediaInfo(id="sha256:timing", path="timing", kind="video", duration_s=float(batch), width=w, height=h, fps=1.0)
        take = cycle(stacks)
        return lambda: self._run(FrameBatch(take().copy(), np.arange(batch, dtype=np.float64), w, h), info)


# --------------------------------------------------------------------------- pipelines


class PipelineTeacher(Teacher):
    def __init__(self, ref: str, cache: StepCache, engine_cache: StepCache | None):
        from ..engine.compiler import compile_pipeline
        from ..engine.document import load_text
        from ..engine.executor import Engine

        body = ref[len("pipeline:"):]
        file, _, table = body.partition("#")
        path = Path(file).expanduser()
        if not path.is_file():
            raise ConfigError(f"pipeline teacher: expected a pipeline YAML/JSON file, found nothing at {path}", path="MODEL")
        plan = compile_pipeline(load_text(path), source=str(path))
        tables = list(plan.doc.decisions)
        if not tables:
            raise ConfigError(f"{path} has no decision table; a pipeline teacher distils a table's outcome", path="MODEL")
        table = table or tables[0]
        if table not in tables:
            raise ConfigError(f"{path} has no decision table {table!r}; tables: {', '.join(tables)}", path="MODEL")
        self.plan, self.table, self.cache = plan, table, cache
        self.engine = Engine(plan, cache=engine_cache or NullCache())
        self.timing_engine = Engine(plan)
        outcomes = self._outcomes(plan.doc.decisions[table])
        super().__init__(
            ref=f"pipeline:{path.resolve()}#{table}", kind="pipeline", fingerprint=f"{plan.fingerprint}#{table}",
            task=plan.doc.input, level="item", classes=None, sampling=plan.sampling,
            base_name=safe_name(f"{plan.name}.{table}"))
        self.declared = outcomes

    @staticmethod
    def _outcomes(table: dict) -> list[str]:
        found = [r.get("outcome") for r in table.get("rules", []) if isinstance(r, dict)]
        found += [table.get("on_missing"), table.get("on_error")]
        return sorted({str(o) for o in found if o})

    def outcome(self, item: Item) -> str:
        code = [s.spec.fingerprint for s in self.engine.plan.steps]  # operators' code: an edit never serves old outcomes
        key = cache_key(NAMESPACE, self.fingerprint, code, item.digest)
        value = self.cache.get(NAMESPACE, key)
        if value is None:
            record = self.engine.run_item(item.path)  # type: ignore[arg-type]
            value = str(record["decisions"][self.table]["outcome"])
            self.cache.put(NAMESPACE, key, value)
        return value

    def frame_values(self, index: int, item: Item, batch: FrameBatch) -> list:
        return [self.outcome(item)] * len(batch)

    def items_call(self, paths: list[str]):
        """One timed call: the whole pipeline on every path (probe, decode, steps, decide; no cache)."""
        return lambda: [self.timing_engine.run_item(p) for p in paths]


def load_teacher(ref: str, store: ModelStore, cache: StepCache, *, level: str | None = None, op_params: dict | None = None,
                 engine_cache: StepCache | None = None) -> Teacher:
    """The teacher named by MODEL (see the module docstring)."""
    if ref.startswith("op:"):
        return OperatorTeacher(ref, op_params, level or "frame", cache)
    if op_params:
        raise ConfigError("--op-params applies to op:<operator>.<field> teachers only", path="--op-params")
    if ref.startswith("pipeline:"):
        if level == "frame":
            raise ConfigError("a pipeline decides per item; --teacher-level frame needs an op: teacher", path="--teacher-level")
        return PipelineTeacher(ref, cache, engine_cache)
    if level == "item":
        raise ConfigError("--teacher-level item applies to op: teachers (stored models score every frame)", path="--teacher-level")
    name = ref.partition("@")[0]
    if not (re.match(NAME_PATTERN, name) or Path(ref).expanduser().is_dir()):
        raise ConfigError(f"MODEL {ref!r}: expected a stored model (name, name@N or a model folder), op:<operator>.<field> "
                          "or pipeline:<file.yaml>[#table]", path="MODEL")
    return StoredTeacher(store.load(ref), store, cache)


def parse_op_params(text: str | None) -> dict | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"--op-params: expected a JSON object such as '{{\"band\": 0.3}}', found {text!r}",
                          path="--op-params") from exc
    if not isinstance(value, dict):
        raise ConfigError(f"--op-params: expected a JSON object, found {type(value).__name__}", path="--op-params")
    return value
