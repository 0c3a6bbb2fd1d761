"""`factorline synth`: real generation of every kind at small size, truth checked against the pixels,
determinism across worker counts, resume, bad arguments, the CLI and the training readers."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from factorline.contract.errors import ConfigError, DataError, ResourceError
from factorline.synth import KINDS, SynthOptions, generate, kinds_text
from factorline.synth.engine import sample_rng
from factorline.synth.materials import Materials
from factorline.synth.truth import Spec

SMALL = (320, 180)
ALL = tuple(KINDS)


def _labels(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "labels.jsonl").read_text(encoding="utf-8").splitlines()]


def _decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.fixture(scope="module")
def one_each(tmp_path_factory) -> Path:
    """One 1-second clip of every kind, one worker."""
    out = tmp_path_factory.mktemp("synth") / "one"
    generate(out, SynthOptions(ALL, len(ALL), seed=7, size=SMALL, clip_s=1.0), workers=1)
    return out


@pytest.fixture(scope="module")
def materials() -> Materials:
    return Materials(SMALL)


def _sample(kind: str, index: int, materials: Materials, *, still: bool = False, size=SMALL):
    spec = Spec(size, 1 if still else 25, 25.0, still)
    return KINDS[kind](sample_rng(11, index), materials, spec), spec


def test_every_kind_is_written_with_its_truth(one_each):
    records = _labels(one_each)
    assert [r["kind"] for r in records] == list(ALL)
    assert [r["id"] for r in records] == [f"s7-{i:06d}" for i in range(len(ALL))]
    for r in records:
        assert r["path"] == f"media/{r['kind']}/{r['id']}.mp4"
        frames = _decode(one_each / r["path"])
        assert len(frames) == 25 and frames[0].shape == (180, 320, 3)
        truth = r["truth"]
        assert set(truth) >= {"black_border", "subtitles", "logo", "shot_cuts", "black_frames", "onscreen_text"}
        for text in truth["onscreen_text"]:
            x, y, w, h = text["box"]
            assert 0 <= x and 0 <= y and x + w <= 320 and y + h <= 180 and w > 0 and h > 0
            assert text["class"] in {"subtitle", "title_card", "lower_third", "scene_text", "watermark", "logo"}
            assert 0 <= text["start_s"] < text["end_s"] <= 1.0
    by_kind = {r["kind"]: r["truth"] for r in records}
    assert by_kind["subtitles"]["subtitles"]["has_subtitles"] and by_kind["logo"]["logo"]["has_logo"]
    assert not by_kind["title_card"]["subtitles"]["has_subtitles"]  # a title card is text, not a subtitle
    stamp = json.loads((one_each / "synth.json").read_text())
    assert stamp["status"] == "complete" and stamp["counts"] == {k: 1 for k in ALL}
    assert stamp["sources"]["clips"]["bigbuckbunny"].startswith("sha256:") and stamp["sources"]["fonts"]
    assert not (one_each / ".parts").exists()


def test_workers_do_not_change_the_output(one_each, tmp_path):
    out = tmp_path / "two"
    generate(out, SynthOptions(ALL, len(ALL), seed=7, size=SMALL, clip_s=1.0), workers=2)
    assert (out / "labels.jsonl").read_bytes() == (one_each / "labels.jsonl").read_bytes()


def test_resume_skips_finished_samples_and_extends(one_each, tmp_path):
    out = tmp_path / "resume"
    options = {"seed": 7, "size": SMALL, "clip_s": 1.0}
    first = generate(out, SynthOptions(ALL, 3, **options))
    assert first.made == 3
    # An interrupted run: labels.jsonl gone, one finished part left, a half-written temporary file.
    (out / "labels.jsonl").unlink()
    (out / ".parts").mkdir()
    record = _labels(one_each)[1]
    (out / ".parts" / f"{record['id']}.json").write_text(json.dumps(record))
    (out / "media/subtitles/.s7-000000.tmp123.mp4").write_bytes(b"half")
    (out / "media/subtitles/s7-000000.mp4").unlink()
    again = generate(out, SynthOptions(ALL, 4, **options))
    # 1 is kept (its part and media are there); 0 lost its media, 2 its record, 3 is new.
    assert (again.made, again.resumed) == (3, 1)
    assert _labels(out) == _labels(one_each)[:4]
    assert not list(out.glob("media/*/.*tmp*"))


def test_bars_rows_are_the_fill_colour(materials):
    seen = set()
    for index in range(40):
        sample, _ = _sample("bars", index, materials, still=True)
        frame = next(iter(sample.frames))
        border, params = sample.truth["black_border"], sample.params
        if params["negative"]:
            assert border["area_ratio"] == 0 and frame.mean() < 80
            seen.add("negative")
            continue
        top, left = border["top"], border["left"]
        assert top == border["bottom"] and left == border["right"] and top + left > 0
        bars = np.concatenate([frame[:top].reshape(-1, 3), frame[180 - top :].reshape(-1, 3),
                               frame[:, :left].reshape(-1, 3), frame[:, 320 - left :].reshape(-1, 3)])
        content = frame[top : 180 - top, left : 320 - left]
        if border["fill"] == "blurred":
            assert bars.std(axis=0).max() > 0.5 and bars.mean() > 8  # picture, not a flat colour
        else:
            assert (bars == params["rgb"]).all()
            assert not (content == params["rgb"]).all(axis=-1).all(axis=1).any()  # no content row is a bar
        seen.add(border["fill"])
    assert seen >= {"black", "blurred", "color", "negative"}


def test_bars_survive_encoding(one_each):
    record = next(r for r in _labels(one_each) if r["kind"] == "bars")
    frame = _decode(one_each / record["path"])[12].astype(int)
    border = record["truth"]["black_border"]
    if border["top"] and border["fill"] == "black":
        assert np.abs(frame[: border["top"] - 1] - record["params"]["rgb"]).max() <= 6


def _without_overlays(monkeypatch, kind: str, index: int, materials: Materials, still: bool = True):
    """The sample and the same sample with nothing blended on it (same generator draws)."""
    sample, _ = _sample(kind, index, materials, still=still)
    with_layers = [f.astype(int) for f in sample.frames]
    monkeypatch.setattr(kinds_text, "place", lambda frame, *a, **k: frame)
    bare = [f.astype(int) for f in _sample(kind, index, materials, still=still)[0].frames]
    monkeypatch.undo()
    return sample, with_layers, bare


def test_logo_box_is_exactly_where_pixels_change(monkeypatch, materials):
    for index in range(6):
        sample, (drawn,), (bare,) = _without_overlays(monkeypatch, "logo", index, materials)
        changed = np.abs(drawn - bare).max(axis=-1) > 0
        ys, xs = np.nonzero(changed)
        x, y, w, h = sample.truth["logo"]["box"]
        assert xs.min() >= x and ys.min() >= y and xs.max() < x + w and ys.max() < y + h
        assert changed[y : y + h, x : x + w].mean() > 0.2


@pytest.mark.parametrize("kind", ["subtitles", "title_card", "lower_third", "scene_text", "watermark"])
def test_text_boxes_hold_drawn_text(monkeypatch, materials, kind):
    for index in range(3):
        sample, (drawn,), (bare,) = _without_overlays(monkeypatch, kind, index, materials)
        texts = sample.truth["onscreen_text"]
        assert texts and all(t["class"] == kind.rstrip("s") if kind != "subtitles" else t["class"] == "subtitle"
                             for t in texts)
        for text in texts:
            x, y, w, h = text["box"]
            diff = np.abs(drawn - bare)[y : y + h, x : x + w]
            assert diff.max() > 20, f"{kind} #{index}: nothing drawn in {text['box']}"


def test_subtitle_text_is_readable_by_the_project_ocr(materials):
    from factorline.operators._ocr import OcrEngine
    from factorline.operators.text import similarity

    big = Materials((640, 360))
    for index in range(40):  # the first English, outlined, single-language subtitle
        sample, _ = _sample("subtitles", index, big, still=True, size=(640, 360))
        if sample.params["languages"] == ["en"] and sample.params["look"] == "outline":
            break
    frame = next(iter(sample.frames))
    _, y, _, h = sample.truth["subtitles"]["lines"][0]["box"]
    band = np.ascontiguousarray(frame[max(0, y - 8) : y + h + 8])
    read = " ".join(b.text for b in OcrEngine(threads=1)(band))
    assert similarity(read, sample.truth["subtitles"]["text"]) > 0.8, (read, sample.truth["subtitles"]["text"])


def test_cut_frames_change_shot_and_negatives_have_none(materials):
    kinds = set()
    for index in range(12):
        sample, _ = _sample("cuts", index, materials)
        frames = [f.astype(np.int16) for f in sample.frames]
        diffs = np.array([np.abs(b - a).mean() for a, b in itertools.pairwise(frames)])
        cuts = [round(t * 25) for t in sample.truth["shot_cuts"]["cuts_s"]]
        if not sample.params["cut"]:
            assert cuts == [] and sample.params["motion"] in {"pan", "zoom", "flash"}
            kinds.add("negative")
            continue
        kinds.add(sample.params["mode"])
        assert cuts
        calm = np.delete(diffs, [c - 1 for c in cuts])
        flat = float(np.median(calm)) if len(calm) else 0.0
        for c in cuts:
            assert diffs[c - 1] > max(2.0, 2 * flat), (sample.params["mode"], c, diffs.round(1))
    assert "negative" in kinds and len(kinds) >= 3


def test_fades_black_segments_and_flashes(materials):
    for index in range(4):
        sample, _ = _sample("fades", index, materials)
        frames = list(sample.frames)
        segments = sample.truth["black_frames"]["segments"]
        assert len(segments) == 1
        first, end = round(segments[0]["start_s"] * 25), round(segments[0]["end_s"] * 25)
        assert all(not frames[i].any() for i in range(first, end))
        assert all(frames[i].any() for i in range(len(frames)) if not first <= i < end)
        assert sample.truth["shot_cuts"]["cuts_s"] == []
    sample, _ = _sample("flashes", 1, materials)
    frames = [f.astype(float) for f in sample.frames]
    for t in sample.truth["flashes"]["times_s"]:
        i = round(t * 25)
        assert frames[i].mean() > frames[i - 1].mean() + 20
    assert sample.truth["shot_cuts"]["cuts_s"] == []


def test_stills_are_png_with_instant_texts(tmp_path):
    out = tmp_path / "stills"
    generate(out, SynthOptions(("subtitles", "logo"), 2, seed=3, size=SMALL, stills=True))
    records = _labels(out)
    assert [r["path"] for r in records] == ["media/subtitles/s3-000000.png", "media/logo/s3-000001.png"]
    assert np.asarray(Image.open(out / records[0]["path"])).shape == (180, 320, 3)
    assert "shot_cuts" not in records[0]["truth"] and records[0]["truth"]["subtitles"]["coverage"] == 1.0


def test_bad_arguments_say_what_is_expected(tmp_path, monkeypatch, one_each):
    with pytest.raises(ConfigError, match="expected one or more of: subtitles, title_card"):
        SynthOptions(("subtitle",), 1)
    with pytest.raises(ConfigError, match="only exist in time"):
        SynthOptions(("bars", "cuts"), 1, stills=True)
    with pytest.raises(ConfigError, match="even sides"):
        SynthOptions(("bars",), 1, size=(321, 180))
    with pytest.raises(ConfigError, match="--count must be at least 1"):
        SynthOptions(("bars",), 0)
    with pytest.raises(ConfigError, match="other arguments"):
        generate(one_each, SynthOptions(ALL, 2, seed=8, size=SMALL, clip_s=1.0))
    (tmp_path / "junk.txt").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        generate(tmp_path, SynthOptions(("bars",), 1, size=SMALL, clip_s=1.0))
    materials = Materials(SMALL)
    monkeypatch.setattr("factorline.samples.sources.find_fonts", lambda faces: [])
    with pytest.raises(ResourceError, match="fonts-noto-cjk"):
        materials.faces("zh")


def test_cli_writes_a_set_and_refuses_an_unknown_kind(tmp_path):
    from factorline.cli import app

    runner = CliRunner()
    out = tmp_path / "cli"
    result = runner.invoke(app, ["synth", str(out), "--kind", "watermark,fades", "--count", "2", "--size", "320x180",
                                 "--clip-s", "1", "--workers", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "2 made" in result.output and len(_labels(out)) == 2
    bad = runner.invoke(app, ["synth", str(tmp_path / "bad"), "--kind", "sparkles", "--count", "1"])
    assert bad.exit_code == 2 and "sparkles" in bad.output


def test_train_and_compress_readers_take_a_synth_folder(tmp_path):
    from factorline.compress.data import read_items
    from factorline.train import load_dataset

    out = tmp_path / "set"
    generate(out, SynthOptions(("logo", "watermark"), 4, seed=1, size=SMALL, stills=True))
    dataset = load_dataset(out, label_field="logo.has_logo")
    assert dataset.format == "synth:logo.has_logo" and dataset.classes == ["false", "true"]
    assert sorted(e.label for e in dataset.examples) == ["false", "false", "true", "true"]
    assert load_dataset(out, label_field="kind").classes == ["logo", "watermark"]
    with pytest.raises(DataError, match="--label-field"):
        load_dataset(out)
    with pytest.raises(DataError, match="expected a scalar truth field such as"):
        load_dataset(out, label_field="logo.box")
    items, problems = read_items(out, task="media", label_field="logo.has_logo")
    assert not problems and [i.label for i in items] == ["true", "false", "true", "false"]
    plain = tmp_path / "plain"
    shutil.copytree(out / "media", plain)
    with pytest.raises(DataError, match="applies to a `factorline synth` folder"):
        read_items(plain, task="media", label_field="logo.has_logo")


def test_slideshow_kind_truth_params_and_determinism(materials):
    seen = set()
    spec = Spec(SMALL, 100, 25.0)  # 4 s: two or more slides of at least 1.5 s
    for index in range(12):
        sample = KINDS["slideshow"](sample_rng(11, index), materials, spec)
        frames = list(sample.frames)
        truth, params = sample.truth, sample.params
        assert len(frames) == 100 and frames[0].shape == (180, 320, 3)
        assert set(truth["slideshow"]) == {"is_slideshow"} and truth["slideshow"]["is_slideshow"] == params["slideshow"]
        if params["slideshow"]:
            seen.add("slideshow")
            assert 2 <= len(params["slides"]) <= 8 and sum(s["frames"] for s in params["slides"]) == 100
            if params["transition"] == "cut" and not params["ken_burns"]:  # each slide is still
                first = params["slides"][0]["frames"]
                assert np.array_equal(frames[first // 2], frames[first - 1])
            for text in truth["onscreen_text"]:
                x, y, w, h = text["box"]
                assert text["class"] in {"title_card", "logo", "watermark"} and x + w <= 320 and y + h <= 180
        else:
            seen.add(params["mode"])
            if params["mode"] in ("moving", "screen"):  # the picture moves
                assert np.abs(frames[10].astype(int) - frames[60].astype(int)).mean() > 1.0
        # the same seed and index give the same sample
        again = KINDS["slideshow"](sample_rng(11, index), materials, spec)
        assert again.params == params and again.truth == truth
        assert all(np.array_equal(a, b) for a, b in zip(frames[::33], list(again.frames)[::33]))
    assert "slideshow" in seen and len(seen) >= 3
    # other kinds' truth is unchanged: only the slideshow kind decides is_slideshow
    assert "slideshow" not in KINDS["cuts"](sample_rng(11, 0), materials, spec).truth
