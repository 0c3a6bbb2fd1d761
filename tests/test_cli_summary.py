"""The run summary: a few lines whatever the run's size, saying what was not analysed and why;
per-item detail with --verbose; the progress line names each finished item."""

from __future__ import annotations

import io
import os

import media_fixtures as fx
import pytest
import yaml
from corpus import PIPELINE
from needs import require
from PIL import Image
from rich.console import Console
from typer.testing import CliRunner

from factorline.batch import run_pipeline
from factorline.cli import app
from factorline.engine.records import read_jsonl


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A folder as users have them: a video, two photos, a damaged PNG, a clip cut short, a FIFO."""
    base = tmp_path_factory.mktemp("mixed")
    folder = base / "media"
    folder.mkdir()
    fx.letterboxed_clip(folder / "letterbox.mp4", seconds=2.0)
    fx.make_jpeg(folder / "photo.jpg")
    fx.make_jpeg(folder / "scan.jpg")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(300))
    whole = fx.ffmpeg_clip(base / "whole.mkv", seconds=6.0)
    require(whole is not None, "Debian's ffmpeg")
    fx.cut_mid_stream(whole, folder / "cut.mkv")
    os.mkfifo(folder / "pipe.mp4")
    pipeline = base / "cheap.yaml"
    pipeline.write_text(yaml.safe_dump(PIPELINE))
    return pipeline, folder


def _run(mixed, out, *extra):
    pipeline, folder = mixed
    args = ["run", str(pipeline), str(folder), "--out", str(out), "--no-cache", "--no-report-pictures", *extra]
    return CliRunner().invoke(app, args, catch_exceptions=False, env={"COLUMNS": "80"})


def test_the_summary_is_compact_and_says_what_was_not_analysed_and_why(mixed, tmp_path):
    result = _run(mixed, tmp_path / "run")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) <= 12, result.stdout
    text = " ".join(line.strip() for line in lines)
    assert "batch_check: 5 items, 2 succeeded, 3 failed, 0 skipped (finished before)" in text
    assert "moderation: error 3, accept 2" in text
    assert ("not analysed: 2 images — the pipeline reads videos (input: video) (photo.jpg, scan.jpg); "
            "they decide on_error") in text
    assert "failed: 1 × CorruptMediaError (broken.png): " in text and "is a damaged PNG image" in text
    assert "ended early: 1 item (cut.mkv) — factors cover the part that decoded; item.partial is true" in text
    assert "passed over: 1 input that are not media files (1 × named pipe); --verbose lists them" in text
    assert "slowest steps: " in text and f"files: {tmp_path / 'run'}/results.jsonl" in text
    assert "letterbox.mp4" not in text  # per-item rows are --verbose's (and the report's)
    records = {os.path.basename(r["item"]["path"]): r for r in read_jsonl(tmp_path / "run" / "results.jsonl")}
    assert records["photo.jpg"]["error"]["type"] == "UnsupportedMediaError"
    assert records["cut.mkv"]["error"] is None and records["cut.mkv"]["item"]["partial"] is True


def test_verbose_adds_every_item_and_every_input_passed_over(mixed, tmp_path):
    result = _run(mixed, tmp_path / "run", "--verbose")
    assert result.exit_code == 0, result.output
    assert "letterbox.mp4" in result.stdout and "scan.jpg" in result.stdout
    flat = result.stdout.replace("\n", " ")
    assert f"passed over {mixed[1] / 'pipe.mp4'}: named like media but it is a named pipe (FIFO)" in flat


def test_the_progress_line_says_how_each_item_went(mixed, tmp_path):
    buffer = io.StringIO()
    folder = mixed[1]
    paths = [str(folder / "letterbox.mp4"), str(folder / "photo.jpg")]
    run_pipeline(PIPELINE, paths, tmp_path / "run", cache_dir=None, console=Console(file=buffer, width=200))
    shown = buffer.getvalue()
    assert "photo.jpg UnsupportedMediaError (" in shown and "2/2" in shown


def test_limits_are_cli_flags_and_messages_name_them(mixed, tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # probe sets Pillow's global cap
    clip = mixed[1] / "letterbox.mp4"
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(mixed[0]), str(clip), "--out", str(out), "--no-cache",
                                      "--no-report-pictures", "--max-pixels", "1000"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    [record] = read_jsonl(out / "results.jsonl")
    assert record["error"]["type"] == "MediaLimitError"
    assert record["error"]["message"].endswith("raise the cap (factorline run --max-pixels) if such frames are expected")
    assert "limits." not in record["error"]["message"]
