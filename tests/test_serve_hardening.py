"""Hardening of the HTTP service: hostile YAML, odd multipart bodies, slow uploads, model
references, Host and Origin checks. Real uvicorn servers on 127.0.0.1, raw sockets where a
well-behaved client library cannot misbehave enough."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from test_serve_support import IMAGE_AUDIT, LiveServer, error_of, jpeg, sleepy_pipeline, slow_operator, upload

PICTURE = jpeg(size=(64, 48))


@pytest.fixture(scope="module")
def sleeping_op():
    with slow_operator() as spec:
        yield spec


def _port(live: LiveServer) -> int:
    return int(live.url.rsplit(":", 1)[1])


def _reply(sock: socket.socket, timeout: float) -> tuple[int, dict]:
    """Status and JSON body of the HTTP answer on ``sock`` (read until the server closes)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = [int(v) for k, _, v in (h.partition(b":") for h in head.split(b"\r\n")[1:]) if k.lower() == b"content-length"]
            if length and len(body) >= length[0]:
                break
    except (TimeoutError, ConnectionResetError):
        pass
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head else 0
    return status, (json.loads(body) if body else {})


# --------------------------------------------------------------------------- 9: YAML bombs


def test_billion_laughs_validate_answers_quickly():
    from test_document import _laughs

    with LiveServer([IMAGE_AUDIT]) as live:
        t0 = time.monotonic()
        r = live.client.post("/api/validate", json={"text": _laughs(9)})
        assert time.monotonic() - t0 < 5
        body = r.json()
        assert r.status_code == 200 and body["ok"] is False
        assert body["issues"][0]["code"] == "alias"
        assert "YAML aliases expand this document" in body["issues"][0]["message"]
        put = live.client.put("/api/pipelines/bomb", json={"text": _laughs(9)})
        assert put.status_code == 422 and error_of(put)["issues"][0]["code"] == "alias"


# --------------------------------------------------------------------------- 10: multipart boundary


def test_long_multipart_boundary_is_a_clear_400():
    with LiveServer([IMAGE_AUDIT]) as live:
        for length in (71, 300):
            boundary = "b" * length
            body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n').encode()
            body += PICTURE + f"\r\n--{boundary}--\r\n".encode()
            r = live.client.post("/api/pipelines/image_audit/run", content=body,
                                 headers={"content-type": f"multipart/form-data; boundary={boundary}"})
            assert r.status_code == 400, r.text
            err = error_of(r)
            assert err["path"] == "headers.content-type"
            assert f"boundary has {length} characters; at most 70" in err["message"]
        boundary = "b" * 70  # the longest RFC 2046 allows still works
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n').encode()
        body += PICTURE + f"\r\n--{boundary}--\r\n".encode()
        r = live.client.post("/api/pipelines/image_audit/run", content=body,
                             headers={"content-type": f"multipart/form-data; boundary={boundary}"})
        assert r.status_code == 200 and r.json()["error"] is None


# --------------------------------------------------------------------------- 11: slow uploads


def _trickler(port: int, stop: threading.Event, gap_s: float) -> socket.socket:
    """A client that sends the headers and the start of an upload, then a byte every ``gap_s``."""
    sock = socket.create_connection(("127.0.0.1", port))
    part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
    sock.sendall(b"POST /api/pipelines/sleepy/run HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n" + part)

    def trickle():
        while not stop.wait(gap_s):
            try:
                sock.sendall(b"x")
            except OSError:
                return

    threading.Thread(target=trickle, daemon=True).start()
    return sock


def test_trickling_uploads_hold_no_run_slot(sleeping_op):
    settings = {"workers": 1, "queue_size": 4, "upload_stall_s": 1.5, "upload_min_bytes_per_s": 0, "isolation": "thread"}
    with LiveServer({"sleepy": sleepy_pipeline(0.0)}, **settings) as live:
        stop = threading.Event()
        socks = [_trickler(_port(live), stop, 0.2) for _ in range(4)]
        try:
            deadline = time.monotonic() + 5
            while live.state.runner.uploading.active < 4 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert live.state.runner.uploading.active == 4  # all four are being received...
            assert live.client.get("/ready").json()["queue"]["depth"] == 0  # ...and hold no run slot
            t0 = time.monotonic()
            r = upload(live.client, "sleepy", "a.jpg", PICTURE)
            assert r.status_code == 200, r.text
            assert time.monotonic() - t0 < 2
            stop.set()  # they stop sending: each is cut off once it has been silent for upload_stall_s
            for sock in socks:
                status, body = _reply(sock, timeout=10)
                assert status == 408, body
                assert body["error"]["message"].startswith("the upload stalled: no data for 1.5 s")
        finally:
            stop.set()
            for sock in socks:
                sock.close()
        assert live.state.runner.uploading.active == 0
        assert list(live.state.uploads.path.iterdir()) == []
        assert 'factorline_rejected_total{reason="upload_timeout"} 4.0' in live.client.get("/metrics").text


def test_an_upload_under_the_minimum_rate_is_cut_off(sleeping_op):
    with LiveServer({"sleepy": sleepy_pipeline(0.0)}, upload_stall_s=1.0, upload_min_bytes_per_s=100, isolation="thread") as live:
        stop = threading.Event()
        sock = _trickler(_port(live), stop, 0.3)  # never silent for 1 s, but ~3 bytes/s
        try:
            t0 = time.monotonic()
            status, body = _reply(sock, timeout=10)
        finally:
            stop.set()
            sock.close()
        assert status == 408 and "the upload is too slow" in body["error"]["message"], body
        assert "expected at least 100 bytes/s" in body["error"]["message"]
        assert time.monotonic() - t0 < 4
        assert list(live.state.uploads.path.iterdir()) == []


def test_uploads_received_at_once_are_bounded(sleeping_op):
    with LiveServer({"sleepy": sleepy_pipeline(0.0)}, max_uploads=1, upload_stall_s=5, isolation="thread") as live:
        stop = threading.Event()
        sock = _trickler(_port(live), stop, 0.2)
        try:
            deadline = time.monotonic() + 5
            while live.state.runner.uploading.active < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
            r = upload(live.client, "sleepy", "a.jpg", PICTURE)
            assert r.status_code == 429 and "at most 1 at once" in error_of(r)["message"]
            assert live.client.post("/api/pipelines/sleepy/decide", json={"factors": {}}).status_code == 200
        finally:
            stop.set()
            sock.close()


# --------------------------------------------------------------------------- 12: model references


def _learned(ref: str, name: str = "models") -> dict:
    return {"name": name, "input": "image", "steps": {"cls": {"op": "learned", "params": {"model": ref}}}}


@pytest.fixture
def model_store(tmp_path, monkeypatch):
    """The server's store holding ``hardening-cats@1``, and a model folder outside it."""
    from test_store import card, head

    from factorline.models.store import ModelStore

    store = ModelStore(tmp_path / "store")
    store.save("hardening-cats", head(), card())
    outside = ModelStore(tmp_path / "elsewhere").save("hardening-dogs", head(), card()).path
    monkeypatch.setenv("FACTORLINE_MODELS", str(store.root))
    return store, outside


def _issue(live: LiveServer, ref: str) -> dict:
    body = live.client.post("/api/validate", json=_learned(ref)).json()
    assert body["ok"] is False, body
    (issue,) = body["issues"]
    assert issue["path"] == "steps.cls.params.model"
    return issue


def test_models_come_only_from_the_store(model_store, tmp_path):
    store, outside = model_store
    with LiveServer([IMAGE_AUDIT]) as live:
        ok = live.client.post("/api/validate", json=_learned("hardening-cats")).json()
        assert ok["ok"] is True, ok
        relative = str(outside.relative_to(tmp_path))
        for ref in (str(outside), f"../{relative}", f"{store.root}/../{relative}", "~/x", str(store.root / "hardening-cats" / "v1")):
            issue = _issue(live, ref)
            assert f"model {ref!r} is not a store name" in issue["message"], issue
            assert "name or name@version" in issue["message"]
        ghost = _issue(live, "ghost")
        assert "no model 'ghost' in the model store (models there: hardening-cats)" in ghost["message"]
        assert str(tmp_path) not in ghost["message"]  # the store's place on disk is not told
        assert str(store.root) not in _issue(live, "../x")["message"]
        assert live.client.put("/api/pipelines/models", json=_learned(str(outside))).status_code == 422


def test_model_roots_allow_folders_under_them_only(model_store, tmp_path):
    store, outside = model_store
    root = outside.parent.parent  # tmp/elsewhere
    (root / "escape").symlink_to(store.root / "hardening-cats")
    with LiveServer([IMAGE_AUDIT], model_roots=(root,)) as live:
        ok = live.client.post("/api/validate", json=_learned(str(outside))).json()
        assert ok["ok"] is True, ok
        for ref in (str(store.root / "hardening-cats" / "v1"), str(root / "escape" / "v1"), f"{root}/../store/hardening-cats/v1"):
            issue = _issue(live, ref)
            assert f"model folder {ref!r} is outside the allowed model roots" in issue["message"], issue
        missing = _issue(live, str(root / "nothing"))
        assert "no model at" in missing["message"] and "expected a version folder" in missing["message"]


def test_model_errors_at_run_time_name_the_reference_not_the_path(model_store, sleeping_op):
    store, _ = model_store
    with LiveServer({"models": _learned("hardening-cats")}) as live:
        (store.root / "hardening-cats" / "v1" / "head.safetensors").write_bytes(b"tampered")
        record = upload(live.client, "models", "a.jpg", PICTURE).json()
        error = record["error"]
        assert "model 'hardening-cats@1': head.safetensors checksum mismatch" in error["message"], error
        assert str(store.root) not in json.dumps(error)


# --------------------------------------------------------------------------- 16: Host and Origin


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    with LiveServer([IMAGE_AUDIT], allowed_hosts=("media.example", "editor.example:8443"),
                    pipelines_dir=tmp_path_factory.mktemp("p")) as live:
        yield live


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.2:{port}", "media.example.evil:80", "x y"])
def test_foreign_host_headers_are_refused(guarded, host):
    host = host.format(port=_port(guarded))
    for method, path in [("GET", "/api/pipelines"), ("GET", "/"), ("GET", "/health"), ("PUT", "/api/pipelines/rebound")]:
        r = guarded.client.request(method, path, headers={"Host": host}, json={"text": IMAGE_AUDIT.read_text()})
        assert r.status_code == 421, (method, path, r.text)
        err = error_of(r)
        assert err["type"] == "MisdirectedError" and err["path"] == "headers.host"
        assert "is not a name of this server" in err["message"] or "no valid Host" in err["message"]
    assert not (guarded.settings.pipelines_dir / "rebound.yaml").exists()


def test_loopback_and_allowed_hosts_are_served(guarded):
    port = _port(guarded)
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "localhost:5173", "media.example",
                 "MEDIA.example:443", "editor.example:8443"):
        assert guarded.client.get("/api/pipelines", headers={"Host": host}).status_code == 200, host
    assert guarded.client.get("/api/pipelines", headers={"Host": "editor.example:9999"}).status_code == 421


def test_cross_site_origins_are_refused(guarded):
    port = _port(guarded)
    doc = {"text": IMAGE_AUDIT.read_text()}
    same = guarded.client.post("/api/validate", json=doc, headers={"Origin": f"http://127.0.0.1:{port}"})
    assert same.status_code == 200 and same.json()["ok"] is True  # the editor served at / posts like this
    tunnel = {"Host": "localhost:9000", "Origin": "http://localhost:9000"}  # ssh -L 9000:127.0.0.1:PORT
    assert guarded.client.post("/api/validate", json=doc, headers=tunnel).status_code == 200
    allowed = {"Host": "media.example", "Origin": "https://media.example"}
    assert guarded.client.post("/api/validate", json=doc, headers=allowed).status_code == 200
    assert guarded.client.post("/api/validate", json=doc, headers={"Origin": "https://editor.example:8443"}).status_code == 200
    for origin in ("https://evil.example", f"http://localhost:{port}", "http://127.0.0.1:5173", "null", "file://"):
        for method, path in [("POST", "/api/validate"), ("PUT", "/api/pipelines/crossed"), ("GET", "/api/pipelines")]:
            r = guarded.client.request(method, path, json=doc, headers={"Origin": origin})
            assert r.status_code == 403, (origin, method, r.text)
            err = error_of(r)
            assert err["path"] == "headers.origin" and err["message"].startswith("cross-site request refused")
    no_origin = guarded.client.put("/api/pipelines/crossed", json=doc, headers={"Sec-Fetch-Site": "cross-site"})
    assert no_origin.status_code == 403 and "Sec-Fetch-Site" in error_of(no_origin)["message"]
    assert not (guarded.settings.pipelines_dir / "crossed.yaml").exists()
    page = guarded.client.get("/", headers={"Sec-Fetch-Site": "cross-site"})  # a link from elsewhere opens the editor
    assert page.status_code == 200


def test_allowed_hosts_are_checked_and_wildcard_binds_warn():
    from pydantic import ValidationError

    from factorline.serve import ServeSettings
    from factorline.serve.auth import startup_warnings

    with pytest.raises(ValidationError, match="allowed host 'a b': expected a name or address"):
        ServeSettings(allowed_hosts=("a b",))
    with LiveServer([IMAGE_AUDIT], allowed_hosts=("*",)) as live:
        assert live.client.get("/api/pipelines", headers={"Host": "anything.example"}).status_code == 200
        crossed = live.client.post("/api/validate", json={}, headers={"Host": "a.example", "Origin": "https://b.example"})
        assert crossed.status_code == 403  # any Host, but still no cross-site requests
    assert any("no --allowed-hosts" in n for n in startup_warnings(ServeSettings(host="::"), None))


def test_serve_command_passes_the_new_options(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    import factorline.serve as serve_pkg
    from factorline.cli import app

    seen = {}
    monkeypatch.setattr(serve_pkg, "serve", lambda pipelines, settings: seen.update(settings=settings))
    ok = CliRunner().invoke(app, ["serve", str(IMAGE_AUDIT), "--allowed-hosts", "a.example,b.example:8443", "--allowed-hosts",
                                  "c.example", "--model-root", str(tmp_path), "--upload-stall-s", "5", "--upload-min-rate", "0"])
    assert ok.exit_code == 0, ok.output
    settings = seen["settings"]
    assert settings.allowed_hosts == ("a.example", "b.example:8443", "c.example") and settings.model_roots == (tmp_path,)
    assert settings.upload_stall_s == 5 and settings.upload_min_bytes_per_s == 0
    bad = CliRunner().invoke(app, ["serve", str(IMAGE_AUDIT), "--allowed-hosts", "http://x/"])
    assert bad.exit_code == 2 and "expected a name or address" in bad.output
