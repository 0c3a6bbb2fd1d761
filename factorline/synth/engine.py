"""Run the engine: options, the sample plan, worker processes, atomic writes, resume.

Sample ``index`` of a run with ``seed`` has the id ``s<seed>-<index:06d>``, the kind
``kinds[index % len(kinds)]`` and its own ``numpy.random.Generator(PCG64(SeedSequence([seed, index])))``,
so any number of workers, in any order, writes the same samples and the same ``labels.jsonl``.

Output folder::

    media/<kind>/<id>.mp4|.png   one sample each, written to a hidden temporary name, then renamed
    .parts/<id>.json             the label record of each finished sample, until labels.jsonl is built
    labels.jsonl                 one record per sample in index order (no times, no worker ids)
    synth.json                   engine version, arguments, counts, source digests, time taken

A second run with the same arguments skips every sample whose media and record are present
(a larger ``--count`` adds samples); other arguments into the same folder are refused.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image

from factorline.contract.errors import ConfigError
from factorline.media.encode import write_video
from factorline.synth.dataset import LABELS, STAMP
from factorline.synth.kinds_text import TEXT_KINDS
from factorline.synth.kinds_video import VIDEO_KINDS
from factorline.synth.materials import FPS, Materials, sha256_bytes
from factorline.synth.truth import Spec

SYNTH_VERSION = 1
KINDS = {**TEXT_KINDS, **VIDEO_KINDS}
TEMPORAL_KINDS = ("cuts", "fades", "flashes", "slideshow")  # no meaning as single frames
PARTS = ".parts"
MAX_SIDE, MAX_CLIP_S = 3840, 30.0
# H.264 as uploads carry it; superfast encodes ~2x faster than the sample set's veryfast for files
# ~1.5x larger (the pixels change a little, the labels not at all).
ENCODER = {"codec": "libx264", "crf": 23, "preset": "superfast"}


@dataclass(frozen=True)
class SynthOptions:
    kinds: tuple[str, ...]
    count: int
    seed: int = 0
    size: tuple[int, int] = (640, 360)
    clip_s: float = 4.0
    stills: bool = False
    fps: float = FPS

    def __post_init__(self) -> None:
        unknown = [k for k in self.kinds if k not in KINDS]
        if not self.kinds or unknown:
            raise ConfigError(f"unknown kind(s) {', '.join(map(repr, unknown)) or '(none given)'}; expected one or more of: "
                              f"{', '.join(KINDS)} (comma-separated)", path="--kind")
        if self.count < 1:
            raise ConfigError(f"--count must be at least 1, found {self.count}", path="--count")
        if self.seed < 0:
            raise ConfigError(f"--seed must be a non-negative integer, found {self.seed}", path="--seed")
        w, h = self.size
        if not (64 <= w <= MAX_SIDE and 64 <= h <= MAX_SIDE) or w % 2 or h % 2:
            raise ConfigError(f"--size must be WxH with even sides from 64 to {MAX_SIDE} px (H.264 needs even sizes), "
                              f"found {w}x{h}", path="--size")
        if not 1.0 <= self.clip_s <= MAX_CLIP_S:
            raise ConfigError(f"--clip-s must be from 1 to {MAX_CLIP_S:g} seconds, found {self.clip_s:g}", path="--clip-s")
        temporal = [k for k in self.kinds if k in TEMPORAL_KINDS]
        if self.stills and temporal:
            raise ConfigError(f"--stills writes single frames, but {', '.join(temporal)} only exist in time; drop "
                              f"{'it' if len(temporal) == 1 else 'them'} from --kind or drop --stills", path="--kind")

    @property
    def frames(self) -> int:
        return 1 if self.stills else max(1, int(round(self.clip_s * self.fps)))

    def args(self) -> dict:
        """What the samples depend on (not ``count``: a larger count extends the same set)."""
        args = asdict(self)
        args.pop("count")
        return {"version": SYNTH_VERSION, **{k: list(v) if isinstance(v, tuple) else v for k, v in args.items()}}


def parse_kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    SynthOptions(kinds, 1)  # raises with the valid kinds listed
    return kinds


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--size must look like 640x360 (width x height in px), found {text!r}", path="--size") from None
    return w, h


def sample_id(seed: int, index: int) -> str:
    return f"s{seed}-{index:06d}"


def sample_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, index])))


def sample_path(options: SynthOptions, index: int) -> str:
    kind = options.kinds[index % len(options.kinds)]
    return f"media/{kind}/{sample_id(options.seed, index)}.{'png' if options.stills else 'mp4'}"


# --------------------------------------------------------------------------- one sample


def make_sample(out: Path, options: SynthOptions, index: int, materials: Materials) -> dict:
    """Compose sample ``index``, write its media and part record atomically, return the record."""
    kind = options.kinds[index % len(options.kinds)]
    spec = Spec(options.size, options.frames, options.fps, options.stills)
    sample = KINDS[kind](sample_rng(options.seed, index), materials, spec)
    rel = sample_path(options, index)
    path = out / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        if options.stills:
            Image.fromarray(next(iter(sample.frames))).save(tmp, format="PNG", compress_level=1)
        else:
            write_video(tmp, sample.frames, fps=options.fps, **ENCODER)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    w, h = options.size
    media = {"width": w, "height": h} if options.stills else {
        "width": w, "height": h, "fps": options.fps, "frames": spec.frames, "duration_s": round(spec.duration_s, 3)}
    record = {"id": sample_id(options.seed, index), "index": index, "path": rel, "kind": kind, "seed": options.seed,
              "media": media, "params": sample.params, "truth": sample.truth}
    _write_atomic(out / PARTS / f"{record['id']}.json", json.dumps(record, ensure_ascii=False) + "\n")
    return record


_MATERIALS: dict[tuple[int, int], Materials] = {}


def _materials(size: tuple[int, int]) -> Materials:
    if size not in _MATERIALS:  # one set per process: clips decoded once, shared by its samples
        _MATERIALS[size] = Materials(size)
    return _MATERIALS[size]


def _work(out: str, options: SynthOptions, indices: list[int]) -> list[dict]:
    materials = _materials(options.size)
    return [make_sample(Path(out), options, i, materials) for i in indices]


# --------------------------------------------------------------------------- the run


@dataclass
class SynthResult:
    out: Path
    made: int
    resumed: int
    seconds: float
    stamp: dict


def generate(out: str | Path, options: SynthOptions, *, workers: int = 1,
             on_progress: Callable[[int, int], None] | None = None) -> SynthResult:
    """Write ``options.count`` samples into ``out`` (resuming a previous run with the same arguments)."""
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, found {workers}", path="--workers")
    out = Path(out)
    started = time.perf_counter()
    done = _resume(out, options)
    _write_atomic(out / STAMP, json.dumps({"status": "running", "args": options.args()}, indent=2) + "\n")
    todo = [i for i in range(options.count) if i not in done]
    tick = on_progress or (lambda finished, total: None)
    tick(options.count - len(todo), options.count)
    if workers == 1 or len(todo) <= 1:
        materials = _materials(options.size)
        for i in todo:
            done[i] = make_sample(out, options, i, materials)
            tick(len(done), options.count)
    else:
        chunk = max(1, min(8, len(todo) // (workers * 4)))
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_work, str(out), options, todo[k : k + chunk]) for k in range(0, len(todo), chunk)]
            for future in as_completed(futures):
                for record in future.result():
                    done[record["index"]] = record
                tick(len(done), options.count)
    records = [done[i] for i in range(options.count)]
    labels = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    _write_atomic(out / LABELS, labels)
    seconds = time.perf_counter() - started
    made = len(todo)
    counts: dict[str, int] = {}
    for r in records:
        counts[r["kind"]] = counts.get(r["kind"], 0) + 1
    stamp = {"status": "complete", "engine": "factorline.synth", "version": SYNTH_VERSION, "args": options.args(),
             "seed": options.seed, "count": options.count, "counts": counts, "made": made,
             "resumed": options.count - made, "workers": workers, "seconds": round(seconds, 2),
             "samples_per_s": round(made / seconds, 2) if made else None,
             "labels_sha256": sha256_bytes(labels.encode("utf-8")),
             "encoder": None if options.stills else ENCODER, "sources": _materials(options.size).digests()}
    _write_atomic(out / STAMP, json.dumps(stamp, indent=2, ensure_ascii=False) + "\n")
    shutil.rmtree(out / PARTS, ignore_errors=True)
    return SynthResult(out, made, options.count - made, seconds, stamp)


def _resume(out: Path, options: SynthOptions) -> dict[int, dict]:
    """Records of samples already finished in ``out`` by a run with the same arguments."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file; expected a folder for the synthetic set (a new or an earlier synth OUT)",
                          path="OUT")
    stamp_path = out / STAMP
    if stamp_path.is_file():
        try:
            recorded = json.loads(stamp_path.read_text(encoding="utf-8")).get("args")
        except ValueError:
            recorded = None
        if recorded != options.args():
            raise ConfigError(f"{out} holds a synthetic set made with other arguments ({recorded}); these are "
                              f"{options.args()}. Write to another folder, or delete {out} to start again", path="OUT")
    elif out.is_dir() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty and holds no {STAMP}; give a new or empty folder (or an earlier synth OUT)",
                          path="OUT")
    records: dict[int, dict] = {}
    candidates = []
    if (out / LABELS).is_file():
        candidates += [json.loads(line) for line in (out / LABELS).read_text(encoding="utf-8").splitlines() if line.strip()]
    for part in sorted((out / PARTS).glob("*.json")) if (out / PARTS).is_dir() else []:
        try:
            candidates.append(json.loads(part.read_text(encoding="utf-8")))
        except ValueError:
            continue  # a torn part: its sample is made again
    for record in candidates:
        index = record.get("index")
        if isinstance(index, int) and record.get("path") == sample_path(options, index) and (out / record["path"]).is_file():
            records[index] = record
    for stale in out.glob("media/*/.*.tmp*"):  # left by a killed run
        stale.unlink(missing_ok=True)
    return records


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
