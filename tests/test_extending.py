"""docs/extending.md's first section, followed literally: from an empty folder to your own factor
deciding in your own rule.

Every ``bash`` block of the section runs as written, line by line under ``bash -e``, in one empty
folder, with ``factorline``, ``python`` and ``pip`` on PATH (``pip install -e DIR`` installs DIR
into a private folder there, so this machine's environment is untouched; the checkout under
test is the factorline it runs). Every other block is written to the file named in backticks on
the line just above it. Then what the text says happens is checked.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "extending.md"
SECTION = "## From zero to your own factor in your own rule"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)
FILE_NAME = re.compile(r"`([\w./-]+\.(?:py|yaml|yml|toml|json|txt))`")


def guide_steps() -> list[tuple[str, str]]:
    """The section's blocks in order: ("bash", script) or (relative file path, its text)."""
    text = GUIDE.read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    steps, last = [], 0
    for fence in FENCE.finditer(section):
        lang, body = fence.group(1), fence.group(2)
        before = [line for line in section[last:fence.start()].splitlines() if line.strip()]
        last = fence.end()
        if lang == "bash":
            steps.append(("bash", body))
            continue
        names = FILE_NAME.findall(before[-1]) if before and before[-1].rstrip().endswith(":") else []
        assert names, f"a {lang or 'plain'} block of the guide names no file to write (end the line above it with `path`:)"
        steps.append((names[-1], body))
    return steps


def _shims(work: Path, site: Path) -> Path:
    """``factorline``, ``python`` and ``pip`` for the guide's commands."""
    bin_dir = work / ".bin"
    bin_dir.mkdir()
    py = sys.executable
    shims = {
        "python": f'exec "{py}" "$@"\n',
        "factorline": f'exec "{py}" -m factorline.cli "$@"\n',
        "pip": ('if [ "$1" = install ] && [ "$2" = -e ] && [ $# -eq 3 ]; then\n'
                f'  exec "{py}" -m pip install --quiet --no-deps --no-build-isolation --no-index --target "{site}" "$3"\n'
                'fi\necho "the guide may only run: pip install -e DIR (got: pip $*)" >&2; exit 1\n'),
    }
    for name, body in shims.items():
        path = bin_dir / name
        path.write_text("#!/bin/bash\n" + body)
        path.chmod(0o755)
    return bin_dir


@pytest.fixture(scope="module")
def followed(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("extending")
    site = work / ".site"
    env = {**os.environ, "PATH": f"{_shims(work, site)}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), "FACTORLINE_CACHE": str(work / ".cache")}
    env.pop("FACTORLINE_PLUGINS", None)
    log = []
    for target, body in guide_steps():
        if target != "bash":
            path = work / target
            assert path.parent.is_dir(), f"the guide writes {target} before anything made its folder"
            path.write_text(body, encoding="utf-8")
            log.append(f"wrote {target}")
            continue
        for line in body.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", line], cwd=work, env=env, capture_output=True,
                                  text=True, timeout=600)
            log.append(f"$ {line}\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
            assert done.returncode == 0, "\n".join(log)
    return {"work": work, "env": env, "log": "\n".join(log)}


def test_the_guide_writes_the_plugin_and_runs_every_command(followed):
    work = followed["work"]
    assert (work / "redness" / "pyproject.toml").is_file() and list((work / ".site").glob("factorline_redness-*.dist-info"))
    assert "passed" in followed["log"] and "redness" in followed["log"]


def test_the_rule_decides_as_the_guide_says(followed):
    records = [json.loads(line) for line in (followed["work"] / "runs" / "redness" / "results.jsonl").read_text().splitlines()]
    by_name = {Path(r["item"]["path"]).name: r for r in records}
    assert set(by_name) == {"red.png", "blue.png"}
    red, blue = by_name["red.png"], by_name["blue.png"]
    assert red["error"] is None and red["factors"]["red"]["share"] == 1.0
    assert (red["decisions"]["moderation"]["outcome"], red["decisions"]["moderation"]["rule"]) == ("review", "mostly_red")
    said = re.search(r"`mostly_red`, explained as `([^`]+)`", GUIDE.read_text(encoding="utf-8"))
    assert said and red["decisions"]["moderation"]["explanation"] == said.group(1)
    assert blue["decisions"]["moderation"]["outcome"] == "accept"
    assert (followed["work"] / "runs" / "redness" / "report.html").is_file()


def test_the_typo_the_guide_mentions_fails_validate(followed):
    work = followed["work"]
    broken = work / "typo.yaml"
    broken.write_text((work / "redness.yaml").read_text().replace("red.share > 0.5", "red.shares > 0.5"))
    done = subprocess.run(["factorline", "validate", str(broken)], cwd=work, env=followed["env"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2
    assert "decisions.moderation.rules[0].when" in done.stderr and "'share'" in done.stderr, done.stderr
