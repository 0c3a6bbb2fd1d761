"""Vectorized vs per-item rule evaluation, in one run.

- vectorized: ``CompiledDecisions.decide_frame`` over N items (default 1,000,000) in one polars
  frame, 20 rules in two tables (comparisons, and/or/not, arithmetic, ``in`` lists, text
  contains, ``missing``, list aggregates), with about 2% missing values; polars on 2 threads;
- per-item: ``CompiledDecisions.decide`` (what ``run`` and the HTTP service call, explanations
  included) on a sample of the same items; its time per item is scaled to N.

Both must give the same outcome and rule on the sample. Targets: per-item / vectorized
>= 30 and the vectorized pass under 2 s on 2 cores.

    .venv/bin/python benchmarks/rules.py [--items 1000000] [--sample 20000] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def _threads_from_argv() -> str:
    # polars reads its thread count once, at import: decide it before importing polars.
    args = sys.argv[1:]
    return args[args.index("--threads") + 1] if "--threads" in args else "2"


os.environ["POLARS_MAX_THREADS"] = _threads_from_argv()

import numpy as np
import polars as pl
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, update_readme_row, write_result

from factorline.rules import compile_decisions

FIELDS = {
    "border": {"top": "int", "bottom": "int", "area_ratio": "float", "fill": "str", "evidence": "evidence"},
    "clarity": {"score": "float", "frame_scores": "list[float]"},
    "slides": {"is_slideshow": "bool", "score": "float"},
    "subs": {"has_subtitles": "bool", "coverage": "float", "text": "str"},
    "nsfw": {"score": "float", "labels": "list[str]"},
    "speech": {"speech_ratio": "float"},
}
MODERATION = [
    ("explicit", "nsfw.score > 0.9", "reject"),
    ("gore", '"gore" in nsfw.labels and nsfw.score > 0.5', "reject"),
    ("gambling", 'contains(subs.text, "casino") or contains(subs.text, "bet now")', "review"),
    ("letterboxed", "border.area_ratio > 0.25 and not slides.is_slideshow", "review"),
    ("tall_bars", "border.top + border.bottom > 200", "review"),
    ("pillar_fill", 'border.fill in ["blurred", "mirrored"] and border.area_ratio > 0.1', "review"),
    ("suggestive", "nsfw.score > 0.6 and nsfw.score <= 0.9 and speech.speech_ratio < 0.1", "review"),
    ("blurry_frames", "count(clarity.frame_scores < 0.2) >= 3", "review"),
    ("subtitled_slides", "slides.is_slideshow and subs.coverage > 0.8", "review"),
    ("silent", "missing(speech.speech_ratio) or speech.speech_ratio == 0", "review"),
]
QUALITY = [
    ("very_blurry", "clarity.score < 0.2", "poor"),
    ("soft_peak", "max(clarity.frame_scores) < 0.4", "poor"),
    ("slideshow", "slides.score > 0.8", "poor"),
    ("low_contrast", "clarity.score * (1 - border.area_ratio) < 0.25", "fair"),
    ("subtitled", "subs.has_subtitles and subs.coverage > 0.5", "fair"),
    ("busy", "len(subs.text) > 200", "fair"),
    ("bright", "min(clarity.frame_scores) > 0.8", "good"),
    ("mostly_speech", "speech.speech_ratio > 0.7", "good"),
    ("wide_ok", "border.area_ratio < 0.05 and clarity.score > 0.6", "good"),
    ("mixed", "any(clarity.frame_scores > 0.9) and not subs.has_subtitles", "good"),
]


def table(rules: list[tuple[str, str, str]], default: str) -> dict:
    return {
        "policy": "first", "on_missing": "review", "on_error": "review",
        "rules": [{"id": i, "when": w, "outcome": o} for i, w, o in rules] + [{"id": "otherwise", "default": True, "outcome": default}],
    }


def _maybe_missing(rng: np.random.Generator, values: np.ndarray, share: float = 0.02) -> pa.Array:
    return pa.array(values, mask=rng.random(len(values)) < share)


def _lists(rng: np.random.Generator, n: int, make, max_len: int) -> pa.Array:
    lengths = rng.integers(0, max_len + 1, n)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), make(int(offsets[-1])))


def make_frame(n: int, seed: int = 7) -> pl.DataFrame:
    """N items of plausible factor values (about 2% missing) as ``step.field`` columns."""
    rng = np.random.default_rng(seed)
    words = np.array(["", "hello world", "casino night", "bet now and win", "news at ten", "a" * 250, "subtitles here"])
    labels = np.array(["gore", "nude", "weapon", "none"])
    columns = {
        "border.top": _maybe_missing(rng, rng.integers(0, 150, n)),
        "border.bottom": _maybe_missing(rng, rng.integers(0, 150, n)),
        "border.area_ratio": _maybe_missing(rng, rng.beta(1, 6, n)),
        "border.fill": _maybe_missing(rng, rng.choice(np.array(["black", "blurred", "mirrored", "none"]), n)),
        "clarity.score": _maybe_missing(rng, rng.random(n)),
        "clarity.frame_scores": _lists(rng, n, lambda k: pa.array(rng.random(k)), 8),
        "slides.is_slideshow": _maybe_missing(rng, rng.random(n) < 0.1),
        "slides.score": _maybe_missing(rng, rng.random(n)),
        "subs.has_subtitles": _maybe_missing(rng, rng.random(n) < 0.3),
        "subs.coverage": _maybe_missing(rng, rng.random(n)),
        "subs.text": _maybe_missing(rng, rng.choice(words, n)),
        "nsfw.score": _maybe_missing(rng, rng.beta(1, 8, n)),
        "nsfw.labels": _lists(rng, n, lambda k: pa.array(rng.choice(labels, k)), 2),
        "speech.speech_ratio": _maybe_missing(rng, rng.random(n)),
    }
    return pl.from_arrow(pa.table(columns))  # type: ignore[return-value]


def as_factors(df: pl.DataFrame) -> list[dict]:
    """Rows of the frame as per-item factors (``{step: {field: value}}``), as runs store them."""
    items = []
    for row in df.iter_rows(named=True):
        factors: dict[str, dict] = {}
        for key, value in row.items():
            step, _, name = key.partition(".")
            factors.setdefault(step, {})[name] = value
        items.append(factors)
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=20_000, help="items the per-item evaluator decides")
    parser.add_argument("--threads", default="2", help="polars threads (read before polars is imported)")
    args = parser.parse_args()

    compiled, issues = compile_decisions({"moderation": table(MODERATION, "accept"), "quality": table(QUALITY, "fair")}, FIELDS)
    assert not issues, issues
    rules = sum(len(t.order) for t in compiled.tables.values())
    t0 = time.perf_counter()
    df = make_frame(args.items)
    build_s = time.perf_counter() - t0

    compiled.decide_frame(df.head(1000))  # warm up
    vectorized_s = best_of(lambda: compiled.decide_frame(df), repeats=3)
    out = compiled.decide_frame(df)

    sample = df.head(args.sample)
    items = as_factors(sample)
    per_item_s = best_of(lambda: [compiled.decide(f) for f in items], repeats=2)
    decided = [compiled.decide(f) for f in items]
    for name in compiled.names:
        assert [d[name]["outcome"] for d in decided] == out[f"{name}.outcome"].head(args.sample).to_list()
        assert [d[name]["rule"] for d in decided] == out[f"{name}.rule"].head(args.sample).to_list()

    per_item_us = per_item_s / len(items) * 1e6
    per_item_full_s = per_item_us * args.items / 1e6
    ratio = per_item_full_s / vectorized_s
    ok = ratio >= 30 and vectorized_s < 2.0
    result = {
        "items": args.items,
        "rules": rules,
        "tables": compiled.names,
        "polars": pl.__version__,
        "polars_threads": pl.thread_pool_size(),
        "frame_build_s": round(build_s, 3),
        "vectorized_s": round(vectorized_s, 4),
        "vectorized_items_per_s": round(args.items / vectorized_s),
        "per_item_sample": len(items),
        "per_item_us": round(per_item_us, 2),
        "per_item_scaled_s": round(per_item_full_s, 2),
        "speedup": round(ratio, 1),
        "agree_on_sample": True,
        "outcomes": {n: out[f"{n}.outcome"].value_counts().sort("count", descending=True).head(5).rows() for n in compiled.names},
        "targets": {"speedup_min": 30, "vectorized_max_s": 2.0},
        "verdict": "pass" if ok else "fail",
    }
    path = write_result("rules", result)
    update_readme_row(
        "rules", f"{args.items:,} items x {rules} rules: vectorized vs per-item", ">= 30x, vectorized < 2 s on 2 cores",
        f"{ratio:.0f}x; {vectorized_s:.2f} s vectorized ({pl.thread_pool_size()} threads), {per_item_us:.1f} µs/item per-item",
        "pass" if ok else "fail",
    )
    print(f"vectorized: {vectorized_s:.3f} s for {args.items:,} items x {rules} rules ({args.items / vectorized_s:,.0f} items/s)")
    print(f"per-item:   {per_item_us:.1f} µs/item on {len(items):,} items -> {per_item_full_s:.1f} s scaled to {args.items:,}")
    print(f"speedup:    {ratio:.1f}x  ({result['verdict']})  -> {path}")


if __name__ == "__main__":
    main()
