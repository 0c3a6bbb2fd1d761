"""text_policy@1: configured keywords and regular expressions found in a text.

Text and terms are NFKC-normalised (full-width forms fold to ASCII: "ＦＲＥＥ １２３" reads
"FREE 123"), case-folded unless ``case_sensitive``, and whitespace runs collapse to one space.

Regular expressions go through the same gate as rule conditions (:mod:`factorline.rules.regex`):
checked when the parameters are validated (length, nested quantifiers, backreferences,
lookaround, ambiguous repeated alternations), then run on Rust's linear-time regex engine
inside polars, so no text can make a match hang and no windowing or time budget is needed.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic import Field as P

from ..contract.items import MediaInfo
from ..contract.operator import Output, Input, operator
from ..contract.errors import RuleError
from ..contract.kinds import Kind
from ..rules.regex import check_pattern
from .text import is_wide

MAX_TERMS = 1000
MAX_PATTERNS = 20
MAX_TERM_CHARS = 200
MAX_TEXT_CHARS = 100_000
EVIDENCE_PER_MATCH = 3  # snippets per matched term or pattern
MAX_EVIDENCE = 20
MAX_SNIPPET_CHARS = 100


def normalize_text(text: str, *, case_sensitive: bool = False) -> str:
    """NFKC, case-folded unless ``case_sensitive``, whitespace collapsed, stripped."""
    text = unicodedata.normalize("NFKC", text)
    if not case_sensitive:
        text = text.casefold()
    return " ".join(text.split())


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is refused, or None when it is accepted."""
    try:
        check_pattern(pattern)
    except RuleError as exc:
        return exc.message
    import polars as pl  # lazily: validate and --help stay light
    if pl.select(pl.lit("").str.contains(pattern)).item():
        return "matches the empty string, so it would match every text"
    return None


class TextPolicyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    terms: list[str] = P(
        default_factory=list,
        max_length=MAX_TERMS,
        title="Terms",
        description="Keywords or phrases to look for; normalised like the text (full-width forms folded, "
        f"case-folded unless case sensitive). At most {MAX_TERMS}, each at most {MAX_TERM_CHARS} characters.",
    )
    patterns: list[str] = P(
        default_factory=list,
        max_length=MAX_PATTERNS,
        title="Patterns",
        description=f"Regular expressions (at most {MAX_PATTERNS}) searched in the normalised text, with the "
        "same limits as rule conditions: no nested quantifiers, backreferences or lookaround.",
    )
    case_sensitive: bool = P(False, title="Case sensitive", description="Match upper and lower case exactly.")
    whole_words: bool = P(
        True,
        title="Whole words",
        description="A term that starts or ends with a letter or digit of a spaced script only matches where no "
        "such letter or digit touches it ('ass' does not match 'class'); CJK terms always match inside text.",
    )

    @field_validator("terms")
    @classmethod
    def _check_terms(cls, terms: list[str]) -> list[str]:
        for i, term in enumerate(terms):
            if len(term) > MAX_TERM_CHARS:
                raise ValueError(f"term {i} is {len(term)} characters long; at most {MAX_TERM_CHARS} are allowed")
            if not normalize_text(term):
                raise ValueError(f"term {i} is empty once whitespace is removed")
        return terms

    @field_validator("patterns")
    @classmethod
    def _check_patterns(cls, patterns: list[str]) -> list[str]:
        for i, pattern in enumerate(patterns):
            problem = pattern_problem(unicodedata.normalize("NFKC", pattern)) if pattern else "is empty"
            if problem:
                raise ValueError(f"pattern {i} {pattern[:60]!r}: {problem}")
        return patterns


def _spaced_word_char(ch: str) -> bool:
    return ch.isalnum() and not is_wide(ch)


def find_term(text: str, term: str, *, whole_words: bool, limit: int) -> list[tuple[int, int]]:
    """Up to ``limit`` (start, end) spans of ``term`` in ``text`` (both normalised)."""
    found: list[tuple[int, int]] = []
    check_left = whole_words and _spaced_word_char(term[0])
    check_right = whole_words and _spaced_word_char(term[-1])
    start = text.find(term)
    while start >= 0 and len(found) < limit:
        end = start + len(term)
        left_ok = not check_left or start == 0 or not _spaced_word_char(text[start - 1])
        right_ok = not check_right or end == len(text) or not _spaced_word_char(text[end])
        if left_ok and right_ok:
            found.append((start, end))
        start = text.find(term, start + 1)
    return found


def find_pattern(text: str, pattern: str, *, case_sensitive: bool, limit: int) -> list[str]:
    """Up to ``limit`` matches of ``pattern`` (linear-time engine), as snippets."""
    flagged = unicodedata.normalize("NFKC", pattern) if case_sensitive else "(?i)" + unicodedata.normalize("NFKC", pattern)
    import polars as pl  # lazily: validate and --help stay light
    matches = pl.select(pl.lit(text, dtype=pl.String).str.extract_all(flagged)).to_series().to_list()[0]
    return [m[:MAX_SNIPPET_CHARS] for m in (matches or [])[:limit]]


def text_of(value: Any) -> str:
    """The text of a TEXT-kind input: a string, or subtitle lines [{text, ...}] / strings."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return "\n".join(v.get("text", "") if isinstance(v, dict) else str(v) for v in value)
    return str(value)


def match_policy(text: str, params: TextPolicyParams) -> dict:
    """The ``text_policy`` fields for one text."""
    shown = normalize_text(text[: 4 * MAX_TEXT_CHARS], case_sensitive=True)[:MAX_TEXT_CHARS]
    folded = shown if params.case_sensitive else normalize_text(shown)
    matched: list[str] = []
    evidence: list[dict] = []
    # Snippets are shown in the text's own case when case folding kept every position.
    source = shown if len(shown) == len(folded) else folded
    if folded:
        hits = [
            (term, [source[a:b] for a, b in find_term(folded, normalize_text(term, case_sensitive=params.case_sensitive),
                                                       whole_words=params.whole_words, limit=EVIDENCE_PER_MATCH)])
            for term in params.terms
        ]
        # Patterns run on the text in its own case ((?i) folds), so snippets read as written.
        hits += [(p, find_pattern(shown, p, case_sensitive=params.case_sensitive, limit=EVIDENCE_PER_MATCH)) for p in params.patterns]
        for name, snippets in hits:
            if snippets and name not in matched:
                matched.append(name)
                evidence.extend({"text": s} for s in snippets)
    return {"matched": bool(matched), "terms": matched, "evidence": evidence[:MAX_EVIDENCE]}


@operator(
    name="text_policy",
    limits=(
        "Keywords and bounded regexes over the text it is given: only as good as the OCR feeding it, and no meaning beyond the listed terms (use text_classifier).",
    ),
    version=1,
    title="Text policy",
    group="text",
    params=TextPolicyParams,
    inputs={"text": Input(Kind.TEXT, "the text to check, e.g. subs.text (or subs.lines)")},
    fields={
        "matched": Output("bool", "whether any term or pattern was found"),
        "terms": Output("list[str]", "the configured terms and patterns that matched, as configured"),
    },
)
def text_policy(inputs: dict, params: TextPolicyParams, *, item: MediaInfo, resources: dict) -> dict:
    """Configured keywords and regular expressions found in a text (e.g. the subtitles)."""
    return match_policy(text_of(inputs.get("text")), params)
