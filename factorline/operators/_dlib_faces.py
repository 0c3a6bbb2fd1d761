"""dlib face detection and 128-d face embeddings, offline, for ``face_match@1``.

The models ship in registry packages: ``dlib-bin`` (dlib's compiled Python module) and
``face-recognition-models`` (dlib's model files, CC0): the HOG frontal face detector is built
into dlib, ``shape_predictor_5_face_landmarks.dat`` aligns a face (5 points) and
``dlib_face_recognition_resnet_model_v1.dat`` maps the aligned 150 px chip to a 128-d vector
whose Euclidean distance is small for the same person (dlib reports 99.38 % on LFW at 0.6).
``face_recognition_models`` is located, never imported (its ``__init__`` needs
``pkg_resources``, which current setuptools no longer ships); the 68-point model in the same
package is not used (its training data excludes commercial use).

A :class:`Gallery` is a folder of named reference photos: ``alice.jpg`` or ``alice/1.jpg``,
``alice/2.png`` (the file stem, or the subfolder, is the person's name). Each photo must show one
face (the largest one is taken when there are several). Its embeddings are computed once per
process and content digest (:func:`gallery_digest`), so editing a photo re-embeds the gallery and
changes the pipeline fingerprint; nothing is sent anywhere.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..contract.errors import ConfigError, ResourceError

INSTALL_HINT = "pip install 'factorline[faces]' (dlib-bin and face-recognition-models)"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
MAX_GALLERY_FILES = 10_000
MODEL_FILES = ("shape_predictor_5_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat")
MIN_SIDE = 32  # frames smaller than this hold no detectable face (the detector's window is 80 px)


def models_folder() -> Path:
    """The folder of dlib's model files in the installed ``face_recognition_models`` package."""
    try:
        spec = importlib.util.find_spec("face_recognition_models")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ResourceError(f"face_match needs dlib's face models: {INSTALL_HINT}", path="dlib_faces")
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    missing = [f for f in MODEL_FILES if not (folder / f).is_file()]
    if missing:
        raise ResourceError(f"face_recognition_models at {folder} lacks {', '.join(missing)}; reinstall it: {INSTALL_HINT}",
                            path="dlib_faces")
    return folder


def model_files() -> list[str]:
    """The weight files (for the resource fingerprint); empty when the extra is not installed."""
    try:
        folder = models_folder()
    except ResourceError:
        return []
    return [str(folder / f) for f in MODEL_FILES]


def gallery_files(folder: str | Path) -> list[tuple[str, Path]]:
    """(person name, path) of every reference photo in ``folder``, sorted; raises ConfigError
    (expected / found / how to fix) when the folder is missing or holds no photo."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ConfigError(f"gallery {str(folder)!r} is not a folder (resolved to {root.resolve()}); expected a folder of "
                          "named reference photos (alice.jpg, or alice/1.jpg): create it or fix the path")
    found: list[tuple[str, Path]] = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith("."):
            rel = path.relative_to(root)
            name = rel.parts[0] if len(rel.parts) > 1 else path.stem
            found.append((name, path))
            if len(found) > MAX_GALLERY_FILES:
                raise ConfigError(f"gallery {root} holds more than {MAX_GALLERY_FILES} photos; expected a watch list: "
                                  "split it or point at a smaller folder")
    if not found:
        raise ConfigError(f"gallery {root} holds no photo ({', '.join(IMAGE_SUFFIXES)}); add one photo per person "
                          "named after them (alice.jpg) or a subfolder per person")
    return found


def gallery_digest(folder: str | Path) -> str:
    """sha256 over every reference photo's name and bytes: what the gallery's embeddings depend on."""
    h = hashlib.sha256()
    root = Path(folder).expanduser()
    for name, path in gallery_files(root):
        h.update(f"{name}\0{path.relative_to(root).as_posix()}\0".encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return "sha256:" + h.hexdigest()


@dataclass(frozen=True)
class Face:
    """One detected face: box [x, y, w, h] in the frame's pixels, detector score, embedding."""

    box: tuple[float, float, float, float]
    score: float
    embedding: np.ndarray


@dataclass
class Gallery:
    names: list[str]  # one per reference embedding (a person may have several)
    embeddings: np.ndarray  # (R, 128)
    files: list[str]

    @property
    def people(self) -> list[str]:
        return sorted(set(self.names))

    def nearest(self, embedding: np.ndarray) -> tuple[str, float]:
        """(name, distance) of the closest reference; ("", inf) for an empty gallery."""
        if not len(self.names):
            return "", float("inf")
        d = np.linalg.norm(self.embeddings - embedding[None], axis=1)
        i = int(np.argmin(d))
        return self.names[i], float(d[i])


@dataclass
class FaceModel:
    """dlib's HOG detector, 5-point aligner and ResNet embedder, with a per-digest gallery cache."""

    detector: object
    aligner: object
    embedder: object
    folder: str
    _galleries: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def faces(self, image: np.ndarray, upsample: int = 1) -> list[Face]:
        """Faces of one (H, W, 3) uint8 RGB frame, best detector score first."""
        import dlib

        if image.shape[0] < MIN_SIDE or image.shape[1] < MIN_SIDE:
            return []
        image = np.ascontiguousarray(image)
        with self._lock:  # dlib's objects are not documented as thread-safe
            rects, scores, _ = self.detector.run(image, upsample, 0.0)
            shapes = dlib.full_object_detections()
            for r in rects:
                shapes.append(self.aligner(image, r))
            vectors = self.embedder.compute_face_descriptor(image, shapes) if len(rects) else []
        out = [Face((float(r.left()), float(r.top()), float(r.width()), float(r.height())), float(s), np.asarray(v))
               for r, s, v in zip(rects, scores, vectors)]
        return sorted(out, key=lambda f: (-f.score, f.box))

    def gallery(self, folder: str | Path, digest: str) -> Gallery:
        """The embedded gallery at ``folder`` (cached per content digest)."""
        if digest in self._galleries:
            return self._galleries[digest]
        names, vectors, files = [], [], []
        for name, path in gallery_files(folder):
            image = read_photo(path)
            found = self.faces(image, upsample=1)
            if not found:
                raise ConfigError(f"gallery photo {path}: no face found; expected one clear, frontal face at least "
                                  "80 px wide: replace the photo or crop it closer")
            biggest = max(found, key=lambda f: f.box[2] * f.box[3])
            names.append(name)
            vectors.append(biggest.embedding)
            files.append(str(path))
        gallery = Gallery(names, np.stack(vectors), files)
        self._galleries[digest] = gallery
        return gallery


def read_photo(path: Path) -> np.ndarray:
    """An RGB uint8 array of a reference photo (EXIF orientation applied)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise ConfigError(f"gallery photo {path} is not a readable image ({exc}); expected a JPEG/PNG/WebP/BMP: "
                          "replace or remove it") from exc


def load_face_model() -> FaceModel:
    folder = models_folder()
    try:
        import dlib
    except ImportError as exc:
        raise ResourceError(f"face_match needs dlib: {INSTALL_HINT}", path="dlib_faces", cause=exc) from exc
    return FaceModel(dlib.get_frontal_face_detector(), dlib.shape_predictor(str(folder / MODEL_FILES[0])),
                     dlib.face_recognition_model_v1(str(folder / MODEL_FILES[1])), str(folder))
