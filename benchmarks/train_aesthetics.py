"""Train the aesthetics operator's linear head and write factorline/operators/aesthetics.json.

    .venv/bin/python benchmarks/train_aesthetics.py [--out PATH]

Data: the *train* sources of ``benchmarks/_aesthetics_data.py`` (real photos and sample-clip
frames, each crop next to degraded copies; steady vs shaken clip sequences). The held-out
sources are never read here (``benchmarks/aesthetics.py`` measures on them).

Fit: the library's (``factorline.train.aesthetics.fit_head``, the same that
``factorline train PAIRS.jsonl --task aesthetics`` runs; deterministic): a sign-constrained
pairwise logistic regression on standardised features, then a one-dimensional calibration so the
score reads as the probability that a picture looks like an undegraded original.

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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _aesthetics_data as data

from factorline.operators.aesthetics import HEAD_FEATURES, HEAD_PATH, Head
from factorline.train import aesthetics as train_lib

C = train_lib.DEFAULT_C  # chosen among 0.1, 1 and 10 by leave-one-source-out agreement on the training sources


def fit(pairs: list[data.Pair]) -> tuple[Head, dict]:
    """The library's fit (factorline/train/aesthetics.py, also behind `factorline train --task aesthetics`)."""
    return train_lib.fit_head(pairs, C)


def source_cv(pairs: list[data.Pair]) -> tuple[float, dict[str, float]]:
    """Leave-one-source-out agreement on the training sources (the honest number to tune on;
    the held-out sources stay for benchmarks/aesthetics.py)."""
    got = train_lib.group_cv(pairs, C)
    assert got is not None
    return got


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
