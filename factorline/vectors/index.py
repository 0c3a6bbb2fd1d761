"""An on-disk vector index of item and frame embeddings, on FAISS (``faiss-cpu``).

Why FAISS: it is the reference library for dense similarity search (Meta, MIT licence), its
CPU wheel installs offline-free from PyPI with no download at run time, exact inner-product
search (``IndexFlatIP``) needs no training, so an index of a few items is as correct as one of
millions, and the same files can move to HNSW or IVF-PQ when a library outgrows exact search.
hnswlib is approximate only; LanceDB brings a second storage format beside our Parquet;
DuckDB's ``vss`` extension is downloaded at first use, which these offline machines cannot.

Folder layout (every file written to a temporary name, then renamed)::

    index.json     format, backbone (id, revision, preprocessing), space (features | joint),
                   image-text spec when the vectors are in an image-text joint space (text
                   search), sampling, counts, kind (flat | hnsw), digest of the other files
    items.jsonl    one line per item: row, id (sha256 of the file), path, kind, duration_s,
                   width, height, first (first frame row), times (of its frames)
    items.faiss    item vectors (the mean of its frame vectors, L2-normalised)
    frames.faiss   frame vectors, L2-normalised, items' frames contiguous in row order

Every vector is L2-normalised, so inner product = cosine.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..contract.errors import ConfigError, ResourceError

FORMAT = "factorline.vector-index/1"
HNSW_FROM = 50_000  # auto: exact search below this many items, HNSW above


def _faiss():
    try:
        import faiss
    except ImportError as exc:
        raise ResourceError("the vector index needs faiss: pip install faiss-cpu", path="faiss", cause=exc) from exc
    return faiss


def normalized(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(np.asarray(x, np.float32))
    if x.ndim == 1:
        x = x.reshape(1, -1)
    return np.ascontiguousarray(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12))


def make_index(vectors: np.ndarray, kind: str = "flat"):
    faiss = _faiss()
    dim = int(vectors.shape[1])
    index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT) if kind == "hnsw" else faiss.IndexFlatIP(dim)
    if kind == "hnsw":
        index.hnsw.efSearch = 128
    if len(vectors):
        index.add(normalized(vectors))
    return index


def folder_digest(folder: Path) -> str:
    """sha256 over the index's data files (what ``copy_of`` pins its reference to)."""
    digest = hashlib.sha256()
    for name in ("items.jsonl", "items.faiss", "frames.faiss"):
        digest.update(name.encode())
        with (folder / name).open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return "sha256:" + digest.hexdigest()


@dataclass
class Hit:
    row: int
    score: float
    item: dict


class VectorIndex:
    """A loaded index: ``meta`` (index.json), ``items`` (items.jsonl), FAISS item and frame indexes."""

    def __init__(self, folder: Path, meta: dict, items: list[dict], item_index, frame_index):
        self.folder, self.meta, self.items = folder, meta, items
        self.item_index, self.frame_index = item_index, frame_index
        self._by_id = {it["id"]: it["row"] for it in items}
        self._frame_item = np.zeros(frame_index.ntotal, np.int64)
        for it in items:
            self._frame_item[it["first"] : it["first"] + len(it["times"])] = it["row"]

    # ------------------------------------------------------------------ writing

    @classmethod
    def write(cls, folder: Path, meta: dict, items: list[dict], frame_vectors: list[np.ndarray], *, kind: str = "auto") -> VectorIndex:
        """Write an index of ``items`` (dicts without row/first) whose frames are ``frame_vectors``."""
        faiss = _faiss()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        dim = int(meta["dim"])
        rows, first = [], 0
        for row, (item, vectors) in enumerate(zip(items, frame_vectors)):
            rows.append({**item, "row": row, "first": first})
            first += len(vectors)
        frames = normalized(np.concatenate(frame_vectors)) if first else np.zeros((0, dim), np.float32)
        means = [normalized(v.mean(axis=0)) if len(v) else np.zeros((1, dim), np.float32) for v in frame_vectors]
        item_vectors = np.concatenate(means) if means else np.zeros((0, dim), np.float32)
        kind = ("hnsw" if len(items) >= HNSW_FROM else "flat") if kind == "auto" else kind
        _atomic(folder / "items.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode())
        _atomic(folder / "items.faiss", faiss.serialize_index(make_index(item_vectors, kind)).tobytes())
        _atomic(folder / "frames.faiss", faiss.serialize_index(make_index(frames, "flat")).tobytes())
        meta = {**meta, "format": FORMAT, "kind": kind, "items": len(rows), "frames": first,
                "library": f"faiss-cpu {faiss.__version__}", "digest": folder_digest(folder)}
        _atomic(folder / "index.json", (json.dumps(meta, indent=2, ensure_ascii=False) + "\n").encode())
        return cls.open(folder)

    # ------------------------------------------------------------------ reading

    @classmethod
    def open(cls, folder: str | Path) -> VectorIndex:
        faiss = _faiss()
        folder = Path(folder).expanduser()
        meta_file = folder / "index.json"
        if not meta_file.is_file():
            raise ConfigError(f"{folder}: expected a vector index folder (index.json, items.jsonl, *.faiss) written by "
                              "`factorline index build`, found no index.json there", path=str(folder))
        try:
            meta = json.loads(meta_file.read_text())
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT!r}")
            items = [json.loads(line) for line in (folder / "items.jsonl").read_text().splitlines() if line.strip()]
            item_index = faiss.deserialize_index(np.frombuffer((folder / "items.faiss").read_bytes(), np.uint8))
            frame_index = faiss.deserialize_index(np.frombuffer((folder / "frames.faiss").read_bytes(), np.uint8))
        except (OSError, ValueError, RuntimeError) as exc:
            raise ConfigError(f"{folder}: damaged vector index ({type(exc).__name__}: {exc}); rebuild it with "
                              "`factorline index build`", path=str(folder)) from exc
        if item_index.ntotal != len(items) or frame_index.ntotal != sum(len(i["times"]) for i in items):
            raise ConfigError(f"{folder}: items.jsonl lists {len(items)} items but the FAISS files hold {item_index.ntotal} "
                              f"items / {frame_index.ntotal} frames; rebuild it with `factorline index build`", path=str(folder))
        return cls(folder, meta, items, item_index, frame_index)

    @property
    def dim(self) -> int:
        return int(self.meta["dim"])

    def row_of(self, item: str) -> int:
        """The row of an item id (``sha256:...``, a unique prefix of it) or of a file name/path."""
        if item in self._by_id:
            return self._by_id[item]
        found = [it["row"] for it in self.items if it["id"].startswith(item) or it["path"] == item or Path(it["path"]).name == item]
        if len(found) != 1:
            raise ConfigError(f"item {item!r}: expected one item of {self.folder} (an id, id prefix or file name), found "
                              f"{len(found)}", path="item")
        return found[0]

    def item_vector(self, row: int) -> np.ndarray:
        return self.item_index.reconstruct(int(row)).reshape(1, -1) if self.meta["kind"] == "flat" else \
            self.frame_vectors(row).mean(axis=0, keepdims=True)

    def frame_vectors(self, row: int) -> np.ndarray:
        item = self.items[row]
        n = len(item["times"])
        return self.frame_index.reconstruct_n(int(item["first"]), n) if n else np.zeros((0, self.dim), np.float32)

    def search_items(self, query: np.ndarray, k: int = 10, *, exclude: int | None = None) -> list[Hit]:
        """Nearest items to one query vector (the mean of several is taken), best first."""
        self._check_dim(query)
        q = normalized(normalized(query).mean(axis=0))
        found = min(self.item_index.ntotal, k + (exclude is not None))
        if found == 0:
            return []
        scores, rows = self.item_index.search(q, found)
        hits = [Hit(int(r), float(s), self.items[int(r)]) for s, r in zip(scores[0], rows[0]) if r >= 0 and r != exclude]
        return hits[:k]

    def search_frames(self, queries: np.ndarray, k: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each query frame its ``k`` nearest library frames: (scores, frame rows, item rows), each (Q, k)."""
        self._check_dim(queries)
        k = min(k, self.frame_index.ntotal)
        if k == 0 or len(queries) == 0:
            empty = np.zeros((len(queries), 0))
            return empty, empty.astype(np.int64), empty.astype(np.int64)
        scores, rows = self.frame_index.search(normalized(queries), k)
        return scores, rows, np.where(rows >= 0, self._frame_item[np.maximum(rows, 0)], -1)

    def frame_time(self, frame_row: int) -> float:
        item = self.items[int(self._frame_item[frame_row])]
        return float(item["times"][int(frame_row) - item["first"]])

    def _check_dim(self, query: np.ndarray) -> None:
        if np.asarray(query).shape[-1] != self.dim:
            raise ConfigError(f"query vectors have {np.asarray(query).shape[-1]} dimensions but {self.folder} holds {self.dim}-d "
                              f"vectors of {self.meta['backbone']['id']}; query with the index's backbone", path="query")


def _atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
