"""Fixtures shared across test files."""

from __future__ import annotations

import fcntl
import tempfile
from pathlib import Path

import pytest

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
