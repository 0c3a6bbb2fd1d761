"""``factorline eval MODEL``: reported equals reproduced.

From the card alone (plus the data, found again by content digest wherever it now lives):

1. every item recorded in the card's splits must be in the data with the same label, and the
   backbone must have the recorded revision: otherwise the data (or model) changed, and
   the error says which items or what revision;
2. the held-out split is rebuilt from its recorded digests and the *stored* head is scored on
   it: its metrics must equal the card's test metrics;
3. the whole protocol (splits from the seeds, cross-validation, threshold, baselines, seeds)
   runs again on the recorded items: the split digests and every metric must equal the card's.

Any difference raises :class:`~factorline.contract.errors.ReproductionError` naming each metric with
the card's number and the recomputed one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..contract.errors import ReproductionError
from ..contract.items import Sampling
from ..models.backbones import get_backbone
from ..models.embed import EmbeddingCache
from ..models.store import ModelStore
from ..synth.dataset import label_field_of
from . import protocol as proto
from .data import Dataset, load_dataset
from .fit import item_proba
from .metrics import classification_metrics
from .trainer import default_embedding_cache, split_record

TOLERANCE = 1e-6


@dataclass
class EvalReport:
    model: str
    items: int
    ignored: int  # items in the data that the card does not list
    checked: int  # numbers compared


def flatten(value, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list) and all(isinstance(v, (int, float)) or v is None for v in value):
        return {f"{prefix}[{i}]": v for i, v in enumerate(value)}
    return {prefix: value}


def differences(card: dict, recomputed: dict, prefix: str, tolerance: float) -> tuple[list[str], int]:
    """("path: card X, recomputed Y" lines, how many values were compared)."""
    want, got = flatten(card, prefix), flatten(recomputed, prefix)
    lines = []
    for key in sorted(set(want) | set(got)):
        a, b = want.get(key, "<absent>"), got.get(key, "<absent>")
        numbers = isinstance(a, (int, float)) and isinstance(b, (int, float))
        if (numbers and abs(float(a) - float(b)) > tolerance) or (not numbers and a != b):
            lines.append(f"{key}: card {a}, recomputed {b}")
    return lines, len(want)


def _subset(card: dict, data: Path | None) -> tuple[Dataset, int]:
    source = Path(data) if data else Path(card["data"]["source"])
    dataset = load_dataset(source, skip_bad=True, label_field=label_field_of(card["data"]["format"]))
    recorded = {d: label for split in card["data"]["splits"].values() for d, label in split["items"]}
    found = {e.digest: e for e in dataset.examples}
    missing = [f"{d} ({label})" for d, label in recorded.items() if d not in found]
    relabelled = [f"{found[d].where}: now {found[d].label!r}, recorded {label!r}" for d, label in recorded.items()
                  if d in found and found[d].label != label]
    if missing or relabelled:
        lines = [f"data changed since {card['name']}@{card['version']} was trained ({source}):"]
        lines += [f"  missing item {m}" for m in missing[:20]] + [f"  relabelled {r}" for r in relabelled[:20]]
        raise ReproductionError("\n".join(lines), path="data")
    kept = [found[d] for d in recorded]
    return Dataset(dataset.source, dataset.format, kept), len(dataset.examples) - len(kept)


def evaluate(ref: str, *, store: ModelStore | None = None, data: str | Path | None = None,
             cache: EmbeddingCache | None = None, tolerance: float = TOLERANCE, progress: bool = False) -> EvalReport:
    from .features import embed_dataset

    stored = (store or ModelStore()).load(ref)  # checksums verified here
    card = stored.card
    if stored.compressed:
        from ..contract.errors import ConfigError

        steps = " -> ".join(s["step"] for s in card.get("steps", []))
        raise ConfigError(f"{stored.ref} is a compressed model ({steps} from {card['root']['ref']}); `factorline eval` "
                          f"reproduces trained heads. Its gate numbers are in {stored.path / 'report.md'}; measure them again "
                          f"with `factorline compress {card['parent']['ref']} ...`", path=stored.ref)
    if card.get("kind") == "aesthetics":
        from ..contract.errors import ConfigError

        raise ConfigError(f"{stored.ref} is an aesthetics head; `factorline eval` reproduces classifier heads. Train it "
                          f"again with `{card['training']['command']}` (deterministic: the same data gives the same "
                          "weights and numbers)", path=stored.ref)
    backbone = get_backbone(card["backbone"]["id"])
    if backbone.revision != card["backbone"]["revision"]:
        raise ReproductionError(f"backbone {backbone.id} is revision {backbone.revision} here, the card records "
                                f"{card['backbone']['revision']}", path="backbone.revision")
    subset, ignored = _subset(card, Path(data) if data else None)
    sampling = Sampling(**card["data"]["sampling"]) if card["data"].get("sampling") else None
    features = embed_dataset(subset, backbone, cache if cache is not None else default_embedding_cache(),
                             sampling=sampling, progress=progress)
    if features.bad:
        raise ReproductionError("recorded items no longer decode: " + "; ".join(map(str, features.bad[:5])), path="data")
    problems, checked = _stored_head(stored, features, tolerance)
    outcome = proto.run(features, proto.Protocol.from_dict(card["training"]))
    f = proto.canonical(features)
    splits = {n: {"digest": split_record(f, items)["digest"]} for n, items in outcome.splits.items()}
    for name, (card_part, mine) in {
        "data.splits": ({n: {"digest": s["digest"]} for n, s in card["data"]["splits"].items()}, splits),
        "head": ({k: card["head"].get(k) for k in ("threshold", "positive")}, {k: outcome.decision[k] for k in ("threshold", "positive")}),
        "metrics": (card["metrics"], outcome.metrics),
    }.items():
        lines, n = differences(card_part, mine, name, tolerance)
        problems += lines
        checked += n
    if problems:
        head = f"{len(problems)} number(s) of {stored.ref} differ from its card (tolerance {tolerance}):"
        raise ReproductionError("\n".join([head] + [f"  {p}" for p in problems[:40]]), path=stored.ref)
    return EvalReport(stored.ref, len(subset.examples), ignored, checked)


def _stored_head(stored, features, tolerance: float) -> tuple[list[str], int]:
    """The shipped head itself, scored on the recorded held-out items."""
    card = stored.card
    f = proto.canonical(features)
    index = {e.digest: i for i, e in enumerate(f.examples)}
    test = np.array(sorted(index[d] for d, _ in card["data"]["splits"]["test"]["items"]))
    classes = card["head"]["classes"]
    y = np.array([classes.index(f.examples[i].label) for i in test])
    positive = classes.index(card["head"]["positive"]) if card["head"].get("positive") else None
    metrics = classification_metrics(y, item_proba(stored.head, f.x, f.item, test), classes, positive=positive,
                                     threshold=card["head"].get("threshold"), seed=card["seeds"][0])
    return differences(card["metrics"]["test"], metrics, "stored head: metrics.test", tolerance)
