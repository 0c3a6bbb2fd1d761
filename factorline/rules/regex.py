"""Bounded regular expressions for ``matches(text, "pattern")``.

Both evaluators run patterns on the same engine, Rust's ``regex`` crate inside polars: it
runs in time linear in the input (no backtracking), so the per-item and the vectorized
evaluators cannot disagree and no input can make a match hang. Syntax and meaning are that
crate's (``(?i)`` for case-insensitive, ``\\d`` is Unicode digits, ``$`` is the very end).

On top of that, a pattern is checked statically before it is accepted, so that rule files
stay portable to backtracking engines (Python ``re``, PCRE) without turning into a
denial-of-service there: at most ``MAX_PATTERN`` characters, repeat counts at most
``MAX_REPEAT``, no backreferences or lookaround, no unbounded repeat inside another repeat
(``(a+)+``, ``(a*)*``), and no repeated alternation whose branches can start alike
(``(a|a)*``, ``(a|ab)+``). The static check reads the pattern with Python's own regex
parser, so a pattern must be valid for both engines.
"""

from __future__ import annotations

from functools import lru_cache

try:  # Python >= 3.11 keeps the parser here; the old name warns.
    from re import _constants as sre_c
    from re import _parser as sre_parse
except ImportError:  # pragma: no cover
    import sre_constants as sre_c  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]


from ..contract.errors import RuleError, brief

MAX_PATTERN = 256
MAX_REPEAT = 1000
_REPEATS = (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT)
_ANY = "any"  # a first-character set that may overlap with everything


def _fail(pattern: str, why: str) -> RuleError:
    err = RuleError(f"regex {brief(pattern, 80)} rejected: {why}")
    err.code = "rule_regex"  # type: ignore[attr-defined]
    return err


def check_pattern(pattern: str) -> str:
    """Return ``pattern`` if it is safe and valid in both engines; raise RuleError otherwise."""
    if len(pattern) > MAX_PATTERN:
        raise _fail(pattern, f"longer than {MAX_PATTERN} characters")
    try:
        parsed = sre_parse.parse(pattern)
    except Exception as exc:  # re.error, OverflowError, RecursionError on odd input
        raise _fail(pattern, f"not a valid pattern ({exc})") from None
    _check_items(pattern, list(parsed), inside_repeat=False)
    _check_rust(pattern)
    return pattern


def _check_items(pattern: str, items: list, inside_repeat: bool) -> None:
    for op, av in items:
        if op in (sre_c.GROUPREF, sre_c.GROUPREF_EXISTS):
            raise _fail(pattern, "backreferences are not supported")
        if op in (sre_c.ASSERT, sre_c.ASSERT_NOT):
            raise _fail(pattern, "lookahead/lookbehind is not supported")
        if op in (sre_c.ATOMIC_GROUP, sre_c.POSSESSIVE_REPEAT):
            raise _fail(pattern, "atomic groups and possessive repeats are not supported")
        if op in _REPEATS:
            _check_repeat(pattern, av, inside_repeat)
        elif op == sre_c.SUBPATTERN:
            _check_items(pattern, list(av[-1]), inside_repeat)
        elif op == sre_c.BRANCH:
            for branch in av[1]:
                _check_items(pattern, list(branch), inside_repeat)


def _check_repeat(pattern: str, av: tuple, inside_repeat: bool) -> None:
    low, high, body = av
    unbounded = high == sre_c.MAXREPEAT
    if low > MAX_REPEAT or (not unbounded and high > MAX_REPEAT):
        raise _fail(pattern, f"repeat counts are limited to {MAX_REPEAT}")
    if unbounded and inside_repeat:
        raise _fail(pattern, "an unbounded repeat inside another repeat (like (a+)+) can take exponential time; "
                             "repeat once, e.g. a+ instead of (a+)+")
    if unbounded or high > 1:
        if _ambiguous_branch(list(body)):
            raise _fail(pattern, "a repeated alternation whose branches can start with the same character "
                                 "(like (a|ab)*) can take exponential time; make the branches distinct")
        _check_items(pattern, list(body), inside_repeat=True)
    else:
        _check_items(pattern, list(body), inside_repeat)


def _ambiguous_branch(items: list) -> bool:
    """Whether a repeated body holds an alternation with overlapping first characters."""
    for op, av in items:
        if op == sre_c.BRANCH:
            firsts = [_first_chars(list(b)) for b in av[1]]
            for i, a in enumerate(firsts):
                if any(_overlap(a, b) for b in firsts[i + 1:]):
                    return True
        if op == sre_c.SUBPATTERN and _ambiguous_branch(list(av[-1])):
            return True
    return False


def _first_chars(items: list):
    """Code points a branch can start with: a set of (lo, hi) ranges, or _ANY when unsure."""
    if not items:
        return _ANY  # an empty branch matches empty: ambiguous with anything
    op, av = items[0]
    if op == sre_c.LITERAL:
        return {(av, av)}
    if op == sre_c.IN:
        ranges = set()
        for sub_op, sub_av in av:
            if sub_op == sre_c.LITERAL:
                ranges.add((sub_av, sub_av))
            elif sub_op == sre_c.RANGE:
                ranges.add(tuple(sub_av))
            else:  # negation or a category: be conservative
                return _ANY
        return ranges
    if op == sre_c.SUBPATTERN:
        return _first_chars(list(av[-1]))
    if op in _REPEATS and av[0] >= 1:
        return _first_chars(list(av[2]))
    return _ANY


def _overlap(a, b) -> bool:
    if a == _ANY or b == _ANY:
        return True
    return any(lo1 <= hi2 and lo2 <= hi1 for lo1, hi1 in a for lo2, hi2 in b)


def _check_rust(pattern: str) -> None:
    try:
        import polars as pl  # lazily: validate and --help stay light
        pl.select(pl.lit("").str.contains(pattern)).item()
    except Exception as exc:
        raise _fail(pattern, _rust_reason(str(exc))) from None
    except BaseException as exc:  # pyo3 panics derive from BaseException
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise _fail(pattern, "the regex engine refused it") from None


def _rust_reason(text: str) -> str:
    """The useful line of a polars/Rust regex error."""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("error:") or "exceeds size limit" in line:
            return line.removeprefix("error:").strip()
    return "the regex engine refused it"


def search(pattern: str, text: str) -> bool:
    """One match on the engine the vectorized evaluator uses (short texts are cached: the
    same captions and labels come back item after item)."""
    return _cached_search(pattern, text) if len(text) <= 1000 else _search(pattern, text)


def _search(pattern: str, text: str) -> bool:
    import polars as pl  # lazily: validate and --help stay light
    return bool(pl.select(pl.lit(text, dtype=pl.String).str.contains(pattern)).item())


_cached_search = lru_cache(maxsize=4096)(_search)

