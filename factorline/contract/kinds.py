"""The data kinds that flow on pipeline edges, and the field types inside factor outputs.

A *kind* says what an edge carries (frames, audio, text, ...); the compiler refuses an edge
whose kinds do not fit. A *dtype* says what one named field of a factor output holds; it
fixes the Python check used by the contract tests, the Arrow type used for Parquet, and the
value type the rules layer reasons about.
"""

from __future__ import annotations

import functools
from enum import Enum


class Kind(str, Enum):
    VIDEO = "video"
    FRAMES = "frames"
    AUDIO = "audio"
    IMAGE = "image"
    TEXT = "text"
    EMBEDDING = "embedding"
    FACTOR = "factor"
    SEGMENTS = "segments"
    DECISION = "decision"


# Kinds an item provides by itself, without a wire: every step asking for them gets the
# shared decode of the item.
SOURCE_KINDS = frozenset({Kind.FRAMES, Kind.AUDIO})


def kinds_fit(produced: Kind, wanted: Kind) -> bool:
    """Whether a value of kind ``produced`` may feed an input of kind ``wanted``."""
    if produced == wanted:
        return True
    # A scalar factor field may feed anything that consumes factors; segments are factors too.
    return wanted == Kind.FACTOR and produced in {Kind.SEGMENTS, Kind.TEXT}


@functools.cache
def _arrow_types() -> dict:
    """dtype -> Arrow type, built on first use: pyarrow loads only when records are written
    (``factorline --help``, ``validate`` and ``operators`` never need it)."""
    import pyarrow as pa

    segment = pa.struct([("start_s", pa.float64()), ("end_s", pa.float64())])
    line = pa.struct([("start_s", pa.float64()), ("end_s", pa.float64()), ("text", pa.string()), ("score", pa.float64())])
    # Text lines with the class a classifier gave them (onscreen_text): label, its probability, box [x, y, w, h].
    labeled_line = pa.struct(
        [("start_s", pa.float64()), ("end_s", pa.float64()), ("text", pa.string()), ("label", pa.string()),
         ("confidence", pa.float64()), ("box", pa.list_(pa.float64()))]
    )
    evidence = pa.struct(
        [("t", pa.float64()), ("box", pa.list_(pa.float64())), ("text", pa.string()), ("score", pa.float64())]
    )
    return {
        "bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(), "str": pa.string(),
        "list[float]": pa.list_(pa.float64()), "list[int]": pa.list_(pa.int64()), "list[str]": pa.list_(pa.string()),
        "segments": pa.list_(segment), "lines": pa.list_(line), "labeled_lines": pa.list_(labeled_line),
        "evidence": pa.list_(evidence), "embedding": pa.list_(pa.float32()),
    }


# dtype -> (kind the field carries on an edge, rules value type); the Arrow type: arrow_type()
DTYPES: dict[str, tuple[Kind, str]] = {
    "bool": (Kind.FACTOR, "bool"),
    "int": (Kind.FACTOR, "number"),
    "float": (Kind.FACTOR, "number"),
    "str": (Kind.TEXT, "string"),
    "list[float]": (Kind.FACTOR, "list"),
    "list[int]": (Kind.FACTOR, "list"),
    "list[str]": (Kind.FACTOR, "list"),
    "segments": (Kind.SEGMENTS, "list"),
    "lines": (Kind.TEXT, "list"),
    "labeled_lines": (Kind.TEXT, "list"),
    "evidence": (Kind.FACTOR, "list"),
    "embedding": (Kind.EMBEDDING, "list"),
}


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_list_of(v: object, check) -> bool:
    return isinstance(v, list) and all(check(x) for x in v)


def _is_record(keys: set[str]):
    def check(v: object) -> bool:
        return isinstance(v, dict) and set(v) <= keys

    return check


_CHECKS = {
    "bool": lambda v: isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": _is_number,
    "str": lambda v: isinstance(v, str),
    "list[float]": lambda v: _is_list_of(v, _is_number),
    "list[int]": lambda v: _is_list_of(v, lambda x: isinstance(x, int) and not isinstance(x, bool)),
    "list[str]": lambda v: _is_list_of(v, lambda x: isinstance(x, str)),
    "segments": lambda v: _is_list_of(v, _is_record({"start_s", "end_s"})),
    "lines": lambda v: _is_list_of(v, _is_record({"start_s", "end_s", "text", "score"})),
    "labeled_lines": lambda v: _is_list_of(v, _is_record({"start_s", "end_s", "text", "label", "confidence", "box"})),
    "evidence": lambda v: _is_list_of(v, _is_record({"t", "box", "text", "score"})),
    "embedding": lambda v: _is_list_of(v, _is_number),
}


def value_fits(dtype: str, value: object) -> bool:
    """Whether ``value`` is a valid instance of ``dtype`` (``None`` means missing, allowed)."""
    return value is None or _CHECKS[dtype](value)


def arrow_type(dtype: str):
    """The ``pyarrow.DataType`` of a dtype (Parquet columns)."""
    return _arrow_types()[dtype]


def edge_kind(dtype: str) -> Kind:
    return DTYPES[dtype][0]


def rule_type(dtype: str) -> str:
    return DTYPES[dtype][1]
