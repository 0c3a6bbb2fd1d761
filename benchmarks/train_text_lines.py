"""Train the text-line classifier behind ``subtitles@5`` (factorline/operators/text_lines.json).

    python benchmarks/train_text_lines.py --synth /tmp/tl/synth-s11 --heldout /tmp/tl/synth-s12 \\
        --real data/realset-own --workers 2

Data (every OCR result is cached by content digest under ``--cache``, so a rerun costs no OCR):

- ``--synth``: a ``factorline synth`` folder (kinds subtitles, title_card, lower_third,
  scene_text, watermark). Every sampled frame (1 fps, as the example pipelines sample) is read
  by the real PP-OCRv4 engine on the whole frame once; the readings of two views are built from
  those boxes: the whole frame (``band`` 1.0) and the operator's default bottom 30 % band. Lines
  are tracked with ``track_lines`` and labelled by the truth text they match
  (``text.similarity`` >= :data:`MATCH` on a time-overlapping ``truth.onscreen_text`` entry, or
  a join of the entries of one class); unmatched lines (text in the footage itself, OCR noise)
  are ``other``.
- rendered negatives (``--render N``, seed ``--seed``): documents / screens of 3-8 text rows and
  number signs ("999", "3190 3490 3998") low in the frame, static for the whole item, over the
  same footage the synth engine uses (``other`` and ``scene_text``), and digit-only counters
  (clocks, timestamps, scores, prices, calendar rows, :func:`render_counter`, ``scene_text``)
  that change like subtitles. The synth kinds have no document, and these are the false
  positives seen on real clips. The ``digits_only`` feature gives the model the step that sets
  the counters apart (no letter at all), rather than leaving it to the letter / digit shares
  and the layout / timing weights.
- ``--real``: a real set in the shared format (``labels.json`` + ``media/``); only clips with
  ``"split": "dev"`` and a ``subtitles`` label are used (bottom band, as the operator reads
  them): a clip labelled ``subtitles: false`` gives ``other`` lines. Never the lead's
  evaluation set (../shared/realset).

Split: 20 % of the synth + rendered items (by sha256 of the item id) are held out; the held-out
metrics are printed and stored. The final weights are refitted on everything. ``--heldout``: a
second synth folder of another seed, scored per clip (has_subtitles precision / recall at the
default band, classifier off vs on), like the real dev clips (leave-one-clip-out for those: each
dev clip is scored by a model that did not see it).

Output: ``factorline/operators/text_lines.json`` (no pickle): features, classes, weights, the
digests of every training item, seeds, counts and metrics.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from factorline.operators._ocr import OcrBox
from factorline.operators.text import (
    FrameText,
    band_top,
    frame_reading,
    join_text,
    line_span,
    similarity,
    track_lines,
)
from factorline.operators.text_lines import FEATURES, MODEL_FORMAT, MODEL_PATH, Z_CLIP, LineClassifier, line_features

CLASSES = ("subtitle", "title_card", "lower_third", "scene_text", "watermark", "other")
MATCH = 0.5  # a line is a truth text when their similarity reaches this
FPS = 1.0
MIN_SCORE, MIN_CHARS, MERGE = 0.6, 2, 0.7  # the operator's defaults
BANDS = (1.0, 0.3)
C = 1.0  # inverse L2 strength of the logistic regression
SPLIT_SEED = "text-lines-1"


# ------------------------------------------------------------------ OCR harvest (cached)


_ENGINE = None


def _engine():
    global _ENGINE
    if _ENGINE is None:
        from factorline.operators._ocr import OcrEngine

        _ENGINE = OcrEngine()
    return _ENGINE


def ocr_frames(images, scale: float, band: float = 1.0) -> list[list[list]]:
    """OCR boxes of the bottom ``band`` (1.0: whole frame) per frame: [x0, y0, x1, y1, text,
    score, contrast] in source px."""
    import cv2

    from factorline.operators.text import crop_band
    from factorline.operators.text_lines import box_contrast

    out = []
    for image in images:
        crop = crop_band(image, band, 960)
        gray = cv2.cvtColor(crop.pixels, cv2.COLOR_RGB2GRAY)
        boxes = []
        for b in _engine()(crop.pixels):
            c = box_contrast(gray, (b.x0, b.y0, b.x1, b.y1))
            k = (crop.fx * scale, crop.fy * scale)
            y0 = crop.y0 * scale
            boxes.append([round(b.x0 * k[0], 1), round(y0 + b.y0 * k[1], 1), round(b.x1 * k[0], 1), round(y0 + b.y1 * k[1], 1),
                          b.text, round(b.score, 4), round(c, 4)])
        out.append(boxes)
    return out


def harvest_media(path: str, band: float = 1.0) -> dict:
    from factorline.contract.items import Limits, Sampling
    from factorline.media import decode_frames, probe

    info = probe(path)
    frames = decode_frames(path, info, Sampling(fps=FPS), Limits())
    return {"size": [frames.source_width, frames.source_height], "times": [round(float(t), 3) for t in frames.times],
            "duration_s": info.duration_s, "band": band,
            "frames": ocr_frames(frames.images, float(frames.scale) or 1.0, band)}


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _harvest_job(job: tuple[str, str, str]) -> tuple[str, dict]:
    kind, key, arg = job
    if kind == "render":
        return key, render_item(json.loads(arg))
    record = harvest_media(arg, 0.3 if kind == "band" else 1.0)
    return key, record


def sampled_count(path: str) -> int:
    """How many frames the operator's sampling takes from a media file (min_frames included)."""
    from factorline.contract.items import Limits, Sampling
    from factorline.media import probe
    from factorline.media.decode import target_times

    info, sampling = probe(path), Sampling(fps=FPS)
    cap = max(1, min(sampling.max_frames, Limits().max_frames))
    return len(target_times(info.duration_s, sampling.fps, cap, info.fps, sampling.min_frames))


def is_current(job: tuple[str, str, str], record: dict) -> bool:
    """A cached media record read with other sampling (e.g. before ``min_frames``) is stale: a
    1-s clip read as one frame would train the classifier on lines the operator never sees."""
    return job[0] == "render" or len(record.get("times", ())) == sampled_count(job[2])


def harvest(jobs: list[tuple[str, str, str]], cache: Path, workers: int) -> dict[str, dict]:
    """OCR records by key, from the cache or computed (``workers`` processes)."""
    cache.mkdir(parents=True, exist_ok=True)
    out, todo = {}, []
    for job in jobs:
        file = cache / f"{job[1]}.json"
        record = json.loads(file.read_text()) if file.exists() else None
        if record is not None and is_current(job, record):
            out[job[1]] = record
        else:
            todo.append(job)
    t0 = time.time()
    if todo:
        print(f"OCR on {len(todo)} items ({len(out)} cached) ...", flush=True)
        pool = ProcessPoolExecutor(workers) if workers > 1 else None
        results = pool.map(_harvest_job, todo) if pool else map(_harvest_job, todo)
        for n, (key, record) in enumerate(results, 1):
            (cache / f"{key}.json").write_text(json.dumps(record, ensure_ascii=False))
            out[key] = record
            if n % 20 == 0:
                print(f"  {n}/{len(todo)} in {time.time() - t0:.0f} s", flush=True)
        if pool:
            pool.shutdown()
    return out


# ------------------------------------------------------------------ rendered negatives


RENDER_KINDS = ("document", "numbers", "counter")


def render_spec(seed: int, index: int) -> dict:
    kind = RENDER_KINDS[index % len(RENDER_KINDS)]
    return {"seed": seed, "index": index, "kind": kind}


def counter_texts(rng: np.random.Generator, n: int) -> list[str]:
    """What a clock, timestamp, score, price or calendar shows on each of ``n`` frames: digits
    and separators, no letters, often changing from frame to frame like subtitles do."""
    style = int(rng.integers(5))
    start = int(rng.integers(0, 3000))
    step = int(rng.choice([0, 1, 1, 2, 5]))
    if style == 0:  # a timer / clock
        return [f"{(start + k * step) // 60 % 60:02d}:{(start + k * step) % 60:02d}" for k in range(n)]
    if style == 1:  # a CCTV / camcorder timestamp
        date = f"{int(rng.integers(1998, 2027))}-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}"
        sep, hour = str(rng.choice(["-", "/", "."])), int(rng.integers(24))
        return [f"{date.replace('-', sep)} {hour:02d}:{(start + k * step) // 60 % 60:02d}:{(start + k * step) % 60:02d}"
                for k in range(n)]
    if style == 2:  # a score
        a, b = int(rng.integers(0, 5)), int(rng.integers(0, 5))
        return [f"{a + (k >= n // 2 and step > 0)} - {b}" for k in range(n)]
    if style == 3:  # prices
        price = f"{rng.choice(['$', '¥', '€', '£', ''])!s}{int(rng.integers(1, 999))}.{int(rng.integers(100)):02d}"
        return [price] * n
    first = int(rng.integers(1, 25))  # a row of a calendar
    return [" ".join(str(d) for d in range(first, first + int(rng.integers(3, 8))))] * n


_MATERIALS = None


def render_item(spec: dict) -> dict:
    """A document / screen panel or a number sign low in the frame, static, over real footage;
    OCR'd like a clip (6 frames at 1 fps, 640x360); returns the harvest record + its truth.
    A ``counter`` is :func:`render_counter`."""
    if spec["kind"] == "counter":
        return render_counter(spec)
    from factorline.synth import corpus
    from factorline.synth.layers import Style, place, text_block

    rng = np.random.default_rng([spec["seed"], spec["index"], 7])
    w, h, n = 640, 360, 6
    m = _materials((w, h))
    bg = m.background(rng, int(n * 25), moving=bool(rng.random() < 0.5))
    language = corpus.language(rng)
    face = int(rng.integers(m.font_count(language)))
    if spec["kind"] == "document":
        rows = int(rng.integers(3, 9))
        texts = [corpus.sentence(rng, language) for _ in range(rows)]
        px = int(rng.integers(11, 19))
        light = bool(rng.random() < 0.6)
        style = Style(fill=(20, 20, 20) if light else (230, 230, 230), box=(240, 240, 235) if light else (25, 30, 40),
                      box_alpha=255, pad=int(rng.integers(4, 12)))
        font = m.font(language, face, px)
        layer = text_block([(t[: int(rng.integers(25, 70))], font) for t in texts], style, gap=max(2, px // 3),
                           align=str(rng.choice(["left", "center"])))
        cls = "other"
    else:
        count = int(rng.integers(1, 4))
        digits = [int(rng.integers(2, 5)) for _ in range(count)]
        texts = [" ".join(str(int(rng.integers(10 ** (d - 1), 10**d))) for d in digits)]
        px = int(rng.integers(16, 34))
        board = [(24, 110, 64), (30, 62, 160), (245, 245, 240), (20, 20, 20)][int(rng.integers(4))]
        ink = (20, 20, 20) if sum(board) > 380 else (250, 250, 250)
        style = Style(fill=ink, box=board, box_alpha=255, pad=int(rng.integers(3, 10)))
        layer = text_block([(texts[0], m.font("en", int(rng.integers(m.font_count("en"))), px))], style, gap=0)
        cls = "scene_text"
    from factorline.synth.layers import Layer

    lw, lh = layer.size
    y = int(rng.integers(int(h * 0.5), int(h * 0.85)))
    y = max(4, min(y, h - lh - 4)) if spec["kind"] == "numbers" else y
    layer = Layer(np.ascontiguousarray(layer.rgba[: h - 4 - y, : w - 8]), [])  # a page cut by the frame
    lw, lh = layer.size
    x = int(rng.integers(4, max(5, w - lw - 4))) if rng.random() < 0.6 else (w - lw) // 2
    frames = []
    for i in range(n):
        dx, dy = (rng.integers(-2, 3, 2) if rng.random() < 0.5 else (0, 0))
        frame = place(bg.frame(i * 25), layer, int(np.clip(x + dx, 0, w - lw)), int(np.clip(y + dy, 0, h - lh)), 1.0)
        noise = rng.normal(0, 1.5, frame.shape)
        frames.append(np.clip(frame + noise, 0, 255).astype(np.uint8))
    truth = [{"class": cls, "text": join_text_all(texts), "start_s": 0.0, "end_s": float(n)}]
    return {"size": [w, h], "times": [float(i) for i in range(n)], "duration_s": float(n),
            "frames": ocr_frames(frames, 1.0), "truth": truth}


def _materials(size: tuple[int, int]):
    from factorline.synth.materials import Materials

    global _MATERIALS
    if _MATERIALS is None:
        _MATERIALS = Materials(size)
    return _MATERIALS


def render_counter(spec: dict) -> dict:
    """Digits without letters (a clock, timestamp, score, price or calendar row) anywhere in the
    lower part of the frame, bottom centre included, over real footage, in an item of 1-10 s
    sampled as the operator samples it (``min_frames`` on short items): the text may change every
    frame, drift with the camera or show for part of the item, as subtitles do; it is
    ``scene_text``. On real clips such lines (a calendar's "25262") were read as subtitles."""
    from factorline.contract.items import Sampling
    from factorline.media.decode import target_times
    from factorline.synth.layers import Style, place, text_block

    rng = np.random.default_rng([spec["seed"], spec["index"], 11])
    w, h = 640, 360
    m = _materials((w, h))
    sampling = Sampling(fps=FPS)
    duration = float(rng.choice([1.0, 1.5, 2.0, 3.0, 6.0, 10.0]))
    times = target_times(duration, sampling.fps, sampling.max_frames, 25.0, sampling.min_frames)
    texts = counter_texts(rng, len(times))
    bg = m.background(rng, int(duration * 25) + 2, moving=bool(rng.random() < 0.6))
    px = int(rng.integers(12, 30))
    font = m.font("en", int(rng.integers(m.font_count("en"))), px)
    boxed = rng.random() < 0.4
    style = Style(fill=tuple(int(v) for v in rng.choice([(255, 255, 255), (250, 230, 60), (20, 20, 20)])),
                  stroke=int(rng.integers(0, 3)) if not boxed else 0, box=(20, 20, 20) if boxed else None,
                  box_alpha=int(rng.integers(140, 256)), pad=int(rng.integers(2, 8)))
    layers = [text_block([(t, font)], style, gap=0) for t in texts]
    lw, lh = max(layer.size[0] for layer in layers), max(layer.size[1] for layer in layers)
    y0 = int(rng.integers(int(h * 0.55), max(int(h * 0.55) + 1, h - lh - 4)))
    x0 = (w - lw) // 2 if rng.random() < 0.4 else int(rng.integers(4, max(5, w - lw - 4)))
    drift = rng.integers(-25, 26, 2) if rng.random() < 0.35 else np.zeros(2, int)  # a pan: px per second
    visible = np.ones(len(times), bool)
    if len(times) > 2 and rng.random() < 0.3:  # shows for part of the item
        visible[: int(rng.integers(1, len(times) - 1))] = False
    frames, truth = [], []
    for k, (t, layer) in enumerate(zip(times, layers)):
        frame = bg.frame(int(t * 25)).copy()
        if visible[k]:
            x = int(np.clip(x0 + drift[0] * t, 0, w - layer.size[0]))
            y = int(np.clip(y0 + drift[1] * t, 0, h - layer.size[1]))
            frame = place(frame, layer, x, y, 1.0)
            end = times[k + 1] if k + 1 < len(times) else duration
            truth.append({"class": "scene_text", "text": texts[k], "start_s": float(t), "end_s": float(end)})
        frames.append(np.clip(frame + rng.normal(0, 1.5, frame.shape), 0, 255).astype(np.uint8))
    return {"size": [w, h], "times": [round(float(t), 3) for t in times], "duration_s": duration,
            "frames": ocr_frames(frames, 1.0), "truth": truth}


def join_text_all(texts) -> str:
    out = ""
    for t in texts:
        out = join_text(out, t)
    return out


# ------------------------------------------------------------------ readings, lines, labels


def readings_for_band(record: dict, band: float) -> list[FrameText | None]:
    """Per-frame readings of the bottom ``band`` from whole-frame boxes (centre inside the band)."""
    height = record["size"][1]
    top = band_top(height, band)
    out: list[FrameText | None] = []
    for boxes in record["frames"]:
        kept = [b for b in boxes if (b[1] + b[3]) / 2 >= top]
        ocr = [OcrBox(b[0], b[1], b[2], b[3], b[4], b[5]) for b in kept]
        found = frame_reading(ocr, min_score=MIN_SCORE, min_chars=MIN_CHARS)
        if found is None:
            out.append(None)
            continue
        strong = [b for b in kept if b[5] >= MIN_SCORE and b[4].strip()]
        contrast = float(np.average([b[6] for b in strong], weights=[max(1, len(b[4].strip())) for b in strong]))
        x0, y0, x1, y1 = found.box
        box = [round(x0), round(y0), round(x1) - round(x0), round(y1) - round(y0)]
        out.append(FrameText(found.text, found.score, box, found.rows, round(contrast, 4)))
    return out


def label_line(text: str, start: float, end: float, truth: list[dict]) -> str:
    """The class of the truth text ``text`` reads as (time-overlapping), or ``other``."""
    live = [t for t in truth if t["start_s"] < end and t["end_s"] > start]
    candidates = [(t["class"], t["text"]) for t in live]
    by_class: dict[str, list[dict]] = {}
    for t in live:
        by_class.setdefault(t["class"], []).append(t)
    for cls, items in by_class.items():
        if len(items) > 1:
            items = sorted(items, key=lambda t: (t.get("box") or [0, 0])[1])
            candidates.append((cls, join_text_all([t["text"] for t in items])))
    best, label = 0.0, "other"
    for cls, truth_text in candidates:
        s = similarity(text, truth_text)
        if s > best:
            best, label = s, cls
    label = {"subtitle": "subtitle"}.get(label, label)
    return label if best >= MATCH else "other"


def item_lines(record: dict, band: float):
    """(features, lines, readings) of one item at one band."""
    readings = readings_for_band(record, band)
    lines = track_lines(readings, min_similarity=MERGE)
    x = line_features(lines, readings, record["times"], tuple(record["size"]), record.get("duration_s"))
    return x, lines, readings


def item_examples(record: dict, truth: list[dict] | None, band: float, default: str = "other"):
    x, lines, _ = item_lines(record, band)
    labels = []
    for line in lines:
        start, end = line_span(record["times"], line.first, line.last)
        labels.append(label_line(line.text, start, end, truth) if truth is not None else default)
    return x, labels


# ------------------------------------------------------------------ data sets


def synth_items(folder: Path) -> list[dict]:
    labels = folder / "labels.jsonl"
    if labels.exists():
        records = [json.loads(line) for line in labels.read_text().splitlines() if line.strip()]
    else:  # a run still in progress: its finished parts
        records = [json.loads(p.read_text()) for p in sorted((folder / ".parts").glob("*.json"))]
        records = [r for r in records if (folder / r["path"]).exists()]
    return records


def fit(x: np.ndarray, y: list[str], seed: int) -> LineClassifier:
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    present = [c for c in CLASSES if c in set(y)]
    model = LogisticRegression(C=C, max_iter=5000, class_weight="balanced", random_state=seed)
    model.fit(np.clip((x - mean) / scale, -Z_CLIP, Z_CLIP), [present.index(v) for v in y])
    coef = np.zeros((len(CLASSES), x.shape[1]))
    intercept = np.full(len(CLASSES), -30.0)  # a class without examples is never predicted
    for k, cls in enumerate(present):
        coef[CLASSES.index(cls)] = model.coef_[k] if len(present) > 2 else (model.coef_[0] * (1 if k else -1) / 2)
        intercept[CLASSES.index(cls)] = model.intercept_[k] if len(present) > 2 else (model.intercept_[0] * (1 if k else -1) / 2)
    return LineClassifier(FEATURES, CLASSES, mean, scale, coef, intercept, {"format": MODEL_FORMAT, "z_clip": Z_CLIP})


def binary_metrics(truth: list[bool], pred: list[bool]) -> dict:
    t, p = np.asarray(truth, bool), np.asarray(pred, bool)
    tp, fp, fn = int((t & p).sum()), int((~t & p).sum()), int((t & ~p).sum())
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"n": len(t), "positives": int(t.sum()), "tp": tp, "fp": fp, "fn": fn,
            "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def has_subtitles(model: LineClassifier | None, record: dict, band: float, threshold: float) -> bool:
    x, lines, _ = item_lines(record, band)
    if not lines:
        return False
    if model is None:
        return True
    return bool((model.subtitle_proba(x) >= threshold).any())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synth", type=Path, required=True)
    parser.add_argument("--heldout", type=Path, default=None)
    parser.add_argument("--real", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=0, help="use the first N synth items (0: all)")
    parser.add_argument("--heldout-limit", type=int, default=0)
    parser.add_argument("--render", type=int, default=40)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=ROOT / "data" / "text-lines-cache")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    parser.add_argument("--harvest-only", action="store_true")
    args = parser.parse_args(argv)
    t0 = time.time()

    synth = synth_items(args.synth)[: args.limit or None]
    heldout = synth_items(args.heldout)[: args.heldout_limit or None] if args.heldout else []
    real = []
    if args.real:
        labels = json.loads((args.real / "labels.json").read_text())
        real = [(name, v) for name, v in sorted(labels.items())
                if name != "_about" and isinstance(v, dict) and v.get("split") == "dev" and "subtitles" in v]
    jobs, digests = [], {}
    for folder, records in ((args.synth, synth), (args.heldout, heldout)):
        for r in records:
            digest = sha256_file(folder / r["path"])
            digests[r["id"]] = digest
            jobs.append(("media", digest[:24], str(folder / r["path"])))
    for name, _ in real:
        digest = sha256_file(args.real / "media" / name)
        digests[name] = digest
        jobs.append(("band", f"band-{digest[:24]}", str(args.real / "media" / name)))  # bottom 30 % only
    renders = [render_spec(args.seed, i) for i in range(args.render)]
    for spec in renders:
        key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:24]
        digests[f"render-{spec['seed']}-{spec['index']}"] = key
        jobs.append(("render", f"render-{key}", json.dumps(spec)))
    records = harvest(jobs, args.cache, args.workers)
    if args.harvest_only:
        return 0

    def record_of(job_key: str) -> dict:
        return records[job_key]

    # examples: (item id, features row, label)
    items: list[tuple[str, np.ndarray, list[str]]] = []
    for r in synth:
        rec = record_of(digests[r["id"]][:24])
        for band in BANDS:
            x, y = item_examples(rec, r["truth"]["onscreen_text"], band)
            items.append((r["id"], x, y))
    for spec in renders:
        name = f"render-{spec['seed']}-{spec['index']}"
        rec = record_of(f"render-{digests[name]}")
        for band in BANDS:
            x, y = item_examples(rec, rec["truth"], band)
            items.append((name, x, y))
    real_items = []
    for name, v in real:
        rec = record_of(f"band-{digests[name][:24]}")
        x, y = item_examples(rec, None, 0.3, default="subtitle" if v["subtitles"] else "other")
        real_items.append((name, x, y))

    def held(item_id: str) -> bool:
        return hashlib.sha256(f"{SPLIT_SEED}:{item_id}".encode()).digest()[0] < 256 * 0.2

    def stack(chosen):
        xs = [x for _, x, y in chosen if len(y)]
        ys = [v for _, _, y in chosen for v in y]
        return (np.vstack(xs) if xs else np.zeros((0, len(FEATURES)))), ys

    train_x, train_y = stack([i for i in items if not held(i[0])] + real_items)
    test_x, test_y = stack([i for i in items if held(i[0])])
    print(f"lines: train {len(train_y)} {dict(Counter(train_y))}; test {len(test_y)} {dict(Counter(test_y))}")
    model = fit(train_x, train_y, args.seed)
    p = model.subtitle_proba(test_x)
    pred_cls = model.label(test_x)
    test = {"lines": binary_metrics([v == "subtitle" for v in test_y], list(p >= args.threshold)),
            "class_accuracy": round(float(np.mean([a == b for a, b in zip(pred_cls, test_y)])), 4),
            "confusion": {t: dict(Counter(pc for pc, tt in zip(pred_cls, test_y) if tt == t)) for t in CLASSES if t in test_y}}
    print(f"held-out synth lines (20 %): subtitle vs not {test['lines']}; class accuracy {test['class_accuracy']}")
    for t, row in test["confusion"].items():
        print(f"  {t:12s} -> {row}")

    # per-clip has_subtitles, classifier off vs on, at the operator's default band
    final = fit(*stack(items + real_items), args.seed)
    per_clip = {}
    if heldout:
        truth = [bool(r["truth"]["subtitles"]["has_subtitles"]) for r in heldout]
        recs = [record_of(digests[r["id"]][:24]) for r in heldout]
        for band in BANDS:
            per_clip[f"heldout_synth_band{band}"] = {
                "off": binary_metrics(truth, [has_subtitles(None, rec, band, args.threshold) for rec in recs]),
                "on": binary_metrics(truth, [has_subtitles(final, rec, band, args.threshold) for rec in recs])}
    if real:
        truth, off, on = [], [], []
        for k, (name, v) in enumerate(real):  # leave one dev clip out: its model never saw it
            loo_x, loo_y = stack(items + real_items[:k] + real_items[k + 1:])
            rec = record_of(f"band-{digests[name][:24]}")
            truth.append(bool(v["subtitles"]))
            off.append(has_subtitles(None, rec, 0.3, args.threshold))
            on.append(has_subtitles(fit(loo_x, loo_y, args.seed), rec, 0.3, args.threshold))
        per_clip["real_dev_band0.3_leave_one_out"] = {"off": binary_metrics(truth, off), "on": binary_metrics(truth, on),
                                                       "clips_called_subtitles": {"off": [n for (n, _), o in zip(real, off) if o],
                                                                                  "on": [n for (n, _), o in zip(real, on) if o]}}
    for name, row in per_clip.items():
        print(f"per clip has_subtitles, {name}: off {row['off']} | on {row['on']}")

    all_y = [v for _, _, y in items + real_items for v in y]
    final_meta = {
        "format": MODEL_FORMAT,
        "trained_by": "benchmarks/train_text_lines.py",
        "model": f"multinomial logistic regression (sklearn, C={C}, class_weight=balanced), standardised features "
                 f"clipped to +-{Z_CLIP} sd",
        "z_clip": Z_CLIP,
        "threshold": args.threshold,
        "seeds": {"fit": args.seed, "render": args.seed, "split": SPLIT_SEED},
        "sampling_fps": FPS,
        "bands": list(BANDS),
        "data": {
            "synth": {"folder": str(args.synth), "stamp": _stamp(args.synth), "items": len(synth)},
            "rendered": {"items": len(renders), "seed": args.seed},
            "real_dev": {"folder": str(args.real) if args.real else None, "clips": [n for n, _ in real]},
            "heldout_synth": {"folder": str(args.heldout) if args.heldout else None, "stamp": _stamp(args.heldout),
                              "items": len(heldout)},
            "digests": digests,
            "lines": dict(Counter(all_y)),
        },
        "metrics": {"heldout_lines": test, "per_clip": per_clip},
        "seconds": round(time.time() - t0, 1),
    }
    doc = LineClassifier(FEATURES, CLASSES, final.mean, final.scale, final.coef, final.intercept, final_meta).to_dict()
    doc["mean"] = [round(v, 6) for v in doc["mean"]]
    doc["scale"] = [round(v, 6) for v in doc["scale"]]
    doc["coef"] = [[round(v, 6) for v in row] for row in doc["coef"]]
    doc["intercept"] = [round(v, 6) for v in doc["intercept"]]
    args.out.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {args.out} ({time.time() - t0:.0f} s)")
    return 0


def _stamp(folder: Path | None) -> dict | None:
    if folder is None or not (folder / "synth.json").exists():
        return None
    stamp = json.loads((folder / "synth.json").read_text())
    return {k: stamp.get(k) for k in ("version", "engine_version", "arguments", "options", "counts") if k in stamp}


if __name__ == "__main__":
    raise SystemExit(main())
