"""Backbones (offline defaults + pluggable), heads, the versioned model store and model cards.

Importing this package is cheap: torch, transformers and onnxruntime load only when a
backbone is first used.
"""

from .backbones import Backbone, ImagePreprocess, export_onnx, get_backbone, known_backbones, register_backbone
from .embed import EmbeddingCache
from .heads import Head
from .hub import BUILTIN_IMAGENET, BUILTIN_ZEROSHOT, LoadedModel, ModelHub
from .store import ModelStore, StoredModel, default_store_dir

__all__ = [
    "BUILTIN_IMAGENET", "BUILTIN_ZEROSHOT", "Backbone", "EmbeddingCache", "Head", "ImagePreprocess", "LoadedModel",
    "ModelHub", "ModelStore", "StoredModel", "default_store_dir", "export_onnx", "get_backbone", "known_backbones",
    "register_backbone",
]
