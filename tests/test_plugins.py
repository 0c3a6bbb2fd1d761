"""Plugins: the one loader (entry points + $FACTORLINE_PLUGINS, all or nothing, one-line errors),
and the code fingerprint that keeps a changed plugin from serving stale cached results."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from factorline import plugins
from factorline.cache import StepCache
from factorline.contract import fingerprint, registry
from factorline.contract.errors import PipelineError, PluginError
from factorline.engine.compiler import compile_pipeline
from factorline.engine.executor import Engine
from factorline.engine.pool import ResourcePool
from factorline.models import backbones

ROOT = Path(__file__).resolve().parent.parent

OPERATOR = '''
from factorline.sdk import Output, operator

@operator(name="{name}", version=1, title="Level", group="test",
          fields={{"level": Output("float", "a constant")}})
def level(inputs, params, *, item, resources):
    """A constant level, to see which code ran."""
    return {{"level": {value}, "evidence": []}}
'''


def _doc(op: str) -> dict:
    return {"name": "t_plugin", "input": "image", "steps": {"lv": {"op": op}},
            "decisions": {"d": {"on_missing": "review", "on_error": "error",
                                "rules": [{"id": "high", "when": "lv.level > 1", "outcome": "flag"},
                                          {"id": "ok", "default": True, "outcome": "ok"}]}}}


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A folder on sys.path for throwaway plugin modules; their registrations are undone after."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    saved_modules = set(sys.modules)
    saved = plugins._snapshot()
    yield folder
    plugins._restore(saved)
    plugins.reset()
    for name in set(sys.modules) - saved_modules:  # only the throwaway plugins: factorline's own stay
        if str(getattr(sys.modules[name], "__file__", "") or "").startswith(str(folder)):
            del sys.modules[name]


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(np.full((32, 48, 3), 90, np.uint8)).save(path)
    return path


def test_changed_operator_code_is_not_served_from_the_cache(plugin_dir, photo, tmp_path):
    module = plugin_dir / "fp_plugin.py"
    module.write_text(OPERATOR.format(name="fp_level", value="0.5"))
    mod = importlib.import_module("fp_plugin")
    cache = StepCache(tmp_path / "cache")
    first = Engine(compile_pipeline(_doc("fp_level")), cache=cache).run_item(photo)
    assert first["factors"]["lv"]["level"] == 0.5

    module.write_text(OPERATOR.format(name="fp_level", value="2.5"))  # new code, same version
    importlib.reload(mod)
    second = Engine(compile_pipeline(_doc("fp_level")), cache=cache).run_item(photo)
    assert second["factors"]["lv"]["level"] == 2.5
    assert second["decisions"]["d"]["outcome"] == "flag"

    third = Engine(compile_pipeline(_doc("fp_level")), cache=cache).run_item(photo)  # unchanged: a hit
    assert third["factors"]["lv"] == second["factors"]["lv"] and "lv" not in third["timings_ms"]


def test_resource_weights_are_part_of_the_fingerprint(plugin_dir, tmp_path):
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"one")
    registry.resource("fp_weights", version="1", files=[str(weights)])(lambda: weights.read_bytes())
    before = registry.resource_fingerprint("fp_weights")
    weights.write_bytes(b"two!")  # other size: a new digest at once
    assert registry.resource_fingerprint("fp_weights") != before
    after_weights = registry.resource_fingerprint("fp_weights")
    registry.resource("fp_weights", version="2", files=[str(weights)])(registry.known_resources()["fp_weights"].loader)
    assert registry.resource_fingerprint("fp_weights") not in (before, after_weights)  # a new version: new key too
    fingerprint.forget()
    assert registry.resource_fingerprint("fp_weights") != after_weights


def test_plugin_operator_naming_a_missing_resource_fails_validate(plugin_dir, monkeypatch):
    (plugin_dir / "res_plugin.py").write_text(textwrap.dedent('''
        from factorline.sdk import Output, operator, resource

        @resource("res_model")
        def load():
            """A model."""
            return object()

        @operator(name="res_user", version=1, title="R", group="test", resources=("res_modle",),
                  fields={"x": Output("float", "x")})
        def res_user(inputs, params, *, item, resources):
            """Uses a misspelled resource."""
            return {"x": 1.0, "evidence": []}
    '''))
    monkeypatch.setenv("FACTORLINE_PLUGINS", "res_plugin")  # loaded as a plugin: the loader refuses it
    plugins.reset()
    with pytest.raises(PluginError, match=r"^operator res_user@1 \(res_plugin \(res_plugin.py:9\)\) needs resource "
                                          r"'res_modle', which nothing registers \(did you mean 'res_model'\?\)"):
        plugins.load_plugins()
    monkeypatch.delenv("FACTORLINE_PLUGINS")
    plugins.reset()
    plugins.load_plugins()
    sys.modules.pop("res_plugin")  # the failed load undid its registrations
    importlib.import_module("res_plugin")  # imported after loading (a notebook, a test): validate refuses the step
    with pytest.raises(PipelineError, match=r"steps.lv.op: operator res_user@1 .* needs resource 'res_modle'"):
        compile_pipeline(_doc("res_user"))


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "factorline.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env, cwd=ROOT)


def _env(folder: Path, plugins_env: str) -> dict:
    import os

    return {**os.environ, "PYTHONPATH": str(folder), "FACTORLINE_PLUGINS": plugins_env}


def test_misspelled_plugin_module_is_one_line_naming_the_fix(tmp_path):
    (tmp_path / "acme_glare.py").write_text(OPERATOR.format(name="acme_glare", value="1.0"))
    done = _cli("validate", str(ROOT / "examples/image_audit.yaml"), env=_env(tmp_path, "acme_glaer"))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "FACTORLINE_PLUGINS module 'acme_glaer': no module named 'acme_glaer' (did you mean 'acme_glare'?)" in lines[0]


def test_bad_field_type_in_a_plugin_is_one_line_with_file_and_line(tmp_path):
    (tmp_path / "typo_plugin.py").write_text(OPERATOR.format(name="typo", value="1.0").replace('"float"', '"flaot"'))
    done = _cli("operators", env=_env(tmp_path, "typo_plugin"))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert ("FACTORLINE_PLUGINS module 'typo_plugin' at typo_plugin.py:5: unknown output type 'flaot' "
            "(did you mean 'float'?)") in done.stderr


def test_a_failed_plugin_leaves_no_half_catalogue(plugin_dir, monkeypatch):
    (plugin_dir / "good_half.py").write_text(OPERATOR.format(name="good_half", value="1.0"))
    (plugin_dir / "bad_half.py").write_text("raise RuntimeError('the model file is missing')\n")
    monkeypatch.setenv("FACTORLINE_PLUGINS", "good_half,bad_half")
    plugins.reset()
    with pytest.raises(PluginError, match=r"FACTORLINE_PLUGINS module 'bad_half' failed to load at bad_half.py:1: "
                                          r"RuntimeError: the model file is missing"):
        plugins.load_plugins()
    assert "good_half" not in registry._OPERATORS  # undone: all or nothing
    with pytest.raises(PluginError, match="bad_half"):  # every later use says the same, never half a catalogue
        plugins.list_operators()


def test_duplicate_operator_is_reported_against_both_modules(plugin_dir, monkeypatch):
    (plugin_dir / "dup_one.py").write_text(OPERATOR.format(name="dup_level", value="1.0"))
    (plugin_dir / "dup_two.py").write_text(OPERATOR.format(name="dup_level", value="2.0"))
    monkeypatch.setenv("FACTORLINE_PLUGINS", "dup_one,dup_two")
    plugins.reset()
    with pytest.raises(PluginError, match=r"operator dup_level@1 is declared twice: in dup_one \(dup_one.py:4\) and in "
                                          r"dup_two \(dup_two.py:4\); rename one"):
        plugins.load_plugins()


def test_entry_points_register_backbones_resources_and_rule_functions(plugin_dir, monkeypatch):
    from importlib.metadata import EntryPoint

    (plugin_dir / "ep_pkg.py").write_text(textwrap.dedent('''
        from factorline.sdk import rule_function

        def load_backbone():
            """A tiny test backbone."""
            raise RuntimeError("not loaded in this test")

        def load_resource():
            return {"ready": True}

        @rule_function(args=("number",), returns="number", vector=lambda x: x * 2)
        def twice(x):
            """Doubles a number."""
            return x * 2
    '''))
    eps = {"factorline.backbones": [EntryPoint("ep-tiny", "ep_pkg:load_backbone", "factorline.backbones")],
           "factorline.resources": [EntryPoint("ep_res", "ep_pkg:load_resource", "factorline.resources")],
           "factorline.rule_functions": [EntryPoint("ep_fns", "ep_pkg", "factorline.rule_functions")]}
    class Found:
        def select(self, group):
            return eps.get(group, [])

    monkeypatch.setattr(plugins, "entry_points", Found)
    monkeypatch.delenv("FACTORLINE_PLUGINS", raising=False)
    plugins.reset()
    loaded = plugins.load_plugins()
    assert {"factorline.backbones:ep-tiny", "factorline.resources:ep_res", "factorline.rule_functions:ep_fns"} <= set(loaded)
    assert backbones.known_backbones()["ep-tiny"] == "A tiny test backbone."
    assert ResourcePool(None).get(("ep_res",)) == {"ep_res": {"ready": True}}
    from factorline.rules import compile_condition
    from factorline.rules.evaluate import evaluate

    node = compile_condition("twice(lv.level) > 3", {"lv": {"level": "float"}})
    assert evaluate(node, {"lv": {"level": 2.0}}) is True
