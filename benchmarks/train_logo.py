"""Train the appearance model behind ``logo@3`` (factorline/operators/logo_model.json).

    factorline synth /tmp/lg/train_logo --kind logo --count 2000 --seed 101 --stills
    factorline synth /tmp/lg/train_wm --kind watermark --count 1000 --seed 102 --stills
    factorline synth /tmp/lg/train_neg --kind subtitles,title_card,lower_third,scene_text,bars \\
        --count 1500 --seed 103 --stills
    (the same with --count 500/250/400 and seeds 201/202/203 for calibration: /tmp/lg/cal_*)
    factorline synth /tmp/logo/s1 --kind logo --count 200 --seed 1        # clips, 4 s
    factorline synth /tmp/logo/n1 --kind bars,cuts --count 100 --seed 1
    python benchmarks/train_logo.py --train /tmp/lg/train_logo /tmp/lg/train_wm /tmp/lg/train_neg \\
        --cal /tmp/lg/cal_logo /tmp/lg/cal_wm /tmp/lg/cal_neg --clips /tmp/logo/s1 /tmp/logo/n1 \\
        --real data/realset-own

Data: every still's four corner crops, labelled by :mod:`_logo_data` (positive: half an overlay's
box inside the crop; negative: no overlay touches it), augmented (half the stills through a JPEG
round trip at quality 35-90; half the crops cut at a share of 0.34-0.56 of the shorter side
instead of 0.42, which makes logos relatively smaller or larger; a second view of every positive
corner). Negatives beyond the synth kinds (``data.extra_negatives`` in the JSON): ``--signs``
stills of the synth materials with a scene-text sign seen at an angle near a corner (the synth
``scene_text`` kind draws signs mid-frame only), crops of scikit-image photos the engine does not
use (:data:`_logo_data.EXTRA_PHOTOS`), and the corners plus 4 crops anywhere of up to 16 frames
(1 fps) of each ``--real`` clip of the ``dev`` split labelled ``logo: false`` (screens, documents,
footage; never ../shared/realset, never the holdout split).

Model: :mod:`factorline.operators.logo_model` (torch on CPU for training, batch norm folded and
exported as float32 base64 into the JSON; numpy at run time, checked equal to torch here).

Calibration (``--cal`` stills of other seeds, never trained on): the item's logit (its best
corner's) -> Platt scaling (logistic regression on the one logit); the threshold is the lowest
calibrated probability at which the calibration set's precision, re-weighted to ``--prior`` (0.2)
of items with a logo instead of its own 0.58 (real collections carry fewer logos), reaches
``--precision`` (0.95). On the persistence path (``--clips``: synth clips whose frames are distinct,
run through the operator's persistence detector) the confidence is, when persistence found a
logo, its Laplace-smoothed precision on those clips, and when it found none, Platt scaling of
the best corner's appearance logit fitted on the clips it found none in.

Evaluation of the held-out seeds is ``benchmarks/logo_eval.py``; this script stores what it
measured on the calibration data (reliability table included) in the JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _logo_data import (
    EXTRA_PHOTOS,
    folder_stamp,
    frame_negatives,
    item_truth,
    load_rgb,
    negatives,
    photo_negatives,
    read_stills,
    sha256_file,
    sign_negatives,
    still_examples,
)

from factorline.operators import logo_model as lm

STRIDES = (2, 2, 1, 2, 1)
CHANNELS = (16, 32, 32, 64, 64)
MEAN, SCALE = 127.5, 1 / 64.0
CLIP_SAMPLING = {"fps": 1.0, "max_frames": 64, "max_side": 1280}


# ------------------------------------------------------------------ data


def build(folders: list[Path], seed: int, augment: bool):
    """Crops, labels, cell targets and item ids of every still in ``folders``."""
    rng = np.random.default_rng(seed) if augment else None
    crops, labels, cells, items = [], [], [], []
    for folder in folders:
        for still in read_stills(folder):
            c, y, m = still_examples(still, rng, extra_positive=augment)
            crops.append(c)
            labels.append(y)
            cells.append(m)
            items += [still.id] * len(y)
    return np.concatenate(crops), np.concatenate(labels), np.concatenate(cells), items


def real_negatives(folder: Path, rng: np.random.Generator, max_frames: int = 16) -> tuple[list, dict]:
    """Crops of frames of the real ``dev`` clips labelled ``logo: false`` (corners and anywhere)."""
    from factorline.contract.items import Limits, Sampling
    from factorline.media import decode_frames, probe

    labels = json.loads((folder / "labels.json").read_text())
    crops, used = [], {}
    for name, lab in sorted(labels.items()):
        if name.startswith("_") or lab.get("split") != "dev" or lab.get("logo") is not False:
            continue
        path = folder / "media" / name
        batch = decode_frames(path, probe(path), Sampling(fps=1.0, max_frames=max_frames, max_side=1280), Limits())
        for frame in batch.images:
            crops += frame_negatives(frame, rng)
        used[name] = sha256_file(path)
    return crops, used


# ------------------------------------------------------------------ torch model


def make_net():
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            layers, cin = [], 3
            for cout, stride in zip(CHANNELS, STRIDES):
                layers.append(
                    nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())
                )
                cin = cout
            self.convs = nn.ModuleList(layers)
            self.cell = nn.Conv2d(cin, 1, 1)
            self.head = nn.Linear(2 * cin, 1)

        def forward(self, x):
            for layer in self.convs:
                x = layer(x)
            pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)
            return self.head(pooled)[:, 0], self.cell(x)[:, 0]

    return Net()


def to_tensor(crops: np.ndarray):
    import torch

    return (torch.from_numpy(crops).float().permute(0, 3, 1, 2) - MEAN) * SCALE


def train(net, crops, labels, cells, *, epochs: int, seed: int, batch: int = 128, lr: float = 3e-3, log=print):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    known = ~np.isnan(labels)
    y = torch.from_numpy(np.nan_to_num(labels, nan=0.0))
    w = torch.from_numpy(known.astype(np.float32))
    m = torch.from_numpy(cells)
    pos = float(labels[known].mean())
    pos_weight = torch.tensor(min(4.0, (1 - pos) / max(pos, 1e-6)))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(crops) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    for epoch in range(epochs):
        net.train()
        order = rng.permutation(len(crops))
        total, t0 = 0.0, time.time()
        for start in range(0, len(order), batch):
            idx = np.sort(order[start : start + batch])
            x = to_tensor(crops[idx])
            logit, cell = net(x)
            loss = (
                F.binary_cross_entropy_with_logits(logit, y[idx], weight=w[idx], pos_weight=pos_weight, reduction="sum")
                / w[idx].sum().clamp(min=1.0)
            ) + F.binary_cross_entropy_with_logits(cell, m[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        log(f"epoch {epoch + 1}/{epochs}: loss {total / len(crops):.4f} ({time.time() - t0:.0f} s)")
    net.eval()
    return net


def export(net, seed: int) -> dict:
    """One ensemble member as logo_model.json holds it (batch norm folded), float32."""
    entries = []
    for i, layer in enumerate(net.convs):
        conv, bn = layer[0], layer[1]
        scale = (bn.weight / (bn.running_var + bn.eps).sqrt()).detach().numpy()
        w = conv.weight.detach().numpy() * scale[:, None, None, None]
        b = bn.bias.detach().numpy() - bn.running_mean.detach().numpy() * scale
        entries += [lm.encode_array(f"conv{i}.w", w.transpose(2, 3, 1, 0)), lm.encode_array(f"conv{i}.b", b)]
    entries.append(lm.encode_array("cell.w", net.cell.weight.detach().numpy()[:, :, 0, 0].T))
    entries.append(lm.encode_array("cell.b", net.cell.bias.detach().numpy()))
    entries.append(lm.encode_array("head.w", net.head.weight.detach().numpy().T))
    entries.append(lm.encode_array("head.b", net.head.bias.detach().numpy()))
    return {"seed": seed, "strides": list(STRIDES), "weights": entries}


# ------------------------------------------------------------------ calibration


def platt(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, b) of P = sigmoid(a x + b), maximum likelihood (almost no regularisation)."""
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(C=1e4, max_iter=1000).fit(x.reshape(-1, 1), y.astype(int))
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def reliability(prob: np.ndarray, y: np.ndarray, bins: int = 10) -> list[dict]:
    """Per probability bin: items, mean predicted, observed positive rate."""
    edges = np.linspace(0, 1, bins + 1)
    rows = []
    for lo, hi in itertools.pairwise(edges):
        sel = (prob >= lo) & ((prob < hi) if hi < 1 else (prob <= hi))
        if sel.any():
            rows.append(
                {
                    "bin": [round(lo, 2), round(hi, 2)],
                    "n": int(sel.sum()),
                    "predicted": round(float(prob[sel].mean()), 3),
                    "observed": round(float(y[sel].mean()), 3),
                }
            )
    return rows


def ece(rows: list[dict]) -> float:
    n = sum(r["n"] for r in rows)
    return round(sum(r["n"] * abs(r["predicted"] - r["observed"]) for r in rows) / max(n, 1), 4)


def binary(pred: np.ndarray, y: np.ndarray) -> dict:
    tp, fp = int((pred & y).sum()), int((pred & ~y).sum())
    fn, tn = int((~pred & y).sum()), int((~pred & ~y).sum())
    return {
        "n": len(y),
        "positives": int(y.sum()),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "precision": round(tp / max(tp + fp, 1), 4),
        "recall": round(tp / max(tp + fn, 1), 4),
    }


def auc(score: np.ndarray, y: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return round(float(roc_auc_score(y, score)), 4)


def item_logits(model: lm.LogoModel, folders: list[Path]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Item logit (best corner) and truth of every scorable still of ``folders``."""
    logits, truth, ids = [], [], []
    for folder in folders:
        for still in read_stills(folder):
            frame = load_rgb(still.path)
            t = item_truth(still, frame.shape[1], frame.shape[0])
            if t is None:
                continue
            logits.append(float(lm.score_frames(frame[None], model).logits.max()))
            truth.append(t)
            ids.append(still.id)
    return np.asarray(logits), np.asarray(truth, bool), ids


def pick_threshold(prob: np.ndarray, y: np.ndarray, precision: float, prior: float) -> tuple[float, float]:
    """Lowest probability (>= 0.5, in steps of 0.01) at which the precision, re-weighted to a share
    ``prior`` of items with a logo (real collections carry fewer than the calibration set), reaches
    ``precision``: recall x prior / (recall x prior + false positive rate x (1 - prior)), the false
    positive rate Laplace-smoothed. Returns (threshold, that precision)."""
    pos, neg = max(int(y.sum()), 1), max(int((~y).sum()), 1)
    best = (0.99, 0.0)
    for t in np.round(np.arange(0.5, 0.995, 0.01), 2):
        pred = prob >= t
        recall = (pred & y).sum() / pos
        fpr = ((pred & ~y).sum() + 1) / (neg + 2)
        shifted = recall * prior / max(recall * prior + fpr * (1 - prior), 1e-9)
        if shifted >= precision:
            return float(t), round(float(shifted), 4)
        best = max(best, (float(t), round(float(shifted), 4)), key=lambda b: b[1])
    return best


def clip_features(model: lm.LogoModel, folders: list[Path]):
    """(found by persistence (n,), best corner logit (n,), truth (n,), ids) of the synth clips
    (logos drawn "anywhere" left out) the persistence path decides."""
    from factorline.contract.items import Limits, Sampling
    from factorline.media import decode_frames, probe
    from factorline.operators.overlay import LogoParams, detect_logo, persistence_path

    sampling, params = Sampling(**CLIP_SAMPLING), LogoParams()
    found, logits, truth, ids = [], [], [], []
    for folder in folders:
        for line in (folder / "labels.jsonl").read_text().splitlines():
            r = json.loads(line)
            if (r.get("params") or {}).get("where", "") == "anywhere":
                continue
            path = folder / r["path"]
            batch = decode_frames(path, probe(path), sampling, Limits())
            result = detect_logo(batch.images, min_frames=params.min_frames)
            if not persistence_path(result, params):
                continue
            scores = lm.score_frames(batch.images[lm.appearance_frames(len(batch.images))], model)
            found.append(bool(result.box))
            logits.append(float(scores.logits.max()) if scores is not None else 0.0)
            truth.append(bool(r["truth"]["logo"]["has_logo"]))
            ids.append(r["id"])
    return np.asarray(found, bool), np.asarray(logits), np.asarray(truth, bool), ids


# ------------------------------------------------------------------ main


def digest_of(arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return "sha256:" + h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", type=Path, nargs="+", required=True)
    ap.add_argument("--cal", type=Path, nargs="+", required=True)
    ap.add_argument("--clips", type=Path, nargs="*", default=[])
    ap.add_argument("--real", type=Path, default=None)
    ap.add_argument("--signs", type=int, default=1500, help="stills with a scene-text sign near a corner (negatives)")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--members", type=int, default=3, help="networks in the ensemble (seeds --seed, +100, ...)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--precision", type=float, default=0.95, help="precision the threshold must reach ...")
    ap.add_argument("--prior", type=float, default=0.2, help="... at this share of items with a logo")
    ap.add_argument("--work", type=Path, default=Path("/tmp/lg/work"))
    ap.add_argument("--out", type=Path, default=lm.MODEL_PATH)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    t0 = time.time()
    args.work.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(
        json.dumps(
            [
                [folder_stamp(f)["labels_sha256"] for f in args.train],
                args.seed,
                args.signs,
                str(args.real),
                list(EXTRA_PHOTOS),
            ]
        ).encode()
    ).hexdigest()[:16]
    cache = args.work / f"train-{key}.npz"
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        crops, labels, cells, extra = z["crops"], z["labels"], z["cells"], json.loads(str(z["extra"]))
    else:
        crops, labels, cells, _ = build(args.train, args.seed, augment=True)
        rng = np.random.default_rng([args.seed, 1])
        extra = {"signs": {"stills": args.signs, "seed": args.seed + 1}, "photos": list(EXTRA_PHOTOS), "real": {}}
        more = sign_negatives(args.signs, args.seed + 1) + photo_negatives(rng)
        if args.real:
            real, extra["real"] = real_negatives(args.real, rng)
            more += real
        extra["negative_crops"] = len(more)
        nc, nl, nm = negatives(more)
        crops, labels, cells = np.concatenate([crops, nc]), np.concatenate([labels, nl]), np.concatenate([cells, nm])
        np.savez(cache, crops=crops, labels=labels, cells=cells, extra=json.dumps(extra))
    known = ~np.isnan(labels)
    print(
        f"train crops {len(crops)}: positive {int((labels == 1).sum())}, negative {int((labels == 0).sum())}, "
        f"left out {int((~known).sum())} ({time.time() - t0:.0f} s)",
        flush=True,
    )
    seeds = [args.seed + 100 * k for k in range(args.members)]
    members = []
    for seed in seeds:
        net = train(make_net(), crops, labels, cells, epochs=args.epochs, seed=seed, log=lambda s: print(s, flush=True))
        members.append(export(net, seed))
        probe = crops[:64]
        with torch.no_grad():
            t_logit, t_cell = net(to_tensor(probe))
        n_logit, n_cell = lm.Member.from_dict(members[-1]).forward(
            (probe.astype(np.float32) - MEAN) * np.float32(SCALE)
        )
        gap = max(float(np.abs(t_logit.numpy() - n_logit).max()), float(np.abs(t_cell.numpy() - n_cell).max()))
        print(f"member seed {seed}: numpy vs torch max gap {gap:.2e}", flush=True)
        assert gap < 1e-3, gap
    doc = {
        "format": lm.MODEL_FORMAT,
        "input": {"size": lm.INPUT, "share": lm.CROP_SHARE, "mean": MEAN, "scale": SCALE},
        "members": members,
        "calibration": {"appearance": {"a": 1.0, "b": 0.0}},
        "threshold": 0.5,
    }
    model = lm.LogoModel(doc)

    logits, truth, _ = item_logits(model, args.cal)
    a, b = platt(logits, truth)
    prob = 1 / (1 + np.exp(-(a * logits + b)))
    threshold, shifted = pick_threshold(prob, truth, args.precision, args.prior)
    table = reliability(prob, truth)
    cal_metrics = {
        "items": len(truth),
        "auc": auc(logits, truth),
        "at_threshold": binary(prob >= threshold, truth),
        "at_0.5": binary(prob >= 0.5, truth),
        "threshold_rule": {"precision": args.precision, "prior": args.prior, "precision_at_prior": shifted},
        "reliability": table,
        "ece": ece(table),
    }
    print("calibration stills:", json.dumps({k: v for k, v in cal_metrics.items() if k != "reliability"}), flush=True)
    doc["calibration"] = {
        "appearance": {
            "a": round(a, 6),
            "b": round(b, 6),
            "method": "Platt scaling of the item logit (best corner, mean over frames) on the --cal stills",
            "fitted_on": "cal",
        }
    }
    doc["threshold"] = threshold
    model = lm.LogoModel(doc)
    if args.clips:
        found, logit, y, _ = clip_features(model, args.clips)
        a2, b2 = platt(logit[~found], y[~found])
        p_not = 1 / (1 + np.exp(-(a2 * logit[~found] + b2)))
        doc["calibration"]["persistence"] = {
            "found": round(float((y[found].sum() + 1) / (found.sum() + 2)), 4),
            "not_found": {"a": round(a2, 6), "b": round(b2, 6)},
            "not_found_rate": round(float((y[~found].sum() + 1) / ((~found).sum() + 2)), 4),
            "method": "found: precision of persistence on the --clips it decides, Laplace-smoothed; not found: Platt "
            "scaling of the best corner's appearance logit on those clips",
            "items": len(y),
            "found_items": int(found.sum()),
            "found_true": int(y[found].sum()),
            "not_found_with_logo": int(y[~found].sum()),
            "reliability_not_found": reliability(p_not, y[~found]),
        }
        print(
            "persistence calibration:",
            json.dumps({k: v for k, v in doc["calibration"]["persistence"].items() if k != "reliability_not_found"}),
            flush=True,
        )
    doc.update(
        {
            "trained_by": "benchmarks/train_logo.py",
            "model": f"{args.members} CNNs (logits averaged) on {lm.INPUT}x{lm.INPUT} corner crops, convs "
            f"{list(CHANNELS)} strides {list(STRIDES)}, "
            f"cell head + corner head (mean+max pool), torch {torch.__version__} CPU, AdamW one-cycle, "
            f"{args.epochs} epochs",
            "seeds": {"members": seeds, "augment": args.seed, "signs": args.seed + 1},
            "data": {
                "train": [folder_stamp(f) for f in args.train],
                "cal": [folder_stamp(f) for f in args.cal],
                "clips": [folder_stamp(f) for f in args.clips],
                "extra_negatives": extra,
                "crops": {
                    "total": len(crops),
                    "positive": int((labels == 1).sum()),
                    "negative": int((labels == 0).sum()),
                    "left_out": int((~known).sum()),
                    "digest": digest_of([crops, labels]),
                },
            },
            "metrics": {"calibration_stills": cal_metrics},
            "seconds": round(time.time() - t0, 1),
        }
    )
    order = [
        "format",
        "trained_by",
        "model",
        "threshold",
        "calibration",
        "seeds",
        "data",
        "metrics",
        "seconds",
        "input",
        "members",
    ]
    args.out.write_text(json.dumps({k: doc[k] for k in order}, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} in {time.time() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
