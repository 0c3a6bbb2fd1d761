"""The HTML report of a real small run: self-contained, counts that match, escaped text."""

from __future__ import annotations

import base64
import io
import json
import shutil
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import media_fixtures as fx
import numpy as np
import pytest
from PIL import Image

from factorline.batch import run_pipeline
from factorline.contract.errors import RunDirError
from factorline.engine.records import read_jsonl, write_jsonl
from factorline.media.thumbnails import grab_frames
from factorline.report import build_report
from factorline.report.thumbs import item_pictures, pick_times
from factorline.report.timeline import MARKERS, SERIES, SPANS, Track, field_roles, timeline_svg

DOC = {
    "name": "t_report",
    "input": "video",
    "sampling": {"fps": 2.0, "max_frames": 8},
    "steps": {"border": {"op": "black_border"}, "clarity": {"op": "clarity"}},
    "decisions": {"moderation": {
        "policy": "first", "on_missing": "review", "on_error": "error",
        "rules": [
            {"id": "bars", "when": "border.area_ratio > 0.2", "outcome": "review", "reason": "bars"},
            {"id": "ok", "default": True, "outcome": "accept"},
        ],
    }},
}
HOSTILE = "<script>alert('x')</script>"


VOID = {"meta", "img", "br", "input", "line", "circle", "rect", "polyline", "option"}


class Page(HTMLParser):
    """What the tests read from a page: tags with attributes, text, and unbalanced tags."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.open: list[str] = []
        self.unbalanced: list[tuple[str, tuple]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if self.open and self.open[-1] == tag:
            self.open.pop()
        else:
            self.unbalanced.append((tag, self.getpos()))

    def handle_data(self, data):
        self.text.append(data)

    def all(self, tag: str, **where) -> list[dict]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in where.items())]

    @property
    def body_text(self) -> str:
        return "".join(self.text)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("report")
    boxed = fx.letterboxed_clip(base / "boxed.mp4", seconds=2.0, bar=40)
    plain = fx.make_video(base / "plain.mp4", 2.0, fps=10.0, size=(160, 128))
    (base / "broken.mp4").write_bytes(b"\x00" * 64)
    out = base / "run"
    run_pipeline(DOC, [str(boxed), str(plain), str(base / "broken.mp4")], out, cache_dir=None)
    return out


@pytest.fixture(scope="module")
def report(run_dir) -> tuple[Page, str, list[dict]]:
    summary = build_report(run_dir)
    text = Path(summary.path).read_text(encoding="utf-8")
    return Page(text), text, list(read_jsonl(run_dir / "results.jsonl"))


def copy_run(run_dir: Path, dest: Path, edit) -> Path:
    """A copy of the run folder whose records went through ``edit``."""
    shutil.copytree(run_dir, dest)
    records = list(read_jsonl(dest / "results.jsonl"))
    for r in records:
        edit(r)
    write_jsonl(records, dest / "results.jsonl")
    return dest


def test_pictures_are_embedded_and_nothing_is_fetched(report):
    page, text, _ = report
    images = page.all("img")
    assert images and all(a["src"].startswith("data:image/jpeg;base64,") for a in images)
    for tag, attrs in page.tags:
        for key in ("src", "href"):
            assert not attrs.get(key, "data:").lower().startswith(("http:", "https:", "//")), (tag, attrs)
    assert "http://" not in text and "https://" not in text
    assert not page.all("link") and all("src" not in a for a in page.all("script"))
    jpeg = base64.b64decode(images[0]["src"].split(",", 1)[1])
    width, _ = Image.open(io.BytesIO(jpeg)).size
    assert 100 <= width <= 240


def test_counts_match_the_run(report):
    page, _, records = report
    assert page.unbalanced == [] and page.open == []
    assert len(page.all("section", **{"class": "item"})) == len(records) == 3
    rows = [a for t, a in page.tags if t == "tr" and "data-tags" in a]
    assert len(rows) == len(records)
    outcomes = Counter(r["decisions"]["moderation"]["outcome"] for r in records)
    tagged = Counter(tag.split("=", 1)[1] for a in rows for tag in json.loads(a["data-tags"]) if tag.startswith("outcome:"))
    assert tagged == outcomes
    failed = [r for r in records if r["error"]]
    assert len(failed) == 1
    assert f"Failed items ({len(failed)})" in page.body_text
    assert failed[0]["error"]["type"] in page.body_text and failed[0]["error"]["message"][:40] in page.body_text


def test_filters_offer_every_outcome_and_rule(report):
    page, _, records = report
    values = {a.get("value") for a in page.all("option")}
    for r in records:
        d = r["decisions"]["moderation"]
        assert f"outcome:moderation={d['outcome']}" in values and f"rule:moderation={d['rule']}" in values


def test_timeline_shows_per_frame_scores(report):
    _, text, _ = report
    assert "clarity.frame_scores" in text and "<polyline" in text


def test_hostile_text_renders_as_text(run_dir, tmp_path):
    def poison(record):
        if record["error"]:
            record["error"]["message"] = f"bad {HOSTILE}"
            return
        record["factors"]["border"]["fill"] = HOSTILE
        record["factors"]["clarity"]["evidence"][0]["text"] = '"><img src=x onerror=alert(1)>'
        record["decisions"]["moderation"]["explanation"] = HOSTILE

    copy = copy_run(run_dir, tmp_path / "hostile", poison)
    text = Path(build_report(copy).path).read_text(encoding="utf-8")
    page = Page(text)
    assert len(page.all("script")) == 1  # only the report's own filter script
    assert not [a for a in page.all("img") if a.get("src") == "x" or "onerror" in a]
    assert HOSTILE in page.body_text and "<script>alert" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text


def test_missing_media_is_said_not_fatal(run_dir, tmp_path):
    def move(record):
        record["item"]["path"] = "/nowhere/gone.mp4"

    copy = copy_run(run_dir, tmp_path / "moved", move)
    summary = build_report(copy)
    text = Path(summary.path).read_text(encoding="utf-8")
    assert summary.thumbnails == 0 and summary.without_pictures == 2
    assert "media file not found" in text and "<img" not in text


def test_caps_keep_big_runs_small(run_dir, tmp_path):
    summary = build_report(run_dir, out=tmp_path / "r.html", max_items=1, max_thumbs=1)
    page = Page((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert summary.detailed == 1 and len(page.all("section", **{"class": "item"})) == 1
    assert "Detailed sections for 1 of 3 items" in page.body_text
    assert len(page.all("tr")) > 3  # every item is still in the index


def test_report_without_a_compilable_pipeline(run_dir, tmp_path):
    copy = copy_run(run_dir, tmp_path / "noplan", lambda r: None)
    (copy / "pipeline.yaml").write_text("name: x\nsteps: {a: {op: no_such_operator}}\n", encoding="utf-8")
    text = Path(build_report(copy, pictures=False).path).read_text(encoding="utf-8")
    assert "Pipeline not compiled" in text and "clarity.frame_scores" in text


def test_not_a_run_folder(tmp_path):
    with pytest.raises(RunDirError, match="results.jsonl"):
        build_report(tmp_path)


def test_evidence_boxes_are_drawn(run_dir):
    record = next(r for r in read_jsonl(run_dir / "results.jsonl") if r["item"]["path"].endswith("boxed.mp4"))
    record["factors"]["border"]["evidence"] = [{"t": 1.0, "box": [0, 0, 160, 120], "text": "top-left quarter"}]
    pictures = item_pictures(record, run_dir)
    shot = next(s for s in pictures.shots if s.t == 1.0)
    image = np.asarray(Image.open(io.BytesIO(base64.b64decode(shot.uri.split(",", 1)[1]))).convert("RGB")).astype(int)
    # border is the first step: its boxes use the first colour (#3b6fb6, blue); without the box
    # that spot is the photo (warm skin and wall tones), so blue there is the drawn edge.
    scale = image.shape[1] / 320
    edge = image[int(60 * scale), 0:2]  # the box's left edge, halfway down
    assert (edge[:, 2] - edge[:, 0] > 60).all()
    assert any("top-left quarter" in n for n in shot.notes)


def test_hit_times_come_first_and_cap_holds():
    record = {"item": {"duration_s": 10.0}, "error": None,
              "factors": {"a": {"evidence": [{"t": float(t)} for t in range(10)]}},
              "decisions": {"m": {"hits": [{"rule": "r", "evidence": [{"t": 7.0}, {"t": 9.0}]}]}}}
    assert pick_times(record, 3) == [0.0, 7.0, 9.0]
    record["factors"] = {}
    assert pick_times(record, 3) == [5.0]  # no evidence: one frame from the middle


def test_grab_frames_returns_the_frames_shown_at_those_times(tmp_path):
    clip = fx.make_video(tmp_path / "coded.mp4", 3.0, fps=10.0)
    grabbed = grab_frames(clip, [0.0, 1.2, 2.5, 99.0])
    assert set(grabbed.frames) == {0.0, 1.2, 2.5}
    for t, image in grabbed.frames.items():
        assert fx.frame_code(image) == round(t * 10)


def test_field_roles_come_from_dtypes():
    dtypes = {"clarity": {"frame_scores": "list[float]", "score": "float"}, "cuts": {"cuts_s": "list[float]"},
              "speech": {"segments": "segments"}, "subs": {"lines": "lines", "text": "str"}}
    roles = field_roles(dtypes, {"cuts.cuts_s": "s"})
    assert roles == {"clarity.frame_scores": SERIES, "cuts.cuts_s": MARKERS, "speech.segments": SPANS, "subs.lines": SPANS}
    svg = timeline_svg([Track("speech.segments", SPANS, [], [(1.0, 2.0, HOSTILE)])], 4.0, [1.5])
    assert "<rect" in svg and HOSTILE not in svg and "&lt;script&gt;" in svg
