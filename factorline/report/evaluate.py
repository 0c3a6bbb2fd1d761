"""``evaluate_run(run_dir, labels)``: how well a run's decisions and factors match labels.

Per decision table: accuracy, a confusion matrix, per-outcome precision/recall/F1 with
intervals, per-rule precision (how often each rule that fired named the labeled outcome)
and the disagreements. Per labeled factor: MAE for numbers, accuracy for true/false and text.
Threshold sweeps re-decide the labeled items with one rule's constant moved (``sweep``).
Writes ``evaluation.json`` and a self-contained ``evaluation.html`` into the run folder.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ..engine.compiler import Plan
from ..rules import ON_ERROR, ON_MISSING
from . import metrics
from .labels import Label, LabelSet, Matching, match_labels, read_labels
from .run import RunData, load_run
from .sweep import auto_sweeps, parse_sweep, run_sweep

EVALUATION_JSON, EVALUATION_HTML = "evaluation.json", "evaluation.html"
_LISTED = 200  # unmatched / unlabeled / error rows kept in the JSON
_WORST = 5


@dataclass
class EvaluationSummary:
    json_path: str
    html_path: str
    labels: int
    matched: int
    unmatched: int
    unlabeled: int
    accuracy: dict[str, float | None]  # table -> accuracy
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_run(
    run_dir: str | Path,
    labels: str | Path,
    *,
    sweeps: Sequence[str] | None = None,
    out_dir: str | Path | None = None,
    confidence: float = 0.95,
    seed: int = 0,
    gallery: int = 24,
) -> EvaluationSummary:
    """Evaluate ``run_dir`` against the label file ``labels`` and write JSON + HTML.

    ``sweeps``: ``TABLE.RULE:STEP.FIELD`` specs; None sweeps every rule that compares one
    factor with one number (up to 8), ``[]`` none. ``gallery``: most error items pictured.
    Raises RunDirError (not a run, pipeline unusable) or ConfigError (bad labels or sweep).
    """
    started = time.perf_counter()
    run = load_run(run_dir)
    plan = run.require_plan()
    label_set = read_labels(labels, plan)
    specs = None if sweeps is None else [parse_sweep(s, plan) for s in sweeps]
    result = evaluate(run, label_set, sweeps=specs, confidence=confidence, seed=seed)
    out = Path(out_dir) if out_dir else run.run_dir
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / EVALUATION_JSON, out / EVALUATION_HTML
    json_path.write_text(json.dumps(result, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    from .evalpage import render_evaluation  # the page pulls in thumbnails: only when writing

    html_path.write_text(render_evaluation(result, run, gallery=gallery), encoding="utf-8")
    m = result["labels"]
    accuracy = {name: t["accuracy"] for name, t in result["tables"].items()}
    return EvaluationSummary(str(json_path), str(html_path), m["rows"], m["matched"], m["unmatched_count"],
                             m["unlabeled_count"], accuracy, round(time.perf_counter() - started, 3))


def evaluate(run: RunData, labels: LabelSet, *, sweeps=None, confidence: float = 0.95, seed: int = 0) -> dict:
    """The evaluation as a JSON-ready dict (see ``evaluation.json``)."""
    plan = run.require_plan()
    matching = match_labels(labels, run.records)
    pairs = [(label, run.records[i], i) for label, i in matching.pairs]
    tables = {name: table_metrics(plan, name, pairs, confidence, seed)
              for name in plan.decisions.names if any(name in label.outcomes for label, _, _ in pairs)}
    specs = auto_sweeps(plan, set(tables)) if sweeps is None else sweeps
    return {
        "run": {"dir": str(run.run_dir), "pipeline": plan.name, "fingerprint": plan.fingerprint, "items": len(run.records)},
        "labels": _label_section(labels, matching, run.records),
        "confidence": confidence, "seed": seed, "bootstrap_rounds": metrics.BOOTSTRAP_ROUNDS,
        "tables": tables,
        "sweeps": [_sweep(plan, spec, pairs) for spec in specs],
        "factors": factor_metrics(pairs, plan.field_dtypes, confidence),
    }


def _label_section(labels: LabelSet, matching: Matching, records: list[dict]) -> dict:
    return {
        "source": str(labels.source), "rows": len(labels.labels), "matched": len(matching.pairs),
        "matched_by": dict(matching.how), "ignored": labels.ignored,
        "unmatched_count": len(matching.unmatched),
        "unmatched": [{"label": lb.where, "key": lb.key, "reason": why} for lb, why in matching.unmatched[:_LISTED]],
        "unlabeled_count": len(matching.unlabeled),
        "unlabeled": [_where(records[i], i) for i in matching.unlabeled[:_LISTED]],
    }


def _where(record: dict, index: int) -> dict:
    item = record.get("item") or {}
    return {"index": index, "path": item.get("path"), "id": item.get("id")}


def _outcome(record: dict, table: str) -> str:
    return str(((record.get("decisions") or {}).get(table) or {}).get("outcome"))


def table_metrics(plan: Plan, name: str, pairs: list[tuple[Label, dict, int]], confidence: float, seed: int) -> dict:
    rows = [(label, record, i) for label, record, i in pairs if name in label.outcomes]
    expected = [label.outcomes[name] for label, _, _ in rows]
    predicted = [_outcome(record, name) for _, record, _ in rows]
    table = plan.decisions.tables[name]
    order = [r.outcome for r in table.order] + [table.default.outcome, table.on_missing, table.on_error]
    classes = metrics.classes_of(expected, predicted, order)
    matrix = metrics.confusion(expected, predicted, classes)
    scores = metrics.class_scores(matrix, classes, confidence)
    for c, ci in metrics.bootstrap_f1(expected, predicted, classes, confidence=confidence, seed=seed).items():
        scores[c]["f1_ci"] = ci
    correct = sum(e == p for e, p in zip(expected, predicted))
    decided = [((record.get("decisions") or {}).get(name) or {}) for _, record, _ in rows]
    errors = [{**_where(record, i), "expected": e, "predicted": p, "rule": d.get("rule"), "explanation": d.get("explanation")}
              for (_, record, i), e, p, d in zip(rows, expected, predicted, decided) if e != p]
    return {
        "labeled": len(rows), "correct": correct, "accuracy": metrics.ratio(correct, len(rows)),
        "accuracy_ci": metrics.wilson(correct, len(rows), confidence),
        "confusion": {"classes": classes, "matrix": matrix, "rows": "expected", "columns": "predicted"},
        "per_outcome": scores,
        "rules": metrics.rule_precision(_firings(plan, name, rows), confidence),
        "errors_count": len(errors), "errors": errors[:_LISTED],
    }


def _firings(plan: Plan, name: str, rows: list[tuple[Label, dict, int]]) -> list[tuple[str, str, str]]:
    """(rule, its outcome, expected) for the deciding rule and every other rule hit, per item."""
    table = plan.decisions.tables[name]
    outcome_of = {r.id: r.outcome for r in table.order} | {table.default.id: table.default.outcome,
                                                           ON_MISSING: table.on_missing, ON_ERROR: table.on_error}
    fired = []
    for label, record, _ in rows:
        decision = (record.get("decisions") or {}).get(name) or {}
        rules = dict.fromkeys([str(decision.get("rule"))] + [str(h.get("rule")) for h in decision.get("hits") or []])
        fired += [(r, outcome_of.get(r, str(decision.get("outcome"))), label.outcomes[name]) for r in rules]
    return fired


def _sweep(plan: Plan, spec, pairs: list[tuple[Label, dict, int]]) -> dict:
    rows = [(label, record) for label, record, _ in pairs if spec.table in label.outcomes]
    if not rows:
        return {"sweep": str(spec), "table": spec.table, "rule": spec.rule, "factor": spec.factor, "points": [],
                "note": f"no label names an outcome of table '{spec.table}'"}
    return run_sweep(plan, spec, [r for _, r in rows], [lb.outcomes[spec.table] for lb, _ in rows])


def factor_metrics(pairs: list[tuple[Label, dict, int]], dtypes: dict[str, dict[str, str]], confidence: float) -> dict:
    """Per labeled factor: MAE (numbers) or accuracy (true/false, text), and the worst items."""
    found: dict[str, list[tuple[object, object, dict]]] = {}
    for label, record, i in pairs:
        for key, want in label.factors.items():
            step, _, name = key.partition(".")
            got = ((record.get("factors") or {}).get(step) or {}).get(name)
            found.setdefault(key, []).append((want, got, _where(record, i)))
    out = {}
    for key, rows in found.items():
        step, _, name = key.partition(".")
        numeric = dtypes[step][name] in {"int", "float"}
        out[key] = _numeric(rows) if numeric else _categorical(rows, confidence)
    return out


def _present(got: object) -> bool:
    return got is not None and not (isinstance(got, float) and math.isnan(got))


def _numeric(rows: list) -> dict:
    errs = [(abs(float(got) - want), float(got) - want, want, got, where) for want, got, where in rows if _present(got)]
    n = len(errs)
    worst = sorted((e for e in errs if e[0] > 0), key=lambda e: -e[0])[:_WORST]
    return {
        "kind": "number", "labeled": len(rows), "n": n, "missing": len(rows) - n,
        "mae": sum(e[0] for e in errs) / n if n else None,
        "bias": sum(e[1] for e in errs) / n if n else None,
        "max_error": max((e[0] for e in errs), default=None),
        "worst": [{**where, "expected": want, "found": got, "error": err} for err, _, want, got, where in worst],
    }


def _categorical(rows: list, confidence: float) -> dict:
    kept = [(want, got, where) for want, got, where in rows if _present(got)]
    wrong = [(want, got, where) for want, got, where in kept if got != want]
    n = len(kept)
    return {
        "kind": "category", "labeled": len(rows), "n": n, "missing": len(rows) - n, "correct": n - len(wrong),
        "accuracy": metrics.ratio(n - len(wrong), n), "accuracy_ci": metrics.wilson(n - len(wrong), n, confidence),
        "worst": [{**where, "expected": want, "found": got} for want, got, where in wrong[:_WORST]],
    }
