"""``GET /api/schema``: the rules the editor needs, read from the modules that enforce them.

The editor keeps no copies: which kinds may feed which (``kinds.kinds_fit``), the name patterns
(pipelines, steps, tables, rule ids), the sampling form (``SamplingDoc``), the rule and table
documents with their help texts (``rules/docs.py``), and the condition language (its grammar,
functions from ``rules/functions.py``, item fields and limits) all come from here.
"""

from __future__ import annotations

import functools
import re

from ..contract.kinds import SOURCE_KINDS, Kind, kinds_fit
from ..engine.document import STEP_NAME_PATTERN, LayoutDoc, SamplingDoc
from ..rules import functions, language
from ..rules.docs import ITEM, ITEM_FIELDS, RULE_ID_PATTERN, TABLE_NAME_PATTERN, DecisionTableDoc, RuleDoc
from .pipelines import NAME_PATTERN

OPERATORS = ["and", "or", "not", "<", "<=", ">", ">=", "==", "!=", "in", "not in", "+", "-", "*", "/", "true", "false"]


def grammar() -> str:
    """The grammar block of the condition language's docstring, as written there."""
    doc = language.__doc__ or ""
    match = re.search(r"Grammar[^\n]*::\n\n(.*?)\n\n(?=\S)", doc, re.DOTALL)
    return match.group(1).rstrip() if match else doc.strip()


def language_notes() -> str:
    """The paragraphs after the grammar (lists, quoting, what is refused), as written there."""
    doc = language.__doc__ or ""
    match = re.search(r"Grammar[^\n]*::\n\n.*?\n\n(?=\S)(.*)", doc, re.DOTALL)
    return match.group(1).strip() if match else ""


@functools.cache
def editor_schema() -> dict:
    """Cached: plugins register their operators and rule functions at import, before serving."""
    kinds = [k.value for k in Kind]
    return {
        "kinds": {
            "all": kinds,
            "source": sorted(k.value for k in SOURCE_KINDS),
            "fits": {p.value: [w.value for w in Kind if kinds_fit(p, w)] for p in Kind},
        },
        "names": {
            "pipeline": NAME_PATTERN.pattern,
            "step": STEP_NAME_PATTERN,
            "table": TABLE_NAME_PATTERN,
            "rule_id": RULE_ID_PATTERN,
        },
        "documents": {
            "sampling": SamplingDoc.model_json_schema(),
            "layout": LayoutDoc.model_json_schema(),
            "rule": RuleDoc.model_json_schema(),
            "table": DecisionTableDoc.model_json_schema(),
        },
        "rules": {
            "grammar": grammar(),
            "notes": language_notes(),
            "functions": [{"name": f.name, "args": list(f.args), "returns": f.returns, "signature": f.signature(),
                           "help": f.doc, "example": f.example} for f in functions.all_functions()],
            "operators": OPERATORS,
            "item": ITEM,
            "item_fields": dict(ITEM_FIELDS),
            "limits": {"max_chars": language.MAX_CHARS, "max_depth": language.MAX_DEPTH, "max_string": language.MAX_STRING,
                       "max_list": language.MAX_LIST},
        },
    }
