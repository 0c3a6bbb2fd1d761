"""Compile a pipeline document into an executable plan, collecting *every* problem with its path.

    compile_pipeline(data) -> Plan            raises PipelineError(issues)
    check_pipeline(data)   -> (Plan | None, issues)

Checks: document structure, unknown operator, bad parameter, unknown or unwired input,
kind mismatch on a wire, operator that cannot take the item kind, cycle, and every problem
the rules layer finds in the decision tables. Duplicate steps are found by the loader.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import Any

from pydantic import BaseModel, ValidationError

from ..contract.errors import ConfigError, Issue, PipelineError, PluginError, brief
from ..contract.items import Sampling
from ..contract.kinds import SOURCE_KINDS, Kind, kinds_fit
from ..contract.operator import OperatorSpec
from ..contract.registry import missing_resources
from ..plugins import get_operator, load_plugins
from .document import STEP_NAME_PATTERN, PipelineDoc, StepDoc


@dataclass(frozen=True)
class Wire:
    """An input fed by a field of another step."""

    step: str
    field: str


@dataclass
class PlannedStep:
    name: str
    spec: OperatorSpec
    params: BaseModel
    wires: dict[str, Wire]  # input name -> upstream field; source inputs are absent

    @property
    def source_inputs(self) -> list[str]:
        return [n for n, i in self.spec.inputs.items() if i.kind in SOURCE_KINDS and n not in self.wires]

    def params_json(self) -> dict:
        return self.params.model_dump(mode="json")


@dataclass
class Plan:
    doc: PipelineDoc
    steps: list[PlannedStep]  # topological order
    sampling: Sampling
    decisions: Any  # rules.CompiledDecisions
    fingerprint: str
    factors_fingerprint: str
    field_dtypes: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.doc.name

    def needs(self, kind: Kind) -> bool:
        return any(step.spec.inputs[n].kind == kind for step in self.steps for n in step.source_inputs)


def _pydantic_issues(exc: ValidationError, prefix: str) -> list[Issue]:
    issues = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        path = f"{prefix}.{loc}" if prefix and loc else prefix or loc
        found = err.get("input")
        detail = err["msg"]
        if err["type"] not in {"missing", "extra_forbidden"} and not isinstance(found, (dict, list)):
            detail += f" (found {brief(found)})"
        issues.append(Issue(path, detail, err["type"]))
    return issues


def _validate(model: type[BaseModel], data: Any, prefix: str, issues: list[Issue]) -> BaseModel | None:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        issues.extend(_pydantic_issues(exc, prefix))
        return None


def _compile_header(data: dict, issues: list[Issue]) -> PipelineDoc | None:
    """Validate everything but the contents of steps and decisions (checked one by one)."""
    header = {k: v for k, v in data.items() if k not in {"steps", "decisions"}}
    for key in ("steps", "decisions"):
        if key in data and not isinstance(data[key], dict):
            issues.append(Issue(key, f"expected a mapping of name -> {key[:-1]}, found {type(data[key]).__name__}", "type"))
    if not data.get("steps"):
        issues.append(Issue("steps", "a pipeline needs at least one step", "missing"))
    return _validate(PipelineDoc, header, "", issues)  # type: ignore[return-value]


def _resolve_step(name: str, raw: Any, item_kind: str, issues: list[Issue]) -> tuple[StepDoc, OperatorSpec, BaseModel | None] | None:
    """The step's document, operator and parameters (None when they are invalid)."""
    path = f"steps.{name}"
    if not re.match(STEP_NAME_PATTERN, str(name)):
        issues.append(Issue(path, "step names are lower_snake_case identifiers (used in rules as step.field)", "name"))
    step = _validate(StepDoc, raw, path, issues)
    if step is None:
        return None
    try:
        spec = get_operator(step.op)
    except PluginError:
        raise  # a broken plugin is the whole catalogue's problem, not this step's
    except ConfigError as exc:
        issues.append(Issue(f"{path}.op", exc.message, "unknown_operator"))
        return None
    if item_kind not in spec.item_kinds:
        issues.append(Issue(f"{path}.op", f"{spec.id} works on {sorted(spec.item_kinds)}, not on {item_kind} input", "kind"))
    for problem in missing_resources(spec):  # a misspelled resource fails validate, not every item
        issues.append(Issue(f"{path}.op", problem, "resource"))
    return step, spec, _validate(spec.params, step.params, f"{path}.params", issues)


def _wire(name: str, step: StepDoc, spec: OperatorSpec, specs: dict[str, OperatorSpec], issues: list[Issue]) -> dict[str, Wire]:
    wires: dict[str, Wire] = {}
    for input_name, ref in step.inputs.items():
        path = f"steps.{name}.inputs.{input_name}"
        if input_name not in spec.inputs:
            issues.append(Issue(path, f"{spec.id} has no input {input_name!r}; inputs: {', '.join(spec.inputs) or 'none'}", "unknown_input"))
            continue
        up_step, dot, up_field = ref.partition(".")
        if not dot:
            issues.append(Issue(path, f"expected 'step.field', found {ref!r}", "wire"))
            continue
        if up_step not in specs:
            issues.append(Issue(path, f"unknown step {up_step!r}; steps: {', '.join(specs)}", "unknown_step"))
            continue
        fields = specs[up_step].output_fields
        if up_field not in fields:
            issues.append(Issue(path, f"{up_step} has no field {up_field!r}; fields: {', '.join(fields)}", "unknown_field"))
            continue
        produced, wanted = fields[up_field].kind, spec.inputs[input_name].kind
        if not kinds_fit(produced, wanted):
            issues.append(Issue(path, f"kind mismatch: {ref} is {produced.value}, input {input_name!r} wants {wanted.value}", "kind"))
            continue
        wires[input_name] = Wire(up_step, up_field)
    for input_name, decl in spec.inputs.items():
        if decl.kind not in SOURCE_KINDS and not decl.optional and input_name not in step.inputs:
            issues.append(Issue(f"steps.{name}.inputs.{input_name}", f"required input of kind {decl.kind.value} is not wired", "missing_input"))
    return wires


def _order(steps: dict[str, PlannedStep], issues: list[Issue]) -> list[PlannedStep]:
    graph = {name: {w.step for w in step.wires.values()} for name, step in steps.items()}
    try:
        return [steps[n] for n in TopologicalSorter(graph).static_order()]
    except CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        issues.append(Issue(f"steps.{exc.args[1][0]}.inputs", f"cycle between steps: {cycle}", "cycle"))
        return []


def _digest(body: dict) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def factors_fingerprint(doc: PipelineDoc, steps: list[PlannedStep]) -> str:
    """Digest of what the factors depend on: input kind, sampling, operators, parameters, wires."""
    return _digest({
        "input": doc.input,
        "sampling": doc.sampling.model_dump(mode="json"),
        "steps": {
            s.name: {"op": s.spec.id, "params": s.params_json(), "inputs": {k: f"{w.step}.{w.field}" for k, w in sorted(s.wires.items())}}
            for s in steps
        },
    })


def fingerprint(doc: PipelineDoc, steps: list[PlannedStep]) -> str:
    """Digest of the normalized document: the factors' fingerprint, the name and the decisions."""
    return _digest({"name": doc.name, "factors": factors_fingerprint(doc, steps), "decisions": doc.decisions})


def _parameter_vocabulary(resolved: dict[str, tuple[StepDoc, OperatorSpec, BaseModel | None]]) -> dict[str, tuple[str, ...]]:
    """``step.field`` -> values for the text fields whose values depend on a step's parameters
    (a trained model's labels). A step whose parameters did not validate gives none: its
    parameters are reported already."""
    out: dict[str, tuple[str, ...]] = {}
    for name, (_, spec, params) in resolved.items():
        if spec.vocabulary is None or params is None:
            continue
        for output, values in spec.vocabulary(params).items():
            out[f"{name}.{output}"] = tuple(values)
    return out


def check_pipeline(data: dict) -> tuple[Plan | None, list[Issue]]:
    """Compile ``data`` (a parsed document); return the plan (None on errors) and all issues."""
    from ..rules import ITEM, ITEM_FIELDS, compile_decisions

    load_plugins()  # plugin operators and rule functions; a broken plugin raises PluginError here
    issues: list[Issue] = []
    header = _compile_header(data, issues)
    item_kind = header.input if header else str(data.get("input", "video"))
    raw_steps = data.get("steps") if isinstance(data.get("steps"), dict) else {}
    resolved = {n: r for n, raw in raw_steps.items() if (r := _resolve_step(str(n), raw, item_kind, issues))}
    specs = {n: r[1] for n, r in resolved.items()}
    planned = {n: PlannedStep(n, spec, params, _wire(n, step, spec, specs, issues)) for n, (step, spec, params) in resolved.items()}
    ordered = _order(planned, issues)
    # Steps with bad parameters still declare their fields, so rules reading them are checked too.
    dtypes = {n: {f: fd.dtype for f, fd in spec.output_fields.items()} for n, spec in specs.items()}
    raw_tables = data.get("decisions") if isinstance(data.get("decisions"), dict) else {}
    if ITEM in raw_steps:
        issues.append(Issue(f"steps.{ITEM}", f"the step name '{ITEM}' is reserved: rules read the item's own fields as "
                            f"{ITEM}.<field> ({ITEM}.partial, {ITEM}.duration_s...); rename the step", "reserved"))
    vocab = {f"{n}.{f}": fd.values for n, spec in specs.items() for f, fd in spec.output_fields.items() if fd.values is not None}
    vocab.update(_parameter_vocabulary(resolved))
    decisions, rule_issues = compile_decisions(raw_tables, {**dtypes, ITEM: ITEM_FIELDS}, vocab=vocab)
    issues.extend(rule_issues)
    if issues or header is None or any(s.params is None for s in ordered):
        return None, issues
    doc = PipelineDoc.model_validate({**data, "sampling": header.sampling.model_dump(exclude_unset=True)})
    sampling = Sampling(fps=doc.sampling.fps, max_frames=doc.sampling.max_frames, min_frames=doc.sampling.min_frames,
                        max_side=doc.sampling.max_side)
    return Plan(doc, ordered, sampling, decisions, fingerprint(doc, ordered), factors_fingerprint(doc, ordered), dtypes), []


def compile_pipeline(data: dict, *, source: str = "") -> Plan:
    plan, issues = check_pipeline(data)
    if plan is None:
        raise PipelineError(issues, source=source)
    return plan


__all__ = ["Plan", "PlannedStep", "Wire", "check_pipeline", "compile_pipeline", "factors_fingerprint", "fingerprint"]
