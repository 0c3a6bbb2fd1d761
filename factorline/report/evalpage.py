"""``evaluation.html``: the evaluation dict as one self-contained page, with a gallery of the
worst errors (thumbnails at the items' evidence times)."""

from __future__ import annotations

from .html import esc, num, outcome_badge, page, pct, short, table
from .item import item_name
from .run import RunData
from .svg import line_chart
from .thumbs import item_pictures

_POINT_ROWS = 60  # sweep rows shown in the table (the chart has them all)


def render_evaluation(result: dict, run: RunData, *, gallery: int = 24) -> str:
    title = f"factorline evaluation — {result['run']['pipeline']}"
    body = "".join([
        f"<h1>{esc(title)}</h1>",
        _labels(result["labels"], result),
        "".join(_table(name, t) for name, t in result["tables"].items()) or "<p class=\"note\">No label names a decision outcome.</p>",
        "".join(_sweep(s) for s in result["sweeps"]),
        _factors(result["factors"]),
        _gallery(result, run, gallery),
    ])
    return page(title, body)


def _val(x) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    return num(x) if isinstance(x, (int, float)) else str(x)


def _ci(ci) -> str:
    return "" if not ci else f' <span class="muted">[{pct(ci[0])}, {pct(ci[1])}]</span>'


def _labels(m: dict, result: dict) -> str:
    how = ", ".join(f"{n} by {k}" for k, n in m["matched_by"].items()) or "none"
    about = (f'<p class="muted">run <span class="mono">{esc(result["run"]["dir"])}</span> · labels <span class="mono">'
             f'{esc(m["source"])}</span> · {int(result["confidence"] * 100)}% intervals (Wilson; F1: bootstrap, '
             f'{result["bootstrap_rounds"]} rounds, seed {result["seed"]})</p>')
    cards = [(m["rows"], "labels"), (m["matched"], f"matched ({how})"), (m["unmatched_count"], "unmatched labels"),
             (m["unlabeled_count"], "unlabeled items")]
    parts = [about, '<div class="cards">' + "".join(f'<div class="card"><b>{n}</b>{esc(what)}</div>' for n, what in cards) + "</div>"]
    if m["ignored"]:
        parts.append("<h3>Label keys not used</h3><ul>" + "".join(f"<li>{esc(x)}</li>" for x in m["ignored"]) + "</ul>")
    if m["unmatched"]:
        parts.append("<h3>Unmatched labels</h3>" + table(["label", "path or id", "why"], [
            [esc(u["label"]), esc(u["key"]), esc(u["reason"])] for u in m["unmatched"]]))
    if m["unlabeled"]:
        parts.append(f"<details><summary>Unlabeled items ({m['unlabeled_count']})</summary><ul>"
                     + "".join(f"<li class=\"mono\">{esc(u['path'])}</li>" for u in m["unlabeled"]) + "</ul></details>")
    return "".join(parts)


def _table(name: str, t: dict) -> str:
    head = (f"<h2>Decision table {esc(name)}</h2><p>accuracy <b>{pct(t['accuracy'])}</b>{_ci(t['accuracy_ci'])} "
            f"on {t['labeled']} labeled items ({t['correct']} correct)</p>")
    per = table(["outcome", "expected", "predicted", "precision", "recall", "F1"], [
        [outcome_badge(c), str(s["support"]), str(s["predicted"]), pct(s["precision"]) + _ci(s["precision_ci"]),
         pct(s["recall"]) + _ci(s["recall_ci"]), pct(s["f1"]) + _ci(s.get("f1_ci"))]
        for c, s in t["per_outcome"].items()])
    rules = table(["rule", "outcome", "fired", "agreed with label", "precision"], [
        [f"<code>{esc(r)}</code>", esc(s["outcome"]), str(s["fired"]), str(s["agreed"]), pct(s["precision"]) + _ci(s["precision_ci"])]
        for r, s in t["rules"].items()])
    errors = table(["#", "item", "expected", "predicted", "rule", "explanation"], [
        [str(e["index"] + 1), esc(e["path"]), outcome_badge(e["expected"]), outcome_badge(e["predicted"]),
         f"<code>{esc(e['rule'])}</code>", short(e["explanation"], 300)] for e in t["errors"]]) if t["errors"] else "<p>No disagreement.</p>"
    return (head + "<h3>Per outcome</h3>" + per + "<h3>Confusion matrix</h3>" + _confusion(t["confusion"])
            + "<h3>Per rule</h3><p class=\"muted\">each rule that decided or hit an item, and how often its outcome was the labeled one</p>"
            + rules + f"<h3>Disagreements ({t['errors_count']})</h3>" + errors)


def _confusion(c: dict) -> str:
    classes, matrix = c["classes"], c["matrix"]
    top = max((v for row in matrix for v in row), default=0) or 1
    head = "<tr><th>expected ↓ / predicted →</th>" + "".join(f"<th>{esc(k)}</th>" for k in classes) + "</tr>"
    rows = []
    for k, row in zip(classes, matrix):
        cells = []
        for j, v in enumerate(row):
            hue = "120,60%" if classes[j] == k else "0,70%"
            alpha = 0.08 + 0.6 * v / top if v else 0
            cells.append(f'<td style="background:hsla({hue},50%,{alpha:.2f})">{v}</td>')
        rows.append(f"<tr><th>{esc(k)}</th>{''.join(cells)}</tr>")
    return f'<table class="cm"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _sweep(s: dict) -> str:
    head = f"<h2>Threshold sweep {esc(s['sweep'])}</h2>"
    if not s.get("points"):
        return head + f'<p class="note">{esc(s.get("note") or "no points")}</p>'
    pts = s["points"]
    chart = line_chart([p["threshold"] for p in pts], {k: [p[k] for p in pts] for k in ("precision", "recall", "f1")},
                       label=s["sweep"], marker=s["current"], x_label=f"threshold on {s['factor']}")
    cur = s["current_point"]
    about = (f"<p>rule <code>{esc(s['rule'])}</code> (outcome {outcome_badge(s['outcome'])}): <code>{esc(s['condition'])}</code>. "
             f"Precision and recall of <b>{esc(s['outcome'])}</b> over {s['items']} labeled items as the constant moves; "
             f"now {num(s['current'])}: precision {pct(cur['precision'])}, recall {pct(cur['recall'])}.</p>")
    if s["differs_from_run"]:
        about += f'<p class="note">At the current threshold {s["differs_from_run"]} item(s) decide differently from the run\'s records.</p>'
    step = max(1, len(pts) // _POINT_ROWS)
    shown = [p for k, p in enumerate(pts) if k % step == 0 or p["threshold"] == s["current"]]
    rows = [[_threshold(p["threshold"], p["threshold"] == s["current"]), pct(p["precision"]), pct(p["recall"]),
             pct(p["f1"]), str(p["tp"]), str(p["fp"]), str(p["fn"])] for p in shown]
    return head + about + f'<figure class="chart">{chart}</figure>' + table(["threshold", "precision", "recall", "F1", "tp", "fp", "fn"], rows)


def _threshold(value: float, current: bool) -> str:
    return f"<b>{esc(num(value))} (now)</b>" if current else esc(num(value))


def _factors(factors: dict) -> str:
    if not factors:
        return ""
    rows = []
    for key, f in factors.items():
        if f["kind"] == "number":
            score = f"MAE {num(f['mae'])} · bias {num(f['bias'])} · max {num(f['max_error'])}"
        else:
            score = f"accuracy {pct(f['accuracy'])}{_ci(f['accuracy_ci'])}"
        worst = "<br>".join(f"{esc(item_name({'item': w}))}: expected {esc(_val(w['expected']))}, found {esc(_val(w['found']))}"
                            for w in f["worst"])
        rows.append([f"<code>{esc(key)}</code>", str(f["n"]), str(f["missing"]), score, worst])
    return "<h2>Factors against labeled values</h2>" + table(["factor", "compared", "missing", "agreement", "worst"], rows)


def _gallery(result: dict, run: RunData, limit: int) -> str:
    """Pictures of decision disagreements first, then of the largest numeric factor errors."""
    picked: dict[int, str] = {}
    for name, t in result["tables"].items():
        for e in t["errors"]:
            picked.setdefault(e["index"], f"{name}: expected {e['expected']}, predicted {e['predicted']} ({e['rule']})")
    for key, f in result["factors"].items():
        for w in f["worst"]:
            if f["kind"] != "number" or w.get("error"):
                picked.setdefault(w["index"], f"{key}: expected {_val(w['expected'])}, found {_val(w['found'])}")
    if not picked or limit <= 0:
        return ""
    cards = []
    for index, why in list(picked.items())[:limit]:
        record = run.records[index]
        pics = item_pictures(record, run.run_dir, limit=2)
        imgs = "".join(f'<img src="{esc(s.uri)}" alt="frame at {esc(num(s.t))} s">' for s in pics.shots if s.uri)
        note = f"<br><i>{esc(pics.note)}</i>" if pics.note else ""
        cards.append(f"<figure>{imgs}<figcaption><b>#{index + 1} {esc(item_name(record))}</b><br>{esc(why)}{note}</figcaption></figure>")
    more = f'<p class="muted">{len(picked) - limit} more not pictured.</p>' if len(picked) > limit else ""
    return f'<h2>Worst errors</h2><div class="thumbs">{"".join(cards)}</div>{more}'
