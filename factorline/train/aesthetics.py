"""``factorline train PAIRS.jsonl --task aesthetics``: the aesthetics head from a labelled pair set.

The manifest is JSONL, one pair per line, paths relative to the manifest::

    {"better": "a.jpg", "worse": "a_dark.jpg"}
    {"better": "clip.mp4", "worse": "clip_shaken.mp4", "kind": "shake", "group": "clip"}

``kind`` (optional) names the degradation, so the card reports agreement per kind; ``group``
(optional) names the source picture: with two groups or more the card also gives the
leave-one-group-out agreement (the honest number: no picture of a group is seen while it is
scored). Every row is checked before anything is measured (an object with string ``better`` and
``worse``, both files present and readable media, the two not the same file); media that then
fail to decode are bad rows too. Every bad row is reported with its line
(``pairs.jsonl:7: worse: missing file ...``), all together in one DataError, or left out and
listed in the card with ``skip_bad`` (``--skip-bad``), like the classifier's rows.

Each medium is measured as ``aesthetics`` measures it (:func:`factorline.operators.aesthetics.measure`
on frames decoded with the same sampling), so the head is trained on what the operator computes.
The fit (:func:`fit_head`, pure numpy/scipy, deterministic) is the one that made the shipped
``aesthetics.json`` (``benchmarks/train_aesthetics.py`` calls it):

1. **Rank.** Features are standardised by their mean and standard deviation over every picture;
   a logistic regression without intercept (L2 penalty 1 / (2 C)) learns
   P(a is better than b) = sigmoid(w . (z_a - z_b)) from each pair in both orders, each weight
   bounded to the sign its feature's name gives (``aesthetics.DIRECTIONS``), by L-BFGS-B.
2. **Calibrate.** On the projection t = w . z, a one-dimensional logistic regression (balanced:
   each distinct better picture 1, each worse one 0) gives a scale a > 0 and a bias b; the stored
   weights are a * w and the bias b, so the score ranks as step 1 and reads as the probability
   that a picture looks like a better one.

The model is stored as a new version in the model store (``head.json`` in the format of
``aesthetics.json`` + card.json / card.md with the data digest, counts, the training and
leave-one-group-out agreement, the weights and the command).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..contract.errors import DataError, MediaError
from ..contract.items import Limits, Sampling
from ..operators.aesthetics import (
    DIRECTIONS,
    HEAD_FEATURES,
    STORED_HEAD_FILE,
    TASK,
    Head,
    head_features,
    measure,
)

DEFAULT_C = 10.0  # chosen among 0.1, 1 and 10 by leave-one-source-out agreement on the project's training sources
DEFAULT_SAMPLING = Sampling(fps=2.0, max_frames=16)


@dataclass
class RankPair:
    """One labelled pair: the head features (and the measures) of the better and the worse picture."""

    source: str  # the group (source picture) the pair belongs to
    kind: str  # the degradation, or "" when not given
    level: int
    better: np.ndarray
    worse: np.ndarray
    better_measures: dict
    worse_measures: dict


# --------------------------------------------------------------------------- the fit (pure)


def signed_logistic(x: np.ndarray, y: np.ndarray, c: float = DEFAULT_C,
                    features: tuple[str, ...] = HEAD_FEATURES) -> np.ndarray:
    """Weights of an L2 logistic regression without intercept, each within its DIRECTIONS sign."""
    from scipy.optimize import minimize

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ w
        p = 1.0 / (1.0 + np.exp(-z))
        nll = float(np.sum(np.logaddexp(0.0, z) - y * z))
        return nll + float(w @ w) / (2 * c), x.T @ (p - y) + w / c

    bounds = [(0.0, None) if DIRECTIONS[f] > 0 else (None, 0.0) for f in features]
    result = minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B", bounds=bounds,
                      options={"maxiter": 5000, "gtol": 1e-8})
    return result.x


def fit_head(pairs: list[RankPair], c: float = DEFAULT_C) -> tuple[Head, dict]:
    """The calibrated, sign-constrained head of ``pairs`` and the fit's facts (counts, scale)."""
    from sklearn.linear_model import LogisticRegression

    if not pairs:
        raise DataError("no usable pairs to train the aesthetics head on", path="pairs")
    better = np.stack([p.better for p in pairs])
    worse = np.stack([p.worse for p in pairs])
    everything = np.concatenate([better, worse])
    mean = everything.mean(axis=0)
    scale = everything.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    zb, zw = (better - mean) / scale, (worse - mean) / scale
    diff = np.concatenate([zb - zw, zw - zb])
    labels = np.concatenate([np.ones(len(pairs)), np.zeros(len(pairs))])
    w = signed_logistic(diff, labels, c)
    originals = np.unique(zb, axis=0)  # each better picture once, however many copies it was paired with
    t = np.concatenate([originals @ w, zw @ w])[:, None]
    y = np.concatenate([np.ones(len(originals)), np.zeros(len(zw))])
    if not np.ptp(t) > 0:
        raise DataError("the pairs give the aesthetics head nothing to rank: every weight fitted to 0 (are the better "
                        "and the worse pictures alike in every measured part?)", path="pairs")
    calib = LogisticRegression(C=1e6, class_weight="balanced", max_iter=5000).fit(t, y)
    a, b = float(calib.coef_[0][0]), float(calib.intercept_[0])
    if a <= 0:
        raise DataError(f"calibration scale {a:.4g} <= 0: the ranking weights do not separate the better pictures "
                        "from the worse ones", path="pairs")
    head = Head(HEAD_FEATURES, mean, scale, w * a, b, {})
    return head, {"rank_pairs": len(pairs), "originals": len(originals), "calibration_scale": round(a, 6)}


def head_scorer(head: Head) -> Callable[[np.ndarray, dict], float]:
    return lambda x, m: float(head.score(x))


def agreement(pairs: list[RankPair], score: Callable[[np.ndarray, dict], float]) -> float:
    """Share of pairs where ``score(features, measures)`` ranks the better one strictly higher (ties miss)."""
    if not pairs:
        return float("nan")
    return float(np.mean([score(p.better, p.better_measures) > score(p.worse, p.worse_measures) for p in pairs]))


def by_kind(pairs: list[RankPair], score: Callable[[np.ndarray, dict], float]) -> dict[str, float]:
    kinds = sorted({p.kind for p in pairs if p.kind})
    return {k: round(agreement([p for p in pairs if p.kind == k], score), 4) for k in kinds}


def group_cv(pairs: list[RankPair], c: float = DEFAULT_C) -> tuple[float, dict[str, float]] | None:
    """Leave-one-group-out agreement (overall, per kind): each group scored by a head fitted
    without it; None with fewer than two groups."""
    groups = sorted({p.source for p in pairs})
    if len(groups) < 2:
        return None
    hits: list[tuple[str, bool]] = []
    for group in groups:
        head, _ = fit_head([p for p in pairs if p.source != group], c)
        hits += [(p.kind, float(head.score(p.better)) > float(head.score(p.worse))) for p in pairs if p.source == group]
    kinds = sorted({k for k, _ in hits if k})
    return (float(np.mean([h for _, h in hits])),
            {k: round(float(np.mean([h for kk, h in hits if kk == k])), 4) for k in kinds})


# --------------------------------------------------------------------------- the pair manifest


@dataclass(frozen=True)
class PairRow:
    where: str  # file:line
    better: Path
    worse: Path
    kind: str
    group: str


def read_pairs(source: Path) -> tuple[list[PairRow], list]:
    """(rows, bad rows) of a pair manifest; every problem names its line and field."""
    from ..engine.records import json_lines
    from .data import BadRow

    if not source.is_file():
        raise DataError(f"no pair manifest at {source}: expected a .jsonl file of {{\"better\": path, \"worse\": path}} "
                        "rows", path=str(source))
    if source.suffix.lower() != ".jsonl":
        raise DataError(f"{source}: --task aesthetics reads a .jsonl pair manifest ({{\"better\": path, \"worse\": path}} "
                        f"per line), found {source.suffix or 'no extension'!r}", path=str(source))
    rows: list[PairRow] = []
    bad: list[BadRow] = []
    for where, record in json_lines(source, lambda where, exc: bad.append(BadRow(where, f"not JSON: {exc}"))):
        if not isinstance(record, dict):
            bad.append(BadRow(where, f"expected an object with 'better' and 'worse' paths, found {type(record).__name__}"))
            continue
        missing = [k for k in ("better", "worse") if not isinstance(record.get(k), str) or not record[k].strip()]
        if missing:
            bad.append(BadRow(where, f"{' and '.join(missing)}: expected a path (non-empty string), found "
                                     f"{', '.join(repr(record.get(k)) for k in missing)}"))
            continue
        paths = [source.parent / record[k].strip() for k in ("better", "worse")]
        kind, group = record.get("kind", ""), record.get("group", record["better"].strip())
        if not isinstance(kind, str) or not isinstance(group, str):
            bad.append(BadRow(where, f"kind and group: expected strings, found {kind!r} and {group!r}"))
            continue
        rows.append(PairRow(where, paths[0], paths[1], kind, group))
    return rows, bad


def _check_media(path: Path, field: str, where: str, limits: Limits):
    from ..media import probe
    from .data import BadRow

    if not path.is_file():
        return BadRow(where, f"{field}: missing file {path}")
    try:
        return probe(path, limits)
    except MediaError as exc:
        return BadRow(where, f"{field}: unreadable media: {exc.message}")


def _line(bad) -> int:
    """The manifest line of a bad row (``file:line``), so they are listed in file order."""
    tail = bad.where.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


@dataclass
class PairSet:
    source: str
    rows: int
    pairs: list[RankPair]
    bad: list  # BadRow
    media: int
    digest: str  # of the pairs used (content digests of better, worse)


def measure_pairs(source: str | Path, *, sampling: Sampling | None = None, working_height: int = 256,
                  limits: Limits | None = None, skip_bad: bool = False, progress: bool = False) -> PairSet:
    """Read, check and measure a pair manifest; bad rows raise one DataError (or are left out with ``skip_bad``)."""
    from ..media import decode_frames
    from .data import BadRow, report
    from .features import _progress

    source = Path(source)
    sampling = sampling or DEFAULT_SAMPLING
    limits = limits or Limits()
    rows, bad = read_pairs(source)
    total = len(rows) + len(bad)  # syntax problems are rows too
    checked: list[tuple[PairRow, object, object]] = []
    for row in rows:
        infos = [_check_media(row.better, "better", row.where, limits), _check_media(row.worse, "worse", row.where, limits)]
        problems = [i for i in infos if isinstance(i, BadRow)]
        if problems:
            bad += problems
        elif infos[0].id == infos[1].id:  # type: ignore[union-attr]
            bad.append(BadRow(row.where, f"better and worse are the same content ({row.better.name}, {row.worse.name})"))
        else:
            checked.append((row, infos[0], infos[1]))
    bad.sort(key=_line)
    if bad and not skip_bad:
        raise DataError(report(bad, str(source)), path=str(source))
    measured: dict[str, tuple[np.ndarray, dict] | BadRow] = {}
    pairs: list[RankPair] = []
    used = []
    with _progress(progress) as bar:
        task = bar.add_task("measuring pairs", total=len(checked))
        for row, *infos in checked:
            got = []
            for field, path, info in (("better", row.better, infos[0]), ("worse", row.worse, infos[1])):
                key = info.id  # type: ignore[attr-defined]
                if key not in measured:
                    try:
                        frames = decode_frames(path, info, sampling, limits)  # type: ignore[arg-type]
                        _, _, m = measure(frames, info.kind, working_height)  # type: ignore[attr-defined]
                        measured[key] = (head_features(m), m)
                    except MediaError as exc:
                        measured[key] = BadRow("", f"unreadable media: {exc.message}")
                value = measured[key]
                got.append(BadRow(row.where, f"{field}: {value.problem}") if isinstance(value, BadRow) else value)
            problems = [g for g in got if isinstance(g, BadRow)]
            if problems:
                bad += problems
            else:
                pairs.append(RankPair(row.group, row.kind, 0, got[0][0], got[1][0], got[0][1], got[1][1]))
                used.append((infos[0].id, infos[1].id))  # type: ignore[attr-defined]
            bar.advance(task)
    bad.sort(key=_line)
    if bad and not skip_bad:
        raise DataError(report(bad, str(source)), path=str(source))
    digest = "sha256:" + hashlib.sha256(json.dumps(sorted(used)).encode()).hexdigest()
    return PairSet(str(source.resolve()), total, pairs, bad, len(measured), digest)


# --------------------------------------------------------------------------- train and store


def head_card(head: Head, pairs: list[RankPair], facts: dict, c: float, cv: tuple[float, dict] | None) -> dict:
    """The head's training record: counts, the training and leave-one-group-out agreement."""
    score = head_scorer(head)
    return {
        "C": c, **facts,
        "train_agreement": round(agreement(pairs, score), 4),
        "train_agreement_by_kind": by_kind(pairs, score),
        "cv_groups": len({p.source for p in pairs}),
        "cv_agreement": None if cv is None else round(cv[0], 4),
        "cv_agreement_by_kind": None if cv is None else cv[1],
    }


def train_aesthetics(source: str | Path, name: str, *, store=None, c: float = DEFAULT_C, sampling: Sampling | None = None,
                     working_height: int = 256, skip_bad: bool = False, progress: bool = False,
                     limits: Limits | None = None, command: str | None = None):
    """Measure a pair manifest, fit the head, store it as ``name``'s next version with its card."""
    from ..models.card import provenance
    from ..models.store import ModelStore, check_name

    check_name(name)
    if not c > 0:
        raise DataError(f"--C must be > 0, found {c}", path="--C")
    sampling = sampling or DEFAULT_SAMPLING
    t0 = time.perf_counter()
    data = measure_pairs(source, sampling=sampling, working_height=working_height, limits=limits, skip_bad=skip_bad,
                         progress=progress)
    head, facts = fit_head(data.pairs, c)
    cv = group_cv(data.pairs, c)
    metrics = head_card(head, data.pairs, facts, c, cv)
    command = command or f"factorline train {source} --name {name} --task aesthetics" + (" --skip-bad" if skip_bad else "")
    trained = {"command": command, "date": time.strftime("%Y-%m-%d %H:%M:%S"), "data_digest": data.digest, **metrics}
    head = Head(head.features, head.mean, head.scale, head.weights, head.bias, trained)
    body = head.to_json()
    card = {
        "kind": "aesthetics",
        "task": TASK,
        "head": {"kind": "aesthetics-linear", "classes": [], "features": list(HEAD_FEATURES),
                 "weights": body["weights"], "bias": body["bias"]},
        "data": {"source": data.source, "format": "pairs-jsonl", "rows": data.rows, "pairs": len(data.pairs),
                 "media": data.media, "digest": data.digest, "skipped": [str(b) for b in data.bad],
                 "sampling": sampling.frame_key(), "working_height": working_height},
        "training": {"command": command, "C": c, "fit": "sign-constrained pairwise logistic + balanced calibration"},
        "metrics": {**metrics, "seconds": round(time.perf_counter() - t0, 1)},
        "provenance": provenance(),
    }

    def write(folder: Path, full: dict) -> list[str]:
        full["head"] = {**full["head"], "file": STORED_HEAD_FILE}
        (folder / STORED_HEAD_FILE).write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        return [STORED_HEAD_FILE]

    return (store or ModelStore()).save_model(name, card, write)

