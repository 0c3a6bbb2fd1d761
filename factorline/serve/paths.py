"""Server-side paths: only regular files under the allowlisted ``data_root``.

A client names a file by its path *relative* to the root. Refused before the file system is
asked: absolute paths, any ``..`` component, backslashes, NUL and control characters. Then the
path is resolved (symlinks followed) and must still lie under the resolved root, so a symlink
that leads out of the root is refused like ``..``; a symlink that stays inside is fine. The
text is used as given: ``%2e%2e`` is a file literally named so, never decoded into ``..``.

Between that check and the engine opening the file, a symlink could be swapped in. To close
that window the file is opened once with ``O_NOFOLLOW``, the opened descriptor's real path is
checked against the root again, and the engine reads ``/proc/self/fd/N`` (the same inode,
whatever happens to the name afterwards). Where /proc is missing the resolved path is used.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

from .errors import ForbiddenError, NotFoundError, RequestValidationFailed

MAX_PATH_CHARS = 4096
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
MEDIA_SUFFIXES = IMAGE_SUFFIXES | {".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".ts", ".flv", ".gif", ".ogv", ".mpg", ".mpeg"}
MAX_LISTED = 2000


def check_relative(text: str) -> PurePosixPath:
    """The client's path as a clean relative path, or a 403/422 saying why not."""
    where = "body.path"
    if not text or len(text) > MAX_PATH_CHARS:
        raise RequestValidationFailed(f"path must have 1 to {MAX_PATH_CHARS} characters", path=where)
    if any(ord(c) < 32 or c == "\x7f" for c in text):
        raise RequestValidationFailed("path contains control characters", path=where)
    if "\\" in text:
        raise ForbiddenError("backslashes are not allowed in paths", path=where)
    rel = PurePosixPath(text)
    if rel.is_absolute() or text.startswith("~"):
        raise ForbiddenError("paths are relative to the data root; absolute paths are refused", path=where)
    if any(part == ".." for part in rel.parts):
        raise ForbiddenError("'..' is not allowed in paths", path=where)
    return rel


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


class OpenedFile:
    """A checked file held open; ``path`` reads that very inode until ``close``.

    Close only once nothing reads ``path`` any more (the run's slot closes it when the
    item's thread is done): a closed descriptor number can be reused by another file.
    """

    def __init__(self, fd: int, path: str):
        self.fd, self.path = fd, path

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def open_under_root(root: Path, text: str) -> OpenedFile:
    """Open ``text`` under ``root`` for the engine; refuse anything else."""
    rel = check_relative(text)
    real_root = root.resolve()
    try:
        target = (real_root / rel).resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFoundError(f"no such file under the data root: {text}", path="body.path") from None
    except (OSError, RuntimeError) as exc:  # symlink loops, names too long
        raise NotFoundError(f"cannot resolve {text}: {exc.__class__.__name__}", path="body.path") from None
    if not _inside(target, real_root):
        raise ForbiddenError("the path leads outside the data root", path="body.path")
    try:
        # O_NONBLOCK: opening a FIFO someone planted must not hang a worker (no effect on files).
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
        fd = os.open(target, flags)
    except OSError:
        raise ForbiddenError("the file changed while it was opened", path="body.path") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotFoundError(f"not a regular file: {text}", path="body.path")
        return OpenedFile(fd, _fd_path(fd, target, real_root))
    except BaseException:
        os.close(fd)
        raise


def _fd_path(fd: int, target: Path, real_root: Path) -> str:
    proc = Path(f"/proc/self/fd/{fd}")
    try:
        real = Path(os.readlink(proc))
    except OSError:
        return str(target)  # no /proc (macOS): the resolved path, checked above
    if not _inside(real, real_root):
        raise ForbiddenError("the path leads outside the data root", path="body.path")
    return str(proc)


def list_media(root: Path) -> list[dict]:
    """Media files under ``root`` (symlinks not followed), relative paths sorted, capped."""
    real_root = root.resolve()
    found: list[dict] = []
    for dirpath, dirnames, filenames in os.walk(real_root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(".") or path.suffix.lower() not in MEDIA_SUFFIXES:
                continue
            info = path.lstat()
            if not stat.S_ISREG(info.st_mode):  # symlinks, FIFOs, sockets: not offered
                continue
            kind = "image" if path.suffix.lower() in IMAGE_SUFFIXES else "video"
            found.append({"path": path.relative_to(real_root).as_posix(), "kind": kind, "size": info.st_size})
            if len(found) >= MAX_LISTED:
                return found
    return found
