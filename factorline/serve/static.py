"""The pipeline editor's built files (``ui/dist``), served at ``/`` next to the API.

``npm run build`` in ``ui/`` (part of ``make setup``) writes ``index.html`` and hashed files under
``assets/``. The folder is ``$FACTORLINE_UI_DIST`` when set, else ``<repository>/ui/dist``. When
it is missing, ``/`` answers a short page that says how to build it, so a server without the
editor still starts and its API works.

These paths carry no data and stay open when a token is configured (auth guards ``/api`` and
``/metrics``); the editor asks for the token and sends it as a bearer header itself.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

import factorline

DIST_ENV = "FACTORLINE_UI_DIST"

# The page only talks to its own origin; React Flow positions nodes with inline styles.
EDITOR_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Cache-Control": "no-cache",  # index.html names the current hashed assets: always revalidate it
    "Content-Security-Policy": EDITOR_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

MISSING_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>factorline</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}
code{background:#f2f2f2;padding:.1rem .3rem;border-radius:3px}</style></head>
<body><h1>factorline</h1>
<p>The API is up, but the pipeline editor has not been built.</p>
<p>Build it with <code>make setup</code> (or <code>cd ui &amp;&amp; npm ci &amp;&amp; npm run build</code>),
then reload this page. Set <code>FACTORLINE_UI_DIST</code> to serve a build from elsewhere.</p>
<p>Meanwhile: <a href="docs">API documentation</a> &middot; <a href="api/operators">operators</a> &middot;
<a href="api/pipelines">pipelines</a></p>
</body></html>
"""


def editor_dist() -> Path:
    """Where the built editor is expected (it may not exist)."""
    configured = os.environ.get(DIST_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path(factorline.__file__).resolve().parents[1] / "ui" / "dist"


class _HashedAssets(StaticFiles):
    """Vite names assets by content hash, so browsers may keep them for good."""

    async def get_response(self, path: str, scope: Scope):
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
            response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def mount_editor(app: FastAPI, dist: Path | None = None) -> Path | None:
    """Serve the editor at ``/`` (and ``/assets``); returns the folder served, None when missing."""
    dist = dist or editor_dist()
    index = dist / "index.html"
    if not index.is_file():

        @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False, response_class=HTMLResponse)
        async def editor_missing() -> HTMLResponse:
            return HTMLResponse(MISSING_PAGE, headers={"Cache-Control": "no-cache"})

        return None

    if (dist / "assets").is_dir():
        app.mount("/assets", _HashedAssets(directory=dist / "assets"), name="editor-assets")

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def editor() -> FileResponse:
        return FileResponse(index, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    return dist
