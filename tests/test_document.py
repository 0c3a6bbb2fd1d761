"""Pipeline documents: parse YAML/JSON, refuse duplicates, save stably."""

from __future__ import annotations

from pathlib import Path

import pytest

from factorline.contract.errors import ConfigError, PipelineError
from factorline.engine.document import PipelineDoc, dump_text, load_text, parse_text, save

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_round_trip_unchanged(path, tmp_path):
    doc = PipelineDoc.model_validate(load_text(path))
    once = save(doc, tmp_path / "once.yaml")
    twice = save(PipelineDoc.model_validate(load_text(once)), tmp_path / "twice.yaml")
    assert once.read_text() == twice.read_text()
    as_json = save(PipelineDoc.model_validate(load_text(once)), tmp_path / "doc.json")
    assert PipelineDoc.model_validate(load_text(as_json)) == doc


def test_json_and_yaml_give_the_same_document():
    yaml_text = "name: p\nsteps:\n  border: {op: black_border}\n"
    json_text = '{"name": "p", "steps": {"border": {"op": "black_border"}}}'
    assert parse_text(yaml_text) == parse_text(json_text)


def test_duplicate_step_in_yaml_is_reported_with_its_line():
    text = "name: p\nsteps:\n  border: {op: black_border}\n  border: {op: clarity}\n"
    with pytest.raises(PipelineError, match=r"line 4: duplicate key 'border' \(first at line 3\)"):
        parse_text(text)


def test_duplicate_key_in_json_is_reported():
    with pytest.raises(PipelineError, match="duplicate key 'a'"):
        parse_text('{"name": "p", "steps": {"a": {"op": "x"}, "a": {"op": "y"}}}')


@pytest.mark.parametrize(
    "text, message",
    [
        ("name: [unclosed", "not valid YAML or JSON"),
        ("- just\n- a list\n", "expected a mapping with name/steps, found list"),
        ("x" * 1_000_001, "larger than 1000000 bytes"),
    ],
)
def test_malformed_documents_get_clear_errors(text, message):
    with pytest.raises(PipelineError, match=message):
        parse_text(text)


def test_yaml_tags_that_construct_python_objects_are_refused():
    with pytest.raises(PipelineError, match="not valid YAML"):
        parse_text("name: !!python/object/apply:os.system ['echo hi']\n")


def test_missing_file_says_which(tmp_path):
    with pytest.raises(ConfigError, match="cannot read pipeline file"):
        load_text(tmp_path / "nope.yaml")


def test_dump_keeps_unicode_and_order():
    doc = PipelineDoc.model_validate({"name": "p", "description": "字幕", "steps": {"b": {"op": "clarity"}, "a": {"op": "black_border"}}})
    text = dump_text(doc)
    assert "字幕" in text and text.index("b:") < text.index("a:")


def _laughs(levels: int, width: int = 9) -> str:
    """A billion-laughs document: each anchor a list of ``width`` aliases of the previous one,
    the last used as a case's factor value (``width ** levels`` values once walked)."""
    anchors = ["  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    anchors += [f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]" for i in range(1, levels + 1)]
    return ("anchors:\n" + "\n".join(anchors) + "\nname: bomb\ninput: image\nsteps:\n  border: {op: black_border}\n"
            "decisions:\n  m:\n    on_missing: review\n    on_error: review\n    rules: [{id: ok, default: true, outcome: accept}]\n"
            f"    cases:\n      - expect: accept\n        factors: {{border: {{top: *l{levels}}}}}\n")


def test_billion_laughs_is_refused_before_it_is_walked():
    import tracemalloc

    text = _laughs(9)
    assert len(text) < 1000  # ~10**9 values once expanded
    tracemalloc.start()
    try:
        with pytest.raises(PipelineError, match=r"YAML aliases expand this document to [\d,]+ values from \d+ written"):
            parse_text(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * 1024**2, peak


def test_aliases_within_the_limit_still_load():
    data = parse_text("name: x\nshared: &p {threshold: 30}\nsteps:\n  a: {op: black_border, params: *p}\n"
                      "  b: {op: black_border, params: *p}\n")
    assert data["steps"]["a"]["params"] == data["steps"]["b"]["params"] == {"threshold": 30}
    with pytest.raises(PipelineError, match="refers to the anchor it is inside"):
        parse_text("name: x\nsteps: &s {a: *s}\n")
    with pytest.raises(PipelineError, match="nested too deeply"):
        parse_text("[" * 5000 + "]" * 5000)
