"""The OCR engine behind ``subtitles@5``: PP-OCRv4 (Chinese + Latin) as shipped, in ONNX form,
by the ``rapidocr_onnxruntime`` package. Nothing is downloaded.

The engine is a resource named ``ocr`` (loaded once per process by the resource pool). An
operator only relies on the call signature of :class:`OcrEngine`::

    engine(rgb: np.ndarray) -> list[OcrBox]   # (H, W, 3) uint8 RGB, boxes in its pixels

so tests and other back-ends can inject any callable with that signature (a counting wrapper,
a fake that returns fixed boxes, another OCR library). One method is optional::

    engine.recognize(rgb: np.ndarray) -> Recognition   # the whole image is one text row

(recognition only, no detection): ``subtitles`` uses it for its second reading of each line at
full analysis resolution (:func:`~factorline.operators.text.refine_lines`) and skips that pass
for an engine without it, so a plain callable keeps working.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import numpy as np

from ..contract.errors import ResourceError
from ..contract.registry import resource

# ONNX Runtime threads per session. One by default: subtitle bands are small, a batch run
# gets its parallelism from worker processes, and ONNX Runtime's spinning worker threads
# made OCR 2-3x *slower* per frame on a shared 2-core machine (measured: 61 ms/frame with 1
# thread against 172 ms with 2, 640x360, under load). FACTORLINE_OCR_THREADS overrides it.
THREADS_ENV = "FACTORLINE_OCR_THREADS"
MAX_THREADS = 16


@dataclass(frozen=True)
class OcrBox:
    """One recognised text box: axis-aligned ``(x0, y0, x1, y1)`` in the input image's pixels."""

    x0: float
    y0: float
    x1: float
    y1: float
    text: str
    score: float

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2.0


@dataclass(frozen=True)
class Recognition:
    """What recognition alone read in an image holding one text row: its text and score (0..1)."""

    text: str
    score: float


def default_threads() -> int:
    """ONNX Runtime intra-op threads: $FACTORLINE_OCR_THREADS (1..16) or 1."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return 1
    try:
        value = int(raw)
    except ValueError as exc:
        raise ResourceError(f"{THREADS_ENV} must be an integer, got {raw!r}", cause=exc) from exc
    if not 1 <= value <= MAX_THREADS:
        raise ResourceError(f"{THREADS_ENV} must be between 1 and {MAX_THREADS}, got {value}")
    return value


class OcrEngine:
    """PP-OCRv4 detection + recognition, without the angle classifier (subtitles are upright).

    Detection runs at the crop's own size (``det_limit_type="max"``: never upscaled to the
    736 px minimum side RapidOCR uses by default, which would make a wide subtitle band
    several times larger). Scores are not filtered here (``text_score=0``): the caller applies
    its own ``min_score``. Calls are serialised by a lock: RapidOCR keeps per-call state on
    the engine object (threads of one process share one engine; processes each load theirs).
    """

    def __init__(self, threads: int | None = None):
        from rapidocr_onnxruntime import RapidOCR  # imported lazily: loads onnxruntime

        self.threads = threads or default_threads()
        self._ocr = RapidOCR(
            use_cls=False,
            text_score=0.0,
            det_limit_type="max",
            intra_op_num_threads=self.threads,
            inter_op_num_threads=1,
        )
        self._lock = threading.Lock()

    def __call__(self, rgb: np.ndarray) -> list[OcrBox]:
        bgr = _bgr(rgb)
        with self._lock:
            result, _elapsed = self._ocr(bgr, use_det=True, use_cls=False, use_rec=True)
        boxes = []
        for quad, text, score in result or []:
            pts = np.asarray(quad, dtype=np.float64).reshape(-1, 2)
            boxes.append(
                OcrBox(
                    float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()),
                    str(text), float(score),
                )
            )
        return boxes

    def recognize(self, rgb: np.ndarray) -> Recognition:
        """Recognition only (no detection, no angle classifier) of an image that is one text row,
        e.g. a line's crop: the recogniser resizes it to its 48 px input height. An empty image
        or no text gives ``Recognition("", 0.0)``."""
        bgr = _bgr(rgb)
        if 0 in bgr.shape[:2]:
            return Recognition("", 0.0)
        with self._lock:
            result, _elapsed = self._ocr(bgr, use_det=False, use_cls=False, use_rec=True)
        if not result:
            return Recognition("", 0.0)
        text, score = result[0][0], result[0][1]
        return Recognition(str(text), float(score))


def _bgr(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"OCR input must be (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    return np.ascontiguousarray(rgb[..., ::-1])  # RapidOCR reads arrays as BGR (OpenCV order)


@resource("ocr")
def load_ocr() -> OcrEngine:
    """The shared PP-OCRv4 engine (about 15 MB of ONNX models, loads in well under a second)."""
    return OcrEngine()
