"""The CLI starts without the model runtimes: --help, --version, validate, operators and decide
never import torch, onnxruntime, ray, OpenCV or FastAPI (each command loads what it uses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from factorline import __version__

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
HEAVY = ("torch", "torchvision", "onnxruntime", "ray", "cv2", "fastapi", "uvicorn", "transformers", "rapidocr_onnxruntime")
PROBE = f"""
import json, sys
from typer.testing import CliRunner
from factorline.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
print(json.dumps({{"exit": result.exit_code, "output": result.output,
                  "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def _invoke_fresh(*args: str) -> dict:
    """Run the CLI in a new interpreter and report which heavy modules it imported."""
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [
    ("--help",),
    ("--version",),
    ("validate", str(EXAMPLES / "video_audit.yaml")),
    ("operators",),
    ("decide", str(EXAMPLES / "video_audit.yaml"), "--from", "no-such-run"),
    ("run", "--help"),
], ids=lambda args: " ".join(args[:1]) if args[0] != "run" else "run --help")
def test_commands_start_without_model_runtimes(args):
    found = _invoke_fresh(*args)
    assert found["heavy"] == [], f"{' '.join(args)} imported {found['heavy']}"
    assert found["exit"] == (2 if args[0] == "decide" else 0), found["output"]


def test_version():
    found = _invoke_fresh("--version")
    assert found["output"].strip() == f"factorline {__version__}"
