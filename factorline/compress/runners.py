"""Networks as the gate sees them: class probabilities of compact inputs, and how long they take.

Every runner answers ``proba(x)`` for a block of its inputs (images: ``(N, S, S, 3)`` uint8,
already resized by its preprocessing; texts: a list of strings) and can be timed two ways:
``model_ms`` (the network alone on a prepared batch: what quantization and pruning change)
and ``end_to_end_ms`` (from decoded frames or raw texts, preprocessing included: what a
pipeline pays per frame).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..models.backbones import ImagePreprocess
from ..models.heads import softmax

BLOCK = 64
THREADS: int | None = None  # onnxruntime intra-op threads of new sessions (compress --threads); None: all cores


def _tile(x, batch: int):
    if isinstance(x, list):
        return [x[i % len(x)] for i in range(batch)]
    return np.concatenate([x] * (batch // len(x) + 1))[:batch]


def chunks(items, batch: int) -> list:
    """Batches to time in turn: each sample alone for batch 1, else one tiled batch."""
    if batch == 1:
        return [items[i : i + 1] for i in range(len(items))]
    return [_tile(items, batch)]


def cycle(values: list) -> Callable[[], object]:
    """A function giving the next value on each call, round and round."""
    state = {"i": -1}

    def take():
        state["i"] = (state["i"] + 1) % len(values)
        return values[state["i"]]

    return take


@dataclass
class Runner:
    runtime: str  # torch | onnxruntime
    prep: ImagePreprocess | None  # None: text
    logits_of: Callable  # prepared batch -> logits (images: normalised float32; texts: feed dict)
    prepare: Callable  # compact inputs -> prepared batch
    from_raw: Callable  # decoded frames / texts -> prepared batch
    probabilities: bool = False  # logits_of already gives probabilities

    def proba(self, x) -> np.ndarray:
        out = []
        for i in range(0, len(x), BLOCK):
            z = np.asarray(self.logits_of(self.prepare(x[i : i + BLOCK])), dtype=np.float64)
            out.append(z if self.probabilities else softmax(z))
        return np.concatenate(out) if out else np.zeros((0, 0))

    def model_call(self, sample, batch: int) -> Callable[[], object]:
        """One timed call of the network alone on a prepared batch (batch 1: each sample in turn)."""
        take = cycle([self.prepare(c) for c in chunks(sample, batch)])
        return lambda: self.logits_of(take())

    def end_to_end_call(self, raw, batch: int) -> Callable[[], object]:
        """One timed call from decoded frames (or raw texts), preprocessing included."""
        take = cycle(chunks(raw, batch))
        return lambda: self.logits_of(self.from_raw(take()))


def torch_runner(net, prep: ImagePreprocess) -> Runner:
    import torch

    net = net.eval()

    def logits(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return net(torch.from_numpy(x)).numpy()

    return Runner("torch", prep, logits, prep.normalize, prep)


def onnx_image_runner(path: Path, prep: ImagePreprocess, threads: int | None = None) -> Runner:
    from ..models.compressed import onnx_image_runner as run_of
    from ..models.compressed import session

    return Runner("onnxruntime", prep, run_of(session(path, threads or THREADS)), prep.normalize, prep)


def head_runner(model) -> Runner:
    """A stored head on its backbone (a LoadedModel): the parent of an export or a prune."""
    backbone, head, prep = model.backbone, model.head, model.backbone.preprocess

    def proba(x: np.ndarray) -> np.ndarray:
        return head.predict_proba(np.asarray(backbone.run(x), dtype=np.float32).reshape(len(x), -1))

    if prep is None:  # a text model: the backbone tokenizes itself
        return Runner(backbone.runtime, None, lambda texts: head.predict_proba(backbone.run(list(texts))), list, list, True)
    return Runner(backbone.runtime, prep, proba, prep.normalize, prep, True)


def onnx_text_runner(path: Path, tokenizer_dir: Path, max_tokens: int, threads: int | None = None) -> Runner:
    from ..models.compressed import load_tokenizer, session, tokenize

    sess = session(path, threads or THREADS)
    tokenizer = load_tokenizer(tokenizer_dir)
    wanted = {i.name for i in sess.get_inputs()}

    def prepare(texts) -> dict:
        return {k: v for k, v in tokenize(tokenizer, list(texts), max_tokens).items() if k in wanted}

    return Runner("onnxruntime", None, lambda feed: np.asarray(sess.run(None, feed)[0]), prepare, prepare)
