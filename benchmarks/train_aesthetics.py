"""Train aesthetics@1's linear head and write factorline/operators/aesthetics.json.

    .venv/bin/python benchmarks/train_aesthetics.py [--out PATH]

Data: the *train* sources of ``benchmarks/_aesthetics_data.py`` (real photos and sample-clip
frames, each crop next to degraded copies; steady vs shaken clip sequences). The held-out
sources are never read here (``benchmarks/aesthetics.py`` measures on them).

Fit, in two steps, deterministic (no random state beyond the data's seeds):

1. **Rank.** Features are standardised by their mean and standard deviation over every training
   picture; a logistic regression without intercept (L2 penalty 1 / (2 C), C = :data:`C`) learns
   P(a is better than b) = sigmoid(w . (z_a - z_b)) from each pair in both orders, each weight
   bounded to the sign its feature's name gives (``aesthetics.DIRECTIONS``: an error, a clipped
   share, noise, tilt, clutter or shake can only lower the score; contrast, colourfulness and
   sharpness only raise it), fitted by L-BFGS-B (scipy).
2. **Calibrate.** On the projection t = w . z, a one-dimensional logistic regression (balanced
   classes: an original is 1, a degraded copy 0) gives a scale a > 0 and a bias b; the stored
   weights are a * w and the bias b, so the score ranks as step 1 and reads as the probability
   that a picture looks like an undegraded original.

The JSON records the sources' pixel digest, the seed, the pair counts and the training
agreement; it holds numbers only (no pickle).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _aesthetics_data as data

from factorline.operators.aesthetics import DIRECTIONS, HEAD_FEATURES, HEAD_PATH, Head

C = 10.0  # chosen among 0.1, 1 and 10 by leave-one-source-out agreement on the training sources


def signed_logistic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Weights of an L2 logistic regression without intercept, each within its DIRECTIONS sign."""
    from scipy.optimize import minimize

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ w
        p = 1.0 / (1.0 + np.exp(-z))
        nll = float(np.sum(np.logaddexp(0.0, z) - y * z))
        return nll + float(w @ w) / (2 * C), x.T @ (p - y) + w / C

    bounds = [(0.0, None) if DIRECTIONS[f] > 0 else (None, 0.0) for f in HEAD_FEATURES]
    result = minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B", bounds=bounds,
                      options={"maxiter": 5000, "gtol": 1e-8})
    return result.x


def fit(pairs: list[data.Pair]) -> tuple[Head, dict]:
    from sklearn.linear_model import LogisticRegression

    better = np.stack([p.better for p in pairs])
    worse = np.stack([p.worse for p in pairs])
    everything = np.concatenate([better, worse])
    mean = everything.mean(axis=0)
    scale = everything.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    zb, zw = (better - mean) / scale, (worse - mean) / scale
    diff = np.concatenate([zb - zw, zw - zb])
    labels = np.concatenate([np.ones(len(pairs)), np.zeros(len(pairs))])
    w = signed_logistic(diff, labels)
    originals = np.unique(zb, axis=0)  # each original once, however many copies it was paired with
    t = np.concatenate([originals @ w, zw @ w])[:, None]
    y = np.concatenate([np.ones(len(originals)), np.zeros(len(zw))])
    calib = LogisticRegression(C=1e6, class_weight="balanced", max_iter=5000).fit(t, y)
    a, b = float(calib.coef_[0][0]), float(calib.intercept_[0])
    if a <= 0:
        raise RuntimeError(f"calibration scale {a} <= 0: the ranking weights do not separate originals from copies")
    head = Head(HEAD_FEATURES, mean, scale, w * a, b, {})
    return head, {"rank_pairs": len(pairs), "originals": len(originals), "calibration_scale": round(a, 6)}


def source_cv(pairs: list[data.Pair]) -> tuple[float, dict[str, float]]:
    """Leave-one-source-out agreement on the training sources (the honest number to tune on;
    the held-out sources stay for benchmarks/aesthetics.py)."""
    hits = []
    for source in sorted({p.source for p in pairs}):
        head, _ = fit([p for p in pairs if p.source != source])
        hits += [(p.kind, float(head.score(p.better)) > float(head.score(p.worse))) for p in pairs if p.source == source]
    kinds = sorted({k for k, _ in hits})
    return float(np.mean([h for _, h in hits])), {k: round(float(np.mean([h for kk, h in hits if kk == k])), 4) for k in kinds}


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE.parent, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HEAD_PATH, help="where to write the head (default: beside the operator)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    print("aesthetics: building the training pairs")
    pairs, sources = data.photo_pairs(data.TRAIN_PHOTOS)
    pairs += data.shake_pairs(data.TRAIN_CLIPS)
    head, facts = fit(pairs)
    train_agreement = data.agreement(pairs, lambda x, m: float(head.score(x)))
    cv, cv_kinds = source_cv(pairs)
    print(f"aesthetics: leave-one-source-out agreement {cv:.3f} {cv_kinds}")
    head = Head(head.features, head.mean, head.scale, head.weights, head.bias, {
        "command": ".venv/bin/python benchmarks/train_aesthetics.py",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "git_commit": git_commit(),
        "seed": data.SEED,
        "sources": list(data.TRAIN_PHOTOS) + [f"clip:{c}" for c in data.TRAIN_CLIPS],
        "held_out_sources": list(data.HELD_OUT_PHOTOS) + [f"clip:{c}" for c in data.HELD_OUT_CLIPS],
        "sources_digest": data.digest(sources),
        "kinds": list(data.KINDS) + ["shake"],
        "C": C,
        **facts,
        "train_agreement": round(train_agreement, 4),
        "leave_one_source_out_agreement": round(cv, 4),
        "leave_one_source_out_by_kind": cv_kinds,
        "train_agreement_by_kind": data.by_kind(pairs, lambda x, m: float(head.score(x))),
    })
    args.out.write_text(json.dumps(head.to_json(), indent=2) + "\n", encoding="utf-8")
    print(f"aesthetics: {len(pairs)} pairs, training agreement {train_agreement:.3f}; wrote {args.out} "
          f"in {time.perf_counter() - t0:.0f} s")
    for name, weight in sorted(zip(HEAD_FEATURES, head.weights), key=lambda kv: -abs(kv[1])):
        print(f"  {name:20s} {weight:+.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
