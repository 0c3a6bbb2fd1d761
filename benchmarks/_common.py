"""Shared plumbing of the benchmark scripts: machine facts, results JSON, the README table."""

from __future__ import annotations

import json
import os
import platform
import re
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE / "README.md"
TABLE_START, TABLE_END = "<!-- results:start -->", "<!-- results:end -->"


def machine() -> dict:
    import numpy

    flags = ""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        model = re.search(r"model name\s*:\s*(.*)", cpuinfo)
        flags = " ".join(f for f in ("avx2", "avx512f", "avx512_vnni", "fma") if re.search(rf"\b{f}\b", cpuinfo))
        cpu = model.group(1) if model else platform.processor()
    except OSError:
        cpu = platform.processor()
    return {"cpu": cpu, "cpu_flags": flags, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": numpy.__version__}


def write_result(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    body = {"benchmark": name, "date": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine(), **payload}
    path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
    return path


def update_readme_row(name: str, what: str, target: str, measured: str, verdict: str) -> None:
    """Insert or replace the row of ``name`` in the README's results table."""
    text = README.read_text(encoding="utf-8")
    head, rest = text.split(TABLE_START, 1)
    table, tail = rest.split(TABLE_END, 1)
    rows = [r for r in table.strip().splitlines()[2:] if not r.startswith(f"| `{name}` ")]
    rows.append(f"| `{name}` | {what} | {target} | {measured} | {verdict} | [json](results/{name}.json) |")
    header = "| benchmark | what | target | measured | verdict | data |\n|---|---|---|---|---|---|"
    README.write_text(f"{head}{TABLE_START}\n{header}\n" + "\n".join(sorted(rows)) + f"\n{TABLE_END}{tail}", encoding="utf-8")


def best_of(fn, repeats: int = 3) -> float:
    """Fastest wall time of ``repeats`` calls (the least disturbed by a noisy machine)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)
