"""What an item is once probed and decoded: plain containers shared by media/ and operators.

Operators never touch decoders; they receive these objects. Frames are RGB uint8, possibly
downscaled for analysis: ``scale`` converts analysis pixels back to source pixels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Hashable, TypeVar

import numpy as np

T = TypeVar("T")


@dataclass(frozen=True)
class MediaInfo:
    """The probe of one item; ``width``/``height`` are the stored frame size in display
    orientation (rotation applied), the size of the decoded frames operators see.
    ``display_width``/``display_height`` also apply the pixel aspect ratio: what a player shows."""

    id: str  # "sha256:<hex>" of the file bytes
    path: str
    kind: str  # "video" | "image"
    duration_s: float | None
    width: int
    height: int
    fps: float | None
    has_audio: bool = False
    rotation: int = 0  # degrees clockwise applied to decoded frames to get display orientation
    container: str = ""
    frame_count: int | None = None
    # Sample (pixel) aspect ratio: a coded pixel is shown this many times as wide as it is tall
    # (PAL DV 720x576 at 16:15 plays as 768x576). Frames stay at stored size: analysis on the
    # coded grid keeps every factor independent of this tag.
    pixel_aspect: float = 1.0

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) a player shows: the pixel aspect stretches the coded width, which is
        the display height after a quarter turn."""
        if self.pixel_aspect == 1.0:
            return self.width, self.height
        if self.rotation in (90, 270):
            return self.width, max(1, round(self.height * self.pixel_aspect))
        return max(1, round(self.width * self.pixel_aspect)), self.height

    def record(self) -> dict:
        """The ``item`` section of a result record."""
        return {
            "id": self.id,
            "path": self.path,
            "kind": self.kind,
            "duration_s": self.duration_s,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "display_width": self.display_size[0],
            "display_height": self.display_size[1],
            "pixel_aspect": self.pixel_aspect,
        }

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Preview:
    """Tiny colour thumbnails (M, h, w, 3) uint8 of (nearly) every decoded frame, with their
    times (M,): what decoding at the sampling rate passes over anyway, kept for operators that
    need finer timing than the samples give (where a cut falls, a cut after the last sample).
    Made from the decoder's planes without a colour conversion pass, so it costs almost nothing;
    empty stretches where decoding seeked across a long gap."""

    times: np.ndarray
    thumbs: np.ndarray

    def __len__(self) -> int:
        return len(self.times)


@dataclass
class FrameBatch:
    """Sampled frames of one item, in display orientation.

    images: (N, H, W, 3) uint8 RGB; times: (N,) seconds taken from the frames' own
    timestamps (so variable frame rate is honoured); scale: source px per analysis px.
    """

    images: np.ndarray
    times: np.ndarray
    source_width: int
    source_height: int
    scale: float = 1.0
    preview: Preview | None = None  # videos only; None for images and hand-made batches
    planned: int | None = None  # sampled frames the sampling asked for (more than len() when the media ended early)
    end_s: float | None = None  # where the decoded stream ended: its last frame shown, or its last packet (videos)

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.shape[-1] != 3 or self.images.dtype != np.uint8:
            raise ValueError(f"frames must be (N,H,W,3) uint8, got {self.images.shape} {self.images.dtype}")
        if len(self.times) != len(self.images):
            raise ValueError(f"{len(self.times)} timestamps for {len(self.images)} frames")

    def __len__(self) -> int:
        return len(self.images)

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()`` once per batch and key: what several operators of one pipeline derive
        from the same frames (luma, thumbnails, detections, embeddings) is shared."""
        cache = self.__dict__.setdefault("_memo", {})
        if key not in cache:
            cache[key] = compute()
        return cache[key]

    @property
    def gray(self) -> np.ndarray:
        """(N, H, W) float32 luma (BT.601), computed once."""
        return self.memo("gray", self._luma)

    def _luma(self) -> np.ndarray:
        # Frame by frame and channel by channel: a whole-batch float copy of RGB would
        # cost 12 bytes per pixel (400 MB for one 8K frame) for nothing.
        luma = np.empty(self.images.shape[:3], dtype=np.float32)
        for out, image in zip(luma, self.images):
            np.multiply(image[..., 0], np.float32(0.299), out=out, dtype=np.float32)
            out += image[..., 1] * np.float32(0.587)
            out += image[..., 2] * np.float32(0.114)
        return luma


@dataclass
class AudioTrack:
    """Mono float32 samples in [-1, 1]; empty when the item has no audio stream."""

    samples: np.ndarray
    sample_rate: int = 16000
    start_s: float = 0.0

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.sample_rate)

    @classmethod
    def silent(cls, sample_rate: int = 16000) -> AudioTrack:
        return cls(np.zeros(0, dtype=np.float32), sample_rate)


@dataclass
class Sampling:
    """How frames are sampled from an item (the pipeline's ``sampling`` section)."""

    fps: float = 1.0
    max_frames: int = 64
    # A short video gets at least this many frames (spread over it, up to the frames it has):
    # at 1 fps a 1-s clip would get one, and no factor that compares frames could work.
    min_frames: int = 4
    max_side: int = 1280  # analysis frames are downscaled so that max(H, W) <= max_side
    audio_rate: int = 16000

    def frame_key(self) -> dict:
        """The fields that decide which frames an item gives (cache keys, index metadata)."""
        return {"fps": self.fps, "max_frames": self.max_frames, "min_frames": self.min_frames, "max_side": self.max_side}


@dataclass
class Limits:
    """Caps that protect a run from hostile or huge media."""

    max_file_bytes: int = 8 * 1024**3
    max_pixels: int = 8192 * 8192  # per frame, at source resolution
    max_duration_s: float = 6 * 3600.0
    max_frames: int = 2048  # sampled frames per item
    item_timeout_s: float = 300.0
    containers: frozenset[str] = field(
        default_factory=lambda: frozenset(
            {"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi", "mpegts", "flv", "gif", "ogg", "mpeg"}
        )
    )
    image_formats: frozenset[str] = field(
        default_factory=lambda: frozenset({"JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "AVIF"})
    )
