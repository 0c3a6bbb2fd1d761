"""benchmarks/real_media.py: scoring of one clip against its labels and the references, and a
whole run over a tiny real-format set (media/ + labels.json) made here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import media_fixtures as fx
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import real_media as rm  # noqa: E402


def record(**factors) -> dict:
    base = {
        "black_border": {"top": 0, "bottom": 0, "left": 0, "right": 0},
        "shot_cuts": {"cuts_s": []},
        "black_frames": {"segments": []},
        "logo": {"has_logo": False},
        "slideshow": {"is_slideshow": False},
        "speech": {"has_speech": False},
        "subtitles": {"has_subtitles": False, "lines": []},
    }
    return {"item": {"duration_s": 10.0}, "error": None, "factors": base | factors}


def row(labels: dict) -> dict:
    return {"set": "t", "name": "clip.mp4", "class": "film", "labels": labels}


def test_bars_false_positive_where_cropdetect_is_right_is_listed():
    r = row({"bars": False})
    rec = record(black_border={"top": 0, "bottom": 0, "left": 0, "right": 82})
    scored = rm.score_clip(r, rec, {"cropdetect": {"top": 0, "bottom": 0, "left": 0, "right": 0}})
    assert scored["bars"]["ours"] is True and scored["bars"]["cropdetect"] is False
    assert scored["bars"]["ours_mae_px"] == 20.5 and scored["bars"]["cropdetect_mae_px"] == 0.0
    [worse] = rm.worse_than_reference(r, scored)
    assert worse["factor"] == "black_border" and worse["reference"] == "cropdetect"


def test_cuts_matched_within_a_quarter_second_and_compared_with_each_detector():
    r = row({"cuts": [3.754, 8.759]})
    refs = {"adaptive_detector": [3.754, 8.759], "content_detector": [3.754]}
    scored = rm.score_clip(r, record(shot_cuts={"cuts_s": [3.9, 8.6, 12.0]}), refs)
    assert scored["cuts"]["ours"]["tp"] == 2 and scored["cuts"]["ours"]["fp"] == 1
    assert scored["cuts"]["adaptive_detector"]["f1"] == 1.0
    assert [w["reference"] for w in rm.worse_than_reference(r, scored)] == ["adaptive_detector"]
    summary = rm.summarize([r], {"clip.mp4": scored})
    assert summary["cuts"]["ours"]["precision"] == round(2 / 3, 4) and summary["cuts"]["content_detector"]["recall"] == 0.5


def test_black_segments_iou_and_frame_exact_ends():
    r = row({"black": [[8.0, 10.0]]})
    refs = {"blackdetect": [{"start_s": 8.0, "end_s": 10.0}]}
    scored = rm.score_clip(r, record(black_frames={"segments": [{"start_s": 7.5, "end_s": 10.0}]}), refs)
    assert scored["black"]["ours"]["iou"] == 0.8 and not scored["black"]["ours"]["ends_ok"]
    assert scored["black"]["blackdetect"]["ends_ok"]
    assert rm.worse_than_reference(r, scored)[0]["factor"] == "black_frames"


def test_subtitle_lines_exact_after_normalization():
    r = row({"subtitles": True, "sub_first": "I've decided, Rem.", "sub_last": "Good night"})
    lines = [{"text": "Fve decided,Rem."}, {"text": "Good night"}]
    scored = rm.score_clip(r, record(subtitles={"has_subtitles": True, "lines": lines}), {})
    assert scored["subtitles"]["ours_exact"]["exact"] == 1 and scored["subtitles"]["ours_exact"]["lines"] == 2


def test_failed_item_counts_as_no_answer_not_a_crash():
    r = row({"logo": True, "bars": False})
    scored = rm.score_clip(r, {"item": {}, "error": {"type": "CorruptMediaError"}, "factors": {}}, {})
    assert scored["logo"]["ours"] is None and scored["bars"]["ours"] is None
    assert rm.summarize([r], {"clip.mp4": scored})["logo"]["ours"]["clips"] == 0


def test_whole_run_on_a_tiny_set_writes_per_set_and_class_results(tmp_path):
    media = tmp_path / "set" / "media"
    media.mkdir(parents=True)
    fx.letterboxed_clip(media / "boxed.mp4", bar=40)
    labels = {"_about": "test", "boxed.mp4": {"bars": True, "bars_px": [40, 40, 0, 0], "cuts": [], "class": "film"}}
    (tmp_path / "set" / "labels.json").write_text(json.dumps(labels))
    out = tmp_path / "out.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "real_media.py"), "--set", f"tiny={tmp_path / 'set'}",
         "--no-ocr", "--no-record", "--out", str(out)],
        capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    result = json.loads(out.read_text())
    tiny = result["results"]["tiny"]
    assert tiny["factors"]["bars"]["ours"]["recall"] == 1.0 and tiny["factors"]["bars"]["cropdetect"]["clips"] == 1
    assert set(tiny["by_class"]) == {"film"} and "cuts" in tiny["factors"]
    assert "== tiny: 1 clips" in done.stdout


def test_a_labelled_clip_missing_from_media_is_a_clear_error(tmp_path):
    (tmp_path / "media").mkdir()
    (tmp_path / "labels.json").write_text(json.dumps({"gone.mp4": {"bars": False}}))
    with pytest.raises(SystemExit, match=r"gone\.mp4 is labelled in .* but missing; fetch the set again"):
        rm.load_set("x", tmp_path)
