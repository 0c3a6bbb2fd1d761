"""A gated child into the store: its card (lineage, data, splits, metrics, gate), its files and
reports, published as ``name@N`` or kept under ``.rejected/``; and the children's names.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..models.store import ModelStore
from . import data as D
from . import gate as G
from .frames import splits
from .stages import Options, Stage, StepResult
from .teachers import StoredTeacher


def build_card(child: Stage, parent: Stage, root: Stage, fs: D.FrameSet, report: dict, options: Options, size: int) -> dict:
    from ..models.card import provenance

    model: dict = {"format": "onnx" if child.is_onnx else "torch", "file": "model.onnx" if child.is_onnx else "model.safetensors",
                   "precision": child.precision, "runtime": "onnxruntime" if child.is_onnx else "torch",
                   "parameters": child.parameters, "size_bytes": size, "summary": child.summary}
    if child.arch is not None:
        model["arch"] = child.arch
    if child.task == "image":
        assert child.prep is not None
        model["input"] = {"preprocess": child.prep.to_dict(), "color_order": "RGB", "layout": "NCHW float32",
                          "input": "pixels", "output": "logits"}
    else:
        model["input"] = {"tokenizer": "tokenizer", "max_tokens": 256, "input": ["input_ids", "attention_mask"], "output": "logits"}
    scored = report["agreement"]
    child_acc = report["accuracy"]["child"]
    return {
        "kind": "compressed",
        "task": child.task,
        "model": model,
        "head": {"kind": "network", "classes": fs.classes, "positive": child.positive, "threshold": child.threshold},
        "parent": {**parent.lineage, "ref": parent.ref},
        "root": _origin(root),
        "steps": child.steps,
        "data": {"source": fs.source, "count": len(fs.items), "frames": len(fs.item),
                 "sampling": None if fs.sampling is None else fs.sampling.frame_key(),
                 "labeled": int((fs.labels >= 0).sum()), "skipped": fs.skipped[:50], "splits": splits(fs)},
        "metrics": {"test": {"n": report["held_out"]["items"], "agreement": scored["item"]["agreement"],
                             "frame_agreement": scored["frame"]["agreement"],
                             "accuracy": child_acc["accuracy"] if child_acc else None}},
        "gate": report["gate"],
        "report": ["report.json", "report.md"],
        "options": {k: v for k, v in options.to_dict().items() if v is not None},
        "provenance": provenance(),
    }


def _origin(root: Stage) -> dict:
    """The first teacher of the lineage: a stored child's own root, else this chain's teacher."""
    teacher = root.teacher
    if isinstance(teacher, StoredTeacher) and teacher.stored.card.get("root"):
        return teacher.stored.card["root"]
    return teacher.describe() if teacher else root.lineage


def _child_files(child: Stage, work: Path) -> tuple[Path, int]:
    """(model file in the work folder, bytes on disk: the file plus a text model's tokenizer)."""
    from ..models.compressed import file_size
    from ..models.nets import save_weights

    if child.is_onnx:
        size = file_size(child.onnx) + (file_size(child.tokenizer) if child.tokenizer else 0)  # type: ignore[arg-type]
        return child.onnx, size  # type: ignore[return-value]
    path = Path(tempfile.mkdtemp(prefix="torch-", dir=work)) / "model.safetensors"
    save_weights(child.net, path)  # type: ignore[arg-type]
    return path, path.stat().st_size


def publish(child: Stage, parent: Stage, root: Stage, fs: D.FrameSet, report: dict, options: Options, store: ModelStore,
            name: str, work: Path) -> StepResult:
    import shutil

    source, size = _child_files(child, work)
    child.size_bytes = size
    report["child"]["size_bytes"] = size
    card = build_card(child, parent, root, fs, report, options, size)
    verdict = report["gate"]["verdict"]

    def write(folder: Path, full: dict) -> list[str]:
        files = [card["model"]["file"]]
        shutil.copyfile(source, folder / card["model"]["file"])
        if child.tokenizer is not None:
            shutil.copytree(child.tokenizer, folder / "tokenizer")
            files += sorted(str(p.relative_to(folder)) for p in (folder / "tokenizer").rglob("*") if p.is_file())
        ref = f"{full['name']}@{full['version']}" if full.get("version") is not None else None
        report["child"].update({"name": full["name"], "ref": ref})
        report["location"] = full.get("location") or str(store.root / full["name"] / f"v{full['version']}")
        return files + G.write_reports(folder, report)

    if verdict == "refused":
        where = store.save_rejected(name, card, write)
        report["location"] = str(where)
        return StepResult(report["step"], name, None, where, verdict, report)
    saved = store.save_model(name, card, write)
    report["location"] = str(saved.path)
    child.ref = saved.ref
    child.lineage = {"ref": saved.ref, "kind": "stored", "fingerprint": saved.card["card_digest"]}
    if child.is_onnx:  # point at the stored copy: the work folder goes away
        child.onnx = saved.path / "model.onnx"
        if child.tokenizer is not None:
            child.tokenizer = saved.path / "tokenizer"
    return StepResult(report["step"], name, saved.ref, saved.path, verdict, report)


SUFFIX = {"distill": lambda v: f"-{v}", "prune": lambda v: f"-p{round(float(v) * 100)}", "export": lambda v: "-onnx",
          "quantize": lambda v: "-int8"}


def child_names(base: str, steps: list[tuple[str, object]], final: str | None) -> list[str]:
    """Cumulative names (``base-tiny-cnn``, ``base-tiny-cnn-onnx``...); ``final`` names the last child."""
    names, name = [], base
    for step, value in steps:
        name = name + SUFFIX[step](value)
        names.append(name)
    too_long = max(len(n) for n in names) - 64
    if too_long > 0:
        names = [base[: len(base) - too_long].rstrip("-._") + n[len(base):] for n in names]
    if final:
        names[-1] = final
    return names
