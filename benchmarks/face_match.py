"""face_match@1's distance threshold, calibrated and checked on face pairs built offline.

    .venv/bin/python benchmarks/face_match.py      # then the factor cards (benchmarks/cards.py)

No offline set holds several photos of one person (scikit-learn's ``fetch_lfw_*`` downloads, so it
is not used), so what is measured is this:

- faces: scikit-image's ``lfw_subset`` (100 LFW face crops, 25 px, grey; scaled to 150 px and
  made RGB) and its astronaut photo; a face counts when dlib's detector finds it;
- *same person*: a face and a transformed copy of itself (mirrored; rotated 6 degrees and darkened;
  blurred and noised): this is easier than two different photos of one person;
- *different people*: every pair of two different LFW crops (they are assumed to be different
  people: LFW repeats some people, which would only make the false-match rate look worse);
- the threshold is the largest distance keeping precision >= 0.95 on the *calibration half*
  (faces 0-49) and is then measured on the *held-out half* (faces 50-99, pairs within it only);
- baseline in the same run: the same procedure on raw pixels (64 px grey crops, unit norm), and
  dlib's own operating point 0.6 on the embeddings.

Writes ``results/face_match.json``, its README row and (through ``cards.py``) the cards.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import update_readme_row, write_result

from factorline.operators import _dlib_faces as dl
from factorline.operators.face_match import DEFAULT_THRESHOLD

TARGET_PRECISION, TARGET_RECALL = 0.95, 0.90


def transforms(image: np.ndarray, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    x = image.astype(np.float64)
    rotated = ndimage.rotate(x, 6.0, reshape=False, order=1, mode="nearest") * 0.8
    blurred = ndimage.gaussian_filter(x, (1.0, 1.0, 0)) + rng.normal(0, 5.0, x.shape)
    return [np.ascontiguousarray(image[:, ::-1]), np.clip(rotated, 0, 255).astype(np.uint8),
            np.clip(blurred, 0, 255).astype(np.uint8)]


def lfw_faces() -> list[np.ndarray]:
    from PIL import Image
    from skimage.data import lfw_subset

    crops = (lfw_subset()[:100] * 255).round().astype(np.uint8)
    return [np.repeat(np.asarray(Image.fromarray(c).resize((150, 150), Image.BICUBIC))[..., None], 3, axis=2) for c in crops]


def embed(model: dl.FaceModel, image: np.ndarray) -> np.ndarray | None:
    found = model.faces(image, upsample=1)
    return max(found, key=lambda f: f.box[2] * f.box[3]).embedding if found else None


def pixels(image: np.ndarray) -> np.ndarray:
    from PIL import Image

    g = np.asarray(Image.fromarray(image).convert("L").resize((64, 64), Image.BILINEAR), dtype=np.float64).ravel()
    g -= g.mean()
    return g / (np.linalg.norm(g) or 1.0)


def pairs(ids: list[int], vec: dict, copies: dict) -> tuple[np.ndarray, np.ndarray]:
    """Distances of same-person pairs (face vs its copies) and different-people pairs."""
    same = [float(np.linalg.norm(vec[i] - c)) for i in ids for c in copies[i]]
    diff = [float(np.linalg.norm(vec[i] - vec[j])) for a, i in enumerate(ids) for j in ids[a + 1 :]]
    return np.array(same), np.array(diff)


def rates(same: np.ndarray, diff: np.ndarray, t: float) -> dict:
    tp, fp = int((same <= t).sum()), int((diff <= t).sum())
    return {"threshold": round(float(t), 4), "precision": round(tp / (tp + fp), 4) if tp + fp else 1.0,
            "recall": round(tp / len(same), 4) if len(same) else 0.0, "false_match_rate": round(fp / len(diff), 5),
            "same_pairs": len(same), "different_pairs": len(diff)}


def calibrate(same: np.ndarray, diff: np.ndarray) -> float:
    """The largest candidate threshold whose precision is at least TARGET_PRECISION."""
    best = 0.0
    for t in np.unique(np.concatenate([same, diff])):
        tp, fp = (same <= t).sum(), (diff <= t).sum()
        if tp and tp / (tp + fp) >= TARGET_PRECISION:
            best = float(t)
    return best


def main() -> int:
    t0 = time.perf_counter()
    model = dl.load_face_model()
    faces = lfw_faces()
    emb, emb_copies, pix, pix_copies = {}, {}, {}, {}
    for i, face in enumerate(faces):
        e = embed(model, face)
        if e is None:
            continue
        copies = transforms(face, i)
        ce = [embed(model, c) for c in copies]
        emb[i], emb_copies[i] = e, [c for c in ce if c is not None]
        pix[i], pix_copies[i] = pixels(face), [pixels(c) for c in copies]
    detected = sorted(emb)
    calib = [i for i in detected if i < 50]
    held = [i for i in detected if i >= 50]
    s_cal, d_cal = pairs(calib, emb, emb_copies)
    s_held, d_held = pairs(held, emb, emb_copies)
    threshold = calibrate(s_cal, d_cal)
    ps_cal, pd_cal = pairs(calib, pix, pix_copies)
    ps_held, pd_held = pairs(held, pix, pix_copies)
    pix_threshold = calibrate(ps_cal, pd_cal)
    ours = rates(s_held, d_held, DEFAULT_THRESHOLD)
    from skimage.data import astronaut

    astro = astronaut()
    a = embed(model, astro)
    astro_same = [float(np.linalg.norm(a - e)) for c in transforms(astro, 7) if (e := embed(model, c)) is not None]
    astro_other = [float(np.linalg.norm(a - emb[i])) for i in detected]
    payload = {
        "what": "face pairs built offline: LFW crops (skimage lfw_subset) and the astronaut vs transformed copies "
                "(same person) and vs each other (different people)",
        "faces_detected": f"{len(detected)}/100",
        "calibrated_threshold": round(threshold, 4),
        "operator_default_threshold": DEFAULT_THRESHOLD,
        "held_out": {"embeddings_default": ours, "embeddings_calibrated": rates(s_held, d_held, threshold),
                     "embeddings_dlib_0.6": rates(s_held, d_held, 0.6),
                     "pixels_calibrated": rates(ps_held, pd_held, pix_threshold)},
        "calibration_half": rates(s_cal, d_cal, threshold),
        "astronaut": {"same_distances": [round(v, 4) for v in astro_same],
                      "nearest_other_face": round(min(astro_other), 4) if astro_other else None},
        "target": {"precision": TARGET_PRECISION, "recall": TARGET_RECALL},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    passed = ours["precision"] >= TARGET_PRECISION and ours["recall"] >= TARGET_RECALL
    payload["verdict"] = "pass" if passed else "FAIL"
    write_result("face_match", payload)
    px = payload["held_out"]["pixels_calibrated"]
    update_readme_row(
        "face_match",
        f"face_match@1 distance threshold on offline pairs: {len(detected)} LFW crops + astronaut, each vs transformed "
        "copies (same) and vs each other (different); calibrated on half, measured on the other; raw pixels as baseline",
        "precision >= 0.95 at recall >= 0.9",
        f"threshold {DEFAULT_THRESHOLD} (calibrated {threshold:.3f}): P {ours['precision']:.3f} R {ours['recall']:.3f} "
        f"({ours['same_pairs']} same / {ours['different_pairs']} different pairs) vs pixels P {px['precision']:.3f} "
        f"R {px['recall']:.3f}; same-photo copies only (no offline set has two photos of one person)",
        "pass" if passed else "FAIL",
    )
    print(payload)
    import cards

    cards.main()
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
