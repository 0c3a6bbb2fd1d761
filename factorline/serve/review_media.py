"""An item's media for the run browser: the video (HTTP ranges, so players seek) and thumbnails.

Only files under an allowlisted root are served: ``media_roots`` and ``data_root``. The item's
stored path is found as the report finds it (``report.run.media_path``), resolved (symlinks
followed) and must lie under a resolved root; anything else answers 403 and says which roots
are allowed. The video is then opened ``O_NOFOLLOW`` and sent through ``/proc/self/fd`` (as
``paths`` does for run-path), so a name swapped for a symlink meanwhile is refused. Players and ``<img>`` cannot send a bearer header, so when the server has a token
media URLs are signed instead: ``?exp=<unix time>&sig=<HMAC-SHA256(token, path + exp)>``,
valid for an hour, given out only in answers of the (token-protected) item API.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
import threading
import time
from collections import OrderedDict
from pathlib import Path
from urllib.parse import quote

from ..report.run import media_path
from .errors import AuthError, ForbiddenError, NotFoundError
from .paths import IMAGE_SUFFIXES, MEDIA_SUFFIXES

URL_LIFETIME_S = 3600
THUMB_SIDE = 320
_THUMBS: OrderedDict[tuple, bytes] = OrderedDict()
_THUMBS_MAX = 1024
_THUMBS_LOCK = threading.Lock()
MEDIA_TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm",
               ".mkv": "video/x-matroska", ".ogv": "video/ogg", ".avi": "video/x-msvideo", ".ts": "video/mp2t",
               ".mpg": "video/mpeg", ".mpeg": "video/mpeg", ".flv": "video/x-flv", ".gif": "image/gif",
               ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
               ".bmp": "image/bmp", ".tif": "image/tiff", ".tiff": "image/tiff"}


def _signature(token: str, path: str, exp: int) -> str:
    return hmac.new(token.encode(), f"{path}\n{exp}".encode(), hashlib.sha256).hexdigest()[:32]


def media_url(run: str, index: int, what: str, token: str | None, **query: object) -> str:
    """The relative URL of an item's ``video`` or ``thumb`` (signed when the server has a token)."""
    path = f"media/runs/{quote(run, safe='')}/items/{index}/{what}"
    params = {k: v for k, v in query.items() if v is not None}
    if token:
        exp = (int(time.time()) // 600) * 600 + URL_LIFETIME_S  # stable for 10 minutes: browsers cache
        params |= {"exp": exp, "sig": _signature(token, "/" + path, exp)}
    return path + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")


def check_signature(token: str | None, path: str, exp: int | None, sig: str | None) -> None:
    if token is None:
        return
    if exp is None or sig is None:
        raise AuthError("media URLs need exp and sig when the server has a token: take the URL from the item API",
                        path="query.sig")
    if exp < time.time():
        raise AuthError("this media URL has expired: reload the item to get a fresh one", path="query.exp")
    if not hmac.compare_digest(sig, _signature(token, path, exp)):
        raise AuthError("invalid media URL signature", path="query.sig")


def allowed_roots(settings) -> list[Path]:
    roots = list(getattr(settings, "media_roots", ()) or ())
    if settings.data_root is not None:
        roots.append(settings.data_root)
    return [Path(r).resolve() for r in roots]


def locate(record: dict, run_dir: Path, roots: list[Path]) -> tuple[Path | None, str]:
    """(the item's file, "") when it may be served, else (None, why not)."""
    if not roots:
        return None, "media playback is off: start the server with --media-root DIR (or --data-root) naming where the media lives"
    found = media_path(record, run_dir)
    if found is None:
        return None, f"the item's file is gone: {Path(str((record.get('item') or {}).get('path'))).name}"
    real = found.resolve()
    if not any(real == r or r in real.parents for r in roots):
        return None, "the item's file is outside the allowed media roots (--media-root, --data-root)"
    if real.suffix.lower() not in MEDIA_SUFFIXES:
        return None, f"not a media file type the browser plays: {real.suffix}"
    return real, ""


def require_media(record: dict, run_dir: Path, roots: list[Path]) -> Path:
    path, why = locate(record, run_dir, roots)
    if path is None:
        raise (ForbiddenError if "outside" in why or "off" in why else NotFoundError)(why, path="path.item_id")
    return path


def open_media(path: Path, roots: list[Path]) -> tuple[int, str]:
    """(descriptor, a path that reads it) of a located file, opened ``O_NOFOLLOW`` and checked
    again through ``/proc/self/fd`` (as ``paths.open_under_root``): a file swapped for a symlink
    after ``locate`` is refused. The caller closes the descriptor once the answer is sent."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        raise ForbiddenError("the item's file changed while it was opened", path="path.item_id") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotFoundError("the item's file is not a regular file", path="path.item_id")
        proc = Path(f"/proc/self/fd/{fd}")
        try:
            real = Path(os.readlink(proc))
        except OSError:
            return fd, str(path)  # no /proc: the resolved path, checked by locate
        if not any(real == r or r in real.parents for r in roots):
            raise ForbiddenError("the item's file is outside the allowed media roots (--media-root, --data-root)",
                                 path="path.item_id")
        return fd, str(proc)
    except BaseException:
        os.close(fd)
        raise


def media_type(path: Path) -> str:
    return MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")


def thumbnail(path: Path, record: dict, t: float | None, key: tuple) -> bytes:
    """A JPEG of the item at ``t`` (default: its first evidence time, else the middle), with the
    evidence boxes of that time drawn; cached in memory."""
    from PIL import Image

    from ..media.thumbnails import grab_frames
    from ..report.thumbs import _shot, encode_jpeg, evidence_by_time, pick_times

    item = record.get("item") or {}
    when = round(float(t), 3) if t is not None else (pick_times(record, 1) or [0.0])[0]
    with _THUMBS_LOCK:
        if (key, when) in _THUMBS:
            _THUMBS.move_to_end((key, when))
            return _THUMBS[(key, when)]
    if path.suffix.lower() in IMAGE_SUFFIXES and t is None:
        image = Image.open(path)
        image.thumbnail((THUMB_SIDE, THUMB_SIDE))
        data = encode_jpeg(image)
    else:
        grabbed = grab_frames(path, [when], max_side=THUMB_SIDE, digest=item.get("id"))
        frame = grabbed.frames.get(when)
        if frame is None:
            raise NotFoundError(f"no frame could be decoded at {when} s", path="query.t")
        entries = evidence_by_time(record).get(when, [])
        shot = _shot(when, frame, entries, list(record.get("factors") or {}), grabbed.info.width)
        data = _from_uri(shot.uri) if shot.uri else encode_jpeg(Image.fromarray(frame))
    with _THUMBS_LOCK:
        _THUMBS[(key, when)] = data
        while len(_THUMBS) > _THUMBS_MAX:
            _THUMBS.popitem(last=False)
    return data


def _from_uri(uri: str) -> bytes:
    import base64

    return base64.b64decode(uri.split(",", 1)[1])

