"""The reference tools the accuracy benchmarks compare factors with, run on the same files:
ffmpeg's cropdetect, blurdetect, scdet and blackdetect, PySceneDetect's detectors and RapidOCR
as shipped reading whole frames."""

from __future__ import annotations

import re
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np

from factorline.contract.items import Limits
from factorline.media import decode_frames, probe
from factorline.operators._ocr import OcrBox
from factorline.operators.text import FrameText, frame_reading, subtitle_factor

FFMPEG = "ffmpeg"
MIN_BAR_PX = 4  # black_border's default min_bar_px, applied to cropdetect too


def _ffmpeg(path: str, vf: str) -> tuple[str, str, float]:
    cmd = [FFMPEG, "-hide_banner", "-nostats", "-nostdin", "-i", path, "-an", "-vf", vf, "-f", "null", "-"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"ffmpeg {vf} failed on {path}: {out.stderr[-500:]}")
    return out.stdout, out.stderr, seconds


def ref_cropdetect(path: str, width: int, height: int) -> tuple[dict, float]:
    _, err, seconds = _ffmpeg(path, "cropdetect=limit=24:round=2:reset=0")
    found = re.findall(r"x1:(-?\d+) x2:(-?\d+) y1:(-?\d+) y2:(-?\d+)", err)
    if not found:
        sides = {"top": 0, "bottom": 0, "left": 0, "right": 0}
    else:
        x1, x2, y1, y2 = (int(v) for v in found[-1])  # reset=0: the last line covers all frames
        if x2 < x1 or y2 < y1:  # nothing but black seen
            sides = {"top": 0, "bottom": 0, "left": 0, "right": 0}
        else:
            sides = {"top": y1, "bottom": height - 1 - y2, "left": x1, "right": width - 1 - x2}
    sides = {k: (v if v >= MIN_BAR_PX else 0) for k, v in sides.items()}
    sides["fill"] = "black" if any(sides.values()) else "none"
    return sides, seconds


def ref_blurdetect(path: str) -> tuple[float, float]:
    out, _, seconds = _ffmpeg(path, "blurdetect,metadata=print:file=-")
    values = [float(v) for v in re.findall(r"lavfi\.blur=([-\d.eE+]+)", out)]
    return (float(np.mean(values)) if values else float("nan")), seconds


def ref_scdet(path: str) -> tuple[list[float], float]:
    _, err, seconds = _ffmpeg(path, "scdet=threshold=10")
    return [float(v) for v in re.findall(r"lavfi\.scd\.time: ([\d.]+)", err)], seconds


def ref_blackdetect(path: str, min_duration: float = 0.5) -> tuple[list[dict], float]:
    _, err, seconds = _ffmpeg(path, f"blackdetect=d={min_duration:g}")
    spans = re.findall(r"black_start:([\d.]+) black_end:([\d.]+)", err)
    return [{"start_s": float(a), "end_s": float(b)} for a, b in spans], seconds


def _scenedetect(detector_name: str, path: str) -> tuple[list[float], float]:
    """Cut times of one PySceneDetect detector (its defaults) on ``path``, and the seconds taken."""
    import scenedetect

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scenes = scenedetect.detect(path, getattr(scenedetect, detector_name)(), show_progress=False)
        cuts = [float(start.get_seconds()) for start, _ in scenes[1:]]
    return cuts, time.perf_counter() - t0


def ref_content_detector(path: str) -> tuple[list[float], float]:
    """PySceneDetect's ContentDetector (defaults): HSV and edge change against a fixed threshold."""
    return _scenedetect("ContentDetector", path)


def ref_adaptive_detector(path: str) -> tuple[list[float], float]:
    """PySceneDetect's AdaptiveDetector (defaults): the rolling-average detector meant for camera motion."""
    return _scenedetect("AdaptiveDetector", path)


class FullFrameOcr:
    """RapidOCR as shipped (PP-OCRv4, its default settings) reading whole frames."""

    def __init__(self):
        from rapidocr_onnxruntime import RapidOCR

        self.engine = RapidOCR()

    def __call__(self, rgb: np.ndarray) -> list[OcrBox]:
        result, _ = self.engine(np.ascontiguousarray(rgb[..., ::-1]))
        boxes = []
        for quad, text, score in result or []:
            pts = np.asarray(quad, dtype=np.float64).reshape(-1, 2)
            boxes.append(
                OcrBox(pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max(), str(text), float(score))
            )
        return boxes


def versions() -> dict:
    import importlib.metadata as md

    out = {}
    for pkg in ("factorline", "scenedetect", "rapidocr_onnxruntime", "onnxruntime", "av", "nudenet", "silero-vad"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    try:
        out["ffmpeg"] = subprocess.run(
            [FFMPEG, "-version"], capture_output=True, text=True, check=False
        ).stdout.splitlines()[0]
    except (OSError, IndexError):
        out["ffmpeg"] = None
    try:
        out["git_commit"] = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                check=False,
                cwd=Path(__file__).resolve().parent,
            ).stdout.strip()
            or None
        )
    except OSError:
        out["git_commit"] = None
    return out


def ref_ocr(ocr: FullFrameOcr, path: str, sampling, band: float) -> dict:
    """Full-frame readings of the pipeline's own sampled frames, timed per frame."""
    info = probe(path)
    frames = decode_frames(path, info, sampling, Limits())
    readings, ms, outside = [], [], []
    band_y = (1.0 - band) * frames.images.shape[1]
    for image in frames.images:
        t0 = time.perf_counter()
        boxes = ocr(image)
        ms.append((time.perf_counter() - t0) * 1000.0)
        reading = frame_reading(boxes, min_score=0.0, min_chars=2)  # RapidOCR already applied its text_score
        readings.append(FrameText(reading.text, reading.score, []) if reading else None)
        outside.append([b.text for b in boxes if b.cy < band_y])
    times = [float(t) for t in frames.times]
    factor = subtitle_factor(readings, np.asarray(times), 0.7)
    return {
        "times": times,
        "texts": [r.text if r else "" for r in readings],
        "lines": factor["lines"],
        "has_subtitles": factor["has_subtitles"],
        "ms": ms,
        "outside_band": outside,
    }
