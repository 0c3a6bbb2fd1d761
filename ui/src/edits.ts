// Pure edits of a step's data (the parts of a step the canvas does not draw as edges).

import type { StepData } from "./document";
import { copyFloatMarks, markFloat } from "./json";
import type { OperatorSchema } from "./types";

/** ``data`` with parameter ``key`` set to ``value`` (removed when undefined: the default applies). */
export function withParam(data: StepData, key: string, value: unknown, op: OperatorSchema | undefined): StepData {
  // The other values keep their 1.0-vs-1 form; the edited one is what was typed.
  const params = copyFloatMarks(data.params, { ...(data.params ?? {}) }, (k) => (k === key ? undefined : k));
  if (value === undefined) delete params[key];
  else params[key] = value;
  // A "number" parameter is a Python float: 1 typed into it is saved as 1.0, as Python writes it.
  if (op?.params.properties?.[key]?.type === "number" && typeof value === "number" && Number.isInteger(value)) {
    markFloat(params, key);
  }
  const { params: _previous, ...rest } = data;
  return Object.keys(params).length ? { ...rest, params } : rest;
}

/** ``data`` without the written-out wire of ``input`` (it is now drawn, or gone). */
export function withoutDangling(data: StepData, input: string): StepData {
  if (!(input in data.dangling)) return data;
  const dangling = { ...data.dangling };
  delete dangling[input];
  return { ...data, dangling };
}

/** Written-out wires name steps by text: they follow a rename of step ``from`` to ``to``. */
export function withRenamedStep(data: StepData, from: string, to: string): StepData {
  const renamed = (ref: string) => (ref.startsWith(`${from}.`) ? to + ref.slice(from.length) : ref);
  return { ...data, name: data.name === from ? to : data.name, dangling: Object.fromEntries(Object.entries(data.dangling).map(([k, ref]) => [k, renamed(ref)])) };
}
