"""Fixtures shared across test files."""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

import pytest
from needs import espeak_installed, faces_installed, nudenet_installed  # noqa: F401  (fixtures used by needs_* marks)

from factorline.samples import build_sample_set
from factorline.samples.build import SAMPLE_SET_VERSION


@pytest.fixture(scope="session")
def sample_set() -> Path:
    """The bundled sample set, built once per machine and version (xdist workers share it:
    a file lock makes the second worker wait for the first build instead of racing it)."""
    dest = Path(tempfile.gettempdir()) / f"factorline-test-samples-v{SAMPLE_SET_VERSION}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{dest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        build_sample_set(dest)
    return dest


@pytest.fixture
def stress_operator(monkeypatch):
    """Registers tests/stress_plugin.py's `stress` operator here and in every worker process
    (spawned workers and Ray actors import the modules named in FACTORLINE_PLUGINS)."""
    from factorline.contract.registry import register, unregister

    tests_dir = str(Path(__file__).resolve().parent)
    monkeypatch.setenv("FACTORLINE_PLUGINS", "stress_plugin")
    monkeypatch.setenv("PYTHONPATH", tests_dir + (":" + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else ""))
    import stress_plugin

    register(stress_plugin.stress.spec)
    yield stress_plugin.stress.spec
    unregister(stress_plugin.stress.spec)


def stressed(doc: dict, **params) -> dict:
    """``doc`` with a `stress` step misbehaving as ``params`` say."""
    return {**doc, "steps": {**doc["steps"], "stress": {"op": "stress", "params": params}}}
