"""definition@1: effective lines whatever the stored size (issue 16's 320x240 Cinepak case)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess

import media_fixtures as fx
import numpy as np
import pytest
from pydantic import ValidationError

from factorline.contract.items import Limits, Sampling
from factorline.media import decode_frames, probe
from factorline.operators.definition import (
    DefinitionParams,
    blur_lines,
    effective_lines,
    grid_blockiness,
    level_of,
)
from factorline.plugins import get_operator


def run_file(path, max_side: int = 1280) -> dict:
    spec = get_operator("definition")
    info = probe(path)
    batch = decode_frames(path, info, Sampling(fps=1.0, max_side=max_side, max_frames=4), Limits())
    return spec.run({"frames": batch}, spec.params(), item=info, resources={})


def ffmpeg(*args: str) -> None:
    assert shutil.which("ffmpeg"), "Debian's ffmpeg is missing: run `make setup`"
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict:
    """Big Buck Bunny (native 1280x720), a 428x240 Cinepak copy of it, a bicubic 1920x1080
    upscale of that copy and a Gaussian-blurred 720p copy (4 s at 2 fps each: Cinepak encoding is slow)."""
    root = tmp_path_factory.mktemp("definition")
    src = fx.bigbuckbunny_path()
    out = {"native": root / "native.mp4", "cinepak": root / "small.avi", "upscale": root / "up.mp4",
           "blurred": root / "blurred.mp4"}
    ffmpeg("-i", str(src), "-t", "4", "-an", "-r", "2", "-c:v", "libx264", "-crf", "18", str(out["native"]))
    ffmpeg("-i", str(out["native"]), "-vf", "scale=428:240:flags=area", "-c:v", "cinepak", str(out["cinepak"]))
    ffmpeg("-i", str(out["cinepak"]), "-vf", "scale=1920:1080:flags=bicubic", "-c:v", "libx264", "-crf", "18",
           str(out["upscale"]))
    ffmpeg("-i", str(out["native"]), "-vf", "gblur=sigma=8", "-c:v", "libx264", "-crf", "18", str(out["blurred"]))
    return {name: run_file(path) for name, path in out.items()}


def test_given_small_clip_and_its_upscale_then_both_low_and_about_240_lines(clips):
    small, up = clips["cinepak"], clips["upscale"]
    assert (small["lines"], small["level"], small["limited_by"], small["low_definition"]) == (240, "low", "frame size", True)
    assert up["stored_lines"] == 1080 and up["level"] == "low" and up["low_definition"]
    assert up["limited_by"] == "upscaling" and 200 <= up["lines"] <= 340


def test_given_native_hd_then_hd_and_blur_lowers_it(clips):
    native, blurred = clips["native"], clips["blurred"]
    assert (native["lines"], native["level"], native["low_definition"]) == (720, "hd", False)
    assert blurred["stored_lines"] == 720 and blurred["low_definition"] and blurred["limited_by"] in ("blur", "upscaling")
    assert blurred["lines"] < 360


def test_given_cinepak_blocks_then_more_blockiness_than_h264_at_low_crf(clips):
    assert clips["cinepak"]["blockiness"] > clips["native"]["blockiness"]


def test_pure_parts():
    assert blur_lines(-0.5, 360) == math.inf and blur_lines(1.0, 360) == 180.0
    assert blur_lines(math.inf, 360) == 0.0
    assert effective_lines(1080, 1080, math.inf) == (1080, "frame size")
    assert effective_lines(1080, 300, 500.0) == (300, "upscaling")
    assert effective_lines(720, 720, 90.4) == (90, "blur")
    assert [level_of(n) for n in (240, 359, 360, 719, 720, 2160)] == ["low", "low", "sd", "sd", "hd", "hd"]
    rng = np.random.default_rng(0)
    blocks = np.kron(rng.integers(0, 255, (1, 8, 8)), np.ones((1, 8, 8))).astype(np.float32)
    smooth = np.tile(np.linspace(0, 255, 64, dtype=np.float32), (1, 64, 1))
    assert grid_blockiness(blocks) > 10 and grid_blockiness(smooth) == 0.0
    assert grid_blockiness(np.zeros((1, 8, 8), np.float32)) == 0.0  # smaller than two blocks


def test_given_bad_params_then_validation_error():
    with pytest.raises(ValidationError, match="greater than or equal to 16"):
        DefinitionParams(low_below=4)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        DefinitionParams(lines=3)


def test_declared_serializable():
    spec = get_operator("definition@1")
    assert spec.group == "quality" and spec.limits
    assert list(spec.fields)[:3] == ["lines", "level", "low_definition"]
    json.dumps(spec.schema())
