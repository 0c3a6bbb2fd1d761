"""The contract battery: registering an operator enrols it here.

Every operator must serialise its schema, declare only known kinds and dtypes, return exactly
its declared fields with the declared types, and be deterministic on the same input.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from skimage import data as skdata

from factorline.core.items import AudioTrack, FrameBatch, MediaInfo
from factorline.core.registry import GLOBAL_POOL, list_operators
from factorline.kinds import DTYPES, Kind

SPECS = list_operators()
EXAMPLE_BY_KIND = {Kind.TEXT: "Breaking news 突发新闻", Kind.FACTOR: 0.5, Kind.SEGMENTS: [], Kind.EMBEDDING: [0.0] * 8}


def _frames() -> FrameBatch:
    photo = skdata.astronaut()[::2, ::2]  # a real photo, 256x256
    images = np.stack([photo, np.roll(photo, 8, axis=1), photo[::-1], photo])
    return FrameBatch(images=np.ascontiguousarray(images), times=np.array([0.0, 1.0, 2.0, 3.0]), source_width=256, source_height=256)


def _inputs(spec) -> dict:
    t = np.arange(16000 * 2) / 16000.0
    sources = {Kind.FRAMES: _frames(), Kind.AUDIO: AudioTrack((0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))}
    return {name: sources.get(i.kind, EXAMPLE_BY_KIND.get(i.kind)) for name, i in spec.inputs.items()}


ITEM = MediaInfo(id="sha256:" + "0" * 64, path="synthetic.mp4", kind="video", duration_s=4.0, width=256, height=256, fps=1.0, has_audio=True)


def test_catalogue_is_not_empty_and_ids_are_unique():
    ids = [s.id for s in SPECS]
    assert {"black_border@3", "clarity@1"} <= set(ids)
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_schema_serialises_and_declares_known_kinds(spec):
    schema = json.loads(json.dumps(spec.schema()))
    assert schema["id"] == f"{spec.name}@{spec.version}"
    assert schema["params"]["type"] == "object"
    for name, prop in schema["params"].get("properties", {}).items():
        assert prop.get("title") and prop.get("description"), f"param {name} needs a title and a description"
    assert all(Kind(i["kind"]) for i in schema["inputs"].values())
    assert all(f["dtype"] in DTYPES for f in schema["output"]["fields"].values())
    assert "evidence" in schema["output"]["fields"]
    assert spec.description, "an operator needs a description (its docstring)"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_default_params_validate(spec):
    spec.params()  # every parameter has a default


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_returns_exactly_declared_fields_deterministically(spec):
    params = spec.params()
    resources = GLOBAL_POOL.get(spec.resources)
    first = spec.run(_inputs(spec), params, item=ITEM, resources=resources)
    assert spec.check_output(first) == []
    second = spec.run(_inputs(spec), params, item=ITEM, resources=resources)
    assert json.dumps(first, sort_keys=True, default=str) == json.dumps(second, sort_keys=True, default=str)
