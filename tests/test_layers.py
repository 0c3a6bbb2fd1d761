"""The layers hold: import-linter's contracts in pyproject.toml ([tool.importlinter]) are kept.

docs/architecture.md ("Layers") draws them: the contract at the bottom (what a plugin imports),
media, models and rules, the operators and the SDK, the catalogue (plugins.py), the engine, and
the commands on top. A module importing up, directly or through any chain, fails this test with
import-linter's report naming the chain.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]

# Packages that straddle layers (a command above the engine next to a part operators use, such
# as train/prompts.py under zeroshot or vectors/query.py under copy_of) or helpers of the
# commands; the "floor" contract keeps the contract and media from importing them.
OUTSIDE_LAYERS = {"vectors", "train", "compress", "synth", "samples", "console", "scaffold"}


def test_import_layers_are_kept():
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True, no_logo=True))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    report = proc.stdout + proc.stderr
    assert "No module named 'importlinter'" not in report, "import-linter is missing: pip install -e '.[dev]'"
    assert proc.returncode == 0, report
    assert "0 broken" in report, report


def test_every_package_has_a_place():
    """A new package is placed in a layer (or named here as one that straddles them)."""
    layered = {
        name.strip().removeprefix("factorline.")
        for contract in CONFIG["contracts"] if contract["type"] == "layers"
        for layer in contract["layers"] for name in layer.replace("|", ":").split(":")
    }
    floor = next(c for c in CONFIG["contracts"] if c["id"] == "floor")
    assert {m.removeprefix("factorline.") for m in floor["forbidden_modules"]} == OUTSIDE_LAYERS
    packages = {p.name for p in (ROOT / "factorline").iterdir() if (p / "__init__.py").is_file()}
    packages |= {p.stem for p in (ROOT / "factorline").glob("*.py") if p.stem not in ("__init__", "__main__", "cli")}
    packages.add("cli")
    assert not layered & OUTSIDE_LAYERS
    assert packages - layered - OUTSIDE_LAYERS == set(), "place these in [tool.importlinter] (pyproject.toml) and docs/architecture.md"
