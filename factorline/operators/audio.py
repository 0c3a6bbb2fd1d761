"""Audio operators: is anyone speaking, and when.

``speech@3`` runs the Silero VAD model that the ``silero-vad`` wheel ships, as ONNX on
onnxruntime (no torch at inference), and turns its per-window speech probabilities into
speech segments with the standard Silero post-processing:

1. **Probabilities.** The audio (mono, resampled to 16 kHz when it is not) is cut into
   windows of 512 samples (32 ms); the model sees each window with the last 64 samples of
   the previous one in front and carries an LSTM state from window to window, so windows
   are run in order. The wheel's *sequence* export (``silero_vad_16k_sequence.onnx``, shipped
   since silero-vad 6.2) runs up to :data:`SEQUENCE_BLOCK` windows in one call and is
   bit-exact with the streaming export; older wheels only ship the streaming
   ``silero_vad.onnx`` (input, state (2, 1, 128), sr), which is then run once per window.
   The ``silero_vad`` Python package is never imported: its ``__init__`` imports torch.
2. **Segments** (:func:`speech_segments`, a pure function of the probabilities): speech
   starts at the first window whose probability reaches ``threshold`` and ends once the
   probability has stayed under ``threshold - 0.15`` (hysteresis) for ``min_silence_ms``;
   segments not longer than ``min_speech_ms`` are dropped, and every segment is widened by
   ``pad_ms`` on both sides (half the gap when two segments are closer than twice that).
   This reproduces ``silero_vad.get_speech_timestamps`` (without its maximum segment
   length, which is infinite by default there too).
3. **Item fields.** ``segments`` in seconds on the item's clock (the audio track's
   ``start_s`` added), ``speech_ratio`` = speech time / audio duration, and ``has_speech``
   when there are at least ``min_speech_s`` seconds of speech making up at least
   ``min_ratio`` of the audio, and the model is sure of it: ``speech_confidence``, the share
   of windows at or over ``threshold`` whose probability reaches :data:`CONFIDENT` (0.9), is
   at least ``min_confidence``. Silero answers near 1.0 on speech and 0.5-0.8 on music, so
   music's scattered "speech" windows do not make an item speak. A video without an audio
   stream has no speech.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict
from pydantic import Field as P

from ..contract.items import AudioTrack, MediaInfo
from ..contract.operator import Output, Input, operator
from ..contract.registry import resource
from ..contract.errors import ResourceError
from ..contract.kinds import Kind

RATE = 16000  # the model's sample rate; other rates are resampled to it
WINDOW = 512  # samples per model window at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous window the model sees in front of each window
STATE_SHAPE = (2, 1, 128)  # LSTM state of the streaming export
SEQUENCE_BLOCK = 512  # windows per call of the sequence export (~16 s of audio)
HYSTERESIS = 0.15  # speech ends under threshold - HYSTERESIS (Silero's neg_threshold)
MIN_NEG_THRESHOLD = 0.01
MAX_EVIDENCE = 8
SEQUENCE_MODEL = "silero_vad_16k_sequence.onnx"
STREAMING_MODEL = "silero_vad.onnx"


class SpeechParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    threshold: float = P(
        0.5,
        gt=0.0,
        lt=1.0,
        title="Speech threshold",
        description="A 32 ms window whose speech probability reaches this starts speech; speech ends "
        "when the probability stays under threshold - 0.15.",
    )
    min_speech_ms: int = P(
        250,
        ge=0,
        le=60_000,
        title="Minimum speech",
        description="Speech segments not longer than this (before padding) are dropped.",
    )
    min_silence_ms: int = P(
        100,
        ge=0,
        le=60_000,
        title="Minimum silence",
        description="Silence must last this long to end a speech segment (shorter pauses are bridged).",
    )
    pad_ms: int = P(
        30,
        ge=0,
        le=5_000,
        title="Padding",
        description="Each segment is widened by this much on both sides (half the gap when segments are close).",
    )
    min_speech_s: float = P(
        0.5,
        ge=0.0,
        title="Minimum total speech",
        description="has_speech needs at least this many seconds of speech in all.",
    )
    min_ratio: float = P(
        0.0,
        ge=0.0,
        le=1.0,
        title="Minimum speech ratio",
        description="has_speech also needs speech to cover at least this share of the audio "
        "(0: any amount over the minimum total counts).",
    )
    min_confidence: float = P(
        0.6,
        ge=0.0,
        le=1.0,
        title="Minimum confidence",
        description="has_speech also needs this share of the windows at or over threshold to be confident "
        "(probability >= 0.9): the model is near 1.0 on speech and lukewarm (0.5-0.8) on music.",
    )


# A window this probable is confidently speech. Measured (share of windows >= 0.5 that reach it):
# speech 0.84-0.96 (dialogue, webcam talk, a spoken channel ID, ads, anime), music 0.0-0.28 (Big
# Buck Bunny's score, its trailer); min_confidence 0.6 sits in the gap of the dev clips.
CONFIDENT = 0.9

# --------------------------------------------------------------------------- pure functions


def to_model_rate(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono float32 samples at 16 kHz (polyphase resampling when ``sample_rate`` differs)."""
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    if sample_rate == RATE or x.size == 0:
        return x
    if sample_rate <= 0:
        raise ValueError(f"bad sample rate {sample_rate}")
    from scipy.signal import resample_poly

    g = gcd(int(sample_rate), RATE)
    return resample_poly(x, RATE // g, int(sample_rate) // g).astype(np.float32)


def model_windows(samples: np.ndarray) -> np.ndarray:
    """(n_windows, CONTEXT + WINDOW) float32 model inputs of 16 kHz ``samples``.

    Each row is a 512-sample window (the last one zero-padded) preceded by the last 64
    samples of the previous window (zeros before the first), as the model expects.
    """
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    n = -(-x.size // WINDOW)
    out = np.zeros((n, CONTEXT + WINDOW), np.float32)
    if n == 0:
        return out
    frames = np.zeros(n * WINDOW, np.float32)
    frames[: x.size] = x
    frames = frames.reshape(n, WINDOW)
    out[:, CONTEXT:] = frames
    out[1:, :CONTEXT] = frames[:-1, -CONTEXT:]
    return out


def speech_segments(
    probs: np.ndarray,
    *,
    n_samples: int | None = None,
    threshold: float = 0.5,
    neg_threshold: float | None = None,
    min_speech_ms: float = 250,
    min_silence_ms: float = 100,
    pad_ms: float = 30,
    window: int = WINDOW,
    sample_rate: int = RATE,
) -> list[tuple[int, int]]:
    """Speech segments ``[(start, end), ...]`` in samples from per-window probabilities.

    ``probs[i]`` is the speech probability of samples ``[i * window, (i + 1) * window)``;
    ``n_samples`` is the audio length (``len(probs) * window`` when omitted). Speech starts
    at a window reaching ``threshold``; it ends at the first window of a run under
    ``neg_threshold`` (``threshold - 0.15`` by default, at least 0.01) that lasts at least
    ``min_silence_ms``. Segments must be longer than ``min_speech_ms``; each is then padded
    by ``pad_ms`` (Silero's ``get_speech_timestamps`` with an unlimited segment length).
    """
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    n_samples = int(len(p) * window if n_samples is None else n_samples)
    if neg_threshold is None:
        neg_threshold = max(threshold - HYSTERESIS, MIN_NEG_THRESHOLD)
    min_speech = sample_rate * min_speech_ms / 1000.0
    min_silence = sample_rate * min_silence_ms / 1000.0
    pad = sample_rate * pad_ms / 1000.0

    speeches: list[list[int]] = []
    start: int | None = None  # start of the open segment
    temp_end = 0  # where the current run of silence began (0: none)
    # Only windows at/over threshold or under neg_threshold change the state: visit those.
    for i in np.flatnonzero((p >= threshold) | (p < neg_threshold)):
        cur = window * int(i)
        if p[i] >= threshold:
            temp_end = 0
            if start is None:
                start = cur
            continue
        if start is None:
            continue
        if not temp_end:
            temp_end = cur
        if cur - temp_end < min_silence:
            continue
        if temp_end - start > min_speech:
            speeches.append([start, temp_end])
        start, temp_end = None, 0
    if start is not None and n_samples - start > min_speech:
        speeches.append([start, n_samples])

    for k, seg in enumerate(speeches):
        if k == 0:
            seg[0] = int(max(0, seg[0] - pad))
        if k != len(speeches) - 1:
            gap = speeches[k + 1][0] - seg[1]
            if gap < 2 * pad:
                seg[1] += int(gap // 2)
                speeches[k + 1][0] = int(max(0, speeches[k + 1][0] - gap // 2))
            else:
                seg[1] = int(min(n_samples, seg[1] + pad))
                speeches[k + 1][0] = int(max(0, speeches[k + 1][0] - pad))
        else:
            seg[1] = int(min(n_samples, seg[1] + pad))
    return [(int(a), int(b)) for a, b in speeches]


def segment_peaks(probs: np.ndarray, segments: list[tuple[int, int]], window: int = WINDOW) -> list[tuple[int, float]]:
    """Per segment, the window with the highest probability: ``(window index, probability)``."""
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    out = []
    for a, b in segments:
        lo, hi = a // window, min(max(-(-b // window), a // window + 1), p.size)
        if hi <= lo:
            out.append((lo, 0.0))
            continue
        i = lo + int(np.argmax(p[lo:hi]))
        out.append((i, float(p[i])))
    return out


def summarize_speech(
    probs: np.ndarray,
    n_samples: int,
    params: SpeechParams,
    *,
    start_s: float = 0.0,
    sample_rate: int = RATE,
    window: int = WINDOW,
) -> dict:
    """The operator's fields from per-window probabilities of ``n_samples`` samples."""
    segs = speech_segments(
        probs,
        n_samples=n_samples,
        threshold=params.threshold,
        min_speech_ms=params.min_speech_ms,
        min_silence_ms=params.min_silence_ms,
        pad_ms=params.pad_ms,
        window=window,
        sample_rate=sample_rate,
    )
    duration = n_samples / float(sample_rate)
    speech_s = sum(b - a for a, b in segs) / float(sample_rate)
    ratio = min(speech_s / duration, 1.0) if duration > 0 else 0.0
    confidence = speech_confidence(probs, params.threshold)
    has = bool(segs) and speech_s >= params.min_speech_s and ratio >= params.min_ratio and confidence >= params.min_confidence
    segments = [
        {"start_s": round(start_s + a / sample_rate, 3), "end_s": round(start_s + b / sample_rate, 3)} for a, b in segs
    ]
    peaks = segment_peaks(probs, segs, window)
    # Evidence: the peak of each of the (up to 8) longest segments, in time order.
    keep = sorted(sorted(range(len(segs)), key=lambda k: (-(segs[k][1] - segs[k][0]), k))[:MAX_EVIDENCE])
    evidence = [
        {"t": round(start_s + (peaks[k][0] * window + window / 2) / sample_rate, 3), "score": round(peaks[k][1], 4)}
        for k in keep
    ]
    return {"has_speech": has, "speech_ratio": round(ratio, 4), "segments": segments,
            "speech_confidence": round(confidence, 4),
            "ratio_per_minute": per_minute(segs, n_samples, sample_rate), "evidence": evidence}


def per_minute(segs: list[tuple[int, int]], n_samples: int, sample_rate: int = RATE) -> list[float]:
    """Speech share (0..1) of each minute of audio, in order; the last, partial minute is
    judged on its own length. No words are read, so it does not depend on the language."""
    minute = 60 * sample_rate
    out = []
    for start in range(0, n_samples, minute):
        end = min(start + minute, n_samples)
        spoken = sum(max(0, min(b, end) - max(a, start)) for a, b in segs)
        out.append(round(min(spoken / (end - start), 1.0), 4))
    return out


def speech_confidence(probs: np.ndarray, threshold: float, confident: float = CONFIDENT) -> float:
    """Share of the windows at or over ``threshold`` whose probability reaches ``confident``
    (0 when none reach the threshold)."""
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    voiced = p >= threshold
    return float(np.count_nonzero(p[voiced] >= confident) / voiced.sum()) if voiced.any() else 0.0


# --------------------------------------------------------------------------- model


@dataclass
class SileroVad:
    """Silero VAD on onnxruntime: per-window speech probabilities of 16 kHz audio.

    ``sequence`` is True for the sequence export (many windows per call); otherwise the
    streaming export is called once per window with its LSTM state carried along.
    """

    session: object
    sequence: bool
    path: str

    def probabilities(self, samples: np.ndarray) -> np.ndarray:
        """(n_windows,) float32 speech probabilities of mono 16 kHz ``samples``."""
        inputs = model_windows(samples)
        if len(inputs) == 0:
            return np.zeros(0, np.float32)
        out = np.empty(len(inputs), np.float32)
        run = self.session.run  # type: ignore[attr-defined]
        if self.sequence:
            h = np.zeros((1, 1, 128), np.float32)
            c = np.zeros((1, 1, 128), np.float32)
            for i in range(0, len(inputs), SEQUENCE_BLOCK):
                block = inputs[i : i + SEQUENCE_BLOCK]
                probs, h, c = run(["speech_probs", "hn", "cn"], {"input": block, "h": h, "c": c})
                out[i : i + SEQUENCE_BLOCK] = np.asarray(probs).reshape(-1)
            return out
        state = np.zeros(STATE_SHAPE, np.float32)
        sr = np.array(RATE, np.int64)
        for i in range(len(inputs)):
            prob, state = run(None, {"input": inputs[i : i + 1], "state": state, "sr": sr})
            out[i] = prob[0, 0]
        return out


def silero_data_dir() -> Path | None:
    """The folder of ONNX files in the installed ``silero-vad`` wheel (without importing it)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def load_silero_vad(data_dir: Path | None = None, *, prefer_sequence: bool = True) -> SileroVad:
    """Open the wheel's VAD model: the sequence export when shipped, else the streaming one."""
    import onnxruntime as ort

    data_dir = data_dir or silero_data_dir()
    if data_dir is None:
        raise ResourceError("speech needs the silero-vad package: pip install silero-vad", path="silero_vad")
    names = [SEQUENCE_MODEL, STREAMING_MODEL] if prefer_sequence else [STREAMING_MODEL]
    path = next((data_dir / n for n in names if (data_dir / n).is_file()), None)
    if path is None:
        raise ResourceError(f"no Silero VAD ONNX model ({' or '.join(names)}) in {data_dir}", path="silero_vad")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # a small recurrent model: one thread is fastest
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # the exports carry unused initializers: silence the warnings
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    return SileroVad(session=session, sequence=path.name == SEQUENCE_MODEL, path=str(path))


@resource("silero_vad")
def _silero_vad_resource() -> SileroVad:
    return load_silero_vad()


# --------------------------------------------------------------------------- operator


@operator(
    name="speech",
    limits=(
        "Silero VAD: music still leaves speech segments (speech_ratio counts them); has_speech needs the model to be confident, calibrated on a handful of real dev clips (music vs speech), so sung vocals or a voice over loud music may fall either way.",
        "Speech is not recognised or told apart by language; a clip without an audio stream has no speech.",
    ),
    version=3,
    title="Speech",
    group="audio",
    params=SpeechParams,
    inputs={"audio": Input(Kind.AUDIO, "the item's audio track (mono; silent when there is none)")},
    resources=("silero_vad",),
    item_kinds=("video",),
    fields={
        "has_speech": Output("bool", "whether someone speaks (enough speech by min_speech_s and min_ratio)"),
        "speech_ratio": Output("float", "speech time / audio duration (0..1)"),
        "speech_confidence": Output("float", "share of the voiced windows the model is sure of (probability >= 0.9); music is low"),
        "segments": Output("segments", "speech segments on the item's clock", unit="s"),
        "ratio_per_minute": Output("list[float]", "speech share of each minute of audio (the last, partial one on its own length)"),
    },
)
def speech(inputs: dict, params: SpeechParams, *, item: MediaInfo, resources: dict) -> dict:
    """Voice activity (Silero VAD on onnxruntime): whether, how much and when someone speaks.

    Segments are in seconds on the item's clock; evidence marks each long segment's most
    certain 32 ms window with its speech probability. No audio stream means no speech.
    """
    audio: AudioTrack = inputs["audio"]
    samples = to_model_rate(audio.samples, audio.sample_rate)
    vad: SileroVad = resources["silero_vad"]
    probs = vad.probabilities(samples) if samples.size else np.zeros(0, np.float32)
    return summarize_speech(probs, samples.size, params, start_s=float(audio.start_s))
