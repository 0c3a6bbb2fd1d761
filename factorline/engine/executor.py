"""Run a compiled plan on one item: probe, decode once, every step in order, decide.

Frames and audio are decoded lazily, at most once per item, and only when a step whose
output is not cached needs them; every step sees the same FrameBatch, so operators batch
their work across all frames. Any failure becomes the item's ``error`` field: the caller's
run goes on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cache import NullCache, StepCache, cache_key, jsonable
from ..contract.errors import FactorlineError, ItemTimeoutError, OperatorError, UnsupportedMediaError, error_record
from ..contract.items import AudioTrack, FrameBatch, Limits, MediaInfo
from ..contract.kinds import Kind
from ..media import check_size, decode_audio, decode_frames, file_digest, probe
from ..media.coverage import DecodeFacts, coverage
from .compiler import Plan, PlannedStep
from .pool import GLOBAL_POOL, ResourcePool

# Cache namespace of probes; the suffix changes with MediaInfo's fields (2: pixel_aspect),
# so probes cached by an older version are made again instead of read without them.
PROBE_CACHE = "probe-2"
DECODE_CACHE = "decode"  # what decoding found (media/coverage.py), per digest and sampling
# The coverage fields of an item section (see media/coverage.py), unknown before a probe.
NO_COVERAGE = {"partial": None, "partial_reason": None, "decoded_s": None, "frames": None, "frames_planned": None}


@dataclass
class _ItemState:
    """What one item has produced so far; decoded media is memoized here."""

    path: str
    info: MediaInfo
    deadline: float
    frames: FrameBatch | None = None
    audio: AudioTrack | None = None
    keys: dict[str, str] = field(default_factory=dict)
    factors: dict[str, dict] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    decoded: bool = False

    def check_deadline(self, where: str) -> None:
        if time.monotonic() > self.deadline:
            raise ItemTimeoutError(f"item ran past its time limit (stopped before {where})", path=where)


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 2)


class Engine:
    """Runs one compiled plan; resources and cache are injected so tests and servers share them."""

    def __init__(
        self,
        plan: Plan,
        *,
        cache: StepCache | None = None,
        resources: ResourcePool = GLOBAL_POOL,
        limits: Limits | None = None,
    ):
        self.plan = plan
        self.cache = cache or NullCache()
        self.resources = resources
        self.limits = limits or Limits()

    # -- public -------------------------------------------------------------------------
    def run_item(self, path: str | Path) -> dict:
        """The result record of one item; never raises for a bad item."""
        path = str(path)
        started = time.perf_counter()
        state: _ItemState | None = None
        try:
            state = self._open(path, started)
            self._check_kind(state)
            for step in self.plan.steps:
                state.check_deadline(f"steps.{step.name}")
                self._run_step(step, state)
            error = None
        except Exception as exc:  # every failure of one item is recorded, the run goes on
            error = error_record(exc)
        return self._record(path, state, error, started)

    # -- stages -------------------------------------------------------------------------
    def _open(self, path: str, started: float) -> _ItemState:
        t0 = time.perf_counter()
        check_size(Path(path), self.limits)  # before hashing: a huge file is refused unread
        digest = file_digest(path)
        cached = self.cache.get(PROBE_CACHE, digest)
        info = MediaInfo(**cached) if cached else probe(path, self.limits, digest=digest)
        if not cached:
            self.cache.put(PROBE_CACHE, digest, info.to_dict())
        info = MediaInfo(**{**info.to_dict(), "path": path})
        state = _ItemState(path=path, info=info, deadline=time.monotonic() + self.limits.item_timeout_s)
        state.timings["probe"] = _ms(t0)
        return state

    def _check_kind(self, state: _ItemState) -> None:
        wanted, found = self.plan.doc.input, state.info.kind
        if found != wanted:
            article = "an" if found == "image" else "a"
            raise UnsupportedMediaError(
                f"{state.path} is {article} {found}, but pipeline {self.plan.name!r} reads {wanted}s (input: {wanted}); "
                f"run it with a pipeline whose input is {found}, or leave {found}s out of the inputs", path="input")

    def _step_key(self, step: PlannedStep, state: _ItemState) -> str:
        upstream = {name: [state.keys[w.step], w.field] for name, w in sorted(step.wires.items())}
        sources = sorted(step.source_inputs)
        sampling = self.plan.doc.sampling.model_dump(mode="json") if sources else None
        # The version marks a change of meaning; the fingerprint catches a change of code or of
        # resource weights that forgot to bump it (contract/fingerprint.py).
        return cache_key(state.info.id, step.spec.id, step.spec.fingerprint, step.params_json(), sampling, sources, upstream)

    def _run_step(self, step: PlannedStep, state: _ItemState) -> None:
        key = self._step_key(step, state)
        state.keys[step.name] = key
        cached = self.cache.get("step", key)
        if cached is not None:
            state.factors[step.name] = cached
            return
        inputs = self._inputs(step, state)
        t0 = time.perf_counter()
        resources = self.resources.get(step.spec.resources)
        try:
            out = step.spec.call(inputs, step.params, item=state.info, resources=resources)  # numpy values made plain
        except FactorlineError as exc:
            if not exc.path:
                exc.path = f"steps.{step.name}"
            raise
        except Exception as exc:
            raise OperatorError(f"{step.spec.id} failed: {type(exc).__name__}: {exc}", path=f"steps.{step.name}", cause=exc) from exc
        problems = step.spec.check_output(out)
        if problems:
            raise OperatorError(f"{step.spec.id} broke its contract: {'; '.join(problems)}", path=f"steps.{step.name}")
        state.timings[step.name] = _ms(t0)
        out = jsonable(out)
        self.cache.put("step", key, out)
        state.factors[step.name] = out

    def _inputs(self, step: PlannedStep, state: _ItemState) -> dict[str, Any]:
        inputs: dict[str, Any] = {name: state.factors[w.step][w.field] for name, w in step.wires.items()}
        for name in step.source_inputs:
            kind = step.spec.inputs[name].kind
            inputs[name] = self._frames(state) if kind == Kind.FRAMES else self._audio(state)
        return inputs

    def _frames(self, state: _ItemState) -> FrameBatch:
        if state.frames is None:
            t0 = time.perf_counter()
            state.frames = decode_frames(state.path, state.info, self.plan.sampling, self.limits, deadline=state.deadline)
            state.timings["decode"] = state.timings.get("decode", 0.0) + _ms(t0)
        return state.frames

    def _audio(self, state: _ItemState) -> AudioTrack:
        if state.audio is None:
            t0 = time.perf_counter()
            state.audio = decode_audio(state.path, state.info, self.plan.sampling, self.limits, deadline=state.deadline)
            state.timings["decode_audio"] = _ms(t0)
        return state.audio

    # -- record -------------------------------------------------------------------------
    def _coverage(self, state: _ItemState) -> dict:
        """Whether the media ended early (media/coverage.py); what decoding found is cached with
        the steps, so a run that decodes nothing still knows."""
        if state.info.kind != self.plan.doc.input:
            return dict(NO_COVERAGE)
        key = cache_key(state.info.id, self.plan.doc.sampling.model_dump(mode="json"))
        facts = DecodeFacts.from_dict(self.cache.get(DECODE_CACHE, key))
        if state.frames is not None:
            facts.add_frames(state.frames, state.info)
        if state.audio is not None:
            facts.add_audio(state.audio, state.info)
        if state.frames is not None or state.audio is not None:
            self.cache.put(DECODE_CACHE, key, facts.to_dict())
        return coverage(state.path, state.info, facts)

    def _record(self, path: str, state: _ItemState | None, error: dict | None, started: float) -> dict:
        item = {**state.info.record(), **self._coverage(state)} if state else _unprobed_item(path, self.limits)
        factors = state.factors if state else {}
        decisions = self.plan.decisions.decide(factors, error=error, item=item)
        timings = dict(state.timings) if state else {}
        timings["total"] = _ms(started)
        return {
            "item": item,
            "factors": factors,
            "decisions": jsonable(decisions),
            "error": error,
            "pipeline": {"name": self.plan.name, "fingerprint": self.plan.fingerprint},
            "timings_ms": timings,
        }


def _unprobed_item(path: str, limits: Limits) -> dict:
    """The item section of a record for an item refused before its probe."""
    try:
        # Never hash what the size check refused: a FIFO or /dev/zero would never end.
        check_size(Path(path), limits)
        digest = file_digest(path)
    except Exception:
        digest = None
    return {**empty_item(path), "id": digest}


def empty_item(path: str) -> dict:
    """The item section of a record with nothing known but the path (every documented key)."""
    keys = ("id", "kind", "duration_s", "width", "height", "fps", "display_width", "display_height", "pixel_aspect")
    return {"path": path, **dict.fromkeys(keys), **NO_COVERAGE}
