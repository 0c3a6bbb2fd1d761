"""Media that ends early: a file cut mid-stream keeps its factors and its record says so.

A Matroska header keeps declaring the full duration, a GIF or a transport stream just stops:
either way the record's item section says ``partial: true`` with why, how far decoding got and
how many sampled frames were analysed of those planned, and rules read ``item.partial``.
"""

from __future__ import annotations

import re
from pathlib import Path

import media_fixtures as fx
import polars as pl
import pytest
from needs import require

from factorline.batch import run_pipeline
from factorline.cache import StepCache
from factorline.contract.errors import PipelineError
from factorline.contract.items import Limits, Sampling
from factorline.engine.compiler import compile_pipeline
from factorline.engine.executor import Engine
from factorline.engine.records import read_jsonl
from factorline.media import decode_frames, probe
from factorline.rules import factor_frame

DOC = {
    "name": "cut_check",
    "input": "video",
    "sampling": {"fps": 1.0, "max_frames": 8},
    "steps": {"clarity": {"op": "clarity"}, "speech": {"op": "speech"}},
    "decisions": {
        "moderation": {
            "policy": "first", "on_missing": "review", "on_error": "error",
            "rules": [{"id": "cut_short", "when": "item.partial", "outcome": "review", "reason": "the media ended early"},
                      {"id": "ok", "default": True, "outcome": "accept"}],
        }
    },
}
WHY = {".mkv": r"the picture ends at \d\.\d s although the file declares 6\.\d s; \d of 7 sampled frames analysed",
       ".ts": "the transport stream ends inside a packet: the file was cut short",
       ".gif": "the GIF has no trailer byte: the file was cut short"}


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """suffix -> (the whole 6 s clip, its first quarter)."""
    folder = tmp_path_factory.mktemp("cut")
    out = {}
    for suffix in WHY:
        whole = fx.ffmpeg_clip(folder / f"whole{suffix}")
        require(whole is not None, "Debian's ffmpeg")
        out[suffix] = whole, fx.cut_mid_stream(whole, folder / f"cut{suffix}")
    return out


@pytest.mark.parametrize("suffix", sorted(WHY))
def test_a_file_cut_mid_stream_is_a_partial_record_that_keeps_its_factors(clips, suffix):
    record = Engine(compile_pipeline(DOC)).run_item(clips[suffix][1])
    item = record["item"]
    assert record["error"] is None, record["error"]
    assert item["partial"] is True and re.search(WHY[suffix], item["partial_reason"]), item["partial_reason"]
    assert item["decoded_s"] < 3.0 and 1 <= item["frames"] <= item["frames_planned"]
    assert len(record["factors"]["clarity"]["frame_scores"]) == item["frames"]  # the decoded part was analysed
    assert record["factors"]["speech"]["has_speech"] is False
    decision = record["decisions"]["moderation"]
    assert (decision["outcome"], decision["rule"]) == ("review", "cut_short")
    assert decision["explanation"] == "item.partial true"


@pytest.mark.parametrize("suffix", sorted(WHY))
def test_the_whole_file_is_not_partial(clips, suffix):
    record = Engine(compile_pipeline(DOC)).run_item(clips[suffix][0])
    item = record["item"]
    assert (item["partial"], item["partial_reason"]) == (False, None)
    assert item["frames"] == item["frames_planned"] == 6 + (suffix != ".gif")  # 6 s at 1 fps (+ the last frame)
    assert item["decoded_s"] == pytest.approx(6.0, abs=0.1)
    assert record["decisions"]["moderation"]["rule"] == "ok"


def test_partial_is_known_when_every_step_comes_from_the_cache(clips, tmp_path):
    engine = Engine(compile_pipeline(DOC), cache=StepCache(tmp_path))
    first, second = (engine.run_item(clips[".mkv"][1]) for _ in range(2))
    assert "decode" in first["timings_ms"] and "decode" not in second["timings_ms"]  # nothing decoded again
    assert {k: second["item"][k] for k in ("partial", "decoded_s", "frames", "frames_planned", "partial_reason")} == \
           {k: first["item"][k] for k in ("partial", "decoded_s", "frames", "frames_planned", "partial_reason")}


def test_the_run_folder_and_both_evaluators_read_item_partial(clips, tmp_path):
    paths = [str(clips[".mkv"][0]), str(clips[".mkv"][1])]
    run_pipeline(DOC, paths, tmp_path / "run", cache_dir=None, isolate=False)
    records = list(read_jsonl(tmp_path / "run" / "results.jsonl"))
    assert [r["item"]["partial"] for r in records] == [False, True]
    frame = pl.read_parquet(tmp_path / "run" / "results.parquet")
    assert frame["item"].struct.field("partial").to_list() == [False, True]
    plan = compile_pipeline(DOC)
    decided = plan.decisions.decide_frame(factor_frame(frame, ["item.partial"]))
    assert decided["moderation.rule"].to_list() == [r["decisions"]["moderation"]["rule"] for r in records] == ["ok", "cut_short"]


def test_a_step_may_not_be_called_item():
    doc = {**DOC, "steps": {"item": {"op": "clarity"}}, "decisions": {}}
    with pytest.raises(PipelineError, match=r"steps\.item: the step name 'item' is reserved: rules read the item's own"):
        compile_pipeline(doc)


def test_a_held_picture_decodes_to_its_end_and_is_not_partial(tmp_path):
    # Theora codes a held frame as an empty packet: 60 of them in a row once ended decoding
    # (counted as damaged packets), so the last second was never seen.
    path = fx.held_picture_theora(tmp_path / "held.ogv")
    require(path is not None, "Debian's ffmpeg")
    info = probe(path)
    batch = decode_frames(path, info, Sampling(fps=1.0, max_frames=16), Limits())
    assert batch.times[-1] >= 8.0 and batch.end_s == pytest.approx(9.0, abs=0.05)
    assert Engine(compile_pipeline(DOC)).run_item(path)["item"]["partial"] is False
