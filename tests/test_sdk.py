"""factorline.sdk: one public surface, declarations checked when made (one line naming the
operator, the field and the fix), numpy outputs converted, plugin backbones listed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from pydantic import Field as PydanticField

from factorline import sdk
from factorline.contract import operator as core_operator
from factorline.contract.errors import ConfigError, PluginError
from factorline.contract.registry import unregister

ROOT = Path(__file__).resolve().parent.parent


def _declare(**overrides):
    kw = {"name": "sdk_probe", "version": 1, "title": "Probe", "group": "test",
          "fields": {"x": sdk.Output("float", "x")}, **overrides}

    def run(inputs, params, *, item, resources):
        """A probe."""
        return {"x": 1.0, "evidence": []}

    fn = sdk.operator(**kw)(overrides.pop("fn", run) if "fn" in overrides else run)
    unregister(fn.spec)
    return fn


def test_one_name_for_output_fields_and_the_old_one_still_works():
    assert sdk.Output is core_operator.Output is core_operator.Field is sdk.Field
    assert sdk.Param is PydanticField
    assert sdk.Output("str", "fill", values=("black", "none")).schema()["values"] == ["black", "none"]


def test_unknown_output_type_suggests_the_close_one():
    with pytest.raises(PluginError, match=r"^unknown output type 'flaot' \(did you mean 'float'\?\); expected one of bool"):
        sdk.Output("flaot", "x")
    with pytest.raises(ValueError, match="unknown output type"):  # still a ValueError for old callers
        sdk.Output("nope")


def test_a_pydantic_field_given_as_output_is_named():
    with pytest.raises(PluginError, match=r"operator sdk_probe@1: output field 'x' is a pydantic Field \(that declares "
                                          r"a parameter\); declare it as Output\(dtype, description\)"):
        _declare(fields={"x": PydanticField(0.5, description="x")})


@pytest.mark.parametrize(("overrides", "message"), [
    ({"name": "bad name"}, r"operator 'bad name': name must be a lower-case identifier"),
    ({"version": 0}, r"operator 'sdk_probe': version must be an integer >= 1 \(found 0\)"),
    ({"fields": {"evidence": sdk.Output("evidence")}}, r"output field 'evidence' is reserved"),
    ({"fields": {}}, r"fields must be a non-empty dict"),
    ({"resources": "ocr"}, r"resources must be a tuple of resource names, e\.g\. \('ocr',\) \(found 'ocr'\)"),
    ({"params": dict}, r"params must be a pydantic model class .* found the class dict"),
    ({"item_kinds": ("audio",)}, r"item_kinds must be a tuple from \('video', 'image'\)"),
    ({"inputs": {"frames": "frames"}}, r"input 'frames' is str 'frames'; declare it as Input\(Kind.FRAMES"),
])
def test_declaration_mistakes_are_one_line(overrides, message):
    with pytest.raises(PluginError, match=message) as caught:
        _declare(**overrides)
    assert "\n" not in str(caught.value)


def test_run_signature_is_checked():
    def wrong(inputs, params):
        """No keywords."""
        return {}

    with pytest.raises(PluginError, match=r"operator sdk_probe@1: wrong\(inputs, params\) must take \(inputs, params, \*, "
                                          r"item, resources\); missing item, resources"):
        sdk.operator(name="sdk_probe", version=1, title="P", group="test", fields={"x": sdk.Output("float")})(wrong)


def test_duplicate_registration_names_both_places():
    first = _declare()
    from factorline.contract.registry import register

    register(first.spec)
    try:
        def other(inputs, params, *, item, resources):
            """Another probe."""
            return {"x": 2.0, "evidence": []}

        with pytest.raises(PluginError, match=r"operator sdk_probe@1 is declared twice: in (tests\.)?test_sdk \(test_sdk.py:\d+\) "
                                              r"and in (tests\.)?test_sdk \(test_sdk.py:\d+\); rename one, or bump the version"):
            sdk.operator(name="sdk_probe", version=1, title="P", group="test", fields={"x": sdk.Output("float")})(other)
    finally:
        unregister(first.spec)


def test_numpy_values_are_converted_before_the_output_check():
    def numpy_run(inputs, params, *, item, resources):
        """numpy all the way."""
        return {"x": np.float32(0.25), "flags": np.array([True, False]), "n": np.int64(3), "evidence": ()}

    fn = sdk.operator(name="sdk_numpy", version=1, title="N", group="test",
                      fields={"x": sdk.Output("float"), "flags": sdk.Output("list[float]"), "n": sdk.Output("int")})(numpy_run)
    unregister(fn.spec)
    raw = fn.spec.run({}, None, item=None, resources={})
    assert fn.spec.check_output(raw) != []  # as returned, the check refuses np.float32 ...
    out = fn.spec.call({}, None, item=None, resources={})
    assert out == {"x": 0.25, "flags": [True, False], "n": 3, "evidence": []} and type(out["n"]) is int
    assert fn.spec.check_output({**out, "flags": [1.0, 0.0]}) == []


def test_plugin_error_is_a_config_error_exit_2():
    assert issubclass(PluginError, ConfigError)


def test_backbone_declared_in_a_plugin_is_listed_and_checked(tmp_path):
    (tmp_path / "bb_plugin.py").write_text(textwrap.dedent('''
        import numpy as np
        from factorline.sdk import Backbone, backbone

        @backbone("tiny-gray")
        def tiny_gray():
            """Mean grey level of each frame, 1-d (a test backbone)."""
            return Backbone(id="tiny-gray", modality="image", dim=1, revision="1", runtime="numpy",
                            run=lambda batch: np.asarray([[float(np.mean(x))] for x in batch]))
    '''))
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "FACTORLINE_PLUGINS": "bb_plugin"}
    done = subprocess.run([sys.executable, "-m", "factorline.cli", "models", "backbones"], capture_output=True,
                          text=True, timeout=120, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "tiny-gray  Mean grey level of each frame, 1-d (a test backbone)." in done.stdout
    probe = ("import numpy as np, bb_plugin; from factorline.models import get_backbone; "
             "print(get_backbone('tiny-gray').embed([np.full((4, 4, 3), 8, np.uint8)]).tolist())")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env)
    assert done.stdout.strip() == "[[8.0]]", done.stderr


def test_backbone_name_taken_by_a_builtin_is_refused():
    with pytest.raises(PluginError, match=r"backbone 'minilm': backbone 'minilm' is already registered by .*; choose another name"):
        sdk.backbone("minilm")(lambda: None)


def test_a_backbone_loader_returning_something_else_fails_on_load():
    from factorline.contract.errors import ResourceError
    from factorline.models import backbones

    sdk.backbone("sdk-not-a-backbone")(lambda: "weights")
    try:
        with pytest.raises(ResourceError, match=r"backbone 'sdk-not-a-backbone': its loader .* returned str; expected a "
                                                r"factorline.sdk.Backbone"):
            backbones.get_backbone("sdk-not-a-backbone")
    finally:
        backbones.BUILTIN.pop("sdk-not-a-backbone", None)
