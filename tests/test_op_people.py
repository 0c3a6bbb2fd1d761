"""nsfw@1 and faces@1: the shared NudeNet detector (optional extra factorline[nsfw])."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest
import skimage.data
from needs import needs_nudenet
from PIL import Image
from pydantic import ValidationError

from factorline.contract.errors import ResourceError
from factorline.contract.items import FrameBatch, MediaInfo
from factorline.engine.pool import GLOBAL_POOL, ResourcePool
from factorline.operators.people import (
    EXPLICIT_CLASSES,
    LABELS,
    Detection,
    FacesParams,
    NsfwParams,
    class_counts,
    class_scores,
    decode,
    evidence_records,
    letterbox,
)
from factorline.plugins import get_operator


def photo(name: str) -> np.ndarray:
    img = getattr(skimage.data, name)()
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else np.ascontiguousarray(img[..., :3])


def batch(images: np.ndarray, *, scale: float = 1.0, fps: float = 1.0) -> FrameBatch:
    n, h, w = images.shape[:3]
    return FrameBatch(np.ascontiguousarray(images), np.arange(n) / fps, round(w * scale), round(h * scale), scale=scale)


def run_op(name: str, frames: FrameBatch, resources: dict | None = None, **params) -> dict:
    spec = get_operator(name)
    item = MediaInfo(id="sha256:test", path="clip.mp4", kind="video", duration_s=float(len(frames)),
                     width=frames.source_width, height=frames.source_height, fps=1.0)
    res = resources if resources is not None else GLOBAL_POOL.get(spec.resources)
    out = spec.run({"frames": frames}, spec.params(**params), item=item, resources=res)
    assert spec.check_output(out) == []
    return out


def resize(img: np.ndarray, w: int, h: int) -> np.ndarray:
    return np.asarray(Image.fromarray(img).resize((w, h), Image.BOX))


class StubModel:
    """A detector that returns fixed detections per frame (and counts its calls)."""

    def __init__(self, per_frame: list[list[Detection]]):
        self.per_frame = per_frame
        self.calls = 0

    def detect(self, images):
        self.calls += 1
        return [self.per_frame[i % len(self.per_frame)] for i in range(len(images))]


# ------------------------------------------------------------------ optional extra missing


def test_given_nudenet_missing_when_resource_loaded_then_resource_error_with_install_hint(monkeypatch):
    # given nudenet cannot be imported and a fresh pool
    monkeypatch.setitem(sys.modules, "nudenet", None)
    pool = ResourcePool()
    for name in ("nsfw@1", "faces@1"):
        # when the operator's resources are loaded (as the executor does) then a clear error names the extra
        with pytest.raises(ResourceError, match="factorline\\[nsfw\\]"):
            pool.get(get_operator(name).resources)


def test_given_nudenet_missing_then_catalogue_still_imports_and_lists_both():
    code = ("import sys; sys.modules['nudenet'] = None; "
            "from factorline.plugins import list_operators; "
            "ids = {s.id for s in list_operators()}; print('nsfw@1' in ids, 'faces@1' in ids)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "True"]


# ------------------------------------------------------------------ pure functions


def test_letterbox_keeps_rgb_order_and_pads_bottom_right_with_black():
    img = np.zeros((100, 200, 3), np.uint8)
    img[..., 0] = 255  # red
    x, ratio = letterbox(img)
    assert x.shape == (3, 320, 320) and x.dtype == np.float32 and ratio == pytest.approx(200 / 320)
    assert x[0, :160].min() == pytest.approx(1.0) and x[1:, :160].max() == 0.0
    assert x[:, 160:].max() == 0.0  # the padding below the picture


def test_decode_maps_boxes_clips_them_and_suppresses_overlaps():
    # given 4 candidates (cx, cy, w, h in 320 px input space; 18 class scores)
    out = np.zeros((4 + len(LABELS), 4), np.float32)
    face, breast = LABELS.index("FACE_FEMALE"), LABELS.index("FEMALE_BREAST_EXPOSED")
    out[:4, 0], out[4 + face, 0] = (100, 100, 40, 40), 0.9  # a face
    out[:4, 1], out[4 + breast, 1] = (102, 101, 40, 40), 0.6  # overlapping, lower: suppressed
    out[:4, 2], out[4 + breast, 2] = (10, 250, 40, 40), 0.7  # crosses the left edge: clipped
    out[:4, 3], out[4 + face, 3] = (250, 50, 30, 30), 0.15  # under the candidate score
    # when decoded for a 640x480 frame (2 frame px per input px)
    dets = decode(out, 2.0, 640, 480)
    # then two detections, in frame px, most confident first
    assert [d.label for d in dets] == ["FACE_FEMALE", "FEMALE_BREAST_EXPOSED"]
    assert dets[0].box == pytest.approx((160, 160, 80, 80))
    assert dets[1].box == pytest.approx((0, 460, 60, 20))  # x from -20 clipped to 0; y clipped at 480
    assert dets[0].score == pytest.approx(0.9)


def _det(label, score, box=(10.0, 20.0, 30.0, 40.0)):
    return Detection(label, score, box)


def test_scores_counts_and_evidence_from_detections():
    dets = [
        [_det("FACE_FEMALE", 0.8), _det("FACE_MALE", 0.45), _det("FACE_MALE", 0.3)],
        [],
        [_det("BUTTOCKS_EXPOSED", 0.7), _det("FEET_EXPOSED", 0.9)],
    ]
    assert class_scores(dets, EXPLICIT_CLASSES).tolist() == [0.0, 0.0, 0.7]
    assert class_counts(dets, ("FACE_FEMALE", "FACE_MALE"), 0.4).tolist() == [2, 0, 0]
    ev = evidence_records(dets, np.array([0.0, 1.0, 2.0]), ("FACE_FEMALE", "FACE_MALE"), 0.4, scale=2.0)
    assert ev == [
        {"t": 0.0, "box": [20.0, 40.0, 60.0, 80.0], "text": "FACE_FEMALE", "score": 0.8},
        {"t": 0.0, "box": [20.0, 40.0, 60.0, 80.0], "text": "FACE_MALE", "score": 0.45},
    ]


def test_evidence_is_capped_and_spread_over_frames_first():
    dets = [[_det("FACE_MALE", 0.9 - 0.01 * i), _det("FACE_MALE", 0.85 - 0.01 * i, (50.0, 0, 9, 9))] for i in range(10)]
    ev = evidence_records(dets, np.arange(10.0), ("FACE_MALE",), 0.4, scale=1.0)
    # the best face of 8 different frames, not two faces of the 4 best frames
    assert [e["t"] for e in ev] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]


def test_nsfw_logic_on_stub_detections():
    # given a stub detector: frame 0 clean, frame 1 one weak and one strong explicit part, frame 2 a male chest
    stub = StubModel([
        [_det("FACE_FEMALE", 0.9)],
        [_det("BUTTOCKS_EXPOSED", 0.45), _det("FEMALE_BREAST_EXPOSED", 0.8, (100.0, 50.0, 20.0, 10.0))],
        [_det("MALE_BREAST_EXPOSED", 0.95)],
    ])
    frames = batch(np.zeros((3, 90, 160, 3), np.uint8), scale=4.0)
    out = run_op("nsfw", frames, {"nudenet": stub})
    # then the score is the max explicit confidence; the weak part is not a label; the male chest does not count
    assert out["score"] == 0.8 and out["labels"] == ["FEMALE_BREAST_EXPOSED"]
    assert out["evidence"] == [
        {"t": 1.0, "box": [400.0, 200.0, 80.0, 40.0], "text": "FEMALE_BREAST_EXPOSED", "score": 0.8}
    ]
    # and aggregators, the score threshold and the class list are parameters
    assert run_op("nsfw", frames, {"nudenet": stub}, aggregate="mean")["score"] == pytest.approx(0.8 / 3, abs=1e-4)
    assert run_op("nsfw", frames, {"nudenet": stub}, aggregate="share_above")["score"] == pytest.approx(1 / 3, abs=1e-4)
    low = run_op("nsfw", frames, {"nudenet": stub}, min_score=0.4)
    assert low["labels"] == ["FEMALE_BREAST_EXPOSED", "BUTTOCKS_EXPOSED"]
    wide = run_op("nsfw", frames, {"nudenet": stub}, classes=[*EXPLICIT_CLASSES, "MALE_BREAST_EXPOSED"])
    assert wide["score"] == 0.95 and wide["labels"][0] == "MALE_BREAST_EXPOSED"


def test_given_nsfw_and_faces_on_same_batch_then_detector_runs_once():
    stub = StubModel([[_det("FACE_MALE", 0.7)]])
    frames = batch(np.zeros((2, 32, 32, 3), np.uint8))
    assert run_op("faces", frames, {"nudenet": stub})["max_faces"] == 1
    assert run_op("nsfw", frames, {"nudenet": stub})["score"] == 0.0
    assert stub.calls == 1
    other = StubModel([[]])  # a different model is not served the first one's detections
    assert run_op("faces", frames, {"nudenet": other})["max_faces"] == 0 and other.calls == 1


# ------------------------------------------------------------------ the real detector


def test_given_nudenet_not_installed_then_resource_error(monkeypatch):
    from factorline.operators import people

    monkeypatch.setattr(people.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ResourceError, match="factorline\\[nsfw\\]"):
        ResourcePool().get(("nudenet",))


@needs_nudenet
def test_loader_runs_none_of_nudenets_code():
    code = ("import sys; from factorline.operators.people import load_nudenet; "
            "load_nudenet(); print('nudenet' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False"]


@needs_nudenet
def test_labels_are_nudenets_class_order():
    import nudenet.nudenet

    assert list(LABELS) == list(getattr(nudenet.nudenet, "__labels"))


@needs_nudenet
def test_both_operators_share_one_nudenet_resource():
    nsfw_spec, faces_spec = get_operator("nsfw@1"), get_operator("faces@1")
    assert nsfw_spec.resources == faces_spec.resources == ("nudenet",)
    pool = ResourcePool()
    assert pool.get(nsfw_spec.resources)["nudenet"] is pool.get(faces_spec.resources)["nudenet"]


@needs_nudenet
def test_detections_match_nudenets_own_detector():
    # nudenet 3.4's detect() swaps R and B of 3-channel input before its blob swaps them back
    # (NudeNet issue #203), so handing it RGB feeds the model RGB, as we do.
    from nudenet import NudeDetector

    reference = NudeDetector()
    model = GLOBAL_POOL.get(("nudenet",))["nudenet"]
    for name in ("astronaut", "camera", "coffee"):
        img = photo(name)
        ref = sorted(reference.detect(img), key=lambda d: -d["score"])
        ours = model.detect([img])[0]
        assert [d.label for d in ours] == [d["class"] for d in ref], name
        for d, r in zip(ours, ref):
            assert d.score == pytest.approx(r["score"], abs=0.01)
            assert np.abs(np.array(d.box) - np.array(r["box"])).max() <= 6, (name, d.box, r["box"])


@needs_nudenet
def test_given_astronaut_then_one_face_at_her_face():
    out = run_op("faces", batch(photo("astronaut")[None]))
    assert (out["max_faces"], out["face_ratio"]) == (1, 1.0)
    (ev,) = out["evidence"]
    x, y, w, h = ev["box"]
    assert 190 <= x + w / 2 <= 250 and 110 <= y + h / 2 <= 160  # her face, in the 512x512 photo
    assert ev["text"] == "FACE_FEMALE" and ev["score"] >= 0.6


@needs_nudenet
@pytest.mark.parametrize("name", ["coffee", "chelsea", "rocket"])
def test_given_photos_without_people_then_no_faces(name):
    out = run_op("faces", batch(photo(name)[None]))
    assert (out["max_faces"], out["face_ratio"], out["evidence"]) == (0, 0.0, [])


@needs_nudenet
@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_given_ordinary_photos_then_nsfw_score_low(name):
    out = run_op("nsfw", batch(photo(name)[None]))
    assert out["score"] < 0.35 and out["labels"] == [] and out["evidence"] == []


@needs_nudenet
def test_given_frames_downscaled_by_two_then_boxes_in_source_px():
    # given the astronaut analysed at 256x256 for a 512x512 source (scale 2)
    full = run_op("faces", batch(photo("astronaut")[None]))["evidence"][0]["box"]
    half = run_op("faces", batch(resize(photo("astronaut"), 256, 256)[None], scale=2.0))
    box = half["evidence"][0]["box"]
    # then the face box is reported in source px: close to the full-resolution one
    assert np.abs(np.array(box) - np.array(full)).max() <= 8, (box, full)


@needs_nudenet
def test_given_video_frames_then_face_ratio_counts_frames_with_faces():
    face = resize(photo("astronaut"), 360, 360)
    frames = np.zeros((4, 360, 640, 3), np.uint8)
    frames[:] = resize(photo("coffee"), 640, 360)
    frames[1, :, 140:500] = face
    frames[3, :, 140:500] = face
    out = run_op("faces", batch(frames))
    assert (out["max_faces"], out["face_ratio"]) == (1, 0.5)
    assert [e["t"] for e in out["evidence"]] == [1.0, 3.0]


@needs_nudenet
@pytest.mark.parametrize("shape, value", [((16, 16, 3), 0), ((16, 16, 3), 200), ((360, 640, 3), 128), ((1, 1, 3), 50)])
def test_given_tiny_or_flat_frames_then_no_detections_and_no_crash(shape, value):
    frames = batch(np.full((2, *shape), value, np.uint8))
    assert run_op("faces", frames) == {"max_faces": 0, "face_ratio": 0.0, "evidence": []}
    assert run_op("nsfw", frames) == {"score": 0.0, "labels": [], "evidence": []}


@needs_nudenet
def test_batched_and_single_frame_detections_agree():
    model = GLOBAL_POOL.get(("nudenet",))["nudenet"]
    imgs = [resize(photo(n), 640, 360) for n in ("astronaut", "camera", "coffee")]
    together = model.detect(imgs, batch_size=8)
    alone = [model.detect([img], batch_size=1)[0] for img in imgs]
    for a, b in zip(together, alone):
        assert [d.label for d in a] == [d.label for d in b]
        assert all(abs(x.score - y.score) < 1e-3 for x, y in zip(a, b))


@needs_nudenet
def test_ms_per_frame_at_640x360():
    model = GLOBAL_POOL.get(("nudenet",))["nudenet"]
    frames = np.stack([resize(photo("astronaut"), 640, 360)] * 8)
    model.detect(frames[:1])  # warm up
    start = time.perf_counter()
    model.detect(frames)
    ms = (time.perf_counter() - start) / 8 * 1000
    print(f"nudenet (nsfw + faces, one pass): {ms:.1f} ms per 640x360 frame")
    assert ms < 1000  # measured ~40-50 ms on 2 shared CPU cores


# ------------------------------------------------------------------ declarations


@pytest.mark.parametrize("name, fields", [("nsfw@1", ["score", "labels"]), ("faces@1", ["max_faces", "face_ratio"])])
def test_operators_are_declared_and_serializable(name, fields):
    spec = get_operator(name)
    assert spec.group == "people" and list(spec.fields) == fields
    json.dumps(spec.schema())


@needs_nudenet
def test_operators_are_deterministic():
    frames = batch(np.stack([photo("astronaut"), photo("camera")]))
    assert run_op("nsfw", frames) == run_op("nsfw", batch(frames.images.copy()))
    assert run_op("faces", frames) == run_op("faces", batch(frames.images.copy()))


@pytest.mark.parametrize(
    "model, params, match",
    [
        (NsfwParams, {"aggregate": "longest_run"}, "Input should be"),
        (NsfwParams, {"classes": ["NAKED"]}, "Input should be"),
        (NsfwParams, {"classes": []}, "at least 1 item"),
        (NsfwParams, {"min_score": 1.5}, "less than or equal to 1"),
        (FacesParams, {"min_score": -0.1}, "greater than or equal to 0"),
        (FacesParams, {"minscore": 0.5}, "Extra inputs are not permitted"),
    ],
)
def test_given_bad_params_then_validation_error(model, params, match):
    with pytest.raises(ValidationError, match=match):
        model(**params)
