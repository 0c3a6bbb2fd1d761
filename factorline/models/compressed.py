"""Compressed models (written by ``factorline compress``) as the operators see them.

A compressed model is a whole network, pixels (or tokens) to logits, in ``model.onnx``
(onnxruntime; fp32 or int8) or ``model.safetensors`` (torch; architecture in the card, see
:mod:`factorline.models.nets`). For the hub it becomes what every model is, a backbone plus a
head: a backbone whose "embedding" is the logits and a linear identity head (softmax of the
logits), so ``learned`` and ``text_classifier`` run it unchanged, with the embedding cache
and per-batch memo keyed by the model file's sha256.

An ONNX image model carries its own preprocessing in its ``metadata_props`` (all keys under
``factorline.``; :func:`onnx_metadata` writes them):

=====================  ==================================================================
``preprocess``         JSON of :class:`~factorline.models.backbones.ImagePreprocess`: input
                       ``size``, ``resize`` (shorter side then centre crop; null = squash),
                       ``mean``, ``std``, ``interpolation``
``color_order``        ``RGB``
``layout``             ``NCHW float32: (pixel / 255 - mean) / std``
``input`` / ``output`` tensor names (``pixels`` / ``logits``; text: ``input_ids``,
                       ``attention_mask`` / ``logits``)
``classes``            JSON list, in logit order; ``positive`` and ``threshold`` for binary
                       models (the decision the ``learned`` operator applies)
``task``, ``format``   ``image`` or ``text``; ``factorline.onnx/1``
``tokenizer``          text models: the tokenizer folder beside the file, ``max_tokens``
=====================  ==================================================================

The card holds the same facts (``model.input``); the file's own metadata is what is read at
run time, and a file without it is refused (it could be fed wrongly without anyone noticing).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..contract.errors import StoreError
from .backbones import Backbone, ImagePreprocess
from .heads import Head

ONNX_FILE, NET_FILE, TOKENIZER_DIR = "model.onnx", "model.safetensors", "tokenizer"
META_FORMAT = "factorline.onnx/1"
PREFIX = "factorline."
MAX_TOKENS = 256


def onnx_metadata(*, task: str, classes: list[str], positive: str | None, threshold: float | None,
                  preprocess: ImagePreprocess | None = None, inputs: list[str] | None = None,
                  tokenizer: str | None = None, max_tokens: int = MAX_TOKENS, extra: dict | None = None) -> dict[str, str]:
    """The ``metadata_props`` of an exported model (string values, keys under ``factorline.``)."""
    meta: dict[str, Any] = {"format": META_FORMAT, "task": task, "classes": json.dumps(classes),
                            "positive": positive or "", "threshold": "" if threshold is None else repr(float(threshold)),
                            "output": "logits"}
    if task == "image":
        assert preprocess is not None
        meta.update({"preprocess": json.dumps(preprocess.to_dict()), "color_order": "RGB",
                     "layout": "NCHW float32: (pixel / 255 - mean) / std", "input": "pixels",
                     "input_size": str(preprocess.size), "mean": json.dumps(list(preprocess.mean)),
                     "std": json.dumps(list(preprocess.std))})
    else:
        meta.update({"input": ",".join(inputs or ["input_ids", "attention_mask"]), "tokenizer": tokenizer or TOKENIZER_DIR,
                     "max_tokens": str(max_tokens)})
    meta.update({k: str(v) for k, v in (extra or {}).items()})
    return {PREFIX + k: str(v) for k, v in meta.items()}


def read_metadata(session, path: Path) -> dict:
    """The ``factorline.*`` metadata of an ONNX session, parsed; refuses a file without it."""
    props = session.get_modelmeta().custom_metadata_map or {}
    meta = {k[len(PREFIX):]: v for k, v in props.items() if k.startswith(PREFIX)}
    if meta.get("format") != META_FORMAT:
        raise StoreError(f"{path} carries no factorline preprocessing metadata (expected metadata_props "
                         f"'{PREFIX}format' = {META_FORMAT!r}); export it with `factorline compress MODEL --export onnx`",
                         path=str(path))
    out: dict[str, Any] = dict(meta)
    out["classes"] = json.loads(meta["classes"])
    out["positive"] = meta.get("positive") or None
    out["threshold"] = float(meta["threshold"]) if meta.get("threshold") else None
    if meta.get("preprocess"):
        out["preprocess"] = ImagePreprocess.from_dict(json.loads(meta["preprocess"]))
    return out


def session(path: Path, threads: int | None = None):
    """An onnxruntime CPU session (``threads``: intra-op threads, default all cores)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def identity_head(classes: list[str]) -> Head:
    """softmax(logits): the head of a model whose backbone already gives logits."""
    n = len(classes)
    return Head("linear", list(classes), {"weight": np.eye(n, dtype=np.float32), "bias": np.zeros(n, np.float32)}, "none")


def tokenize(tokenizer, texts: list[str], max_tokens: int = MAX_TOKENS) -> dict[str, np.ndarray]:
    batch = tokenizer(list(texts), padding=True, truncation=True, max_length=max_tokens, return_tensors="np")
    return {"input_ids": batch["input_ids"].astype(np.int64), "attention_mask": batch["attention_mask"].astype(np.int64)}


def load_tokenizer(folder: Path):
    from transformers import AutoTokenizer
    from transformers.utils import logging

    logging.set_verbosity_error()
    try:
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:
        raise StoreError(f"{folder}: the text model's tokenizer files are missing or unreadable: {exc}",
                         path=str(folder), cause=exc) from exc


def onnx_image_runner(sess) -> Callable[[np.ndarray], np.ndarray]:
    name = sess.get_inputs()[0].name

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(sess.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0])

    return run


def onnx_text_runner(sess, tokenizer, max_tokens: int) -> Callable[[list[str]], np.ndarray]:
    wanted = {i.name for i in sess.get_inputs()}

    def run(texts: list[str]) -> np.ndarray:
        feed = {k: v for k, v in tokenize(tokenizer, texts, max_tokens).items() if k in wanted}
        return np.asarray(sess.run(None, feed)[0])

    return run


def load_compressed(folder: Path, card: dict) -> tuple[Backbone, Head]:
    """(logits backbone, identity head) of a verified compressed model folder."""
    model = card["model"]
    classes = list(card["head"]["classes"])
    digest = card["checksums"][model["file"]]
    ref = f"compressed:{card['name']}@{card['version']}"
    path = folder / model["file"]
    if model["format"] == "onnx":
        sess = session(path)
        meta = read_metadata(sess, path)
        if meta["classes"] != classes:
            raise StoreError(f"{path}: metadata classes {meta['classes']} differ from the card's {classes}", path=str(path))
        if meta["task"] == "text":
            tokenizer = load_tokenizer(folder / meta.get("tokenizer", TOKENIZER_DIR))
            run = onnx_text_runner(sess, tokenizer, int(meta.get("max_tokens", MAX_TOKENS)))
            return Backbone(ref, "text", len(classes), digest, "onnxruntime", run, None, batch_size=32), identity_head(classes)
        return (Backbone(ref, "image", len(classes), digest, "onnxruntime", onnx_image_runner(sess), meta["preprocess"],
                         batch_size=32), identity_head(classes))
    if model["format"] == "torch":
        from .backbones import torch_runner
        from .nets import rebuild

        net = rebuild(model["arch"], path)
        prep = ImagePreprocess.from_dict(model["input"]["preprocess"])
        return (Backbone(ref, "image", len(classes), digest, "torch", torch_runner(net), prep, batch_size=32,
                         extras={"module": net}), identity_head(classes))
    raise StoreError(f"{folder}: unknown compressed model format {model['format']!r}; expected onnx or torch", path=str(folder))


def file_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else os.path.getsize(path)
