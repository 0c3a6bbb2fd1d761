"""face_match@1: faces of a watch-list gallery found in stills and videos, offline (dlib)."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from needs import needs_faces
from PIL import Image

from factorline.cache import StepCache
from factorline.contract.errors import ConfigError, PipelineError
from factorline.contract.items import FrameBatch, MediaInfo
from factorline.engine.compiler import compile_pipeline
from factorline.engine.executor import Engine
from factorline.media.encode import write_video
from factorline.operators import _dlib_faces as dl
from factorline.operators.face_match import DEFAULT_THRESHOLD, FaceMatchParams, face_match, reduce
from factorline.testing import check_operator

pytestmark = needs_faces

ASTRONAUT = skimage.data.astronaut()  # Eileen Collins; her face is at about x 175-265, y 76-166
ITEM = MediaInfo(id="sha256:" + "2" * 64, path="x.png", kind="image", duration_s=0.0, width=512, height=512, fps=0.0)


def lfw_face(i: int) -> np.ndarray:
    """An LFW crop of scikit-image's lfw_subset, scaled to 150 px RGB (a face the detector finds)."""
    crop = (skimage.data.lfw_subset()[i] * 255).round().astype(np.uint8)
    return np.repeat(np.asarray(Image.fromarray(crop).resize((150, 150), Image.BICUBIC))[..., None], 3, axis=2)


def canvas(image: np.ndarray, side: int = 512) -> np.ndarray:
    """``image`` in the top-left corner of a black side x side frame (frames of a batch share a size)."""
    out = np.zeros((side, side, 3), np.uint8)
    h, w = min(side, image.shape[0]), min(side, image.shape[1])
    out[:h, :w] = image[:h, :w]
    return out


@pytest.fixture(scope="module")
def model() -> dl.FaceModel:
    return dl.load_face_model()


@pytest.fixture
def gallery(tmp_path):
    folder = tmp_path / "watch"
    folder.mkdir()
    Image.fromarray(ASTRONAUT).save(folder / "eileen_collins.png")
    (folder / "someone").mkdir()
    Image.fromarray(lfw_face(3)).save(folder / "someone" / "1.png")
    return folder


def run(model, images, params: FaceMatchParams, times=None) -> dict:
    frames = FrameBatch(images=np.stack(images), times=np.asarray(times if times is not None else range(len(images)), float),
                        source_width=images[0].shape[1], source_height=images[0].shape[0])
    return face_match({"frames": frames}, params, item=ITEM, resources={"dlib_faces": model})


def test_the_gallery_person_is_found_in_a_still_with_box_and_distance(model, gallery):
    out = run(model, [ASTRONAUT], FaceMatchParams(gallery=str(gallery)))
    assert out["matched"] and out["who"] == ["eileen_collins"] and out["times"] == [0.0]
    assert out["distances"][0] < 0.05  # the same photo
    x, y, w, h = out["matches"][0]["box"]
    assert 150 < x < 200 and 50 < y < 110 and 60 < w < 130 and 60 < h < 130
    assert out["gallery_size"] == 2 and out["threshold"] == DEFAULT_THRESHOLD
    assert out["evidence"][0]["text"] == "eileen_collins"


def test_a_transformed_copy_still_matches_and_subfolders_name_people(model, gallery):
    copy = np.ascontiguousarray(ASTRONAUT[:, ::-1])  # mirrored and darker
    copy = (copy * 0.7).astype(np.uint8)
    other = canvas(np.ascontiguousarray(lfw_face(3)[:, ::-1]))
    out = run(model, [copy, other], FaceMatchParams(gallery=str(gallery)), times=[0.0, 2.5])
    assert out["who"] == ["eileen_collins", "someone"] and out["times"] == [0.0, 2.5]
    assert all(d <= DEFAULT_THRESHOLD for d in out["distances"])


def test_faces_not_in_the_gallery_are_not_matched(model, tmp_path):
    folder = tmp_path / "others"
    folder.mkdir()
    for i in (0, 3, 7):  # three LFW people; the astronaut is not among them
        Image.fromarray(lfw_face(i)).save(folder / f"person_{i}.png")
    out = run(model, [ASTRONAUT], FaceMatchParams(gallery=str(folder)))
    assert out["faces"] >= 1 and not out["matched"] and out["who"] == [] and out["matches"] == []
    assert out["evidence"] and all(e["text"] == "unknown face" and e["score"] > DEFAULT_THRESHOLD for e in out["evidence"])


def test_an_empty_gallery_counts_faces_and_matches_nobody(model):
    coffee = skimage.data.coffee()
    out = run(model, [ASTRONAUT, canvas(coffee)], FaceMatchParams())
    assert out["faces"] >= 1 and out["face_ratio"] == 0.5 and out["who"] == [] and out["gallery_size"] == 0


def test_the_person_is_found_in_a_video_with_the_time_they_appear(model, gallery, tmp_path):
    coffee = canvas(skimage.data.coffee())
    frames = [ASTRONAUT if i >= 5 else coffee for i in range(10)]
    path = write_video(tmp_path / "clip.mp4", frames, fps=5.0, crf=18)
    doc = {"name": "watch", "input": "video", "sampling": {"fps": 5.0},
           "steps": {"people": {"op": "face_match", "params": {"gallery": str(gallery)}}},
           "decisions": {"politics": {"on_missing": "review", "on_error": "review", "rules": [{"id": "watched", "when": "people.matched", "outcome": "review"},
                                                {"id": "ok", "default": True, "outcome": "accept"}]}}}
    record = Engine(compile_pipeline(doc), cache=StepCache(tmp_path / "cache")).run_item(path)
    assert record["error"] is None, record["error"]
    people = record["factors"]["people"]
    assert people["who"] == ["eileen_collins"] and people["times"][0] == pytest.approx(1.0, abs=0.21)
    assert {round(m["t"], 1) for m in people["matches"]} == {1.0, 1.2, 1.4, 1.6, 1.8}
    assert record["decisions"]["politics"]["outcome"] == "review"


def test_the_gallery_content_is_in_the_fingerprint(gallery):
    doc = {"name": "watch", "input": "image", "steps": {"people": {"op": "face_match", "params": {"gallery": str(gallery)}}}}
    first = compile_pipeline(doc)
    assert first.steps[0].params.gallery_digest.startswith("sha256:")
    assert compile_pipeline(doc).factors_fingerprint == first.factors_fingerprint
    Image.fromarray(ASTRONAUT[::-1].copy()).save(gallery / "eileen_collins.png")  # same name, other photo
    changed = compile_pipeline(doc)
    assert changed.factors_fingerprint != first.factors_fingerprint and changed.fingerprint != first.fingerprint
    given = {**doc, "steps": {"people": {"op": "face_match", "params": {"gallery": str(gallery), "gallery_digest": "sha256:x"}}}}
    assert compile_pipeline(given).steps[0].params.gallery_digest == changed.steps[0].params.gallery_digest


def test_a_bad_gallery_says_what_was_expected_where_and_how_to_fix_it(tmp_path, model):
    doc = {"name": "watch", "input": "image", "steps": {"people": {"op": "face_match", "params": {"gallery": str(tmp_path / "nope")}}}}
    with pytest.raises(PipelineError, match=r"steps\.people\.params.*is not a folder.*create it or fix the path"):
        compile_pipeline(doc)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"holds no photo .*add one photo per person"):
        dl.gallery_files(tmp_path / "empty")
    faceless = tmp_path / "faceless"
    faceless.mkdir()
    Image.fromarray(skimage.data.coffee()).save(faceless / "cup.png")
    with pytest.raises(ConfigError, match=r"cup\.png: no face found; expected one clear, frontal face"):
        run(model, [ASTRONAUT], FaceMatchParams(gallery=str(faceless)))
    (faceless / "broken.jpg").write_bytes(b"not an image")
    with pytest.raises(ConfigError, match=r"broken\.jpg is not a readable image"):
        model.gallery(faceless, dl.gallery_digest(faceless))


@pytest.mark.parametrize("shape,value", [((1, 1, 3), 0), ((20, 31, 3), 128), ((64, 64, 3), 255), ((2, 900, 3), 0)])
def test_tiny_flat_and_grey_frames_never_crash(model, gallery, shape, value):
    out = run(model, [np.full(shape, value, np.uint8)], FaceMatchParams(gallery=str(gallery)))
    assert out["faces"] == 0 and out["who"] == [] and out["evidence"] == []


def test_a_huge_frame_is_reduced_and_boxes_come_back_in_source_pixels(model, gallery):
    huge = np.kron(ASTRONAUT, np.ones((6, 6, 1), np.uint8))  # 3072 px
    small, k = reduce(huge, 1280)
    assert k == 3.0 and small.shape == (1024, 1024, 3)
    out = run(model, [huge], FaceMatchParams(gallery=str(gallery)))
    assert out["who"] == ["eileen_collins"]
    x, y, w, _h = out["matches"][0]["box"]
    assert 900 < x < 1200 and 300 < y < 660 and 360 < w < 780


def test_keeps_the_contract():
    out = check_operator("face_match")
    assert out["gallery_size"] == 0 and out["faces"] >= 1  # the battery's frames are the astronaut
