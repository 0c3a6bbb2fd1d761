"""Helpers of the run-browser tests (no tests here): a real run folder made by running a small
batch on the bundled sample videos, under a runs root."""

from __future__ import annotations

from pathlib import Path

from factorline.batch import run_pipeline

VIDEOS = ("clean.mp4", "letterbox.mp4", "logo.mp4", "subtitles_en.mp4", "bikes.mp4")
RULES = [
    {"id": "letterboxed", "when": "border.area_ratio > 0.2", "outcome": "review", "reason": "large borders"},
    {"id": "branded", "when": "logo.has_logo", "outcome": "review", "reason": "a logo"},
    {"id": "ok", "default": True, "outcome": "accept"},
]
PIPELINE = {
    "name": "review_t", "input": "video", "sampling": {"fps": 1.0, "max_frames": 8},
    "steps": {"border": {"op": "black_border"}, "logo": {"op": "logo"}, "subs": {"op": "subtitles"},
              "cuts": {"op": "shot_cuts"}, "black": {"op": "black_frames"}},
    "decisions": {"moderation": {"policy": "first", "on_missing": "review", "on_error": "review", "rules": RULES}},
}


def candidate(rules: list[dict], name: str = "candidate") -> dict:
    """PIPELINE with other decision rules (same factors): what a rule change would decide."""
    return {**PIPELINE, "name": name, "decisions": {"moderation": {**PIPELINE["decisions"]["moderation"], "rules": rules}}}


def make_run(sample_set: Path, out: Path, doc: dict = PIPELINE) -> Path:
    """Run ``doc`` on five sample videos into ``out`` (about 10 s on two cores)."""
    paths = [str(sample_set / "videos" / name) for name in VIDEOS]
    summary = run_pipeline(doc, paths, out, workers=2, cache_dir=None)
    assert summary.succeeded == len(VIDEOS), summary
    return out


def index_of(client, run: str, name: str) -> int:
    """Row index of the item whose file is ``name``."""
    page = client.get(f"/api/runs/{run}/items", params={"filter": f'path ~ "{name}"'}).json()
    assert page["total"] == 1, page
    return page["items"][0]["index"]
