"""The accuracy gate: every compressed child proves it is still good enough, or is not published.

Numbers (all on the held-out split: items no step ever trained on):

- **agreement** with the parent: the share of held-out frames (and of items: mean of their
  frames' probabilities, as the ``learned`` operator aggregates) where the child decides the
  same class as the parent; per parent class (``per_class``: "of the items the parent put in
  class c, the share the child also puts there"), and the confusion matrix parent x child;
- **accuracy** against hard labels, for the parent and the child, where held-out items have
  labels;
- **drop** in points: ``100 * (parent accuracy - child accuracy)`` when held-out labels exist
  (metric ``accuracy``), else ``100 * (1 - agreement)`` (metric ``agreement``) at the teacher's
  level (``frame`` for models and operators, ``item`` for pipeline decisions);
- size on disk, parameter count, and latency: the network alone at batch 1 and 32
  (``model``), and from decoded frames with preprocessing (``end_to_end``; for a pipeline
  parent, ``item``: probe/decode included), median of several runs, with the thread count
  and the CPU's instruction-set flags.

The gate reads more than the overall drop (:func:`gate_checks`): per class of the parent
with at least :data:`MIN_CLASS_SUPPORT` held-out items (frames at the frame level), the drop
of that class (recall against the labels when they exist, else the share of the parent's
class the child keeps), plus, when labels decide, the agreement with the parent (accuracy can
rise by chance while the child disagrees); all of them against the parent and, over a chain,
against the root (the command's MODEL) too, so drift never accumulates unseen. The gate's
``drop_points`` is the worst of these checks (``worst`` names it; ``checks`` lists them all).

The verdict: ``published`` when drop <= tolerance, ``forced`` when above but ``--force`` was
given, ``refused`` otherwise (the child is kept under the store's ``.rejected/`` area and the
command exits 1). ``report.json`` and ``report.md`` sit beside the child either way.
"""

from __future__ import annotations

import os
import platform
import re
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..train.metrics import predict

FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16",
         "amx_int8", "amx_bf16", "asimd", "asimddp")
DIGITS = 6


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), DIGITS)


def median_ms(fn: Callable[[], object], runs: int) -> float:
    """Median wall time of ``runs`` calls after one warm-up call, in milliseconds."""
    return interleaved_ms({"one": (fn, runs, 1)})["one"]


def interleaved_ms(calls: dict[str, tuple[Callable[[], object], int, int]]) -> dict[str, float]:
    """Median ms per unit of each ``(fn, runs, units)``, the calls taking turns run by run.

    Parent and child are timed in the same rounds, so a noisy neighbour on a shared machine
    slows both alike and their ratio stays meaningful. ``units``: items one call processes.
    """
    times: dict[str, list[float]] = {k: [] for k in calls}
    for fn, _, _ in calls.values():
        fn()  # warm-up: lazy allocations, first-call kernels
    for r in range(max((runs for _, runs, _ in calls.values()), default=0)):
        for key, (fn, runs, units) in calls.items():
            if r < runs:
                t0 = time.perf_counter()
                fn()
                times[key].append((time.perf_counter() - t0) * 1000.0 / max(1, units))
    return {k: round(float(np.median(v)), 4) for k, v in times.items()}


def machine(threads: int | None = None) -> dict:
    """CPU model, its relevant instruction-set flags, cores and the threads used for timing."""
    cpu, flags = platform.processor() or platform.machine(), []
    try:
        info = Path("/proc/cpuinfo").read_text()
        model = re.search(r"model name\s*:\s*(.*)", info)
        cpu = model.group(1).strip() if model else cpu
        found = set(re.search(r"^(?:flags|Features)\s*:\s*(.*)$", info, re.MULTILINE).group(1).split())  # type: ignore[union-attr]
        flags = [f for f in FLAGS if f in found]
    except (OSError, AttributeError):
        pass
    try:
        import torch

        torch_threads = torch.get_num_threads()
    except ImportError:  # pragma: no cover - torch is a dependency
        torch_threads = None
    return {"cpu": cpu, "cpu_flags": flags, "cores": os.cpu_count(), "torch_threads": torch_threads,
            "onnxruntime_threads": threads or os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def decisions(proba: np.ndarray, classes: list[str], positive: str | None, threshold: float | None) -> np.ndarray:
    """Class indices as the learned operator decides them (binary: positive iff score >= threshold)."""
    pos = classes.index(positive) if positive in classes and len(classes) == 2 else None
    return predict(proba, pos, threshold if pos is not None else None)


def agreement(parent: np.ndarray, child: np.ndarray, classes: list[str]) -> dict:
    """Agreement of two prediction vectors overall, per parent class, and their confusion."""
    n = len(parent)
    per_class = {}
    for c, name in enumerate(classes):
        mask = parent == c
        per_class[name] = {"support": int(mask.sum()), "agreement": _r(np.mean(child[mask] == c)) if mask.any() else None}
    confusion = [[int(np.sum((parent == a) & (child == b))) for b in range(len(classes))] for a in range(len(classes))]
    return {"n": n, "agreement": _r(np.mean(parent == child)) if n else None, "per_class": per_class,
            "confusion": {"rows": "parent", "columns": "child", "classes": list(classes), "counts": confusion}}


def class_recall(pred: np.ndarray, labels: np.ndarray, classes: list[str]) -> dict:
    """Per class: items labelled with it (support) and the share predicted as it (recall)."""
    out = {}
    for c, name in enumerate(classes):
        mask = labels == c
        out[name] = {"support": int(mask.sum()), "recall": _r(np.mean(pred[mask] == c)) if mask.any() else None}
    return out


def accuracy(pred: np.ndarray, labels: np.ndarray) -> dict | None:
    """Accuracy of item predictions on the items that have a label (-1: none)."""
    mask = labels >= 0
    if not mask.any():
        return None
    return {"n": int(mask.sum()), "accuracy": _r(np.mean(pred[mask] == labels[mask]))}


def drop_points(parent_acc: dict | None, child_acc: dict | None, agree: float | None) -> tuple[str, float]:
    """(metric, drop in points) as the module docstring defines them."""
    if parent_acc is not None and child_acc is not None:
        return "accuracy", round(100.0 * (parent_acc["accuracy"] - child_acc["accuracy"]), 4)
    return "agreement", round(100.0 * (1.0 - (agree or 0.0)), 4)


def verdict(drop: float, tolerance: float, force: bool) -> str:
    if drop <= tolerance + 1e-9:
        return "published"
    return "forced" if force else "refused"


def ratios(parent: dict, child: dict) -> dict:
    """parent / child for every latency both sides have (> 1: the child is faster)."""
    out = {}
    for kind in ("model", "end_to_end", "item"):
        p, c = parent.get(kind) or {}, child.get(kind) or {}
        for key in ("batch_1", "batch_32"):
            if p.get(key) and c.get(key):
                out[f"{kind}_{key}"] = round(p[key] / c[key], 3)
    return out


def score(parent_proba: np.ndarray, child_proba: np.ndarray, item: np.ndarray, n_items: int, labels: np.ndarray,
          classes: list[str], positive: str | None, threshold: float | None, level: str) -> dict:
    """Every gate number that depends only on held-out probabilities (pure).

    ``*_proba`` are per held-out frame; ``item`` maps each frame to its held-out item
    (0..n_items-1); ``labels`` are the held-out items' hard labels (-1: none).
    """
    from .data import item_mean

    pf, cf = decisions(parent_proba, classes, positive, threshold), decisions(child_proba, classes, positive, threshold)
    pi = decisions(item_mean(parent_proba, item, n_items), classes, positive, threshold)
    ci = decisions(item_mean(child_proba, item, n_items), classes, positive, threshold)
    frame, items = agreement(pf, cf, classes), agreement(pi, ci, classes)
    parent_acc, child_acc = accuracy(pi, labels), accuracy(ci, labels)
    metric, drop = drop_points(parent_acc, child_acc, (frame if level == "frame" else items)["agreement"])
    recall = {"parent": class_recall(pi, labels, classes), "child": class_recall(ci, labels, classes)}
    return {"frame": frame, "item": items, "parent_accuracy": parent_acc, "child_accuracy": child_acc,
            "metric": metric, "level": "item" if metric == "accuracy" else level, "drop_points": drop,
            "class_recall": recall}


MIN_CLASS_SUPPORT = 5  # classes with fewer held-out items (frames) are reported, not gated


def gate_checks(scored: dict, against: str) -> list[dict]:
    """Every drop the gate reads from one :func:`score` (against the parent or the root): the
    overall metric, the agreement when labels decide, and one per class (see the docstring)."""
    checks = [{"against": against, "what": scored["metric"], "drop_points": scored["drop_points"]}]
    if scored["metric"] == "accuracy":
        agree = scored["item"]["agreement"]
        checks.append({"against": against, "what": "agreement", "drop_points": round(100.0 * (1.0 - (agree or 0.0)), 4)})
        parent, child = scored["class_recall"]["parent"], scored["class_recall"]["child"]
        for name, m in parent.items():
            if m["support"] >= MIN_CLASS_SUPPORT and m["recall"] is not None:
                drop = round(100.0 * (m["recall"] - (child[name]["recall"] or 0.0)), 4)
                checks.append({"against": against, "what": f"recall of {name}", "drop_points": drop})
    else:
        for name, m in scored[scored["level"]]["per_class"].items():
            if m["support"] >= MIN_CLASS_SUPPORT and m["agreement"] is not None:
                checks.append({"against": against, "what": f"agreement on {name}",
                               "drop_points": round(100.0 * (1.0 - m["agreement"]), 4)})
    return checks


def worst_check(checks: list[dict]) -> dict:
    """The check with the largest drop (the first of equals: the overall metric wins ties)."""
    return max(checks, key=lambda c: c["drop_points"])


# --------------------------------------------------------------------------- the report


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _latency_rows(report: dict) -> list[str]:
    rows = []
    names = {"model": "network alone (prepared batch)", "end_to_end": "from decoded frames (preprocessing included)",
             "item": "per item (decode included)"}
    p, c = report["parent"].get("latency_ms", {}), report["child"].get("latency_ms", {})
    for kind, title in names.items():
        for key in ("batch_1", "batch_32"):
            pv, cv = (p.get(kind) or {}).get(key), (c.get(kind) or {}).get(key)
            if pv is None and cv is None:
                continue
            ratio = report["speedup"].get(f"{kind}_{key}")
            rows.append(f"| {title}, {key.replace('_', ' ')} | {_fmt(pv, 2)} | {_fmt(cv, 2)} | {_fmt(ratio, 2)}x |"
                        if ratio else f"| {title}, {key.replace('_', ' ')} | {_fmt(pv, 2)} | {_fmt(cv, 2)} | - |")
    return rows


def render_markdown(report: dict) -> str:
    """report.md: the verdict first, then what it rests on."""
    import json

    g, p, c = report["gate"], report["parent"], report["child"]
    head = {"published": "PUBLISHED", "forced": "PUBLISHED BY --force (beyond tolerance)", "refused": "REFUSED (not published)"}
    lines = [f"# Compression report: {report['child']['name']} ({report['step']})", "",
             f"**{head[g['verdict']]}**: worst drop {g['drop_points']:.2f} points ({g.get('worst', g['metric'])}, "
             f"{g['level']} level) against the parent `{p['ref']}`{' and the root' if report.get('root') else ''}; "
             f"tolerance {g['tolerance_points']:.2f} points.", ""]
    if g.get("checks"):
        lines += ["| against | what | drop (points) |", "|---|---|---|"]
        lines += [f"| {c['against']} | {c['what']} | {c['drop_points']:.2f} |" for c in g["checks"]] + [""]
    if g["verdict"] == "refused":
        lines += [f"The child was kept at `{report.get('location', '')}` and is not in the store. "
                  "Publish it anyway with `--force`, or raise `--tolerance`.", ""]
    shown = {k: v for k, v in report["params"].items() if k not in {"fit", "input", "nodes"}}
    lines += [f"Step `{report['step']}` `{json.dumps(shown, sort_keys=True)}` (all parameters: report.json); "
              f"child `{c.get('ref') or c['name']}`.", "",
              "## Held-out agreement and accuracy", "",
              f"{report['held_out']['items']} items, {report['held_out']['frames']} frames never trained on "
              f"(split digest `{report['held_out']['digest'][:23]}…`); {report['held_out']['labeled_items']} with labels.", "",
              "| what | parent | child |", "|---|---|---|",
              f"| agreement with the parent, frames | 100% | {_pct(report['agreement']['frame']['agreement'])} |",
              f"| agreement with the parent, items | 100% | {_pct(report['agreement']['item']['agreement'])} |"]
    pa, ca = report["accuracy"]["parent"], report["accuracy"]["child"]
    if pa is not None:
        lines.append(f"| accuracy vs labels (n={pa['n']}) | {_pct(pa['accuracy'])} | {_pct(ca['accuracy'] if ca else None)} |")
    if report.get("root"):
        lines.append(f"| agreement with `{report['root']['ref']}` (this command's MODEL), {report['root']['level']}s | - | "
                     f"{_pct(report['root']['agreement'])} |")
    level = report["gate"]["level"] if report["gate"]["level"] in ("frame", "item") else "item"
    lines += ["", f"### Per class of the parent ({level}s)", "", "| class | support | child agrees |", "|---|---|---|"]
    for name, m in report["agreement"][level]["per_class"].items():
        lines.append(f"| {name} | {m['support']} | {_pct(m['agreement'])} |")
    conf = report["agreement"][level]["confusion"]
    lines += ["", "Confusion (rows: parent, columns: child):", "", "| | " + " | ".join(conf["classes"]) + " |",
              "|---|" + "---|" * len(conf["classes"])]
    for name, row in zip(conf["classes"], conf["counts"]):
        lines.append(f"| **{name}** | " + " | ".join(str(v) for v in row) + " |")
    m = report["machine"]
    lines += ["", "## Size and speed", "", "| what | parent | child |", "|---|---|---|",
              f"| runtime | {p.get('runtime', '-')} {p.get('precision', '')} | {c.get('runtime', '-')} {c.get('precision', '')} |",
              f"| parameters | {_fmt(p.get('parameters'))} | {_fmt(c.get('parameters'))} |",
              f"| size on disk (bytes) | {_fmt(p.get('size_bytes'))} | {_fmt(c.get('size_bytes'))} |", "",
              "| latency (ms, median) | parent | child | speedup |", "|---|---|---|---|"] + _latency_rows(report)
    lines += ["", f"Measured on {m['cpu']} ({m['cores']} cores; flags {', '.join(m['cpu_flags']) or 'none found'}), "
              f"torch threads {m['torch_threads']}, onnxruntime threads {m['onnxruntime_threads']}; "
              f"median of {report['runs']['batch_1']} timed runs at batch 1 and {report['runs']['batch_32']} at batch 32, "
              "after one warm-up run.", ""]
    return "\n".join(lines)


def write_reports(folder: Path, report: dict) -> list[str]:
    import json

    (folder / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    (folder / "report.md").write_text(render_markdown(report), encoding="utf-8")
    return ["report.json", "report.md"]
