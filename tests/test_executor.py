"""The executor and the local engine on real small media, including hostile items."""

from __future__ import annotations

import json
from pathlib import Path

import media_fixtures as fx
import polars as pl
import pytest

from factorline.batch import run_pipeline
from factorline.cache import StepCache
from factorline.contract.items import Limits
from factorline.engine import executor as executor_module
from factorline.engine.compiler import compile_pipeline
from factorline.engine.executor import Engine
from factorline.engine.records import read_jsonl

DECISIONS = {
    "moderation": {
        "policy": "first",
        "on_missing": "review",
        "on_error": "error",
        "rules": [
            {"id": "bars", "when": "border.area_ratio > 0.2", "outcome": "review", "reason": "bars"},
            {"id": "ok", "default": True, "outcome": "accept"},
        ],
    }
}
VIDEO_DOC = {
    "name": "t_video",
    "input": "video",
    "sampling": {"fps": 2.0, "max_frames": 8},
    "steps": {"border": {"op": "black_border"}, "clarity": {"op": "clarity"}},
    "decisions": DECISIONS,
}
IMAGE_DOC = {**VIDEO_DOC, "name": "t_image", "input": "image"}
RECORD_KEYS = {"item", "factors", "decisions", "error", "pipeline", "timings_ms"}
ITEM_KEYS = {"id", "path", "kind", "duration_s", "width", "height", "fps", "display_width", "display_height", "pixel_aspect",
             "partial", "partial_reason", "decoded_s", "frames", "frames_planned"}


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return fx.letterboxed_clip(tmp_path_factory.mktemp("clip") / "letterbox.mp4")


def test_record_has_exactly_the_documented_shape(clip, tmp_path):
    record = Engine(compile_pipeline(VIDEO_DOC), cache=StepCache(tmp_path)).run_item(clip)
    assert set(record) == RECORD_KEYS
    assert set(record["item"]) == ITEM_KEYS
    assert record["error"] is None
    assert record["item"]["id"].startswith("sha256:") and record["item"]["kind"] == "video"
    assert (record["item"]["width"], record["item"]["height"]) == (320, 240)
    border = record["factors"]["border"]
    assert abs(border["top"] - 24) <= 2 and abs(border["bottom"] - 24) <= 2 and border["fill"] == "black"
    assert set(record["factors"]["clarity"]) == {"score", "frame_scores", "evidence"}
    assert len(record["factors"]["clarity"]["frame_scores"]) == 6  # 3 s at 2 fps
    decision = record["decisions"]["moderation"]
    assert decision["outcome"] == "accept" and decision["rule"] == "ok"
    assert record["pipeline"]["name"] == "t_video" and record["pipeline"]["fingerprint"].startswith("sha256:")
    assert {"probe", "decode", "border", "clarity", "total"} <= set(record["timings_ms"])
    json.dumps(record, allow_nan=False)


def test_second_run_decodes_nothing(clip, tmp_path, monkeypatch):
    engine = Engine(compile_pipeline(VIDEO_DOC), cache=StepCache(tmp_path))
    first = engine.run_item(clip)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded on a cached run")

    monkeypatch.setattr(executor_module, "decode_frames", no_decoding)
    monkeypatch.setattr(executor_module, "probe", no_decoding)
    second = Engine(compile_pipeline(VIDEO_DOC), cache=StepCache(tmp_path)).run_item(clip)
    assert second["error"] is None
    assert second["factors"] == first["factors"] and second["decisions"] == first["decisions"]
    assert "decode" not in second["timings_ms"]


def test_changed_parameter_recomputes_only_that_step(clip, tmp_path, monkeypatch):
    Engine(compile_pipeline(VIDEO_DOC), cache=StepCache(tmp_path)).run_item(clip)
    changed = json.loads(json.dumps(VIDEO_DOC))
    changed["steps"]["border"]["params"] = {"threshold": 40}
    calls = []
    real = executor_module.decode_frames
    monkeypatch.setattr(executor_module, "decode_frames", lambda *a, **k: calls.append(1) or real(*a, **k))
    record = Engine(compile_pipeline(changed), cache=StepCache(tmp_path)).run_item(clip)
    assert calls == [1] and "border" in record["timings_ms"] and "clarity" not in record["timings_ms"]


def test_operator_failure_becomes_the_items_error(clip, monkeypatch):
    plan = compile_pipeline(VIDEO_DOC)
    spec = plan.steps[1].spec

    def broken(inputs, params, *, item, resources):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(plan.steps[1], "spec", type(spec)(**{**spec.__dict__, "run": broken}))
    record = Engine(plan).run_item(clip)
    assert record["error"]["type"] == "OperatorError"
    assert record["error"]["path"] == f"steps.{plan.steps[1].name}"
    assert "kaboom" in record["error"]["message"]
    assert record["decisions"]["moderation"]["outcome"] == "error"


def test_contract_break_is_caught(clip, monkeypatch):
    plan = compile_pipeline(VIDEO_DOC)
    spec = plan.steps[0].spec
    sloppy = type(spec)(**{**spec.__dict__, "run": lambda inputs, params, *, item, resources: {"top": "wide"}})
    monkeypatch.setattr(plan.steps[0], "spec", sloppy)
    record = Engine(plan).run_item(clip)
    assert record["error"]["type"] == "OperatorError"
    assert "broke its contract" in record["error"]["message"] and "missing field 'bottom'" in record["error"]["message"]


def test_item_time_limit(clip):
    record = Engine(compile_pipeline(VIDEO_DOC), limits=Limits(item_timeout_s=0.0)).run_item(clip)
    assert record["error"]["type"] == "ItemTimeoutError"


def test_wrong_item_kind_is_an_error_record_naming_the_file(clip, tmp_path):
    record = Engine(compile_pipeline(IMAGE_DOC)).run_item(clip)
    assert record["error"]["type"] == "UnsupportedMediaError" and record["error"]["path"] == "input"
    assert record["error"]["message"] == (
        f"{clip} is a video, but pipeline 't_image' reads images (input: image); run it with a pipeline whose "
        "input is video, or leave videos out of the inputs")
    assert record["item"]["kind"] == "video"  # probed: the record says what the item is
    still = fx.make_jpeg(tmp_path / "photo.jpg")
    record = Engine(compile_pipeline(VIDEO_DOC)).run_item(still)
    assert record["error"]["message"].startswith(f"{still} is an image, but pipeline 't_video' reads videos")
    assert record["item"]["kind"] == "image" and record["item"]["partial"] is None


@pytest.fixture(scope="module")
def hostile_corpus(tmp_path_factory, clip) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("hostile")
    (d / "zero.mp4").write_bytes(b"")
    (d / "notes.mp4").write_text("this is a text file, not a video\n" * 20)
    noisy = fx.make_video(d / "noisy.mp4", 2.0, size=(160, 128), noise=True)
    return {
        "good": clip,
        "zero": d / "zero.mp4",
        "truncated": fx.truncate(noisy, d / "truncated.mp4", 0.4),
        "text": d / "notes.mp4",
        "big4k": fx.make_4k_video(d / "big4k.mp4", frames=6, fps=2.0),
        "rotated": fx.remux(clip, d / "rotated.mp4", rotation_cw=90),
    }


def test_bad_items_get_error_records_and_the_run_goes_on(hostile_corpus, tmp_path):
    paths = [str(p) for p in hostile_corpus.values()]
    doc = json.loads(json.dumps(VIDEO_DOC))
    doc["sampling"]["max_frames"] = 2  # the 4K clip is longer than the frame cap
    summary = run_pipeline(doc, paths, tmp_path / "run", cache_dir=None)
    records = {Path(r["item"]["path"]).stem: r for r in read_jsonl(tmp_path / "run" / "results.jsonl")}
    assert summary.total == len(paths) == summary.succeeded + summary.failed
    assert records["zero"]["error"]["type"] == "CorruptMediaError" and "empty (0 bytes)" in records["zero"]["error"]["message"]
    assert records["notes"]["error"]["type"] == "UnsupportedMediaError" and "text" in records["notes"]["error"]["message"]
    truncated = records["truncated"]
    assert truncated["error"] is None or truncated["error"]["type"] == "CorruptMediaError"
    big = records["big4k"]
    assert big["error"] is None and (big["item"]["width"], big["item"]["height"]) == (3840, 2160)
    assert len(big["factors"]["clarity"]["frame_scores"]) == 2
    rotated = records["rotated"]
    assert rotated["error"] is None and (rotated["item"]["width"], rotated["item"]["height"]) == (240, 320)
    # Bars were top/bottom in stored orientation: once rotated for display they are left/right.
    assert abs(rotated["factors"]["border"]["left"] - 24) <= 2 and rotated["factors"]["border"]["top"] <= 2
    assert records["letterbox"]["error"] is None
    for r in records.values():
        if r["error"]:
            assert r["decisions"]["moderation"]["outcome"] == "error"


def test_decompression_bomb_png_is_refused(tmp_path):
    bomb = fx.make_png_claiming(tmp_path / "bomb.png", 20000, 20000)
    good = fx.make_jpeg(tmp_path / "good.jpg", size=(128, 96))
    summary = run_pipeline(IMAGE_DOC, [str(bomb), str(good)], tmp_path / "run", cache_dir=None)
    records = {Path(r["item"]["path"]).name: r for r in read_jsonl(tmp_path / "run" / "results.jsonl")}
    assert records["bomb.png"]["error"]["type"] == "MediaLimitError"
    assert records["good.jpg"]["error"] is None and records["good.jpg"]["item"]["kind"] == "image"
    assert summary.failed == 1 and summary.succeeded == 1


def test_parquet_has_typed_columns_and_matches_jsonl(hostile_corpus, tmp_path):
    paths = [str(hostile_corpus["good"]), str(hostile_corpus["zero"])]
    run_pipeline(VIDEO_DOC, paths, tmp_path / "run", cache_dir=None)
    frame = pl.read_parquet(tmp_path / "run" / "results.parquet")
    assert frame.height == 2
    factors = frame.select(pl.col("factors").struct.field("border").struct.field("area_ratio")).to_series()
    assert factors.dtype == pl.Float64 and factors[1] is None
    outcomes = frame.select(pl.col("decisions").struct.field("moderation").struct.field("outcome")).to_series().to_list()
    jsonl = list(read_jsonl(tmp_path / "run" / "results.jsonl"))
    assert outcomes == [r["decisions"]["moderation"]["outcome"] for r in jsonl]
    assert frame["item"].struct.field("path").to_list() == paths


def test_workers_give_the_same_records(hostile_corpus, tmp_path):
    paths = [str(p) for k, p in hostile_corpus.items() if k in {"good", "zero", "text", "rotated"}]
    run_pipeline(VIDEO_DOC, paths, tmp_path / "one", cache_dir=None, workers=1)
    run_pipeline(VIDEO_DOC, paths, tmp_path / "two", cache_dir=None, workers=2)

    def stable(run: str) -> list[dict]:
        return [{k: v for k, v in r.items() if k != "timings_ms"} for r in read_jsonl(tmp_path / run / "results.jsonl")]

    assert stable("one") == stable("two")
