"""Label Studio round trip: a run's items as tasks with the run's answers as pre-annotations,
and the annotations back as verdicts in ``RUN/reviews.jsonl``.

Export (``export_tasks``) writes a JSON array of tasks and the labeling config that reads them:

- ``data``: ``video`` or ``image`` (a ``/data/local-files/?d=<relative path>`` URL when the
  file lies under ``document_root``, Label Studio's LOCAL_FILES_DOCUMENT_ROOT, else the stored
  path), and ``index``, ``item``, ``name`` to come back by;
- one prediction (``model_version``: the pipeline and its fingerprint) holding a ``choices``
  result per decision table (``from_name`` = the table) and the evidence boxes: ``rectanglelabels``
  on images, ``videorectangle`` on videos (one region per step, or per text line for text steps,
  keyframes at the evidence times), labelled with the step's name (``logo``, ``subs``), in
  percent of the picture as Label Studio stores them.

Import (``import_annotations``) reads a Label Studio JSON export: per task, the last annotation
that was not cancelled gives a verdict per table choice (confirm when it equals the run's
outcome, else override) and, for each boxed step with a ``has_…`` field, a verdict on that field
(true when the annotator kept or drew a box with the step's label, false when none is left).
Lines carry ``source: label-studio:<task>/<annotation>``; importing the same export twice adds
nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import quoteattr

from ..contract.errors import ConfigError
from ..engine.records import read_jsonl
from ..report.run import load_run, media_path
from .store import REVIEWS_FILE, append_review, make_verdict, read_reviews


def _box_regions(record: dict) -> dict[tuple[str, str], list[dict]]:
    """(step, text) -> its timed boxes [{t, box}] (text lines get a region each)."""
    regions: dict[tuple[str, str], list[dict]] = {}
    for step, fields in (record.get("factors") or {}).items():
        for entry in (fields or {}).get("evidence") or [] if isinstance(fields, dict) else []:
            box = entry.get("box") if isinstance(entry, dict) else None
            if isinstance(box, list) and len(box) == 4 and box[2] and box[3]:
                regions.setdefault((step, str(entry.get("text") or "")), []).append({"t": float(entry.get("t") or 0), "box": box})
    return regions


def _percent(box: list, width: float, height: float) -> dict:
    x, y, w, h = (float(v) for v in box)
    return {"x": 100 * x / width, "y": 100 * y / height, "width": 100 * w / width, "height": 100 * h / height, "rotation": 0}


def task_of(record: dict, index: int, *, model_version: str, document_root: Path | None, run_dir: Path) -> dict:
    item = record.get("item") or {}
    kind = "image" if item.get("kind") == "image" else "video"
    found = media_path(record, run_dir)
    url = str(found or item.get("path"))
    if document_root is not None and found is not None:
        root, real = document_root.resolve(), found.resolve()
        if root in real.parents:
            url = "/data/local-files/?d=" + real.relative_to(root).as_posix()
    results = []
    for table, decision in (record.get("decisions") or {}).items():
        chosen = decision.get("outcomes") or [decision.get("outcome")]
        results.append({"id": f"t-{table}", "from_name": table, "to_name": "media", "type": "choices",
                        "value": {"choices": [str(c) for c in chosen if c is not None]}})
    width, height = float(item.get("width") or 0), float(item.get("height") or 0)
    for n, ((step, text), boxes) in enumerate(_box_regions(record).items() if width and height else []):
        if kind == "image":
            results.append({"id": f"b-{n}", "from_name": "boxes", "to_name": "media", "type": "rectanglelabels",
                            "original_width": int(width), "original_height": int(height), "image_rotation": 0,
                            "value": {**_percent(boxes[0]["box"], width, height), "rectanglelabels": [step]}})
            continue
        fps = float(item.get("fps") or 25.0)
        sequence = [{"frame": round(b["t"] * fps) + 1, "time": b["t"], "enabled": True,
                     **_percent(b["box"], width, height)} for b in sorted(boxes, key=lambda b: b["t"])]
        results.append({"id": f"b-{n}", "from_name": "box", "to_name": "media", "type": "videorectangle",
                        "value": {"framesCount": round((item.get("duration_s") or 0) * fps),
                                  "duration": item.get("duration_s"), "sequence": sequence, "labels": [step],
                                  **({"text": [text]} if text else {})}})
    return {"id": index + 1, "data": {kind: url, "index": index, "item": item.get("id"), "name": Path(str(item.get("path"))).name},
            "predictions": [{"model_version": model_version, "result": results}]}


def labeling_config(kind: str, tables: dict[str, list[str]], steps: list[str], collect: set[str] = frozenset()) -> str:
    """The Label Studio labeling config (XML) the exported tasks are made for."""
    lines = ["<View>"]
    if kind == "image":
        lines.append('  <Image name="media" value="$image"/>')
        lines.append('  <RectangleLabels name="boxes" toName="media">')
    else:
        lines.append('  <Video name="media" value="$video"/>')
        lines.append('  <Labels name="labels" toName="media">')
    lines += [f"    <Label value={quoteattr(s)}/>" for s in steps]
    lines.append("  </RectangleLabels>" if kind == "image" else "  </Labels>")
    if kind != "image":
        lines.append('  <VideoRectangle name="box" toName="media"/>')
    for table, outcomes in tables.items():
        lines.append(f'  <Header value={quoteattr(table)}/>')
        choice = "multiple" if table in collect else "single"
        lines.append(f'  <Choices name={quoteattr(table)} toName="media" choice="{choice}" showInline="true">')
        lines += [f"    <Choice value={quoteattr(o)}/>" for o in outcomes]
        lines.append("  </Choices>")
    return "\n".join([*lines, "</View>", ""])


def export_tasks(run_dir: str | Path, out: str | Path, *, document_root: str | Path | None = None,
                 config: str | Path | None = None) -> dict:
    """Write the run's tasks to ``out`` (and the labeling config to ``config``); counts."""
    from .store import outcomes_of

    run = load_run(run_dir, records=False)
    plan = run.require_plan()
    version = f"factorline {plan.name} {plan.fingerprint[:19]}"
    root = Path(document_root) if document_root else None
    tasks, steps = [], set()
    for index, record in enumerate(read_jsonl(run.run_dir / "results.jsonl")):
        tasks.append(task_of(record, index, model_version=version, document_root=root, run_dir=run.run_dir))
        steps |= {step for step, _ in _box_regions(record)}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(tasks, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    boxed = sorted(steps) or [s.name for s in plan.steps if "box" in s.spec.fields]
    if config:
        tables = {t: outcomes_of(plan, t) for t in plan.decisions.names}
        collect = {t for t, c in plan.decisions.tables.items() if c.policy == "collect"}
        Path(config).write_text(labeling_config(str(plan.doc.input), tables, boxed, collect), encoding="utf-8")
    regions = sum(1 for t in tasks for r in t["predictions"][0]["result"] if r["type"] != "choices")
    return {"tasks": len(tasks), "regions": regions, "labels": boxed, "out": str(out), "config": str(config) if config else None}


def _who(annotation: dict) -> str:
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        return str(who.get("email") or who.get("id") or "label-studio")
    return f"label-studio:{who}" if who is not None else "label-studio"


def import_annotations(run_dir: str | Path, export: str | Path, *, reviewer: str | None = None) -> dict:
    """Append a verdict per table choice and boxed ``has_…`` field of each annotated task; counts."""
    run = load_run(run_dir, records=False)
    plan = run.require_plan()
    try:
        tasks = json.loads(Path(export).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"expected a Label Studio JSON export (an array of tasks) at {export}: {exc}", path=str(export)) from exc
    if not isinstance(tasks, list):
        raise ConfigError(f"expected a JSON array of tasks in {export}, found {type(tasks).__name__}", path=str(export))
    from .runs import open_run

    view = open_run(run.run_dir)
    done = {line.get("source") for line in read_reviews(run.run_dir / REVIEWS_FILE).lines if line.get("source")}
    added = skipped = 0
    has_field = {s: f for s, fields in plan.field_dtypes.items() for f, d in fields.items() if d == "bool" and f.startswith("has_")}
    for number, task in enumerate(tasks, start=1):
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("index"), int):
            raise ConfigError(f"{Path(export).name} task {number}: expected data.index (exported by `factorline reviews "
                              f"export-ls`), found {sorted(data) if isinstance(data, dict) else data!r}", path=str(export))
        annotations = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
        if not annotations:
            continue
        annotation, index = annotations[-1], data["index"]
        source = f"label-studio:{task.get('id')}/{annotation.get('id')}"
        if source in done:
            skipped += 1
            continue
        record = view.record(index)
        if data.get("item") and (record.get("item") or {}).get("id") != data["item"]:
            raise ConfigError(f"task {task.get('id')}: item {index} of this run is not {data['item']}: the export was "
                              "made from another run", path=str(export))
        result = annotation.get("result") or []
        bodies = []
        for r in result:
            if r.get("type") == "choices" and r.get("from_name") in plan.decisions.names:
                choices = r.get("value", {}).get("choices") or []
                if len(choices) == 1:
                    bodies.append({"table": r["from_name"], "verdict": choices[0]})
        labelled = {lab for r in result if r.get("type") in ("videorectangle", "rectanglelabels")
                    for lab in r.get("value", {}).get("labels") or r.get("value", {}).get("rectanglelabels") or []}
        offered = {lab for p in task.get("predictions") or [] for r in p.get("result") or []
                   for lab in r.get("value", {}).get("labels") or r.get("value", {}).get("rectanglelabels") or []}
        for step in sorted((labelled | offered) & set(has_field)):
            bodies.append({"factor": f"{step}.{has_field[step]}", "value": step in labelled})
        for body in bodies:
            was = _current(record, body)
            body |= {"verdict": body.get("verdict") if "table" in body else ("confirm" if body["value"] == was else "override"),
                     "reviewer": reviewer or _who(annotation), "note": f"Label Studio task {task.get('id')}"}
            if body["verdict"] == "confirm":
                body.pop("value")
            append_review(run.run_dir, {**make_verdict(plan, record, index, body), "source": source})
            added += 1
    return {"added": added, "skipped_tasks": skipped, "file": str(run.run_dir / REVIEWS_FILE)}


def _current(record: dict, body: dict) -> object:
    if "factor" in body:
        step, _, name = body["factor"].partition(".")
        return ((record.get("factors") or {}).get(step) or {}).get(name)
    return None
