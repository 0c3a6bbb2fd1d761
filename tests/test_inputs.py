"""What the user typed becomes items or listed skips: nothing a user named is dropped silently."""

from __future__ import annotations

import os
import socket

import pytest

from factorline.batch import scan_inputs
from factorline.batch.inputs import IMAGE_SUFFIXES
from factorline.contract.errors import ConfigError


@pytest.fixture
def folder(tmp_path):
    """Two media files among every kind of entry a folder walk can meet."""
    top = tmp_path / "top"
    (tmp_path / "elsewhere").mkdir()
    (top / "folder.mp4").mkdir(parents=True)
    for name in ("b.mp4", "folder.mp4/inner.mp4", "notes.txt", ".hidden.mp4"):
        (top / name).write_bytes(b"x")
    os.mkfifo(top / "pipe.mp4")
    (top / "zero.mp4").symlink_to("/dev/zero")
    (top / "dangling.mp4").symlink_to("nowhere.mp4")
    (top / "loop.mp4").symlink_to("loop.mp4")
    (top / "linked").symlink_to(tmp_path / "elsewhere")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(top / "sock.mp4"))
    yield top
    server.close()


def test_a_folder_walk_lists_every_media_named_entry_it_passes_over(folder):
    scan = scan_inputs([str(folder)])
    assert scan.paths == [str(folder / "b.mp4"), str(folder / "folder.mp4" / "inner.mp4")]
    assert scan.ignored == 2  # notes.txt, .hidden.mp4
    reasons = {os.path.basename(s.path): s.reason for s in scan.skipped}
    assert reasons == {
        "dangling.mp4": "named like media but it is a broken symbolic link (it points to nowhere.mp4, which does not exist)",
        "folder.mp4": "named like media but it is a folder; its files are walked like any folder's",
        "linked": f"a symbolic link to {folder.parent / 'elsewhere'}, which is a folder: links to folders are not "
                  "followed; pass that folder itself",
        "loop.mp4": "named like media but it is a symbolic link that loops back on itself",
        "pipe.mp4": "named like media but it is a named pipe (FIFO): reading it could wait forever",
        "sock.mp4": "named like media but it is a socket",
        "zero.mp4": "named like media but it is a symbolic link to /dev/zero, which is a device: reading it may never end",
    }
    assert {s.kind for s in scan.skipped} == {"broken symbolic link", "folder", "symbolic link that loops", "named pipe",
                                              "socket", "device"}


def test_a_glob_lists_what_it_matched_that_is_not_a_file(folder):
    scan = scan_inputs([str(folder / "*.mp4")])
    assert scan.paths == [str(folder / "b.mp4")]
    assert sorted(os.path.basename(s.path) for s in scan.skipped) == [
        "dangling.mp4", "folder.mp4", "loop.mp4", "pipe.mp4", "sock.mp4", "zero.mp4"]
    assert all(s.reason.startswith(f"matched by '{folder}/*.mp4' but it is ") for s in scan.skipped)


def test_named_files_are_items_a_named_broken_link_a_skip_and_a_typo_an_error(folder):
    scan = scan_inputs([str(folder / "pipe.mp4"), str(folder / "dangling.mp4")])
    assert scan.paths == [str(folder / "pipe.mp4")]  # given by name: its record says it is a FIFO
    assert [s.reason for s in scan.skipped] == ["a broken symbolic link (it points to nowhere.mp4, which does not exist)"]
    with pytest.raises(ConfigError, match="input not found: .*typo.mp4"):
        scan_inputs([str(folder / "typo.mp4")])


def test_avif_and_heic_are_image_names(tmp_path):
    assert {".avif", ".heic", ".heif"} <= IMAGE_SUFFIXES
    for name in ("a.avif", "b.heic"):
        (tmp_path / name).write_bytes(b"x")
    assert scan_inputs([str(tmp_path)]).paths == [str(tmp_path / "a.avif"), str(tmp_path / "b.heic")]
