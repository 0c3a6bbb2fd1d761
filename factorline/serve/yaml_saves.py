"""Saves that keep the file: a document's changes applied to the text it was loaded from.

The editor sends a whole document; writing it out fresh would drop every comment, the author's
key order, quoting, flow lists and folded text. Instead :func:`apply_document` edits the old
file's round-trip tree (ruamel.yaml) only where a value changed, then merges that edit into the
old text line by line (a three-way merge of *old text*, *old tree dumped* and *edited tree
dumped*), so that lines ruamel would reformat on its own stay exactly as the author wrote them.

Guarantees, checked on every save:
- a document equal to the file's (same values; ``1`` and ``1.0`` count as equal) gives back the
  file byte for byte;
- changing one scalar changes only the line(s) holding it;
- what is written parses back to exactly the document sent, or the save is refused with a
  :class:`~factorline.contract.errors.ConfigError` naming the first differing path (never a silent loss).
"""

from __future__ import annotations

import difflib
import io
import itertools
import json
import math
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import ScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from ..contract.errors import ConfigError, PipelineError
from ..engine.document import dump_text, parse_text


def same(a: Any, b: Any) -> bool:
    """Equal as documents: ``1 == 1.0`` but ``True != 1``; dicts by keys (order ignored)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, str) and isinstance(b, str):
        return str(a) == str(b)
    return a is None and b is None if (a is None or b is None) else a == b


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """The path of the first value where ``a`` and ``b`` differ (None when :func:`same`)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                return sub
            found = first_difference(a[key], b[key], sub)
            if found is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    return None if same(a, b) else (path or "<document>")


def apply_document(old_text: str, new: dict, *, fmt: str = "yaml", source: str = "<file>") -> str:
    """The text of ``new`` written over ``old_text``, keeping what it can of the old file.

    ``fmt`` is ``"yaml"`` or ``"json"`` (a JSON file is rewritten with two-space indents unless
    unchanged). Raises ConfigError when the result would not read back as ``new``.
    """
    try:
        old = parse_text(old_text, source=source)
    except PipelineError:
        old = None  # the file on disk is broken: replaced by a fresh dump below
    if old is not None:
        new = _without_empty_additions(old, new)
        if same(old, new):
            return old_text
    if fmt == "json" or old is None:
        return dump_text(new, fmt="json" if fmt == "json" else "yaml")
    crlf = "\r\n" in old_text  # a Windows file keeps its line endings
    text = _roundtrip(old_text.replace("\r\n", "\n") if crlf else old_text, new)
    text = text.replace("\n", "\r\n") if crlf else text
    _check_reads_back(text, new, source)
    return text


def _without_empty_additions(old: Any, new: Any) -> Any:
    """``new`` less the empty mappings it adds where ``old`` has no key (``sampling: {}`` in the
    normalized document of a file without sampling): they say nothing, so they add no lines."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return new
    return {k: _without_empty_additions(old.get(k), v) for k, v in new.items() if k in old or v != {}}


def _roundtrip(old_text: str, new: dict) -> str:
    try:
        _, indent, block_seq_indent = load_yaml_guess_indent(old_text)
        yaml = _yaml(_mapping_indent(old_text), indent, block_seq_indent)
        tree = yaml.load(old_text)  # again, keeping quotes ("x" stays "x")
    except YAMLError as exc:
        raise ConfigError(f"the file cannot be read as round-trip YAML: {exc}", path="file") from exc
    if not isinstance(tree, CommentedMap):
        return dump_text(new)
    base = _dump(yaml, tree)
    _merge_map(tree, new)
    edited = _dump(yaml, tree)
    if base == old_text:  # ruamel writes this file exactly as it was: its edit is the answer
        return edited
    return merge3(old_text, base, edited)


def _yaml(mapping: int, sequence: int | None, offset: int | None) -> YAML:
    """ruamel set to the file's own indents: ``sequence`` and ``offset`` as ruamel guesses them
    (the dash's column and the item's), ``mapping`` from the first nested key."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long conditions or descriptions
    yaml.allow_unicode = True
    offset = offset or 0
    yaml.indent(mapping=mapping, sequence=max(sequence or mapping, offset + 2), offset=offset)
    return yaml


def _mapping_indent(text: str) -> int:
    """The indent of the first key nested under a top-level key (2 when there is none)."""
    parent = False
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        depth = len(line) - len(stripped)
        if depth == 0:
            parent = stripped.rstrip().endswith(":")
        elif parent and not stripped.startswith("- "):
            return depth
        else:
            parent = False
    return 2


def _dump(yaml: YAML, tree: Any) -> str:
    out = io.StringIO()
    yaml.dump(tree, out)
    return out.getvalue()


def _merge_map(node: CommentedMap, new: dict) -> None:
    """Make ``node`` equal to ``new``, touching only the keys whose values differ."""
    for key in [k for k in node if k not in new]:
        del node[key]
    previous = None
    for key, value in new.items():
        if key in node:
            _merge_value(node, key, value)
        else:
            at = 0 if previous is None else list(node).index(previous) + 1
            node.insert(at, key, _fresh(value))
        previous = key


def _merge_value(holder: CommentedMap | CommentedSeq, key: Any, value: Any) -> None:
    current = holder[key]
    if same(_plain(current), value):
        return
    if isinstance(current, CommentedMap) and isinstance(value, dict):
        _merge_map(current, value)
    elif isinstance(current, CommentedSeq) and isinstance(value, list):
        _merge_seq(current, value)
    else:
        holder[key] = _fresh(value, like=current)


def _merge_seq(node: CommentedSeq, new: list) -> None:
    """Align old and new items (equal ones kept as they are); replaced runs of equal length are
    merged item by item, so editing one rule's condition rewrites only that line."""
    old_keys = [_key(_plain(x)) for x in node]
    new_keys = [_key(x) for x in new]
    ops = difflib.SequenceMatcher(None, old_keys, new_keys, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in reversed(ops):  # from the end: earlier indexes stay valid
        if tag == "equal":
            continue
        if tag == "replace" and i2 - i1 == j2 - j1:
            for offset in range(i2 - i1):
                _merge_value(node, i1 + offset, new[j1 + offset])
            continue
        for index in range(i2 - 1, i1 - 1, -1):
            del node[index]
        for offset, value in enumerate(new[j1:j2]):
            node.insert(i1 + offset, _fresh(value))


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _plain(value: Any) -> Any:
    """A ruamel node as plain Python values (ScalarFloat -> float, CommentedMap -> dict ...)."""
    if isinstance(value, dict):
        return {str(k) if isinstance(k, str) else k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def _fresh(value: Any, like: Any = None) -> Any:
    """``value`` as a node to insert: mappings and lists in block style, except where the value
    replaces a flow-style one (``terms: [a, b]`` stays a flow list)."""
    if isinstance(value, str) and isinstance(like, ScalarString) and "\n" not in value:
        return type(like)(value)  # "quoted" stays quoted, 'single' stays single
    flow = getattr(getattr(like, "fa", None), "flow_style", False) if like is not None else False
    if isinstance(value, dict):
        node = CommentedMap((k, _fresh(v)) for k, v in value.items())
        if flow:
            node.fa.set_flow_style()
        return node
    if isinstance(value, list):
        seq = CommentedSeq(_fresh(v) for v in value)
        if flow:
            seq.fa.set_flow_style()
        return seq
    return value


def merge3(ours: str, base: str, theirs: str) -> str:
    """Apply the change ``base -> theirs`` to ``ours`` (``base`` is ``ours`` as ruamel writes it).

    Lines are synchronised where all three agree; between two such points ``ours`` is kept when
    the edit did not touch that stretch, and ``theirs`` is taken where it did.
    """
    o, b, t = ours.splitlines(keepends=True), base.splitlines(keepends=True), theirs.splitlines(keepends=True)
    to_ours = _line_map(b, o)
    to_theirs = _line_map(b, t)
    sync = [-1] + [i for i in range(len(b)) if i in to_ours and i in to_theirs] + [len(b)]
    ours_at = {**to_ours, -1: -1, len(b): len(o)}
    theirs_at = {**to_theirs, -1: -1, len(b): len(t)}
    out: list[str] = []
    for p, q in itertools.pairwise(sync):
        base_part = b[p + 1:q]
        ours_part = o[ours_at[p] + 1:ours_at[q]]
        theirs_part = t[theirs_at[p] + 1:theirs_at[q]]
        if theirs_part == base_part:
            out += ours_part
        elif len(base_part) == len(ours_part) == len(theirs_part):  # line for line: keep untouched lines
            out += [mine if new == old else new for mine, old, new in zip(ours_part, base_part, theirs_part)]
        else:
            out += theirs_part
        if q < len(b):
            out.append(o[ours_at[q]])
    return "".join(out)


def _line_map(a: list[str], b: list[str]) -> dict[int, int]:
    """Index in ``a`` -> index in ``b`` for the lines a diff finds unchanged."""
    out: dict[int, int] = {}
    for block in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            out[block.a + k] = block.b + k
    return out


def _check_reads_back(text: str, new: dict, source: str) -> None:
    try:
        back = parse_text(text, source=source)
    except PipelineError as exc:
        raise ConfigError(f"the edited file would not read back ({exc.issues[0].message}); nothing was written",
                          path=source) from exc
    where = first_difference(back, new)
    if where is not None:
        raise ConfigError(f"the edited file would not read back as the document sent (first difference at {where}); "
                          "nothing was written", path=where)


def unified_diff(old_text: str, new_text: str, name: str, to: str = "saved") -> str:
    """A unified diff (3 lines of context) from the file on disk to what a save would write."""
    return "".join(difflib.unified_diff(old_text.splitlines(keepends=True), new_text.splitlines(keepends=True),
                                        fromfile=f"{name} (on disk)", tofile=f"{name} ({to})", n=3))
