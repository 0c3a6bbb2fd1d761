"""How much of an item was actually decoded, and whether the media ended before it should.

A file cut mid-stream (an interrupted copy or download) often still opens: Matroska and MP4
headers keep declaring the full duration, a GIF or an MPEG-TS simply stops. Its first
seconds still give useful factors, so such an item is not failed: its record says
``partial: true`` with ``partial_reason``, ``decoded_s`` and frames analysed against planned,
and decision rules can read ``item.partial``.

Two signs are used, either one is enough:
- the decoded end (the last decoded frame, or the end of the audio when only audio was
  decoded) falls short of the declared duration by more than :func:`tolerance_s`;
- the file's last bytes are cut: a GIF without its trailer byte, an MPEG-TS whose size is
  not a whole number of packets.

An MPEG-TS cut exactly on a packet boundary declares the duration it still has and shows
no sign: it reads as complete (a known limit).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from factorline.contract.items import AudioTrack, FrameBatch, MediaInfo

_TS_PACKETS = (188, 192)  # MPEG-TS, and M2TS (Blu-ray) with its 4-byte timestamp prefix


@dataclass
class DecodeFacts:
    """What decoding found, cached with the step outputs so a run that decodes nothing (every
    step cached) still knows whether the item is partial."""

    video_end_s: float | None = None  # where the decoded video stream ended (FrameBatch.end_s)
    frames: int | None = None  # sampled frames analysed
    planned: int | None = None  # sampled frames the sampling asked for
    audio_end_s: float | None = None  # end of the decoded audio, on the frames' clock

    @classmethod
    def from_dict(cls, data: dict | None) -> DecodeFacts:
        data = data or {}
        return cls(**{k: data.get(k) for k in ("video_end_s", "frames", "planned", "audio_end_s")})

    def to_dict(self) -> dict:
        return asdict(self)

    def add_frames(self, batch: FrameBatch, info: MediaInfo) -> None:
        end = batch.end_s
        if end is None and len(batch):  # a batch made by hand: its last frame, shown one frame step
            end = round(float(batch.times[-1]) + (1.0 / info.fps if info.fps else 0.0), 3)
        self.video_end_s = end
        self.frames, self.planned = len(batch), batch.planned if batch.planned is not None else len(batch)

    def add_audio(self, audio: AudioTrack, info: MediaInfo) -> None:
        if info.has_audio:
            self.audio_end_s = round(audio.start_s + audio.duration_s, 3)

    @property
    def known(self) -> bool:
        return self.video_end_s is not None or self.audio_end_s is not None


def tolerance_s(duration: float, fps: float | None) -> float:
    """How far short of the declared duration decoding may end without the item being partial:
    muxers round durations, and an audio track may outlast the picture by a little."""
    return max(0.5, 3.0 / fps if fps else 0.0, 0.02 * duration)


def cut_tail(path: str | Path, info: MediaInfo) -> str | None:
    """Why the file's last bytes show it was cut, or None (formats whose end says nothing)."""
    try:
        path = Path(path)
        size = path.stat().st_size
        if info.container == "gif":
            with open(path, "rb") as handle:
                handle.seek(max(0, size - 1))
                if handle.read(1) != b"\x3b":
                    return "the GIF has no trailer byte: the file was cut short"
        elif info.container == "mpegts" and all(size % packet for packet in _TS_PACKETS):
            return "the transport stream ends inside a packet: the file was cut short"
    except OSError:
        return None
    return None


def coverage(path: str | Path, info: MediaInfo, facts: DecodeFacts | None) -> dict:
    """The coverage fields of an item record: ``partial`` (None when nothing was decoded, in
    this run or a cached one), ``partial_reason``, ``decoded_s``, ``frames``, ``frames_planned``."""
    if info.kind == "image":
        return {"partial": False, "partial_reason": None, "decoded_s": None, "frames": 1, "frames_planned": 1}
    facts = facts or DecodeFacts()
    ends = [e for e in (facts.video_end_s, facts.audio_end_s) if e is not None]
    decoded = max(ends) if ends else None
    out = {"partial": None, "partial_reason": None, "decoded_s": decoded, "frames": facts.frames,
           "frames_planned": facts.planned}
    if decoded is None:
        return out
    reasons = []
    declared = info.duration_s
    if declared and decoded < declared - tolerance_s(declared, info.fps):
        what = "the picture" if facts.video_end_s is not None else "the audio"
        reasons.append(f"{what} ends at {decoded:.1f} s although the file declares {declared:.1f} s")
    tail = cut_tail(path, info)
    if tail:
        reasons.append(tail)
    if reasons and facts.frames is not None:
        reasons.append(f"{facts.frames} of {facts.planned} sampled frames analysed")
    out["partial"] = bool(reasons)
    out["partial_reason"] = "; ".join(reasons) or None
    return out
