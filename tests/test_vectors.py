"""The embedding index: build from media and runs, search by image/video/text/item (CLI and HTTP), dedup."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from factorline.cli import app
from factorline.contract.errors import ConfigError
from factorline.vectors.dedup import clusters, frame_overlap
from factorline.vectors.index import VectorIndex

BUNNY = ("clean.mp4", "letterbox.mp4", "logo.mp4", "speech_en.mp4")  # one source, effects added
OTHERS = ("bikes.mp4", "speech_zh.mp4", "upscaled.mp4", "slideshow.mp4")


@pytest.fixture(scope="module")
def library(sample_set, tmp_path_factory):
    """An effnet-lite0 index of eight sample clips and the three sample photos (3 frames each)."""
    work = tmp_path_factory.mktemp("vectors")
    media = work / "media"
    media.mkdir()
    for name in BUNNY + OTHERS:
        shutil.copy(sample_set / "videos" / name, media / name)
    for name in ("clean.jpg", "blur_heavy.jpg", "letterbox.png"):
        shutil.copy(sample_set / "images" / name, media / f"photo_{name}")
    (media / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    mp = pytest.MonkeyPatch()
    mp.setenv("FACTORLINE_CACHE", str(work / "cache"))
    result = CliRunner().invoke(app, ["index", "build", str(media), "--out", str(work / "index"), "--max-frames", "3"])
    assert result.exit_code == 0, result.output
    yield work, result.output
    mp.undo()


def test_build_writes_item_and_frame_vectors_and_lists_what_it_skipped(library):
    work, output = library
    index = VectorIndex.open(work / "index")
    assert index.meta["items"] == 11 and index.meta["dim"] == 1280 and index.meta["space"] == "features"
    assert index.meta["backbone"]["spec"] == "effnet-lite0" and index.meta["kind"] == "flat"
    assert index.meta["digest"].startswith("sha256:") and index.meta["library"].startswith("faiss-cpu")
    assert "skipped" in output and "broken.mp4" in output and "indexed 11 item(s)" in output
    videos = [it for it in index.items if it["kind"] == "video"]
    assert all(1 <= len(it["times"]) <= 3 for it in videos)
    assert index.frame_index.ntotal == sum(len(it["times"]) for it in index.items)
    vectors = index.frame_vectors(0)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_search_by_item_ranks_copies_of_the_same_source_first(library):
    work, _ = library
    result = CliRunner().invoke(app, ["search", str(work / "index"), "--item", "clean.mp4", "-k", "5", "--json"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)["results"]
    names = [h["path"].rsplit("/", 1)[-1] for h in hits]
    assert set(names[:3]) == {"letterbox.mp4", "logo.mp4", "speech_en.mp4"} and "clean.mp4" not in names
    assert hits[0]["score"] >= hits[-1]["score"] and hits[0]["frame_t"] is not None


def test_search_by_image_and_by_video_file(library, sample_set):
    work, _ = library
    by_image = CliRunner().invoke(app, ["search", str(work / "index"), "--image", str(sample_set / "images" / "clean.jpg"),
                                        "-k", "2", "--json"])
    assert by_image.exit_code == 0, by_image.output
    top = [h["path"].rsplit("/", 1)[-1] for h in json.loads(by_image.output)["results"]]
    assert top == ["photo_clean.jpg", "photo_blur_heavy.jpg"]
    by_video = CliRunner().invoke(app, ["search", str(work / "index"), "--video", str(sample_set / "videos" / "bikes.mp4"),
                                        "-k", "2", "--json"])
    names = [h["path"].rsplit("/", 1)[-1] for h in json.loads(by_video.output)["results"]]
    assert set(names) == {"bikes.mp4", "speech_zh.mp4"}


def test_text_search_needs_an_image_text_index_and_bad_queries_say_why(library, tmp_path):
    work, _ = library
    text = CliRunner().invoke(app, ["search", str(work / "index"), "--text", "a rabbit"])
    assert text.exit_code == 2 and "text search needs an index built with an image-text backbone" in text.output
    two = CliRunner().invoke(app, ["search", str(work / "index"), "--text", "x", "--item", "clean.mp4"])
    assert two.exit_code == 2 and "expected exactly one query" in two.output
    missing = CliRunner().invoke(app, ["search", str(tmp_path), "--item", "x"])
    assert missing.exit_code == 2 and "found no index.json there" in missing.output
    shutil.copytree(work / "index", tmp_path / "damaged")
    (tmp_path / "damaged" / "frames.faiss").write_bytes(b"garbage")
    with pytest.raises(ConfigError, match=r"damaged vector index .* rebuild it with `factorline index build`"):
        VectorIndex.open(tmp_path / "damaged")
    with pytest.raises(ConfigError, match=r"query vectors have 7 dimensions but .* holds 1280-d vectors of effnet-lite0"):
        VectorIndex.open(work / "index").search_items(np.ones((1, 7)))


def test_text_search_on_an_image_text_index(library, sample_set, tmp_path):
    """builtin:imagenet-minilm puts frames and prompts in one space: a cat prompt finds the cat photo."""
    work, _ = library
    out = tmp_path / "joint"
    built = CliRunner().invoke(app, ["index", "build", str(work / "media" / "photo_clean.jpg"), str(work / "media" / "bikes.mp4"),
                                     str(work / "media" / "photo_letterbox.png"), "--backbone", "builtin:imagenet-minilm",
                                     "--out", str(out), "--max-frames", "2"])
    assert built.exit_code == 0, built.output
    result = CliRunner().invoke(app, ["search", str(out), "--text", "a tabby cat", "-k", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["results"][0]["path"].endswith("photo_clean.jpg")


def test_http_search_by_item_text_and_upload(library, sample_set, monkeypatch):
    from test_serve_support import IMAGE_AUDIT, LiveServer, error_of

    work, _ = library
    monkeypatch.setenv("FACTORLINE_INDEXES", str(work))
    with LiveServer({"image_audit": __import__("yaml").safe_load(IMAGE_AUDIT.read_text())}, isolation="thread") as live:
        listed = live.client.get("/api/indexes").json()
        assert listed == [{"name": "index", "items": 11, "frames": listed[0]["frames"], "backbone": "effnet-lite0",
                           "space": "features", "text": False}]
        by_item = live.client.get("/api/indexes/index/search", params={"item": "clean.mp4", "k": 3})
        assert by_item.status_code == 200, by_item.text
        assert {h["path"] for h in by_item.json()["results"]} == {"letterbox.mp4", "logo.mp4", "speech_en.mp4"}
        photo = (sample_set / "images" / "clean.jpg").read_bytes()
        uploaded = live.client.post("/api/indexes/index/search?k=1", files={"file": ("q.jpg", photo, "image/jpeg")})
        assert uploaded.status_code == 200 and uploaded.json()["results"][0]["path"] == "photo_clean.jpg"
        text = live.client.get("/api/indexes/index/search", params={"text": "a cat"})
        assert text.status_code == 422 and "image-text backbone" in error_of(text)["message"]
        unknown = live.client.get("/api/indexes/nope/search", params={"item": "x"})
        assert unknown.status_code == 404 and "no index named 'nope'" in error_of(unknown)["message"]


def test_dedup_clusters_one_source_and_leaves_different_sources_apart(library):
    work, _ = library
    found = clusters(VectorIndex.open(work / "index"), threshold=0.9, frame_threshold=0.9)
    groups = [{i["path"].rsplit("/", 1)[-1] for i in c["items"]} for c in found]
    bunny = next(g for g in groups if "clean.mp4" in g)
    assert {"clean.mp4", "speech_en.mp4", "logo.mp4"} <= bunny and not bunny & set(OTHERS)
    assert {"bikes.mp4", "speech_zh.mp4"} in groups
    assert not any("upscaled.mp4" in g or "slideshow.mp4" in g for g in groups)
    assert frame_overlap(np.eye(3)[:2], np.eye(3), 0.9) == 1.0 and frame_overlap(np.eye(3)[:1], np.eye(3)[1:], 0.9) == 0.0


def test_dedup_command_on_an_index_writes_clusters(library, tmp_path):
    work, _ = library
    out = tmp_path / "dups.json"
    result = CliRunner().invoke(app, ["dedup", str(work / "index"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["items"] == 11 and doc["clusters"] and "near-duplicate(s) of 11 item(s)" in result.output
    bad = CliRunner().invoke(app, ["dedup", str(work / "index"), "--threshold", "1.5"])
    assert bad.exit_code == 2 and "--threshold: expected a number from 0 to 1, found 1.5" in bad.output


def test_dedup_of_a_run_folder_reads_its_items_and_sampling_and_writes_duplicates_json(library, tmp_path):
    work, _ = library
    run = tmp_path / "run"
    run.mkdir()
    names = ["clean.mp4", "speech_en.mp4", "bikes.mp4", "missing.mp4"]
    (run / "results.jsonl").write_text("".join(json.dumps({"item": {"path": str(work / "media" / n)}}) + "\n" for n in names)
                                       + "not json\n")
    (run / "pipeline.yaml").write_text("name: p\ninput: video\nsampling: {fps: 1.0, max_frames: 3}\nsteps: {}\n")
    result = CliRunner().invoke(app, ["dedup", str(run)])
    assert result.exit_code == 0, result.output
    doc = json.loads((run / "duplicates.json").read_text())
    assert doc["items"] == 3  # the missing file is left out, not a crash
    assert [{i["path"].rsplit("/", 1)[-1] for i in c["items"]} for c in doc["clusters"]] == [{"clean.mp4", "speech_en.mp4"}]
