"""What the server adds for the editor: its built files at / (or a page saying how to build
them), open even when the API needs a token; and thumbnails at the evidence times of a run."""

from __future__ import annotations

import base64

import pytest
from test_serve_support import IMAGE_AUDIT, LiveServer, jpeg, upload

from factorline.serve.static import DIST_ENV, EDITOR_CSP, editor_dist

TOKEN = "s3cret-token-for-the-editor-tests"


@pytest.fixture
def fake_dist(tmp_path, monkeypatch):
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text('<!doctype html><script type="module" src="./assets/app-abc123.js"></script>')
    (dist / "assets" / "app-abc123.js").write_text("console.log('editor')")
    monkeypatch.setenv(DIST_ENV, str(dist))
    return dist


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN)
    path.chmod(0o600)
    return path


def test_dist_folder_comes_from_the_environment_or_the_repository(monkeypatch, tmp_path):
    monkeypatch.setenv(DIST_ENV, str(tmp_path))
    assert editor_dist() == tmp_path
    monkeypatch.delenv(DIST_ENV)
    assert editor_dist().parts[-2:] == ("ui", "dist")


def test_serves_the_built_editor_without_the_token(fake_dist, token_file):
    with LiveServer([IMAGE_AUDIT], token_file=token_file) as live:
        c = live.client
        page = c.get("/")
        assert page.status_code == 200 and "app-abc123.js" in page.text
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-cache" and page.headers["content-security-policy"] == EDITOR_CSP
        assert c.head("/").status_code == 200
        asset = c.get("/assets/app-abc123.js")
        assert asset.status_code == 200 and "immutable" in asset.headers["cache-control"]
        assert c.get("/assets/missing.js").status_code == 404
        assert c.get("/assets/../index.html").status_code == 404  # no way out of assets/
        # The data stays behind the token; the editor sends it as a bearer header.
        assert c.get("/api/operators").status_code == 401
        assert c.get("/api/operators", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert c.get("/health").status_code == 200 and c.get("/docs").status_code == 200
        assert "/" not in c.get("/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}).json()["paths"]


def test_without_a_build_the_root_says_how_to_build_it(tmp_path, monkeypatch):
    monkeypatch.setenv(DIST_ENV, str(tmp_path / "nothing-here"))
    with LiveServer([IMAGE_AUDIT]) as live:
        page = live.client.get("/")
        assert page.status_code == 200 and "make setup" in page.text and "npm run build" in page.text
        assert live.client.get("/api/pipelines").status_code == 200  # the API works regardless


@pytest.fixture(scope="module")
def server(tmp_path_factory, sample_set):
    folder = tmp_path_factory.mktemp("thumb-pipelines")
    (folder / "image_audit.yaml").write_text(IMAGE_AUDIT.read_text())
    (folder / "subs.yaml").write_text(
        "name: subs\ninput: video\nsteps:\n  subs: {op: subtitles}\n"
        "decisions:\n  t:\n    on_missing: review\n    on_error: review\n"
        "    rules:\n      - {id: subtitled, when: subs.has_subtitles, outcome: review}\n"
        "      - {id: ok, default: true, outcome: accept}\n"
    )
    with LiveServer([folder], data_root=sample_set) as live:
        yield live


def _jpeg_of(uri: str) -> bytes:
    assert uri.startswith("data:image/jpeg;base64,")
    data = base64.b64decode(uri.split(",", 1)[1])
    assert data[:3] == b"\xff\xd8\xff"
    return data


def test_run_path_thumbnails_are_at_the_evidence_times(server):
    plain = server.client.post("/api/pipelines/subs/run-path", json={"path": "videos/subtitles_en.mp4"}).json()
    assert "thumbnails" not in plain  # only when asked for: the record keeps its shape
    r = server.client.post("/api/pipelines/subs/run-path?thumbnails=true", json={"path": "videos/subtitles_en.mp4"})
    assert r.status_code == 200, r.text
    record = r.json()
    times = sorted({e["t"] for e in record["factors"]["subs"]["evidence"]})
    shots = record["thumbnails"]["shots"]
    assert [s["t"] for s in shots] == times and len(times) >= 2
    assert record["thumbnails"]["note"] == ""
    for shot in shots:
        _jpeg_of(shot["image"])
        assert shot["notes"] and shot["notes"][0].startswith("subs · ")
    assert "/proc/" not in r.text and str(server.settings.data_root) not in r.text  # no server paths


def test_upload_thumbnails_and_failed_items(server):
    record = upload(server.client, "image_audit", "bars.jpg", jpeg(bars=40), params={"thumbnails": "true"}).json()
    assert record["error"] is None and record["thumbnails"]["shots"]
    _jpeg_of(record["thumbnails"]["shots"][0]["image"])
    failed = upload(server.client, "image_audit", "broken.jpg", b"not a picture", params={"thumbnails": "true"}).json()
    assert failed["error"] and failed["thumbnails"] == {"shots": [], "note": "the item failed, so there are no pictures"}
    assert list(server.state.uploads.path.iterdir()) == []  # removed after the pictures were taken
