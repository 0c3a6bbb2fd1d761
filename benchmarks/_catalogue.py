"""The whole registered catalogue as one pipeline, as the accuracy benchmarks run it."""

from __future__ import annotations

from factorline.contract.kinds import Kind
from factorline.plugins import list_operators


def catalogue_pipeline(pipeline_name: str, sampling: dict, policy_terms=()) -> tuple[dict, list[str]]:
    """Every registered operator as one step named after it; text inputs wired to subtitles.text."""
    specs = {spec.name: spec for spec in list_operators()}
    steps: dict[str, dict] = {}
    skipped = []
    for name in sorted(specs, key=lambda n: (n != "subtitles", n)):
        spec = specs[name]
        step: dict = {"op": name}
        text_inputs = {k: i for k, i in spec.inputs.items() if i.kind == Kind.TEXT}
        if text_inputs:
            if "subtitles" not in specs:
                if any(not i.optional for i in text_inputs.values()):
                    skipped.append(name)
                    continue
            else:
                step["inputs"] = {k: "subtitles.text" for k in text_inputs}
        if name == "text_policy":
            step["params"] = {"terms": list(policy_terms) or ["casino"]}
        steps[name] = step
    return {"name": pipeline_name, "input": "video", "sampling": sampling, "steps": steps}, skipped
