"""The only place that touches decoders: probe, decode, sample frames and audio, encode."""

from factorline.media.decode import decode_audio, decode_frames, target_times
from factorline.media.probe import check_size, file_digest, probe

__all__ = ["check_size", "decode_audio", "decode_frames", "file_digest", "probe", "target_times"]
