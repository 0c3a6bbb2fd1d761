"""aesthetics@1 on held-out pairs: does the original beat its degraded copy?

    .venv/bin/python benchmarks/aesthetics.py      # then its factor card (benchmarks/cards.py)

Pairs come from the *held-out* sources of ``benchmarks/_aesthetics_data.py`` (photos and clips
the head in ``factorline/operators/aesthetics.json`` never saw): each crop against copies degraded
in exposure, contrast, colour, tilt, clutter, noise and blur at three levels, and steady against
shaken clip sequences. Measured in the same run, on the same pairs:

- ``aesthetics``: the head's score (the operator's, from the same measures);
- baselines: the clarity operator's score alone (``sharpness``), plain RMS contrast alone and
  Hasler-Suesstrunk colourfulness alone.

Agreement is the share of pairs where the original scores strictly higher (ties count as
misses). Target: >= 90 % and above every baseline. Writes ``results/aesthetics.json``, its row
in ``README.md`` and, through ``cards.py``, the factor cards.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _aesthetics_data as data
from _common import update_readme_row, write_result

from factorline.operators.aesthetics import HEAD_PATH, load_head

TARGET = 0.90


def main() -> int:
    t0 = time.perf_counter()
    head = load_head()
    print("aesthetics: building the held-out pairs")
    pairs, sources = data.photo_pairs(data.HELD_OUT_PHOTOS, offset=100)
    pairs += data.shake_pairs(data.HELD_OUT_CLIPS, offset=100)
    scorers = {
        "aesthetics": lambda x, m: float(head.score(x)),
        "clarity": lambda x, m: m["sharpness"],
        "contrast": lambda x, m: m["contrast"],
        "colourfulness": lambda x, m: m["colourfulness"],
    }
    overall = {name: round(data.agreement(pairs, fn), 4) for name, fn in scorers.items()}
    kinds = {name: data.by_kind(pairs, fn) for name, fn in scorers.items()}
    ours = overall["aesthetics"]
    baselines = {k: v for k, v in overall.items() if k != "aesthetics"}
    passed = ours >= TARGET and all(ours > v for v in baselines.values())
    misses = [{"source": p.source, "kind": p.kind, "level": p.level,
               "original": round(float(head.score(p.better)), 4), "degraded": round(float(head.score(p.worse)), 4)}
              for p in pairs if not head.score(p.better) > head.score(p.worse)]
    payload = {
        "what": "pairwise agreement on held-out pairs (original vs its degraded copy)",
        "target": {"agreement": TARGET, "above_baselines": True},
        "pairs": len(pairs),
        "sources": list(data.HELD_OUT_PHOTOS) + [f"clip:{c}" for c in data.HELD_OUT_CLIPS],
        "sources_digest": data.digest(sources),
        "seed": data.SEED,
        "head": {"path": str(HEAD_PATH.relative_to(HERE.parent)), "trained": head.trained.get("date"),
                 "train_agreement": head.trained.get("train_agreement")},
        "agreement": overall,
        "agreement_by_kind": kinds,
        "misses": misses,
        "verdict": "pass" if passed else "FAIL",
        "seconds": round(time.perf_counter() - t0, 1),
    }
    path = write_result("aesthetics", payload)
    worst = sorted(kinds["aesthetics"].items(), key=lambda kv: kv[1])[:2]
    update_readme_row(
        "aesthetics",
        f"aesthetics@1 on {len(pairs)} held-out pairs (photos and clips never trained on, each vs a copy degraded in "
        "exposure, contrast, colour, tilt, clutter, noise, blur, shake) vs single measures",
        ">= 90 % pairwise agreement, above each baseline",
        f"{ours:.1%} vs clarity {overall['clarity']:.1%}, contrast {overall['contrast']:.1%}, colourfulness "
        f"{overall['colourfulness']:.1%}; weakest kinds " + ", ".join(f"{k} {v:.0%}" for k, v in worst),
        "pass" if passed else "FAIL",
    )
    print(f"aesthetics: {ours:.3f} agreement on {len(pairs)} held-out pairs vs {baselines}; by kind "
          f"{kinds['aesthetics']}; wrote {path}")
    import cards

    cards.main()
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
