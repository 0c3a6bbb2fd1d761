"""A malformed corpus built from small real clips: the ways a media file can be wrong.

``build_corpus(dest, mutants=300, seed=0)`` writes the files and returns ``Corpus``: every
path in a fixed order and what each one must give. Named cases have a precise expectation
("ok", "partial": a record without error whose ``item.partial`` is true, or error types);
random mutants (bit flips, overwritten, deleted, duplicated or inserted spans, truncation,
zeroed headers, spliced files) must give either a sane result or a media error record.

Cases that never end when read (a FIFO, a symlink to /dev/zero) must be refused before
anything reads them; hangs inside a worker are tested with tests/stress_plugin.py.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import media_fixtures as fx

# Errors a bad file may legitimately give; anything else (OperatorError above all) is a bug.
MEDIA_ERRORS = frozenset({"CorruptMediaError", "UnsupportedMediaError", "MediaLimitError", "MediaError", "ItemTimeoutError"})

# A cheap pipeline to run bad media through (the batch tests and the benchmark use it).
PIPELINE = {
    "name": "batch_check",
    "input": "video",
    "sampling": {"fps": 2.0, "max_frames": 4},
    "steps": {"border": {"op": "black_border"}, "clarity": {"op": "clarity"}},
    "decisions": {
        "moderation": {
            "policy": "first", "on_missing": "review", "on_error": "error",
            "rules": [{"id": "bars", "when": "border.area_ratio > 0.2", "outcome": "review"},
                      {"id": "ok", "default": True, "outcome": "accept"}],
        }
    },
}


@dataclass
class Corpus:
    paths: list[str] = field(default_factory=list)
    expect: dict[str, str | set[str]] = field(default_factory=dict)  # path -> "ok" | "partial" | "either" | error types

    def add(self, path: Path, expect: str | set[str]) -> None:
        self.paths.append(str(path))
        self.expect[str(path)] = expect

    def named(self, stem: str) -> str:
        return next(p for p in self.paths if Path(p).stem == stem)


def _seeds(dest: Path) -> dict[str, Path]:
    """The clean clips the bad ones are made from: a real photo under bars, a coded-frame clip
    with noise (so that damage lands on frame data), a clip with sound, a still."""
    return {
        "letterbox": fx.letterboxed_clip(dest / "letterbox.mp4", seconds=2.0),
        "noisy": fx.make_video(dest / "noisy.mp4", 1.5, fps=10.0, noise=True),
        "speech": fx.make_video(dest / "with_audio.mp4", 1.0, fps=10.0, audio=True),
        "faststart": fx.faststart_copy(dest / "noisy.mp4", dest / "noisy_faststart.mp4"),
        "jpeg": fx.make_jpeg(dest / "still.jpg", size=(96, 64)),
    }


def _flip(data: bytearray, rng: random.Random, count: int, start: int = 0) -> bytearray:
    for _ in range(count):
        i = rng.randrange(min(start, len(data) - 1), len(data))
        data[i] ^= 1 << rng.randrange(8)
    return data


def _named(dest: Path, seeds: dict[str, Path], corpus: Corpus) -> None:
    rng = random.Random(1)
    noisy, letterbox = seeds["noisy"], seeds["letterbox"]
    corpus.add(letterbox, "ok")
    corpus.add(seeds["speech"], "ok")
    corpus.add(fx.remux(letterbox, dest / "rotated.mp4", rotation_cw=90), "ok")
    corpus.add(fx.make_vfr_video(dest / "vfr.mp4", [0.0, 0.1, 0.15, 0.5, 1.3, 1.35, 2.0]), "ok")
    (dest / "zero.mp4").write_bytes(b"")
    corpus.add(dest / "zero.mp4", {"CorruptMediaError"})
    (dest / "notes.mp4").write_text("this is a text file, not a video\n" * 20)
    corpus.add(dest / "notes.mp4", {"UnsupportedMediaError"})
    for fraction in (0.05, 0.3, 0.6, 0.95):
        corpus.add(fx.truncate(noisy, dest / f"truncated_{int(fraction * 100):02d}.mp4", fraction), "either")
        corpus.add(fx.truncate(seeds["faststart"], dest / f"truncated_fs_{int(fraction * 100):02d}.mp4", fraction), "either")
    for count in (1, 16, 256):
        data = _flip(bytearray(noisy.read_bytes()), rng, count, start=64)
        (dest / f"bitflip_{count}.mp4").write_bytes(bytes(data))
        corpus.add(dest / f"bitflip_{count}.mp4", "either")
    (dest / "video_named.png").write_bytes(letterbox.read_bytes())  # content decides, not the name
    corpus.add(dest / "video_named.png", "ok")
    (dest / "still_named.mp4").write_bytes(seeds["jpeg"].read_bytes())  # an image given to a video pipeline
    corpus.add(dest / "still_named.mp4", {"UnsupportedMediaError"})
    corpus.add(fx.make_audio_only(dest / "audio_only.m4a"), {"UnsupportedMediaError"})
    (dest / "audio_only.mp4").write_bytes((dest / "audio_only.m4a").read_bytes())
    corpus.add(dest / "audio_only.mp4", {"UnsupportedMediaError"})
    corpus.add(fx.make_png_claiming(dest / "huge.png", 40000, 40000), {"MediaLimitError"})
    corpus.add(_huge_gif(dest / "huge.gif"), {"MediaLimitError", "CorruptMediaError", "UnsupportedMediaError"})
    (dest / "folder.mp4").mkdir(exist_ok=True)
    corpus.add(dest / "folder.mp4", {"UnsupportedMediaError"})
    _cut_and_damaged(dest, seeds, corpus)


def _cut_and_damaged(dest: Path, seeds: dict[str, Path], corpus: Corpus) -> None:
    """Clips cut mid-stream (records that say ``partial``), damaged images (named as such, not
    as a container that is not accepted) and still-image formats FFmpeg would take for movies."""
    for suffix in (".mkv", ".ts", ".gif"):
        whole = fx.ffmpeg_clip(dest / f"whole{suffix}", seconds=4.0)
        assert whole is not None, "Debian's ffmpeg is missing: run `make setup`"
        corpus.add(fx.cut_mid_stream(whole, dest / f"cut_short{suffix}", 0.3), "partial")
    jpeg = seeds["jpeg"].read_bytes()
    (dest / "cut_photo.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    corpus.add(dest / "cut_photo.jpg", {"CorruptMediaError"})
    (dest / "zeroed.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(400))
    corpus.add(dest / "zeroed.png", {"CorruptMediaError"})
    (dest / "phone.heic").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(400))
    corpus.add(dest / "phone.heic", {"UnsupportedMediaError"})
    from PIL import Image

    Image.open(seeds["jpeg"]).save(dest / "photo.avif")  # a picture: refused by a video pipeline, not decoded as a movie
    corpus.add(dest / "photo.avif", {"UnsupportedMediaError"})


def _huge_gif(path: Path) -> Path:
    """A GIF whose logical screen claims 65535x65535 (two frames, so it counts as animated)."""
    from PIL import Image

    frames = [Image.new("P", (4, 4), i) for i in range(2)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    data = bytearray(path.read_bytes())
    data[6:10] = b"\xff\xff\xff\xff"
    path.write_bytes(bytes(data))
    return path


def _endless(dest: Path, corpus: Corpus) -> None:
    """Files whose reading never ends: only killing the worker stops them."""
    fifo = dest / "fifo.mp4"
    if not fifo.exists():
        os.mkfifo(fifo)
    corpus.add(fifo, {"UnsupportedMediaError"})
    endless = dest / "endless.mp4"
    if not endless.exists():
        endless.symlink_to("/dev/zero")
    corpus.add(endless, {"UnsupportedMediaError"})


def _mutate(data: bytes, rng: random.Random, donors: list[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.choice(("flip", "flip", "overwrite", "delete", "duplicate", "insert", "truncate", "zero_head", "splice"))
        n = len(buf)
        if n < 16:
            break
        a = rng.randrange(n)
        b = min(n, a + rng.randint(1, max(1, n // 8)))
        if op == "flip":
            _flip(buf, rng, rng.randint(1, 64))
        elif op == "overwrite":
            buf[a:b] = rng.randbytes(b - a)
        elif op == "delete":
            del buf[a:b]
        elif op == "duplicate":
            buf[a:a] = buf[a:b]
        elif op == "insert":
            buf[a:a] = rng.randbytes(rng.randint(1, 4096))
        elif op == "truncate":
            del buf[a:]
        elif op == "zero_head":
            k = min(n, rng.randint(4, 64))
            buf[:k] = bytes(k)
        else:  # the head of one file on the tail of another
            donor = rng.choice(donors)
            buf = buf[:a] + bytearray(donor[rng.randrange(len(donor)):])
    return bytes(buf)


def build_corpus(dest: Path, mutants: int = 300, seed: int = 0, *, endless: bool = True) -> Corpus:
    dest.mkdir(parents=True, exist_ok=True)
    seeds = _seeds(dest)
    corpus = Corpus()
    _named(dest, seeds, corpus)
    if endless:
        _endless(dest, corpus)
    rng = random.Random(seed)
    donors = [seeds[k].read_bytes() for k in ("letterbox", "noisy", "speech", "faststart")]
    mutant_dir = dest / "mutants"
    mutant_dir.mkdir(exist_ok=True)
    for i in range(mutants):
        base = rng.randrange(len(donors))
        path = mutant_dir / f"mutant_{i:03d}.mp4"
        path.write_bytes(_mutate(donors[base], rng, donors))
        corpus.add(path, "either")
    return corpus
