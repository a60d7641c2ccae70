"""GET /v1/tools: function-calling definitions for assistants without MCP (OpenAI's two APIs, Anthropic, Gemini).

Generated from the tool catalogue and its pydantic input models, the same ones MCP and POST /v1/answer use,
so the schemas cannot drift from the API. One schema serves both providers: OpenAI strict mode wants every
property required and closed objects, so a field that may be unknown is a ["T", "null"] union; Anthropic
accepts that schema as it is. Null means unknown, exactly as leaving the field out does on POST /v1/answer.
Chat Completions nests the function (`{"type", "function": {...}}`); the Responses API takes `type`, `name`,
`parameters` and `strict` at the top level. Strict mode rejects `uniqueItems`, so only Anthropic's schema
keeps it; the descriptions say "each at most once" for every provider.

Gemini takes one Tool holding every `functionDeclarations` entry, whose `parameters` is its own Schema, an OpenAPI
subset: upper-case types, `nullable` instead of a null type, no `$ref`, no exclusive bounds. `gemini_schema`
rewrites the pydantic schema into it; what it cannot say (strictly between 0 and 1, each at most once) the field
descriptions already do.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from plugin.chat.tool_catalog import TOOLS, ToolSpec

router = APIRouter()

Format = Literal["openai", "openai-responses", "anthropic", "gemini"]
# Annotations for people, or keywords that strict mode rejects; the descriptions carry what a model needs (and the
# API refuses both baselines at once, which `not` says, and a condition named twice).
DROPPED_KEYWORDS = frozenset({"title", "default", "examples", "$defs", "not", "maxItems"})
STRICT_REJECTS = frozenset({"uniqueItems"})


class OpenAIFunction(BaseModel):
    name: str
    description: str
    parameters: dict[str, Any]
    strict: Literal[True] = True


class OpenAITool(BaseModel):
    """Chat Completions `tools[]` entry."""

    type: Literal["function"] = "function"
    function: OpenAIFunction


class ResponsesTool(BaseModel):
    """Responses API `tools[]` entry: the function tool, flat."""

    type: Literal["function"] = "function"
    name: str
    description: str
    parameters: dict[str, Any]
    strict: Literal[True] = True


class AnthropicTool(BaseModel):
    """Messages API `tools[]` entry."""

    name: str
    description: str
    input_schema: dict[str, Any]


class GeminiFunction(BaseModel):
    """A Gemini FunctionDeclaration."""

    name: str
    description: str
    parameters: dict[str, Any]


class GeminiTool(BaseModel):
    """A Gemini `tools[]` entry: one Tool with every function declaration (the REST API's camelCase name)."""

    functionDeclarations: list[GeminiFunction]  # the wire name


class ToolsResponse(BaseModel):
    format: Format
    tools: list[OpenAITool] | list[ResponsesTool] | list[AnthropicTool] | list[GeminiTool] = Field(
        description="Pass as `tools` to the provider's API."
    )


def nullable(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "null" or (isinstance(kind, list) and "null" in kind)


def strict_schema(schema: dict[str, Any], dropped: frozenset[str] = DROPPED_KEYWORDS) -> dict[str, Any]:
    """A pydantic JSON schema rewritten for OpenAI strict mode, recursively: local `$ref`s inlined, `T | None`
    as a ["T", "null"] type union (null added to any enum), every object closed with all its properties required.

    Raises:
        ValueError: the schema holds something strict mode cannot say without changing its meaning (a union
            other than `T | None`, or an optional property that cannot be null).
    """
    definitions: dict[str, Any] = schema.get("$defs", {})

    def rewrite(node: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in node:
            target = definitions[node["$ref"].removeprefix("#/$defs/")]
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        node = {k: v for k, v in node.items() if k not in dropped}
        if "const" in node:  # a one-value Literal: an enum of one, so `| None` can add null beside it
            node["enum"] = [node.pop("const")]
        if "anyOf" in node:
            options = node.pop("anyOf")
            others = [option for option in options if option != {"type": "null"}]
            if len(others) != 1 or len(others) == len(options):
                raise ValueError(f"strict mode supports only T | None unions, not {options}")
            inner = rewrite(others[0])
            node = {**inner, **node, "type": [inner["type"], "null"]}
            if "enum" in node:
                node["enum"] = [*node["enum"], None]
            return node
        if node.get("type") == "object":
            required = set(node.get("required", []))
            properties = {name: rewrite(sub) for name, sub in node.get("properties", {}).items()}
            for name, sub in properties.items():
                if name not in required and not nullable(sub):
                    raise ValueError(f"optional property {name!r} cannot be null, so strict mode cannot express it")
            node.update(properties=properties, required=list(properties), additionalProperties=False)
        if node.get("type") == "array" and "items" in node:
            node["items"] = rewrite(node["items"])
        return node

    return rewrite(schema)


def parameters(spec: ToolSpec, dropped: frozenset[str] = DROPPED_KEYWORDS | STRICT_REJECTS) -> dict[str, Any]:
    return strict_schema(spec.arguments.model_json_schema(), dropped)


# JSON Schema keywords Gemini's Schema has under the same meaning (camelCase on its wire).
GEMINI_KEPT = ("description", "enum", "minimum", "maximum", "minItems", "maxItems", "required")


def gemini_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema as Gemini's Schema, recursively: local `$ref`s inlined, `T | None` as T with
    `nullable`, a one-value Literal as an enum of one, types upper-case; other keywords left out.

    Raises:
        ValueError: a union other than `T | None`, which Gemini's Schema cannot say without changing its meaning.
    """
    definitions: dict[str, Any] = schema.get("$defs", {})

    def rewrite(node: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in node:
            node = {
                **definitions[node["$ref"].removeprefix("#/$defs/")],
                **{k: v for k, v in node.items() if k != "$ref"},
            }
        if "anyOf" in node:
            options = [option for option in node["anyOf"] if option != {"type": "null"}]
            if len(options) != 1 or len(options) == len(node["anyOf"]):
                raise ValueError(f"Gemini's Schema supports only T | None unions, not {node['anyOf']}")
            outer = {k: v for k, v in node.items() if k != "anyOf"}
            return {**rewrite({**options[0], **outer}), "nullable": True}
        out: dict[str, Any] = {"type": str(node["type"]).upper()}
        out |= {key: node[key] for key in GEMINI_KEPT if key in node}
        if "const" in node:
            out["enum"] = [node["const"]]
        if "properties" in node:
            out["properties"] = {name: rewrite(sub) for name, sub in node["properties"].items()}
        if "items" in node:
            out["items"] = rewrite(node["items"])
        return out

    return rewrite(schema)


def gemini_tool(specs: list[ToolSpec]) -> GeminiTool:
    declarations = [
        GeminiFunction(
            name=spec.name, description=spec.description, parameters=gemini_schema(spec.arguments.model_json_schema())
        )
        for spec in specs
    ]
    return GeminiTool(functionDeclarations=declarations)


def openai_tool(spec: ToolSpec) -> OpenAITool:
    return OpenAITool(
        function=OpenAIFunction(name=spec.name, description=spec.description, parameters=parameters(spec))
    )


def responses_tool(spec: ToolSpec) -> ResponsesTool:
    return ResponsesTool(name=spec.name, description=spec.description, parameters=parameters(spec))


def anthropic_tool(spec: ToolSpec) -> AnthropicTool:
    return AnthropicTool(name=spec.name, description=spec.description, input_schema=parameters(spec, DROPPED_KEYWORDS))


@router.get("/v1/tools", response_model=ToolsResponse, tags=["tools"])
def get_tools(
    format: Annotated[
        Format,
        Query(
            description="openai: Chat Completions; openai-responses: the Responses API; anthropic: Messages; "
            "gemini: the Gemini API (one Tool with every function declaration)."
        ),
    ],
) -> ToolsResponse:
    """Function-calling definitions of the chat tools, for assistants that do not speak MCP.

    Call `ivig_rpl_answer` by POSTing its arguments to /v1/answer, and `ivig_rpl_evidence` with GET /v1/evidence.
    """
    if format == "openai":
        return ToolsResponse(format=format, tools=[openai_tool(spec) for spec in TOOLS])
    if format == "openai-responses":
        return ToolsResponse(format=format, tools=[responses_tool(spec) for spec in TOOLS])
    if format == "gemini":
        return ToolsResponse(format=format, tools=[gemini_tool(list(TOOLS))])
    return ToolsResponse(format=format, tools=[anthropic_tool(spec) for spec in TOOLS])
