"""Data of the logo appearance model: overlay boxes from ``factorline synth`` truth, labelled corner
crops, item-level truth; shared by ``train_logo.py`` (training, calibration) and ``logo_eval.py``.

An *overlay* is a corner logo (``truth.logo.box``) or a text watermark (``truth.onscreen_text``
entries of class ``watermark``). A corner crop (:func:`factorline.operators.logo_model.corner_region`)
is **positive** when at least :data:`POSITIVE_SHARE` of an overlay's box lies in it, **negative** when
no overlay box touches it, and left out (weight 0) in between (a logo drawn "anywhere" across
the crop's edge, a centre watermark reaching into it). Its cell targets are the share of each
cell of the crop's :data:`GRID` x :data:`GRID` grid the overlay boxes cover.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from factorline.operators.logo_model import CORNERS, CROP_SHARE, INPUT, corner_crops, corner_region

POSITIVE_SHARE = 0.5
GRID = 10  # the network's cell grid over an INPUT-px crop


@dataclass(frozen=True)
class Still:
    """One labelled picture: its path, overlay boxes, and boxes that make a crop ambiguous."""

    id: str
    path: Path
    kind: str
    overlays: tuple[tuple[int, ...], ...]
    ignore: tuple[tuple[int, ...], ...]  # centre watermarks: not a corner overlay, not a negative
    params: dict


def sha256_file(path: Path) -> str:
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_stills(folder: Path) -> list[Still]:
    """The samples of a synth folder with their overlay boxes (frame px)."""
    out = []
    for line in (Path(folder) / "labels.jsonl").read_text().splitlines():
        r = json.loads(line)
        truth, params = r["truth"], r.get("params") or {}
        overlays, ignore = [], []
        if truth["logo"]["has_logo"]:
            overlays.append(tuple(truth["logo"]["box"]))
        for t in truth["onscreen_text"]:
            if t["class"] == "watermark":
                (ignore if params.get("where") == "centre" else overlays).append(tuple(t["box"]))
        out.append(Still(r["id"], Path(folder) / r["path"], r["kind"], tuple(overlays), tuple(ignore), params))
    return out


def folder_stamp(folder: Path) -> dict:
    """What identifies a synth folder: its seed, kinds, count and the sha256 of labels.jsonl."""
    stamp = json.loads((Path(folder) / "synth.json").read_text())
    return {
        "folder": str(folder),
        "seed": stamp["seed"],
        "kinds": stamp["args"]["kinds"],
        "count": stamp["count"],
        "stills": stamp["args"]["stills"],
        "size": stamp["args"]["size"],
        "labels_sha256": stamp["labels_sha256"],
    }


def share_in(box, region) -> float:
    """Share of ``box``'s area inside ``region`` (both [x, y, w, h])."""
    x0, y0 = max(box[0], region[0]), max(box[1], region[1])
    x1, y1 = min(box[0] + box[2], region[0] + region[2]), min(box[1] + box[3], region[1] + region[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / max(box[2] * box[3], 1)


def corner_label(overlays, ignore, corner: str, width: int, height: int, share: float = CROP_SHARE) -> float | None:
    """1.0, 0.0, or None (left out) for one corner crop."""
    region = corner_region(corner, width, height, share)
    shares = [share_in(b, region) for b in overlays]
    if any(s >= POSITIVE_SHARE for s in shares):
        return 1.0
    if any(s > 0 for s in shares) or any(share_in(b, region) > 0 for b in ignore):
        return None
    return 0.0


def cell_targets(overlays, corner: str, width: int, height: int, share: float = CROP_SHARE) -> np.ndarray:
    """(GRID, GRID) share of each cell of the corner's crop (crop-canonical orientation) covered by
    the overlay boxes."""
    x, y, s, _ = corner_region(corner, width, height, share)
    cover = np.zeros((s, s), bool)
    for bx, by, bw, bh in overlays:
        x0, y0 = max(0, bx - x), max(0, by - y)
        x1, y1 = min(s, bx + bw - x), min(s, by + bh - y)
        if x1 > x0 and y1 > y0:
            cover[y0:y1, x0:x1] = True
    if corner.endswith("right"):
        cover = cover[:, ::-1]
    if corner.startswith("bottom"):
        cover = cover[::-1]
    edges = np.linspace(0, s, GRID + 1).round().astype(int)
    out = np.zeros((GRID, GRID), np.float32)
    for i in range(GRID):
        for j in range(GRID):
            cell = cover[edges[i] : edges[i + 1], edges[j] : edges[j + 1]]
            out[i, j] = cell.mean() if cell.size else 0.0
    return out


def item_truth(still: Still, width: int, height: int) -> bool | None:
    """Item-level truth for scoring: True (an overlay in a corner crop), False (none touches a
    corner crop), None (left out: an overlay only partly in a corner, a centre watermark)."""
    labels = [corner_label(still.overlays, still.ignore, c, width, height) for c in CORNERS]
    if any(v == 1.0 for v in labels):
        return True
    if still.overlays or still.ignore:
        return None  # drawn somewhere, but not in a corner: the operator does not look there
    return False


def jpeg(frame: np.ndarray, quality: int) -> np.ndarray:
    """The frame through a JPEG round trip (compression artefacts, like a decoded video's)."""
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def still_examples(still: Still, rng: np.random.Generator | None = None, *, extra_positive: bool = False):
    """(crops (k, INPUT, INPUT, 3) uint8, labels (k,) float32 (nan: left out), cells (k, GRID, GRID))
    of one still's four corners; with ``rng`` augmented (crop share, JPEG) and, with
    ``extra_positive``, a second view of each positive corner."""
    frame = load_rgb(still.path)
    h, w = frame.shape[:2]
    views = [CROP_SHARE]
    if rng is not None:
        if rng.random() < 0.5:
            frame = jpeg(frame, int(rng.integers(35, 91)))
        views = [CROP_SHARE if rng.random() < 0.5 else float(rng.uniform(0.34, 0.56))]
        if extra_positive:
            views.append(float(rng.uniform(0.34, 0.56)))
    crops, labels, cells = [], [], []
    for k, share in enumerate(views):
        cut = corner_crops(frame[None], share)[0]
        for c, corner in enumerate(CORNERS):
            label = corner_label(still.overlays, still.ignore, corner, w, h, share)
            if k > 0 and label != 1.0:
                continue  # the second view is for positives only
            crops.append(cut[c])
            labels.append(np.nan if label is None else label)
            cells.append(cell_targets(still.overlays, corner, w, h, share))
    return np.stack(crops), np.asarray(labels, np.float32), np.stack(cells)


def negatives(crops: list[np.ndarray]):
    """Crops known to hold no overlay, as (crops, labels 0, empty cell targets)."""
    crops = np.stack(crops) if crops else np.zeros((0, INPUT, INPUT, 3), np.uint8)
    return crops, np.zeros(len(crops), np.float32), np.zeros((len(crops), GRID, GRID), np.float32)


def anywhere_crops(frame: np.ndarray, rng: np.random.Generator, count: int) -> list[np.ndarray]:
    """``count`` square crops of a frame without overlays at random places and sizes (0.34-0.56 of
    its shorter side), randomly mirrored: natural content seen where a corner would be."""
    h, w = frame.shape[:2]
    out = []
    for _ in range(count):
        s = max(8, int(min(h, w) * rng.uniform(0.34, 0.56)))
        x, y = int(rng.integers(0, w - s + 1)), int(rng.integers(0, h - s + 1))
        crop = frame[y : y + s, x : x + s]
        crop = crop[:, ::-1] if rng.random() < 0.5 else crop
        crop = crop[::-1] if rng.random() < 0.25 else crop
        out.append(np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize((INPUT, INPUT), Image.Resampling.BOX)))
    return out


def frame_negatives(frame: np.ndarray, rng: np.random.Generator, extra: int = 4) -> list[np.ndarray]:
    """The four corner crops of a frame known to carry no overlay, plus ``extra`` crops anywhere."""
    return list(corner_crops(frame[None])[0]) + anywhere_crops(frame, rng, extra)


# Photos bundled with scikit-image that the synth engine does not draw from (and tests do not
# use): motorbikes, a retina, cells, a clock, a printed page and text on a wall.
EXTRA_PHOTOS = ("stereo_motorcycle", "retina", "cell", "clock", "page", "text")


def photo_negatives(rng: np.random.Generator, per_photo: int = 48) -> list[np.ndarray]:
    import skimage.data

    from factorline.samples import transforms as tf

    out = []
    for name in EXTRA_PHOTOS:
        img = getattr(skimage.data, name)()
        img = img[0] if isinstance(img, tuple) else img  # the left view of the stereo pair
        img = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]
        for size in ((640, 360), (360, 640), (480, 360)):
            frame = tf.cover(np.ascontiguousarray(img), size)
            out += frame_negatives(frame, rng, per_photo // 3 - 4)
    return out


def corner_sign(m, rng: np.random.Generator) -> np.ndarray:
    """A still of the synth materials with a sign of scene text (a board seen at an angle, as the
    synth ``scene_text`` kind draws it mid-frame) near a random corner: scene text where logos sit."""
    from factorline.synth import corpus
    from factorline.synth.kinds_text import BOARDS, _face, fitted
    from factorline.synth.layers import Style, place, softened, text_block, trimmed, warped

    w, h = m.size
    language = corpus.language(rng)
    face = _face(rng, m, language)
    board = BOARDS[str(rng.choice(list(BOARDS)))]
    ink = (20, 20, 20) if sum(board) > 380 else (250, 250, 250)
    texts = [corpus.pick(rng, corpus.SIGNS[language])]
    style = Style(fill=ink, box=board, box_alpha=255, pad=int(rng.integers(4, 14)))  # type: ignore[arg-type]
    layer = text_block(
        [(t, fitted(m, language, face, int(rng.integers(14, 36)), texts, style, int(w * 0.4))) for t in texts],
        style,
        gap=style.pad,
    )
    lw, lh = layer.size
    target_w = w * rng.uniform(0.08, 0.3)
    k = target_w / lw
    cx = w * (rng.uniform(0.02, 0.22) if rng.random() < 0.5 else rng.uniform(0.78, 0.98))
    cy = h * (rng.uniform(0.03, 0.3) if rng.random() < 0.5 else rng.uniform(0.7, 0.97))
    angle = np.deg2rad(rng.uniform(4, 25) * rng.choice([-1, 1]))  # seen at an angle: part of the scene
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = np.array([[-lw, -lh], [lw, -lh], [lw, lh], [-lw, lh]], np.float64) / 2 * k
    quad = (corners + rng.uniform(-0.15, 0.15, (4, 2)) * [target_w, lh * k]) @ rot.T + [cx, cy]
    quad += np.maximum(0, 2 - quad.min(axis=0)) - np.maximum(0, quad.max(axis=0) - [w - 3, h - 3])  # moved inside
    x0, y0 = np.floor(quad.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int) + 2
    x0, y0 = max(0, x0), max(0, y0)
    sign = warped(layer, quad - [x0, y0], (int(min(w, x1) - x0), int(min(h, y1) - y0)))
    sign, ox, oy = trimmed(softened(sign, float(rng.choice([0.0, 0.6, 1.2]))))
    frame = m.background(rng, 1).frame(0)
    return place(np.ascontiguousarray(frame), sign, ox + int(x0), oy + int(y0), float(rng.uniform(0.8, 1.0)))


def sign_negatives(count: int, seed: int, size: tuple[int, int] = (640, 360)) -> list[np.ndarray]:
    """The four corner crops of ``count`` :func:`corner_sign` stills (seeded per still)."""
    from factorline.synth.materials import Materials

    m = Materials(size)
    out = []
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        out += list(corner_crops(corner_sign(m, rng)[None])[0])
    return out


__all__ = [
    "GRID",
    "INPUT",
    "Still",
    "cell_targets",
    "corner_label",
    "folder_stamp",
    "frame_negatives",
    "item_truth",
    "jpeg",
    "load_rgb",
    "negatives",
    "photo_negatives",
    "read_stills",
    "sha256_file",
    "share_in",
    "sign_negatives",
    "still_examples",
]
