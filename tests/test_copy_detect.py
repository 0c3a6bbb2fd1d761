"""copy_of@1: the source, time ranges and transform of copies of the sample clips; its pure parts."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from pydantic import ValidationError

from factorline.contract.errors import OperatorError
from factorline.contract.items import Limits, Sampling
from factorline.media import decode_frames, probe
from factorline.media.encode import write_video
from factorline.models.hub import ModelHub
from factorline.operators.copy_detect import CopyParams, copy_of, library
from factorline.samples.sources import read_clip
from factorline.testing import check_operator
from factorline.vectors.build import Embedder
from factorline.vectors.copies import align, align_grid, crop_of, is_static, register, runs, transforms_found
from factorline.vectors.library import build_index

SAMPLING = Sampling(fps=2.0, max_frames=10)


@pytest.fixture(scope="module")
def setup(sample_set, tmp_path_factory):
    """A library of three sample clips and copies made from the clean clip (mirrored, cropped)."""
    work = tmp_path_factory.mktemp("copies")
    mp = pytest.MonkeyPatch()
    mp.setenv("FACTORLINE_CACHE", str(work / "cache"))
    for name in ("clean.mp4", "bikes.mp4", "upscaled.mp4"):
        (work / "library").mkdir(exist_ok=True)
        shutil.copy(sample_set / "videos" / name, work / "library" / name)
    build_index([str(work / "library")], work / "index", Embedder.load("effnet-lite0"), sampling=SAMPLING)
    frames = read_clip(sample_set / "videos" / "clean.mp4").frames
    write_video(work / "mirror.mp4", [np.ascontiguousarray(f[:, ::-1]) for f in frames], fps=25.0, crf=30)
    h, w = frames[0].shape[:2]
    box = [w // 8, h // 8, w * 3 // 4, h * 3 // 4]  # the centre 75 %, scaled back up

    def cropped(f):
        from factorline.samples.transforms import resize

        return resize(f[box[1] : box[1] + box[3], box[0] : box[0] + box[2]], (w, h))

    write_video(work / "crop.mp4", [cropped(f) for f in frames], fps=25.0)
    yield work, box
    mp.undo()


def run(path, params: CopyParams) -> dict:
    info = probe(path)
    frames = decode_frames(path, info, SAMPLING, Limits())
    return copy_of({"frames": frames}, params, item=info, resources={"models": ModelHub()})


def test_a_letterboxed_copy_names_its_source_time_range_and_bars(setup, sample_set):
    work, _ = setup
    out = run(sample_set / "videos" / "letterbox.mp4", CopyParams(reference=str(work / "index")))
    truth = json.loads(next(line for line in (sample_set / "ground_truth.jsonl").read_text().splitlines() if "letterbox.mp4" in line))
    assert out["is_copy"] and out["source"] == "clean.mp4" and out["matched_share"] == 1.0 and out["score"] > 0.8
    expected = truth["factors"]["black_border"]
    assert out["bars"][0] == pytest.approx(expected["top"], abs=2) and out["bars"][2:] == [0, 0]
    assert "bars" in out["transforms"] and "mirror" not in out["transforms"] and "speed" not in out["transforms"]
    assert out["segments"][0]["start_s"] == 0.0 and out["segments"][-1]["end_s"] >= 4.5
    assert out["source_segments"][0]["start_s"] == pytest.approx(0.0, abs=0.5) and out["evidence"]


def test_mirror_and_crop_are_found_with_the_crop_box(setup):
    work, box = setup
    params = CopyParams(reference=str(work / "index"))
    mirrored = run(work / "mirror.mp4", params)
    assert mirrored["is_copy"] and mirrored["source"] == "clean.mp4" and mirrored["mirrored"] and "mirror" in mirrored["transforms"]
    cropped = run(work / "crop.mp4", params)
    assert cropped["is_copy"] and cropped["source"] == "clean.mp4" and "crop" in cropped["transforms"]
    x, y, w, h = cropped["crop_box"]
    assert abs(x - box[0]) <= 8 and abs(y - box[1]) <= 8 and abs(w - box[2]) <= 12 and abs(h - box[3]) <= 12
    assert cropped["scale"] == pytest.approx(4 / 3, abs=0.05) and not cropped["mirrored"]


def test_different_sources_do_not_match(setup, sample_set):
    work, _ = setup
    params = CopyParams(reference=str(work / "index"))
    assert run(sample_set / "videos" / "slideshow.mp4", params)["is_copy"] is False
    bikes = run(sample_set / "videos" / "speech_zh.mp4", params)  # bikes with a voice over: a copy of bikes, not of the bunny
    assert bikes["is_copy"] and bikes["source"] == "bikes.mp4"


def test_reference_is_pinned_to_the_index_digest_and_a_changed_index_is_refused(setup, tmp_path):
    work, _ = setup
    shutil.copytree(work / "index", tmp_path / "index")
    params = CopyParams(reference=str(tmp_path / "index"))
    meta = json.loads((tmp_path / "index" / "index.json").read_text())
    assert params.reference == f"{tmp_path / 'index'}@{meta['digest']}"
    (tmp_path / "index" / "index.json").write_text(json.dumps({**meta, "digest": "sha256:" + "0" * 64}))
    with pytest.raises(OperatorError, match=r"changed since the pipeline compiled .* validate or run the pipeline again"):
        library(params.reference)
    with pytest.raises(ValidationError, match=r"expected a vector index folder .* found no index.json there"):
        CopyParams(reference=str(tmp_path / "nowhere"))


def test_the_contract_battery_with_a_library_and_without_one(setup):
    work, _ = setup
    out = check_operator("copy_of", params=CopyParams(reference=str(work / "index")))
    assert set(out) >= {"is_copy", "source", "crop_box", "transforms"}
    empty = check_operator("copy_of")
    assert empty["is_copy"] is False and empty["source"] == ""


# ------------------------------------------------------------------ pure functions


def test_time_alignment_finds_speed_offset_and_segments():
    source_t = np.arange(0.0, 5.0, 0.5)
    phases = np.random.default_rng(0).uniform(0, 2 * np.pi, 16)

    def look(t):  # a picture that changes smoothly with time, as a video's embeddings do
        return np.cos(1.3 * np.asarray(t)[:, None] + phases[None, :])

    source = look(source_t)
    query_t = np.arange(0.0, 2.5, 0.5)
    query = look(1.0 + 1.5 * query_t)  # the copy shows source time 1.0 + 1.5 t
    norm = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)
    speed, offset = align_grid(norm(query) @ norm(source).T, query_t, source_t)
    assert speed == pytest.approx(1.5, abs=0.05) and offset == pytest.approx(1.0, abs=0.25)
    assert align_grid(np.ones((3, 3)), query_t[:3], source_t[:3], static=True) == (1.0, 0.0)
    assert runs(np.array([0.0, 0.5, 1.0, 1.5, 2.0]), np.array([True, True, False, True, True]), 0.5) == [(0.0, 1.0), (1.5, 2.5)]
    query_segments, source_segments = align(np.array([0.0, 1.0, 2.0, 3.0]), np.array([True, True, True, False]), 2.0, 0.5)
    assert query_segments == [{"start_s": 0.0, "end_s": 3.0}] and source_segments == [{"start_s": 0.5, "end_s": 6.5}]
    assert is_static(np.ones((3, 4)) / 2) and not is_static(np.eye(3))


def test_registration_recovers_a_crop_of_a_photo():
    from skimage import data

    from factorline.samples.transforms import resize

    photo = data.astronaut()  # 512 x 512
    crop = resize(photo[100:400, 50:450], (600, 450))  # 400 x 300 region, scaled 1.5x
    matrix = register(crop, photo)
    assert matrix is not None
    box, scale = crop_of(matrix, (0, 450, 0, 600), (512, 512))
    assert np.allclose(box, [50, 100, 400, 300], atol=4) and scale == pytest.approx(1.5, abs=0.03)
    assert register(np.zeros((64, 64, 3), np.uint8), photo) is None  # no texture: unknown


def test_transform_names_follow_the_measurements():
    found = transforms_found(mirrored=True, bars=[40, 40, 0, 0], crop=[10, 10, 300, 200], source_size=(640, 360), scale=1.3, speed=1.5)
    assert found == ["crop", "bars", "scale", "mirror", "speed"]
    assert transforms_found(mirrored=False, bars=[0, 0, 0, 0], crop=[0, 0, 640, 360], source_size=(640, 360), scale=1.0, speed=1.02) == []
