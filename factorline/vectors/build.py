"""Embedding media for the index: ``factorline index build RUN|MEDIA`` and the queries of
``factorline search`` / ``copy_of`` / ``dedup``.

An :class:`Embedder` names the space vectors live in. With an image backbone (``effnet-lite0``,
``onnx:``, an ``hf:`` image tower) it is the backbone's features; with an image-text backbone
(``hf:`` CLIP/SigLIP folder, ``builtin:imagenet-minilm``) it is the joint space, so a text
prompt can be searched too. Frame features come through the embedding cache (the ``embed``
namespace the trainer and ``learned`` use), so indexing a run whose items were embedded before
decodes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.items import Limits, Sampling
from ..errors import ConfigError, FactorlineError, MediaError
from ..models.backbones import Backbone, get_backbone
from ..models.embed import EmbeddingCache
from .index import VectorIndex, normalized

DEFAULT_SAMPLING = Sampling(fps=1.0, max_frames=64, max_side=1280)


def is_imagetext(spec: str) -> bool:
    from ..models.imagetext import BRIDGE, FAMILIES

    if spec == BRIDGE:
        return True
    if not spec.startswith("hf:"):
        return False
    config = Path(spec[3:].partition("#")[0]).expanduser() / "config.json"
    try:
        return json.loads(config.read_text()).get("model_type") in FAMILIES
    except (OSError, ValueError):
        return False


@dataclass
class Embedder:
    """Vectors of frames (and, for image-text backbones, of texts) in one space."""

    spec: str
    image: Backbone
    to_space: Callable[[np.ndarray], np.ndarray]
    text: Callable[[str], np.ndarray] | None = None
    cache: EmbeddingCache = field(default_factory=EmbeddingCache)

    @classmethod
    def load(cls, spec: str, cache: EmbeddingCache | None = None) -> Embedder:
        cache = cache or EmbeddingCache()
        if is_imagetext(spec):
            from ..models.imagetext import get_imagetext

            model = get_imagetext(spec)
            return cls(spec, model.image, model.image_vectors, lambda t: model.texts([t]), cache)
        backbone = get_backbone(spec)
        if backbone.modality != "image":
            raise ConfigError(f"backbone {spec!r} embeds {backbone.modality}s; the index needs an image backbone "
                              "(effnet-lite0, onnx:<file>, hf:<folder>)", path="backbone")
        return cls(spec, backbone, normalized, None, cache)

    @property
    def space(self) -> str:
        return "joint" if self.text is not None else "features"

    def meta(self, sampling: Sampling) -> dict:
        return {"backbone": {**self.image.describe(), "spec": self.spec}, "space": self.space,
                "imagetext": self.spec if self.text is not None else None, "dim": self.dim,
                "sampling": sampling.frame_key()}

    @property
    def dim(self) -> int:
        return int(self.to_space(np.zeros((1, self.image.dim), np.float32)).shape[1])

    def frames(self, digest: str, images: np.ndarray, times) -> np.ndarray:
        return normalized(self.to_space(self.cache.frames(self.image, digest, images, list(times)))) if len(images) else \
            np.zeros((0, self.dim), np.float32)

    def media(self, path: str | Path, sampling: Sampling = DEFAULT_SAMPLING, limits: Limits | None = None) -> tuple[dict, np.ndarray]:
        """(item description, (N, dim) frame vectors) of a media file; MediaError when unusable."""
        from ..media import decode_frames, probe

        limits = limits or Limits()
        info = probe(path, limits)
        key = sampling.frame_key()

        def decoded():
            batch = decode_frames(path, info, sampling, limits)
            return batch.images, list(batch.times)

        times, features = self.cache.item(self.image, info.id, key, decoded)
        vectors = normalized(self.to_space(features)) if len(features) else np.zeros((0, self.dim), np.float32)
        item = {"id": info.id, "path": str(Path(path).resolve()), "kind": info.kind, "duration_s": info.duration_s,
                "width": info.width, "height": info.height, "times": [round(float(t), 4) for t in times]}
        return item, vectors

    def text_vector(self, text: str) -> np.ndarray:
        if self.text is None:
            raise ConfigError(f"text search needs an index built with an image-text backbone (hf:<CLIP/SigLIP folder> or "
                              f"builtin:imagenet-minilm); this one was built with {self.spec}", path="text")
        return normalized(self.text(text))


def run_inputs(run_dir: Path) -> tuple[list[str], Sampling | None]:
    """The item paths of a run folder (results.jsonl, in order) and its pipeline's sampling."""
    results = run_dir / "results.jsonl"
    if not results.is_file():
        raise ConfigError(f"{run_dir}: expected a run folder with results.jsonl (from `factorline run`), found none", path=str(run_dir))
    paths = []
    for line in results.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        path = (record.get("item") or {}).get("path")
        if path:
            paths.append(path)
    sampling = None
    pipeline = run_dir / "pipeline.yaml"
    if pipeline.is_file():
        from ..core.document import load_text

        section = (load_text(pipeline) or {}).get("sampling") or {}
        known = {k: section[k] for k in Sampling().frame_key() if k in section}
        sampling = Sampling(**known) if known else None
    return paths, sampling


def collect_inputs(inputs: list[str]) -> tuple[list[str], Sampling | None, list[str]]:
    """Item paths of run folders and media arguments, a run's sampling, and skip reasons."""
    from ..batch.inputs import scan_inputs

    paths, sampling, skipped, media = [], None, [], []
    for entry in inputs:
        if Path(entry).is_dir() and (Path(entry) / "results.jsonl").is_file():
            found, sampling = run_inputs(Path(entry))
            paths += found
        else:
            media.append(entry)
    if media:
        scan = scan_inputs(media)
        paths += list(scan.paths)
        skipped += [f"{s.path}: {s.reason}" for s in scan.skipped]
    return list(dict.fromkeys(paths)), sampling, skipped


def build_index(inputs: list[str], out: Path, embedder: Embedder, *, sampling: Sampling | None = None, kind: str = "auto",
                progress: Callable[[str], None] | None = None) -> tuple[VectorIndex, list[str]]:
    """Embed every item and write the index; unusable items are left out and listed."""
    paths, run_sampling, skipped = collect_inputs(inputs)
    sampling = sampling or run_sampling or DEFAULT_SAMPLING
    if not paths:
        raise ConfigError(f"no media found in {', '.join(inputs)}: expected run folders, media files, folders or globs",
                          path="inputs")
    items, vectors, seen = [], [], set()
    for path in paths:
        try:
            item, frames = embedder.media(path, sampling)
        except (MediaError, OSError) as exc:
            skipped.append(f"{path}: {getattr(exc, 'message', exc)}")
            continue
        except FactorlineError as exc:
            skipped.append(f"{path}: {exc.message}")
            continue
        if item["id"] in seen:
            skipped.append(f"{path}: same bytes as an item already indexed")
            continue
        seen.add(item["id"])
        items.append(item)
        vectors.append(frames)
        if progress:
            progress(path)
    return VectorIndex.write(out, embedder.meta(sampling), items, vectors, kind=kind), skipped
