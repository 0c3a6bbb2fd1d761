"""The contract battery every built-in operator passes, shipped for plugin authors.

    from factorline.testing import check_operator, operator_cases

    def test_glare_keeps_the_contract():
        check_operator("glare")                  # an id, a spec, or the decorated function

    @operator_cases()                            # every registered operator (or a list of them)
    def test_every_operator(spec):
        check_operator(spec)

``check_operator`` raises ``ContractError`` (an ``AssertionError``, so pytest shows it as a
failure) with one line per broken promise:

- the schema serialises to JSON and declares known kinds and dtypes, ``evidence`` included;
  every parameter has a default, a title and a description; the operator has a description;
- on real frames (a photo of scikit-image) and audio, it returns exactly its declared fields
  with their declared types (numpy values are converted first, as the engine does);
- it is deterministic: the same input gives the same output;
- bad input (no frames, silent empty audio, missing wired values) gives either valid output
  or an error (which the engine records for the item, naming the operator), never output
  that breaks the contract;
- a decision table with one rule reading each field compiles and decides its output.

``check_rule_function`` compares a rule function's two evaluators on sample values.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .contract.errors import FactorlineError, OperatorError, error_record
from .contract.items import AudioTrack, FrameBatch, MediaInfo
from .contract.kinds import DTYPES, Kind
from .contract.operator import OperatorSpec

ITEM = MediaInfo(id="sha256:" + "0" * 64, path="synthetic.mp4", kind="video", duration_s=4.0, width=256, height=256,
                 fps=1.0, has_audio=True)
EXAMPLE_BY_KIND: dict[Kind, Any] = {Kind.TEXT: "Breaking news 突发新闻", Kind.FACTOR: 0.5, Kind.SEGMENTS: [],
                                    Kind.EMBEDDING: [0.0] * 8}


class ContractError(AssertionError):
    """An operator broke its contract; the message lists every broken promise."""


def spec_of(op: OperatorSpec | Callable | str) -> OperatorSpec:
    """An operator given as its spec, its decorated function or its id (``name[@version]``)."""
    if isinstance(op, OperatorSpec):
        return op
    if isinstance(op, str):
        from .plugins import get_operator

        return get_operator(op)
    spec = getattr(op, "spec", None)
    if not isinstance(spec, OperatorSpec):
        raise TypeError(f"expected an operator spec, id or @operator function, found {op!r:.60}")
    return spec


def sample_frames() -> FrameBatch:
    """Four frames of a real photo (scikit-image's astronaut, 256 x 256): as is, shifted, flipped."""
    from skimage import data as skdata

    photo = skdata.astronaut()[::2, ::2]
    images = np.stack([photo, np.roll(photo, 8, axis=1), photo[::-1], photo])
    return FrameBatch(images=np.ascontiguousarray(images), times=np.array([0.0, 1.0, 2.0, 3.0]), source_width=256,
                      source_height=256)


def sample_inputs(spec: OperatorSpec) -> dict[str, Any]:
    """Inputs for every declared input: frames and 2 s of a 220 Hz tone from the item, an
    example value for each wired kind."""
    t = np.arange(16000 * 2) / 16000.0
    sources = {Kind.FRAMES: sample_frames(), Kind.AUDIO: AudioTrack((0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))}
    return {name: sources.get(i.kind, EXAMPLE_BY_KIND.get(i.kind)) for name, i in spec.inputs.items()}


def bad_inputs(spec: OperatorSpec) -> dict[str, Any]:
    """No frames, empty audio, and a missing value on every wired input."""
    empty = FrameBatch(images=np.zeros((0, 8, 8, 3), np.uint8), times=np.zeros(0), source_width=8, source_height=8)
    sources = {Kind.FRAMES: empty, Kind.AUDIO: AudioTrack(np.zeros(0, np.float32))}
    return {name: sources.get(i.kind) for name, i in spec.inputs.items()}


def guarded_call(spec: OperatorSpec, inputs: dict, params: Any, resources: dict, *, step: str = "step") -> tuple[dict | None, dict | None]:
    """Run ``spec`` as the executor does: ``(output, None)`` or ``(None, error record)``."""
    try:
        out = spec.call(inputs, params, item=ITEM, resources=resources)
    except FactorlineError as exc:
        return None, error_record(exc, path=f"steps.{step}")
    except Exception as exc:  # noqa: BLE001 - as the executor: any failure is the item's error record
        return None, OperatorError(f"{spec.id} failed: {type(exc).__name__}: {exc}", path=f"steps.{step}").to_record()
    problems = spec.check_output(out)
    if problems:
        return None, OperatorError(f"{spec.id} broke its contract: {'; '.join(problems)}", path=f"steps.{step}").to_record()
    return out, None  # type: ignore[return-value]


def check_schema(spec: OperatorSpec) -> list[str]:
    problems = []
    try:
        schema = json.loads(json.dumps(spec.schema()))
    except (TypeError, ValueError) as exc:
        return [f"schema does not serialise to JSON: {exc}"]
    if schema["id"] != f"{spec.name}@{spec.version}":
        problems.append(f"schema id {schema['id']!r} is not name@version")
    if schema["params"].get("type") != "object":
        problems.append("params schema is not an object (params must be a pydantic model)")
    for name, prop in schema["params"].get("properties", {}).items():
        if not (prop.get("title") and prop.get("description")):
            problems.append(f"param {name!r} needs a title and a description: Param(default, title=..., description=...)")
    problems += [f"input {n!r} has unknown kind {i['kind']!r}" for n, i in schema["inputs"].items() if i["kind"] not in {k.value for k in Kind}]
    problems += [f"field {n!r} has unknown dtype {f['dtype']!r}" for n, f in schema["output"]["fields"].items() if f["dtype"] not in DTYPES]
    if "evidence" not in schema["output"]["fields"]:
        problems.append("output has no evidence field")
    if not spec.description:
        problems.append("no description: give the run function a docstring")
    try:
        spec.params()
    except Exception as exc:  # noqa: BLE001 - reported as a broken promise
        problems.append(f"default parameters do not validate (every parameter needs a default): {exc}".splitlines()[0])
    return problems


def field_rule(step: str, name: str, dtype: str, values: tuple[str, ...] | None) -> str:
    """A condition that reads ``step.name`` whatever its type."""
    ref = f"{step}.{name}"
    if dtype == "bool":
        return ref
    if dtype in ("int", "float"):
        return f"{ref} > 0"
    if dtype == "str":
        return f'{ref} == "{values[0] if values else "x"}"'
    return f"count({ref}) > 0"


def check_decision(spec: OperatorSpec, out: dict, step: str = "op") -> list[str]:
    """One decision table per field, its rule reading that field: every table compiles, and
    decides ``out`` without reading a field the operator filled in as missing."""
    from .rules import compile_decisions

    dtypes = {n: f.dtype for n, f in spec.output_fields.items()}
    tables = {f"reads_{n}": {"on_missing": "missing", "on_error": "failed", "rules": [{"id": "read", "when": field_rule(step, n, f.dtype, f.values), "outcome": "flag"},
                                       {"id": "ok", "default": True, "outcome": "ok"}]} for n, f in spec.fields.items()}
    vocab = {f"{step}.{n}": f.values for n, f in spec.fields.items() if f.values is not None}
    compiled, issues = compile_decisions(tables, {step: dtypes}, vocab=vocab)
    if issues:
        return [f"a rule reading a field does not validate: {i}" for i in issues]
    decisions = compiled.decide({step: out})
    return [f"rules read {step}.{n} as missing although it holds {out[n]!r:.60}"
            for n in spec.fields if out.get(n) is not None and not _nan(out[n])
            and decisions[f"reads_{n}"]["rule"] == "on_missing"]


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def check_operator(op: OperatorSpec | Callable | str, *, inputs: dict | None = None, params: Any = None,
                   resources: dict | None = None, bad_input: bool = True) -> dict:
    """Run the contract battery on one operator; returns its output on the sample inputs.
    ``inputs``/``params``/``resources`` replace the defaults (a plugin's own media, a stub model)."""
    spec = spec_of(op)
    problems = check_schema(spec)
    if resources is None:
        from .engine.pool import GLOBAL_POOL

        resources = GLOBAL_POOL.get(spec.resources)
    params = spec.params() if params is None else params
    first, error = guarded_call(spec, inputs or sample_inputs(spec), params, resources)
    if error is not None:
        raise ContractError(f"{error['message']} (on the sample inputs)" + "".join(f"\n- {p}" for p in problems))
    second, _ = guarded_call(spec, inputs or sample_inputs(spec), params, resources)
    if json.dumps(first, sort_keys=True, default=str) != json.dumps(second, sort_keys=True, default=str):
        problems.append("not deterministic: two runs on the same input differ")
    if bad_input:
        _, error = guarded_call(spec, bad_inputs(spec), params, resources)
        if error is not None and "broke its contract" in error["message"]:  # raising is fine; bad output is not
            problems.append(f"on bad input (no frames, empty audio, missing wired values) {error['message']}; "
                            "raise an error there, or return every field (None where unknown)")
    problems += check_decision(spec, first)  # type: ignore[arg-type]
    if problems:
        raise ContractError(f"{spec.id} broke its contract:" + "".join(f"\n- {p}" for p in problems))
    return first  # type: ignore[return-value]


def operator_cases(ops: Iterable[OperatorSpec | Callable | str] | None = None, argname: str = "spec"):
    """``pytest.mark.parametrize`` over operators (default: every registered one), ids ``name@version``."""
    import pytest

    from .plugins import list_operators

    specs = [spec_of(o) for o in ops] if ops is not None else list_operators()
    return pytest.mark.parametrize(argname, specs, ids=[s.id for s in specs])


def check_rule_function(name: str, samples: Iterable[tuple]) -> None:
    """The per-item and vectorized implementations of rule function ``name`` agree on every
    tuple of argument values in ``samples`` (None = missing); raises ContractError otherwise."""
    import polars as pl

    from .plugins import load_plugins
    from .rules import functions
    from .rules.evaluate import scalar_call
    from .rules.vectorized import scalar_call as vector_call

    load_plugins()  # a plugin's functions, declared by its entry points
    fn = functions.get(name)
    if fn is None or fn.kind != "scalar":
        raise ContractError(f"{name!r} is not a declared scalar rule function; declared: {', '.join(functions.names())}")
    dtypes = {"number": pl.Float64, "string": pl.String, "bool": pl.Boolean}
    rows = [tuple(s) for s in samples]
    problems = []
    for row in rows:
        consts = [v for i, v in enumerate(row) if i in fn.constant]
        if any(v is None for v in consts):
            continue
        frame = pl.DataFrame({f"a{i}": pl.Series([row[i]], dtype=dtypes[t]) for i, t in enumerate(fn.args) if i not in fn.constant})
        parts = [row[i] if i in fn.constant else pl.col(f"a{i}") for i in range(len(fn.args))]
        vector = frame.select(vector_call(name)(*parts).alias("out"))["out"][0]
        item = scalar_call(name)(*row)
        if isinstance(vector, float) and isinstance(item, float) and abs(vector - item) <= 1e-9 * max(1.0, abs(item)):
            continue
        if vector != item:
            problems.append(f"{name}{row}: per item {item!r}, vectorized {vector!r}")
    if problems:
        raise ContractError(f"rule function {name}: the two evaluators disagree:" + "".join(f"\n- {p}" for p in problems))
