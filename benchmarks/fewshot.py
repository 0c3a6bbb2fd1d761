"""Few-shot learning curves on real data that packages ship, and the cost of `train`.

Data: scikit-image's ``lfw_subset`` (100 face and 100 non-face 25x25 crops from LFW) and
scikit-learn's ``digits`` (8x8 handwritten digits, 10 classes; 82 per class used). Both are
upscaled (nearest) to 64 px RGB and embedded once by the default backbone (effnet-lite0).
For k = 4, 8, 16, 32 examples per class and 5 seeds, k training items per class are drawn
and every other item is the test set; the logistic-regression head, the MLP head and the
nearest-class-prototype baseline are scored by accuracy on it (mean and std over seeds).

Then ``train`` (the library call behind ``factorline train``: probe, decode, embed, the full
protocol with CV, 3 seeds, baselines, store write) runs on a 2 x 32 image folder of the same
faces twice: with an empty embedding cache (cold) and again (warm).

Run: ``.venv/bin/python benchmarks/fewshot.py`` (about 2 minutes on 2 cores).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import update_readme_row, write_result

from factorline.cache import StepCache
from factorline.models import EmbeddingCache, ModelStore, get_backbone
from factorline.train import Protocol, train
from factorline.train.fit import HeadParams, fit_head, prototype_baseline

SHOTS = (4, 8, 16, 32)
SEEDS = (0, 1, 2, 3, 4)
DIGITS_PER_CLASS = 82  # 32 to train at most, 50 or more to test


def rgb64(gray: np.ndarray) -> np.ndarray:
    """A grey image in 0..1 or 0..16 as a 64x64 RGB uint8 picture (nearest upscale)."""
    img = (255 * gray / gray.max()).clip(0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(img).resize((64, 64), Image.NEAREST).convert("RGB"))


def datasets() -> dict[str, tuple[list[np.ndarray], np.ndarray, list[str]]]:
    from skimage.data import lfw_subset
    from sklearn.datasets import load_digits

    faces = lfw_subset()  # 100 faces then 100 non-faces
    lfw = ([rgb64(f) for f in faces], np.array([0] * 100 + [1] * 100), ["face", "non-face"])
    d = load_digits()
    keep = np.concatenate([np.flatnonzero(d.target == c)[:DIGITS_PER_CLASS] for c in range(10)])
    digits = ([rgb64(d.images[i]) for i in keep], d.target[keep], [str(c) for c in range(10)])
    return {"lfw_faces": lfw, "digits": digits}


def accuracy(head, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(head.predict_proba(x).argmax(axis=1) == y))


def curve(x: np.ndarray, y: np.ndarray, classes: list[str]) -> list[dict]:
    rows = []
    for k in SHOTS:
        scores: dict[str, list[float]] = {"logreg": [], "mlp": [], "prototype": []}
        for seed in SEEDS:
            rng = np.random.default_rng(seed)
            train_idx = np.concatenate([rng.choice(np.flatnonzero(y == c), k, replace=False) for c in range(len(classes))])
            test = np.setdiff1d(np.arange(len(y)), train_idx)
            w = np.ones(len(train_idx))
            for name in ("logreg", "mlp"):
                head = fit_head(HeadParams(head=name), x[train_idx], y[train_idx], w, classes, seed)
                scores[name].append(accuracy(head, x[test], y[test]))
            scores["prototype"].append(accuracy(prototype_baseline(x[train_idx], y[train_idx], w, classes), x[test], y[test]))
        rows.append({"shots_per_class": k, **{n: {"mean": round(float(np.mean(v)), 4), "std": round(float(np.std(v)), 4)}
                                              for n, v in scores.items()}})
        print(f"  k={k:2d}: " + "  ".join(f"{n} {np.mean(v):.3f}±{np.std(v):.3f}" for n, v in scores.items()), flush=True)
    return rows


def train_timing(images: list[np.ndarray], labels: np.ndarray) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "faces"
        for label, name in ((0, "face"), (1, "non-face")):
            (root / name).mkdir(parents=True)
            for i in np.flatnonzero(labels == label)[:32]:
                Image.fromarray(images[i]).save(root / name / f"{i}.png")
        cache = EmbeddingCache(StepCache(Path(tmp) / "cache"))
        store = ModelStore(Path(tmp) / "models")
        out = {}
        for run in ("cold", "warm"):
            hits, misses = cache.hits, cache.misses
            t0 = time.perf_counter()
            result = train(root, "faces", store=store, cache=cache, protocol=Protocol())
            out[run] = {"seconds": round(time.perf_counter() - t0, 3), "embeddings_computed": cache.misses - misses,
                        "embeddings_cached": cache.hits - hits}
        out["items"] = 64
        out["test_accuracy"] = result.model.card["metrics"]["test"]["accuracy"]
        return out


def main() -> None:
    backbone = get_backbone("effnet-lite0")
    results, embed_seconds = {}, {}
    for name, (images, y, classes) in datasets().items():
        t0 = time.perf_counter()
        x = backbone.embed(images)
        embed_seconds[name] = round(time.perf_counter() - t0, 2)
        print(f"{name}: {len(images)} images embedded in {embed_seconds[name]}s", flush=True)
        results[name] = {"classes": len(classes), "items": len(images), "curve": curve(x, y, classes)}
    faces = datasets()["lfw_faces"]
    timing = train_timing(faces[0], faces[1])
    print(f"train on 64 images: cold {timing['cold']['seconds']}s, warm {timing['warm']['seconds']}s", flush=True)
    payload = {"backbone": backbone.describe(), "seeds": list(SEEDS), "shots": list(SHOTS), "datasets": results,
               "embed_seconds": embed_seconds, "train": timing}
    path = write_result("fewshot", payload)
    at16 = {n: next(r for r in d["curve"] if r["shots_per_class"] == 16) for n, d in results.items()}
    measured = "; ".join(f"{n} @16/class: logreg {r['logreg']['mean']:.3f} vs prototype {r['prototype']['mean']:.3f}"
                         for n, r in at16.items())
    measured += f"; train 64 imgs cold {timing['cold']['seconds']:.1f}s / warm {timing['warm']['seconds']:.1f}s"
    wins = all(r["logreg"]["mean"] >= r["prototype"]["mean"] for r in at16.values())
    update_readme_row("fewshot", "few-shot accuracy on effnet-lite0 embeddings (lfw faces, digits), 5 seeds",
                      "head >= prototype baseline at 16/class; warm train faster than cold", measured,
                      "pass" if wins and timing["warm"]["seconds"] < timing["cold"]["seconds"] else "fail")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
