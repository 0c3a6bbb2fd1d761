"""The only place that touches decoders: probe, decode, sample frames and audio, encode."""
