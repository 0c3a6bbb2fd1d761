"""examples/political_content.yaml: face_match + on-screen words + image prompts, each decision explained."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skimage.data
import yaml
from needs import needs_faces
from PIL import Image, ImageDraw, ImageFont
from typer.testing import CliRunner

from factorline.cache import StepCache
from factorline.cli import app
from factorline.engine.compiler import compile_pipeline
from factorline.engine.executor import Engine
from factorline.media.encode import write_video

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "political_content.yaml"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"

pytestmark = needs_faces


@pytest.fixture
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # the example's gallery path is relative to where factorline runs


def test_the_example_validates_with_the_cli(at_root):
    result = CliRunner().invoke(app, ["validate", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "ok: political_content" in result.output


def test_every_rule_says_why_it_fires():
    doc = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    rules = doc["decisions"]["political"]["rules"]
    assert [r["id"] for r in rules] == ["watched_person", "political_words", "political_topic", "political_symbols",
                                        "not_political"]
    assert all(r.get("reason") for r in rules)
    ops = {s["op"] for s in doc["steps"].values()}
    assert {"face_match", "onscreen_text", "text_policy", "text_classifier", "prompts"} <= ops


def test_a_bad_gallery_in_the_example_is_reported_at_its_path(at_root):
    doc = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    doc["steps"]["people"]["params"]["gallery"] = "examples/no_such_watchlist"
    with pytest.raises(Exception, match=r"steps\.people\.params.*is not a folder"):
        compile_pipeline(doc)


def _text_frame(text: str) -> np.ndarray:
    pic = Image.fromarray(np.ascontiguousarray(skimage.data.coffee()[:384, :512]))
    draw = ImageDraw.Draw(pic)
    draw.rectangle([0, 300, 512, 384], fill=(20, 20, 20))
    draw.text((20, 318), text, font=ImageFont.truetype(FONT, 36), fill=(255, 255, 255))
    return np.asarray(pic)


def test_the_watched_person_and_political_words_are_decided_and_explained(at_root, tmp_path):
    engine = Engine(compile_pipeline(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))), cache=StepCache(tmp_path / "c"))
    face = write_video(tmp_path / "face.mp4", [skimage.data.astronaut()[:384]] * 3, fps=1.0, crf=18)
    words = write_video(tmp_path / "words.mp4", [_text_frame("VOTE IN THE ELECTION")] * 3, fps=1.0, crf=18)
    plain = write_video(tmp_path / "plain.mp4", [np.ascontiguousarray(skimage.data.coffee()[:384, :512])] * 3, fps=1.0, crf=18)
    records = {name: engine.run_item(path) for name, path in (("face", face), ("words", words), ("plain", plain))}
    for name, record in records.items():
        assert record["error"] is None, (name, record["error"])
    face_decision = records["face"]["decisions"]["political"]
    assert face_decision["outcome"] == "review" and face_decision["rule"] == "watched_person"
    assert "people.matched" in face_decision["explanation"]
    assert records["face"]["factors"]["people"]["who"] == ["eileen_collins"]
    words_decision = records["words"]["decisions"]["political"]
    assert words_decision["rule"] == "political_words", records["words"]["factors"]["screen"]
    assert records["words"]["factors"]["keywords"]["terms"] == ["election"]
    assert records["words"]["factors"]["people"]["who"] == []
    plain_decision = records["plain"]["decisions"]["political"]
    assert (plain_decision["rule"], plain_decision["outcome"]) == ("not_political", "accept")
    assert "no rule matched (watched_person, political_words, political_topic, political_symbols)" in plain_decision["explanation"]
    assert records["plain"]["factors"]["symbols"]["present"] == []
