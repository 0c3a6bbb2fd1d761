"""speech@3: Silero VAD (ONNX on onnxruntime) and its segment post-processing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from factorline.contract.items import AudioTrack, MediaInfo
from factorline.engine.pool import GLOBAL_POOL
from factorline.operators.audio import (
    STREAMING_MODEL,
    SpeechParams,
    load_silero_vad,
    model_windows,
    silero_data_dir,
    speech_segments,
    summarize_speech,
    to_model_rate,
)
from factorline.plugins import get_operator

R = 16000
from needs import needs_espeak, require

TOL = 0.3  # seconds


def run_speech(samples: np.ndarray, *, rate: int = R, start_s: float = 0.0, **params) -> dict:
    spec = get_operator("speech@3")
    audio = AudioTrack(np.asarray(samples, np.float32), rate, start_s)
    item = MediaInfo(id="sha256:test", path="clip.mp4", kind="video", duration_s=audio.duration_s,
                     width=64, height=64, fps=25.0, has_audio=audio.samples.size > 0)
    out = spec.run({"audio": audio}, spec.params(**params), item=item, resources=GLOBAL_POOL.get(spec.resources))
    assert spec.check_output(out) == []
    return out


def spans(out: dict) -> list[tuple[float, float]]:
    return [(s["start_s"], s["end_s"]) for s in out["segments"]]


def espeak(tmp: Path, text: str, voice: str = "en") -> np.ndarray:
    """An espeak-ng utterance as mono float32 at 16 kHz (linear resampling with numpy)."""
    path = tmp / f"{abs(hash((text, voice)))}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768.0
    t = np.arange(int(len(x) * R / rate)) / R
    return np.interp(t, np.arange(len(x)) / rate, x).astype(np.float32)


def voiced_extent(x: np.ndarray) -> tuple[float, float]:
    """First and last 10 ms frame whose RMS is over 5 % of the loudest (the utterance's extent)."""
    frames = x[: len(x) // 160 * 160].reshape(-1, 160)
    rms = np.sqrt((frames**2).mean(axis=1))
    on = np.flatnonzero(rms > 0.05 * rms.max())
    return on[0] * 0.01, (on[-1] + 1) * 0.01


def music(n: int) -> np.ndarray:
    """Music-like background: plucked harmonic notes (C major arpeggio), 0.5 s each."""
    t = np.arange(n) / R
    out = np.zeros(n, np.float32)
    notes = [261.63, 329.63, 392.0, 440.0, 349.23, 293.66]
    for k in range(int(np.ceil(n / (0.5 * R)))):
        a, b = int(k * 0.5 * R), min(n, int((k + 1) * 0.5 * R))
        env = np.minimum(1, np.arange(b - a) / 400) * np.exp(-np.arange(b - a) / R * 1.5)
        for mult, amp in ((1, 1.0), (2, 0.5), (3, 0.25), (1.5, 0.6)):
            out[a:b] += amp * np.sin(2 * np.pi * notes[k % len(notes)] * mult * t[a:b]) * env
    return 0.05 * out


def brown_noise(n: int, level: float, seed: int = 0) -> np.ndarray:
    """Low-frequency-heavy noise (integrated white noise with its drift removed)."""
    walk = np.cumsum(np.random.default_rng(seed).normal(0, 1, n))
    walk -= np.convolve(walk, np.ones(400) / 400, "same")
    return (walk / walk.std() * level).astype(np.float32)


@pytest.fixture(scope="module")
def voices(tmp_path_factory) -> tuple[np.ndarray, np.ndarray]:
    require(shutil.which("espeak-ng") is not None, "Debian's espeak-ng")
    tmp = tmp_path_factory.mktemp("voices")
    return (espeak(tmp, "the quick brown fox jumps over the lazy dog"),
            espeak(tmp, "speech detection works on real voices"))


def place(background: np.ndarray, utterances, offsets, gain: float = 0.5):
    """Mix utterances into ``background`` at ``offsets`` (s); returns the mix and expected spans."""
    x = background.copy()
    expected = []
    for u, off in zip(utterances, offsets):
        a = int(off * R)
        x[a : a + len(u)] += gain * u
        s, e = voiced_extent(u)
        expected.append((off + s, off + e))
    return x, expected


def assert_spans(got, expected, tol=TOL):
    assert len(got) == len(expected), (got, expected)
    for (gs, ge), (es, ee) in zip(got, expected):
        assert abs(gs - es) <= tol and abs(ge - ee) <= tol, (got, expected)


# ------------------------------------------------------------------ post-processing (pure)


def probs_from(pattern: list[tuple[float, int]]) -> np.ndarray:
    """Per-window probabilities from (value, windows) runs."""
    return np.concatenate([np.full(n, v) for v, n in pattern])


def test_given_one_burst_when_segmented_then_padded_segment_in_samples():
    # given 10 silent windows, 20 speech windows, 10 silent windows
    p = probs_from([(0.0, 10), (0.9, 20), (0.0, 10)])
    # then one segment from window 10 to 30, padded by 30 ms (480 samples) each side
    assert speech_segments(p) == [(10 * 512 - 480, 30 * 512 + 480)]
    assert speech_segments(p, pad_ms=0) == [(5120, 15360)]


def test_given_dip_between_thresholds_then_hysteresis_keeps_speech():
    # given a dip to 0.4: under threshold 0.5 but above neg_threshold 0.35
    p = probs_from([(0.0, 5), (0.9, 10), (0.4, 20), (0.9, 10), (0.0, 10)])
    assert speech_segments(p, pad_ms=0) == [(5 * 512, 45 * 512)]
    # and a dip to 0.3 (under 0.35) for 640 ms splits it
    p = probs_from([(0.0, 5), (0.9, 10), (0.3, 20), (0.9, 10), (0.0, 10)])
    assert speech_segments(p, pad_ms=0) == [(5 * 512, 15 * 512), (35 * 512, 45 * 512)]


def test_given_short_pause_under_min_silence_then_bridged():
    # given a 3-window (96 ms) pause, under the 100 ms minimum silence
    p = probs_from([(0.9, 10), (0.0, 3), (0.9, 10), (0.0, 10)])
    assert speech_segments(p, pad_ms=0) == [(0, 23 * 512)]
    # and with a 50 ms minimum silence the pause splits the speech
    assert speech_segments(p, pad_ms=0, min_silence_ms=50) == [(0, 10 * 512), (13 * 512, 23 * 512)]


def test_given_blip_shorter_than_min_speech_then_dropped():
    # given a 5-window (160 ms) blip: not longer than 250 ms
    p = probs_from([(0.0, 10), (0.95, 5), (0.0, 20), (0.9, 10), (0.0, 10)])
    assert speech_segments(p, pad_ms=0) == [(35 * 512, 45 * 512)]
    assert len(speech_segments(p, pad_ms=0, min_speech_ms=100)) == 2


def test_given_close_segments_then_padding_splits_the_gap():
    # given two segments 4 windows (2048 samples) apart and 100 ms padding (1600 samples each)
    p = probs_from([(0.0, 10), (0.9, 10), (0.0, 4), (0.9, 10), (0.0, 10)])
    segs = speech_segments(p, pad_ms=100, min_silence_ms=50)
    assert segs == [(10 * 512 - 1600, 20 * 512 + 1024), (24 * 512 - 1024, 34 * 512 + 1600)]


def test_given_speech_to_the_end_then_segment_ends_at_audio_end():
    p = probs_from([(0.0, 10), (0.9, 20)])
    assert speech_segments(p, n_samples=30 * 512 - 100) == [(10 * 512 - 480, 30 * 512 - 100)]


@pytest.mark.parametrize("p", [np.zeros(0), np.zeros(50), np.full(50, 0.45), np.full(3, 0.99)])
def test_given_no_speech_or_too_little_then_no_segments(p):
    assert speech_segments(p) == []


def test_summary_offsets_by_start_and_counts_ratio():
    p = probs_from([(0.0, 10), (0.9, 20), (0.0, 20)])
    out = summarize_speech(p, 50 * 512, SpeechParams(pad_ms=0), start_s=2.0)
    assert out["segments"] == [{"start_s": 2.32, "end_s": 2.96}]
    assert out["speech_ratio"] == pytest.approx(0.4, abs=1e-4)
    assert out["has_speech"] is True
    assert out["evidence"] == [{"t": 2.336, "score": 0.9}]
    assert summarize_speech(p, 50 * 512, SpeechParams(pad_ms=0, min_ratio=0.5))["has_speech"] is False
    assert summarize_speech(p, 50 * 512, SpeechParams(pad_ms=0, min_speech_s=1.0))["has_speech"] is False


def test_given_lukewarm_probabilities_like_music_then_segments_but_no_speech():
    # music: the model hovers at 0.5-0.8 for a while (segments) but is never sure (confidence 0)
    music_like = probs_from([(0.0, 10), (0.7, 60), (0.0, 10)])
    out = summarize_speech(music_like, 80 * 512, SpeechParams(pad_ms=0))
    assert out["segments"] and out["speech_confidence"] == 0.0 and out["has_speech"] is False
    speech_like = probs_from([(0.0, 10), (0.7, 10), (0.99, 50), (0.0, 10)])
    out = summarize_speech(speech_like, 80 * 512, SpeechParams(pad_ms=0))
    assert out["speech_confidence"] == pytest.approx(50 / 60, abs=1e-4) and out["has_speech"] is True
    assert summarize_speech(speech_like, 80 * 512, SpeechParams(pad_ms=0, min_confidence=0.9))["has_speech"] is False


def test_post_processing_matches_silero_reference_implementation():
    # silero_vad's own implementation lives in a module that imports torch (training-only here)
    from silero_vad.utils_vad import get_speech_timestamps_from_probs as reference

    rng = np.random.default_rng(0)
    for _ in range(400):
        blocks = rng.random(int(rng.integers(1, 60)))
        p = np.clip(np.repeat(blocks, rng.integers(1, 8)) + rng.normal(0, 0.1, 1), 0, 1)
        p = np.clip(p + rng.normal(0, 0.08, p.size), 0, 1)
        kw = dict(threshold=float(rng.choice([0.3, 0.5, 0.7])), min_speech_duration_ms=int(rng.choice([0, 100, 250])),
                  min_silence_duration_ms=int(rng.choice([0, 50, 100, 300])),
                  speech_pad_ms=int(rng.choice([0, 30, 100])))
        n = int(p.size * 512 - rng.integers(0, 512))
        ref = [(d["start"], d["end"]) for d in reference(list(p), audio_length_samples=n, **kw)]
        ours = speech_segments(p, n_samples=n, threshold=kw["threshold"], min_speech_ms=kw["min_speech_duration_ms"],
                               min_silence_ms=kw["min_silence_duration_ms"], pad_ms=kw["speech_pad_ms"])
        assert ours == ref, kw


# ------------------------------------------------------------------ model plumbing


def test_model_windows_carry_previous_context():
    x = np.arange(1100, dtype=np.float32)
    w = model_windows(x)
    assert w.shape == (3, 576)
    assert (w[0, :64] == 0).all() and (w[0, 64:] == x[:512]).all()
    assert (w[1, :64] == x[448:512]).all() and (w[1, 64:] == x[512:1024]).all()
    assert (w[2, 64 : 64 + 76] == x[1024:]).all() and (w[2, 64 + 76 :] == 0).all()
    assert model_windows(np.zeros(0, np.float32)).shape == (0, 576)


def test_given_other_sample_rate_then_resampled_to_16k():
    t = np.arange(44100) / 44100.0
    y = to_model_rate(np.sin(2 * np.pi * 300 * t).astype(np.float32), 44100)
    assert y.dtype == np.float32 and len(y) == 16000
    expected = np.sin(2 * np.pi * 300 * np.arange(16000) / 16000.0)
    assert np.abs(y[200:-200] - expected[200:-200]).max() < 0.02


def test_vad_does_not_import_torch_or_the_silero_package():
    code = ("import sys, numpy as np; from factorline.operators.audio import load_silero_vad; "
            "v = load_silero_vad(); v.probabilities(np.zeros(16000, np.float32)); "
            "print('torch' in sys.modules, 'silero_vad' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


@needs_espeak
def test_sequence_and_streaming_exports_agree(voices):
    # given the wheel's sequence export (many windows per call) and the streaming export
    require((silero_data_dir() / STREAMING_MODEL).is_file(), "silero-vad's streaming export (a silero-vad wheel that ships it)")
    x, _ = place(music(3 * R), voices[:1], [0.2])
    seq = load_silero_vad()
    streaming = load_silero_vad(prefer_sequence=False)
    assert not streaming.sequence
    # then their probabilities agree window by window
    np.testing.assert_allclose(seq.probabilities(x), streaming.probabilities(x), atol=1e-4)


# ------------------------------------------------------------------ the model on real speech


@needs_espeak
def test_given_two_utterances_in_silence_then_two_segments_within_tolerance(voices):
    # given two espeak-ng utterances at 1.0 s and 5.5 s in 10 s of silence
    x, expected = place(np.zeros(10 * R, np.float32), voices, [1.0, 5.5])
    # when the operator runs
    out = run_speech(x)
    # then two segments match the utterances within 0.3 s
    assert out["has_speech"] is True
    assert_spans(spans(out), expected)
    assert out["speech_ratio"] == pytest.approx(sum(e - s for s, e in expected) / 10.0, abs=0.06)
    assert [e["t"] for e in out["evidence"]] == sorted(e["t"] for e in out["evidence"])
    assert len(out["evidence"]) == 2 and all(0.5 <= e["score"] <= 1 for e in out["evidence"])


@needs_espeak
@pytest.mark.parametrize("background", ["music", "music+noise"])
def test_given_speech_over_music_and_noise_then_only_speech_found(voices, background):
    # given a music-like background (plucked harmonic notes), with or without noise
    bed = music(10 * R) + (brown_noise(10 * R, 0.01) if background == "music+noise" else 0)
    # then the background alone has no speech
    assert run_speech(bed)["segments"] == []
    # and with two utterances mixed in, exactly those are found
    x, expected = place(bed, voices, [1.0, 5.5])
    assert_spans(spans(run_speech(x)), expected)


@needs_espeak
def test_given_audio_track_start_offset_then_segments_on_item_clock(voices):
    x, expected = place(np.zeros(5 * R, np.float32), voices[:1], [1.0])
    at_zero = spans(run_speech(x))
    shifted = spans(run_speech(x, start_s=2.5))
    assert shifted == [(round(s + 2.5, 3), round(e + 2.5, 3)) for s, e in at_zero]


@needs_espeak
def test_given_44k_audio_then_same_segments_as_16k(voices):
    x, expected = place(np.zeros(5 * R, np.float32), voices[:1], [1.0])
    t44 = np.arange(5 * 44100) / 44100.0
    x44 = np.interp(t44, np.arange(len(x)) / R, x).astype(np.float32)
    assert_spans(spans(run_speech(x44, rate=44100)), spans(run_speech(x)), tol=0.07)


@pytest.mark.parametrize(
    "name, signal",
    [
        ("digital silence", np.zeros(5 * R, np.float32)),
        ("low noise floor", np.random.default_rng(0).normal(0, 0.003, 5 * R).astype(np.float32)),
        ("white noise", np.random.default_rng(1).normal(0, 0.1, 5 * R).astype(np.float32)),
        ("220 Hz tone", (0.3 * np.sin(2 * np.pi * 220 * np.arange(5 * R) / R)).astype(np.float32)),
        ("1 kHz tone", (0.3 * np.sin(2 * np.pi * 1000 * np.arange(5 * R) / R)).astype(np.float32)),
    ],
)
def test_given_non_speech_sounds_then_no_speech(name, signal):
    out = run_speech(signal)
    assert (out["has_speech"], out["speech_ratio"], out["segments"]) == (False, 0.0, [])


def test_given_video_without_audio_then_no_speech_and_no_error():
    spec = get_operator("speech@3")
    item = MediaInfo(id="sha256:x", path="v.mp4", kind="video", duration_s=4.0, width=64, height=64, fps=25.0)
    out = spec.run({"audio": AudioTrack.silent()}, spec.params(), item=item, resources=GLOBAL_POOL.get(spec.resources))
    assert out == {"has_speech": False, "speech_ratio": 0.0, "segments": [], "speech_confidence": 0.0, "ratio_per_minute": [],
                   "evidence": []}
    assert run_speech(np.zeros(100, np.float32))["segments"] == []  # shorter than one window


def test_real_time_factor_is_high():
    # given one minute of audio (a mix of tones and noise)
    rng = np.random.default_rng(0)
    x = (0.05 * rng.normal(size=60 * R) + music(60 * R)).astype(np.float32)
    vad = GLOBAL_POOL.get(("silero_vad",))["silero_vad"]
    vad.probabilities(x[:R])  # warm up
    start = time.perf_counter()
    run_speech(x)
    rtf = 60.0 / (time.perf_counter() - start)
    print(f"speech@3 real-time factor: {rtf:.0f}x ({'sequence' if vad.sequence else 'streaming'} export)")
    assert rtf > 20  # measured ~300-450x on one shared CPU core


# ------------------------------------------------------------------ declaration


def test_operator_is_declared_serializable_and_deterministic():
    spec = get_operator("speech@3")
    assert (spec.group, spec.resources) == ("audio", ("silero_vad",))
    assert list(spec.fields) == ["has_speech", "speech_ratio", "speech_confidence", "segments", "ratio_per_minute"]
    json.dumps(spec.schema())
    x = music(3 * R) + brown_noise(3 * R, 0.02)
    assert run_speech(x) == run_speech(x)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"threshold": 1.0}, "less than 1"),
        ({"threshold": 0}, "greater than 0"),
        ({"min_ratio": 2}, "less than or equal to 1"),
        ({"pad_ms": -1}, "greater than or equal to 0"),
        ({"treshold": 0.4}, "Extra inputs are not permitted"),
    ],
)
def test_given_bad_params_then_validation_error(params, match):
    with pytest.raises(ValidationError, match=match):
        SpeechParams(**params)


# ------------------------------------------------------------------ the sample set (when built)


def _sample_records(samples: Path) -> dict[str, dict]:
    path = samples / "ground_truth.jsonl"
    return {r["path"]: r for r in map(json.loads, path.read_text().splitlines()) if r.get("kind") == "video"}


def test_sample_set_speech_clips_match_ground_truth(sample_set):
    from factorline.contract.items import Limits, Sampling
    from factorline.media import decode_audio, probe

    records = _sample_records(sample_set)
    for rel in ("videos/speech_en.mp4", "videos/speech_zh.mp4", "videos/bikes.mp4", "videos/slideshow.mp4", "videos/clean.mp4"):
        info = probe(sample_set / rel, Limits())
        audio = decode_audio(sample_set / rel, info, Sampling(), Limits())
        spec = get_operator("speech@3")
        out = spec.run({"audio": audio}, spec.params(), item=info, resources=GLOBAL_POOL.get(spec.resources))
        truth = records[rel]["factors"]["speech"]
        assert out["has_speech"] == truth["has_speech"], rel
        assert_spans(spans(out), [(s["start_s"], s["end_s"]) for s in truth["segments"]])
        assert out["speech_ratio"] == pytest.approx(truth["speech_ratio"], abs=0.1)


def test_ratio_per_minute_counts_each_minute_and_the_partial_last():
    from factorline.operators.audio import RATE, per_minute

    minute = 60 * RATE
    # speech over 0-30 s and 50-70 s of 150 s: minute 1 holds 30 + 10 s, minute 2 10 s, the
    # last 30 s none
    segs = [(0, 30 * RATE), (50 * RATE, 70 * RATE)]
    assert per_minute(segs, 150 * RATE) == [round(40 / 60, 4), round(10 / 60, 4), 0.0]
    assert per_minute([], 0) == [] and per_minute([(0, minute)], minute) == [1.0]
    out = summarize_speech(np.ones(50, np.float32), 50 * 512, SpeechParams(pad_ms=0))
    assert out["ratio_per_minute"] == [out["speech_ratio"]]
