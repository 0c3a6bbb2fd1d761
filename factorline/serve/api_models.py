"""Response models of the catalogue routes the editor reads: ``GET /api/schema`` and ``GET /api/operators``.

They are the one declaration of those shapes: FastAPI checks every reply against them and puts
them in the OpenAPI document, and ``scripts/gen_ui_types.py`` turns them into the editor's
TypeScript types (``ui/src/api.gen.ts``), so the UI cannot drift from what the server sends.

The builders stay where the facts live (``schema.editor_schema``, ``OperatorSpec.schema``); these
models only describe their output. ``extra="forbid"``: a key a builder gains but a model lacks
fails the reply (a 500 in the tests) instead of being dropped silently from the JSON and the types.
"""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

from pydantic import BaseModel, ConfigDict, Field, with_config
from typing_extensions import TypedDict  # pydantic wants typing_extensions' TypedDict before 3.12

# A JSON Schema document (pydantic's output for a parameter or document model). ``tsType`` is
# json-schema-to-typescript's keyword for "use this TypeScript type": the editor's hand-written
# ``JsonSchema`` interface (ui/src/jsonSchema.ts) describes JSON Schema itself, not a reply.
JsonSchema = Annotated[dict[str, Any], Field(json_schema_extra={"tsType": "JsonSchema"})]


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- GET /api/schema


class KindRules(ApiModel):
    """Which kinds there are, which ones a pipeline starts from, and what each may feed."""

    all: list[str]
    source: list[str] = Field(description="Kinds decoded from the item itself (no step makes them).")
    fits: dict[str, list[str]] = Field(description="producer kind -> the input kinds it may feed (kinds.kinds_fit).")


class NamePatterns(ApiModel):
    """Regular expressions (Python syntax, also valid in JavaScript) the names must match."""

    pipeline: str
    step: str
    table: str
    rule_id: str


class DocumentSchemas(ApiModel):
    """JSON Schemas of the document parts the editor builds forms from."""

    sampling: JsonSchema
    layout: JsonSchema
    rule: JsonSchema
    table: JsonSchema


class RuleFunctionHelp(ApiModel):
    """One function of the condition language (rules/functions.py)."""

    name: str
    args: list[str]
    returns: str
    signature: str
    help: str
    example: str


class RuleLimits(ApiModel):
    """The condition language's size limits (rules/language.py)."""

    max_chars: int
    max_depth: int
    max_string: int
    max_list: int


class RuleLanguage(ApiModel):
    """The condition language: its grammar and notes as written in its docstring, functions, operators."""

    grammar: str
    notes: str
    functions: list[RuleFunctionHelp]
    operators: list[str]
    item: str = Field(description="The name conditions read the item's own fields under.")
    item_fields: dict[str, str] = Field(description="item field -> its type.")
    limits: RuleLimits


class EditorSchema(ApiModel):
    """GET /api/schema: the server's own rules, so that the editor keeps no copies."""

    kinds: KindRules
    names: NamePatterns
    documents: DocumentSchemas
    rules: RuleLanguage


# --------------------------------------------------------------------------- GET /api/operators


class InputSchema(ApiModel):
    """One named input of an operator (``Input.schema()``)."""

    kind: str
    description: str
    optional: bool


# A TypedDict, not a model: ``unit`` and ``values`` are absent when undeclared (never null), and
# NotRequired says exactly that, to FastAPI's serializer and to the TypeScript (``unit?: string``).
@with_config(ConfigDict(extra="forbid"))
class FieldSchema(TypedDict):
    """One field of an operator's factor output (``Output.schema()``)."""

    dtype: str
    kind: str
    description: str
    unit: NotRequired[str]
    values: NotRequired[
        Annotated[list[str], Field(description="A closed vocabulary: the only values this text field takes.")]
    ]


class OperatorOutput(ApiModel):
    kind: str
    fields: dict[str, FieldSchema]


class OperatorSchema(ApiModel):
    """One entry of GET /api/operators (``OperatorSpec.schema()``): the editor's palette."""

    id: str = Field(description="name@version")
    name: str
    version: int
    title: str
    description: str
    group: str
    item_kinds: list[str]
    params: JsonSchema
    inputs: dict[str, InputSchema]
    output: OperatorOutput
    resources: list[str]
    limits: list[str] = Field(description="Known limits, shown on the operator's factor card.")
    card: str = Field(description="The factor card's headline line.")


# What the generator writes, in this order (the models they reference come along).
UI_MODELS: tuple[type[BaseModel], ...] = (EditorSchema, OperatorSchema)
