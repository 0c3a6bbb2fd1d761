"""``factorline train`` as a library call: data set -> embeddings -> protocol -> store version + card."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..cache import StepCache, default_cache_dir
from ..contract.errors import DataError
from ..contract.items import Limits, Sampling
from ..models.backbones import DEFAULT_IMAGE, DEFAULT_TEXT, Backbone, get_backbone
from ..models.card import provenance
from ..models.embed import EmbeddingCache
from ..models.store import ModelStore, StoredModel, check_name
from . import protocol as proto
from .data import Dataset, load_dataset, report
from .features import Features, embed_dataset


@dataclass
class TrainResult:
    model: StoredModel
    features: Features
    outcome: proto.Outcome
    cache_hits: int
    cache_misses: int


def default_embedding_cache() -> EmbeddingCache:
    return EmbeddingCache(StepCache(default_cache_dir()))


def split_record(features: Features, items: list[int]) -> dict:
    pairs = [(features.examples[i].digest, features.examples[i].label) for i in items]
    return {"digest": proto.split_digest(pairs), "count": len(pairs), "items": sorted(list(p) for p in pairs)}


def build_card(dataset: Dataset, features: Features, backbone: Backbone, protocol: proto.Protocol,
               outcome: proto.Outcome, sampling: Sampling | None) -> dict:
    f = proto.canonical(features)
    splits = {name: split_record(f, items) for name, items in outcome.splits.items()}
    everything = [(e.digest, e.label) for e in f.examples]
    return {
        "task": dataset.task,
        "backbone": backbone.describe(),
        "head": {"kind": outcome.head.kind, "classes": outcome.classes, "normalize": outcome.head.normalize, **outcome.decision},
        "data": {"source": dataset.source, "format": dataset.format, "count": len(f.examples),
                 "digest": proto.split_digest(everything), "labels": dict(sorted(Counter(f.labels).items())),
                 "frames": len(f.x), "sampling": sampling.frame_key() if sampling else None,
                 "skipped": [str(b) for b in dataset.bad + features.bad], "duplicates": dataset.duplicates,
                 "splits": splits},
        "seeds": list(protocol.seeds),
        "training": protocol.to_dict(),
        "metrics": outcome.metrics,
        "provenance": provenance(),
    }


def train(source: str | Path, name: str, *, backbone: str | None = None, protocol: proto.Protocol | None = None,
          store: ModelStore | None = None, cache: EmbeddingCache | None = None, sampling: Sampling | None = None,
          labels: list[str] | None = None, skip_bad: bool = False, progress: bool = False,
          limits: Limits | None = None, label_field: str | None = None) -> TrainResult:
    """Train, score and store a model; every bad row is reported (or skipped with ``skip_bad``)."""
    check_name(name)
    protocol = protocol or proto.Protocol()
    dataset = load_dataset(source, labels=labels, skip_bad=skip_bad, limits=limits, label_field=label_field)
    bb = get_backbone(backbone or (DEFAULT_TEXT if dataset.task == "text" else DEFAULT_IMAGE))
    sampling = None if dataset.task == "text" else (sampling or Sampling(fps=1.0, max_frames=16))
    cache = cache if cache is not None else default_embedding_cache()
    features = embed_dataset(dataset, bb, cache, sampling=sampling, limits=limits, progress=progress)
    if features.bad and not skip_bad:
        raise DataError(report(features.bad, str(source)), path=str(source))
    if features.bad:  # decode failures removed items: the classes must still hold up
        from .data import check_balance

        check_balance(Dataset(dataset.source, dataset.format, features.examples))
    if protocol.positive is not None and protocol.positive not in set(features.labels):
        raise DataError(f"positive class {protocol.positive!r} is not a label of {source}; "
                        f"expected one of {sorted(set(features.labels))}", path="positive")
    outcome = _run_protocol(features, protocol, progress)
    card = build_card(dataset, features, bb, protocol, outcome, sampling)
    model = (store or ModelStore()).save(name, outcome.head, card)
    return TrainResult(model, features, outcome, cache.hits, cache.misses)


def _run_protocol(features: Features, protocol: proto.Protocol, progress: bool) -> proto.Outcome:
    from .features import _progress

    k = protocol.folds
    with _progress(progress) as bar:
        task = bar.add_task("training", total=k + 1 + len(protocol.seeds) - 1)
        return proto.run(features, protocol, tick=lambda _: bar.advance(task))
