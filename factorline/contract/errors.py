"""One exception tree for everything factorline raises on purpose.

    FactorlineError                  public message + context path + cause
    ├── ConfigError                  a document the user wrote is wrong
    │   ├── PipelineError            a pipeline document failed to compile (carries all issues)
    │   ├── RuleError                a condition or decision table is wrong or hostile
    │   ├── PluginError              a plugin failed to load, or a declaration (operator, output,
    │   │                            resource, backbone, rule function) is wrong
    │   └── DataError                a training data set has bad rows or too few examples
    ├── MediaError                   an input item cannot be used
    │   ├── UnsupportedMediaError    wrong container / kind / extension
    │   ├── CorruptMediaError        the decoder gave up
    │   └── MediaLimitError          pixels, frames, duration or size over a cap
    ├── ItemTimeoutError             an item ran past its time budget
    ├── OperatorError                an operator failed on an item
    ├── ResourceError                a model / resource could not be loaded
    ├── RunDirError                  a run folder is missing, foreign or inconsistent
    ├── StoreError                   a model store entry is missing, damaged or tampered with
    └── ReproductionError            a recorded metric or data digest could not be reproduced
        └── GateError                a compressed model lost more than its tolerance (not published)

Every error renders as "<path>: <message>" and serialises to the record shape
``{"type": ..., "message": ..., "path": ...}`` used in result records and HTTP replies.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    """One problem found while compiling a document, tied to the field it concerns."""

    path: str
    message: str
    code: str = "invalid"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def to_dict(self) -> dict:
        return {"path": self.path, "message": self.message, "code": self.code}


class FactorlineError(Exception):
    """Base of all deliberate errors. ``message`` is safe to show to users."""

    def __init__(self, message: str, *, path: str = "", cause: BaseException | None = None):
        self.message = message
        self.path = path
        self.cause = cause
        super().__init__(f"{path}: {message}" if path else message)
        if cause is not None:
            self.__cause__ = cause

    def to_record(self) -> dict:
        return {"type": type(self).__name__, "message": self.message, "path": self.path or None}


class ConfigError(FactorlineError):
    pass


class PipelineError(ConfigError):
    """Compilation failed; ``issues`` lists every problem with its path."""

    def __init__(self, issues: list[Issue], *, source: str = ""):
        self.issues = list(issues)
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  - {i}" for i in self.issues)
        super().__init__(f"{len(self.issues)} problem(s){where}:\n{lines}")

    def to_record(self) -> dict:
        record = super().to_record()
        record["issues"] = [i.to_dict() for i in self.issues]
        return record


class RuleError(ConfigError):
    pass


class DataError(ConfigError):
    pass


class PluginError(ConfigError, ValueError):
    """A plugin failed to load or declared something wrong (also a ValueError: declarations
    raised ValueError before there was a plugin kit)."""


class QueryError(ConfigError):
    """SQL over a run folder failed (``factorline query`` / ``diff``)."""


class MediaError(FactorlineError):
    pass


class UnsupportedMediaError(MediaError):
    pass


class CorruptMediaError(MediaError):
    pass


class MediaLimitError(MediaError):
    pass


class ItemTimeoutError(FactorlineError):
    pass


class OperatorError(FactorlineError):
    pass


class ResourceError(FactorlineError):
    pass


class RunDirError(FactorlineError):
    pass


class StoreError(FactorlineError):
    pass


class ReproductionError(FactorlineError):
    pass


class GateError(ReproductionError):
    """A compressed child fell below its accuracy gate; ``report`` is its report.json path."""

    def __init__(self, message: str, *, path: str = "", report: str = ""):
        super().__init__(message, path=path)
        self.report = report


def error_record(exc: BaseException, *, path: str = "") -> dict:
    """The ``error`` field of a result record for any exception, ours or not."""
    if isinstance(exc, FactorlineError):
        return exc.to_record()
    return {"type": type(exc).__name__, "message": str(exc) or type(exc).__name__, "path": path or None}



class _Brief(reprlib.Repr):
    def __init__(self, limit: int):
        super().__init__()
        self.maxlevel, self.maxstring, self.maxother, self.maxlong = 3, limit, limit, limit
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = self.maxfrozenset = self.maxdeque = self.maxarray = 6

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 4 * self.maxlong:  # repr() of a huge int is slow, or refused past 4300 digits
            return f"<int of {x.bit_length()} bits>"
        return super().repr_int(x, level)


def brief(value: object, limit: int = 60) -> str:
    """``repr(value)`` for a message, cut to ``limit`` characters *while it is built*.

    A user's value can be huge, or small on disk and huge once walked (a YAML alias nested
    in aliases shares one list a billion times): ``f"{value!r:.60}"`` would build the whole
    text first. This stops at 6 items per level, 3 levels deep, ``limit`` characters a string.
    """
    text = _Brief(limit).repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
