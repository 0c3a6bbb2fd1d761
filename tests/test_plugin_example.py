"""docs/extending.md's worked example (its reference section), followed literally: pip-install examples/plugin_example
(into a private folder, so this machine's environment is untouched), then use its operator,
resource, backbone and rule function through the CLI, and run the package's own tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "plugin_example"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """The example installed with pip into a target folder; the env that sees it."""
    work = tmp_path_factory.mktemp("plugin")
    source = work / "src"
    shutil.copytree(EXAMPLE, source)  # setuptools writes build files beside the source: not into the repo
    target = work / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--no-index", "--target", str(target), str(source)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert list(target.glob("factorline_glare-*.dist-info/entry_points.txt"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT)])}  # the checkout under test
    env.pop("FACTORLINE_PLUGINS", None)
    return {"env": env, "source": source, "work": work}


def _factorline(installed: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "factorline.cli", *args], capture_output=True, text=True,
                          timeout=300, env=installed["env"], cwd=installed["work"])


def test_entry_points_bring_the_operator_and_the_backbone(installed):
    ops = _factorline(installed, "operators", "--json")
    assert ops.returncode == 0, ops.stderr
    glare = next(s for s in json.loads(ops.stdout) if s["name"] == "glare")
    assert glare["resources"] == ["glare_levels"] and set(glare["output"]["fields"]) == {"ratio", "frame_ratios", "has_glare", "evidence"}
    assert glare["limits"] == ["white walls and snow count as glare"]
    listed = _factorline(installed, "models", "backbones")
    assert "mean-colour  Mean R, G, B of each frame in 0..1 (3-d; an example backbone)." in listed.stdout


def test_the_example_pipeline_validates_and_runs(installed, tmp_path):
    pipeline = installed["source"] / "glare.yaml"
    checked = _factorline(installed, "validate", str(pipeline))
    assert checked.returncode == 0, checked.stderr
    picture = np.zeros((40, 40, 3), np.uint8)
    picture[:10] = 255  # a quarter blown out
    Image.fromarray(picture).save(tmp_path / "quarter.png")
    done = _factorline(installed, "run", str(pipeline), str(tmp_path / "quarter.png"), "--out", str(tmp_path / "run"),
                       "--no-report-pictures", "--cache-dir", str(tmp_path / "cache"))
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "run" / "results.jsonl").read_text().splitlines()[0])
    assert record["error"] is None
    assert record["factors"]["glare"]["ratio"] == 0.25 and record["factors"]["glare"]["has_glare"] is True
    decision = record["decisions"]["exposure"]
    assert (decision["outcome"], decision["rule"]) == ("review", "some_glare")
    assert decision["explanation"].startswith("between(glare.ratio 0.25, 0.02, 0.5)")


def test_a_misspelled_rule_function_in_the_example_fails_validate(installed, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text((installed["source"] / "glare.yaml").read_text().replace("between(", "betwen("))
    done = _factorline(installed, "validate", str(broken))
    assert done.returncode == 2
    assert "function 'betwen' is not allowed; available functions:" in done.stderr and "between" in done.stderr


def test_the_packages_own_tests_pass_with_the_shipped_battery(installed):
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(installed["source"] / "tests")],
                          capture_output=True, text=True, timeout=300, env=installed["env"], cwd=installed["source"])
    assert done.returncode == 0, done.stdout[-3000:]
    assert "3 passed" in done.stdout


def test_new_operator_scaffold_installs_and_passes_its_tests_as_generated(tmp_path):
    made = subprocess.run([sys.executable, "-m", "factorline.cli", "new", "operator", "haze_level", "--out",
                           str(tmp_path / "pkg")], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    target = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--no-index", "--target", str(target), str(tmp_path / "pkg")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT)])}  # the checkout under test
    env.pop("FACTORLINE_PLUGINS", None)
    listed = subprocess.run([sys.executable, "-m", "factorline.cli", "operators", "--json"], capture_output=True,
                            text=True, timeout=300, env=env, cwd=tmp_path)
    assert "haze_level@1" in [s["id"] for s in json.loads(listed.stdout)], listed.stderr
    tested = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], capture_output=True,
                            text=True, timeout=300, env=env, cwd=tmp_path / "pkg")
    assert tested.returncode == 0 and "2 passed" in tested.stdout, tested.stdout[-3000:]


def test_new_operator_refuses_a_folder_in_use(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "keep.txt").write_text("mine")
    done = subprocess.run([sys.executable, "-m", "factorline.cli", "new", "operator", "haze", "--out", str(tmp_path / "pkg")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2
    assert "already exists and is not empty; choose another --out or remove it" in done.stderr
