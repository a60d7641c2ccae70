"""GET /v1/tools: OpenAI (strict; Chat Completions and Responses), Anthropic and Gemini function-calling definitions
that accept what the API accepts, in the shapes the providers' own SDK types declare."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from anthropic.types import ToolParam
from fastapi.testclient import TestClient
from google.genai import types as gemini
from jsonschema import Draft202012Validator
from openai.types.chat import ChatCompletionFunctionToolParam
from openai.types.responses import FunctionToolParam
from openai.types.shared_params import FunctionDefinition
from pydantic import BaseModel, TypeAdapter

from plugin.api.routes import PROFILE_EXAMPLES
from plugin.chat.function_calling import gemini_schema, strict_schema
from plugin.chat.tool_catalog import ANSWER, EVIDENCE, TOOLS
from plugin.core.rules.profile import BASELINE_SOURCES, PatientProfile

FORMATS = ("openai", "openai-responses", "anthropic")
PROFILE_FIELDS = list(PatientProfile.model_fields)
# The API's documented examples, as a strict-mode model sends them: every field present, null when unknown.
EXAMPLES = {
    name: {field: example["value"].get(field) for field in PROFILE_FIELDS} for name, example in PROFILE_EXAMPLES.items()
}
# Arguments both the schemas and POST /v1/answer must refuse.
INVALID: dict[str, dict[str, Any]] = {
    "nk-out-of-range": {"nk_cell_percent": 140},
    "unknown-condition": {"autoimmune_conditions": ["lupus"]},
    "extra-key": {"nk_cells": 14},
    "negative-losses": {"prior_pregnancy_losses": -1},
    "baseline-of-one": {"baseline_live_birth_risk": 1},
}


def tools(client: TestClient, format: str) -> list[dict[str, Any]]:
    response = client.get("/v1/tools", params={"format": format})
    assert response.status_code == 200
    body = response.json()
    assert body["format"] == format
    result: list[dict[str, Any]] = body["tools"]
    return result


def schemas(client: TestClient, format: str) -> dict[str, dict[str, Any]]:
    """Each tool's argument schema, by tool name."""
    if format == "openai":
        return {t["function"]["name"]: t["function"]["parameters"] for t in tools(client, format)}
    key = "parameters" if format == "openai-responses" else "input_schema"
    return {t["name"]: t[key] for t in tools(client, format)}


def nodes(schema: Any) -> Iterator[dict[str, Any]]:
    """Every subschema, depth first."""
    if isinstance(schema, dict):
        yield schema
        for value in schema.values():
            yield from nodes(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from nodes(item)


def test_openai_tools_are_strict_functions_named_and_described_as_in_the_catalogue(client: TestClient) -> None:
    listed = tools(client, "openai")
    assert [t["type"] for t in listed] == ["function"] * len(TOOLS)
    assert [(t["function"]["name"], t["function"]["description"]) for t in listed] == [
        (spec.name, spec.description) for spec in TOOLS
    ]
    assert all(t["function"]["strict"] is True for t in listed)


def test_responses_tools_carry_type_name_parameters_and_strict_at_the_top_level(client: TestClient) -> None:
    listed = tools(client, "openai-responses")
    assert [(t["type"], t["name"], t["description"], t["strict"]) for t in listed] == [
        ("function", spec.name, spec.description, True) for spec in TOOLS
    ]
    assert [t["parameters"] for t in listed] == [t["function"]["parameters"] for t in tools(client, "openai")]


@pytest.mark.parametrize(
    ("format", "param_type"),
    [("openai", ChatCompletionFunctionToolParam), ("openai-responses", FunctionToolParam), ("anthropic", ToolParam)],
    ids=["chat-completions", "responses", "anthropic-messages"],
)
def test_each_tool_is_exactly_the_provider_sdk_request_type(client: TestClient, format: str, param_type: type) -> None:
    for listed in tools(client, format):
        assert param_type.__required_keys__ <= set(listed) <= set(param_type.__annotations__)  # type: ignore[attr-defined]
        TypeAdapter(param_type).validate_python(listed, strict=True)
        if format == "openai":
            function = listed["function"]
            assert FunctionDefinition.__required_keys__ <= set(function) <= set(FunctionDefinition.__annotations__)


@pytest.mark.parametrize("format", ["openai", "openai-responses"])
def test_strict_schemas_drop_unique_items_and_anthropic_keeps_it(client: TestClient, format: str) -> None:
    duplicated = {**dict.fromkeys(PROFILE_FIELDS), "autoimmune_conditions": ["other_autoimmune"] * 2}
    assert all("uniqueItems" not in node for node in nodes(schemas(client, format)))
    assert (
        "each at most once"
        in schemas(client, format)[ANSWER.name]["properties"]["autoimmune_conditions"]["description"]
    )
    assert not Draft202012Validator(schemas(client, "anthropic")[ANSWER.name]).is_valid(duplicated)
    assert client.post("/v1/answer", json={"autoimmune_conditions": ["other_autoimmune"] * 2}).status_code == 422


def test_anthropic_tools_carry_name_description_and_an_object_input_schema(client: TestClient) -> None:
    listed = tools(client, "anthropic")
    assert [(t["name"], t["description"]) for t in listed] == [(spec.name, spec.description) for spec in TOOLS]
    assert all(t["input_schema"]["type"] == "object" for t in listed)


@pytest.mark.parametrize("format", FORMATS)
def test_every_schema_is_valid_json_schema(client: TestClient, format: str) -> None:
    for schema in schemas(client, format).values():
        Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("format", FORMATS)
def test_strict_mode_rules_hold_at_every_depth(client: TestClient, format: str) -> None:
    for schema in schemas(client, format).values():
        assert schema["type"] == "object" and not {"$ref", "oneOf", "anyOf", "allOf"} & set(schema)
        for node in nodes(schema):
            assert not {"$ref", "$defs", "oneOf", "allOf", "anyOf", "default"} & set(node)
            if node.get("type") == "object":
                assert node["additionalProperties"] is False
                assert node["required"] == list(node["properties"])


def test_every_profile_field_is_required_and_nullable_so_unknown_is_sayable(client: TestClient) -> None:
    parameters = schemas(client, "openai")[ANSWER.name]
    assert parameters["required"] == PROFILE_FIELDS
    for field, prop in parameters["properties"].items():
        assert isinstance(prop["type"], list) and prop["type"][-1] == "null", field
        assert prop["description"], field
    assert None in parameters["properties"]["ivig_start"]["enum"]


def test_the_evidence_tool_takes_an_empty_closed_object(client: TestClient) -> None:
    parameters = schemas(client, "openai")[EVIDENCE.name]
    assert (parameters["properties"], parameters["required"], parameters["additionalProperties"]) == ({}, [], False)


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("example", EXAMPLES)
def test_example_arguments_validate_against_the_schema(client: TestClient, format: str, example: str) -> None:
    Draft202012Validator(schemas(client, format)[ANSWER.name]).validate(EXAMPLES[example])


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_same_arguments_are_accepted_by_post_v1_answer(client: TestClient, example: str) -> None:
    arguments = EXAMPLES[example]
    without_nulls = {field: value for field, value in arguments.items() if value is not None}
    dropped = client.post("/v1/answer", json=without_nulls)
    assert dropped.status_code == 200
    as_sent = client.post("/v1/answer", json=arguments)
    assert as_sent.status_code == 200
    assert as_sent.json() == dropped.json()  # null and absent both mean unknown


@pytest.mark.parametrize("case", INVALID)
def test_arguments_the_api_refuses_the_schemas_refuse_too(client: TestClient, case: str) -> None:
    arguments: dict[str, Any] = {**dict.fromkeys(PROFILE_FIELDS), **INVALID[case]}
    for format in FORMATS:
        assert not Draft202012Validator(schemas(client, format)[ANSWER.name]).is_valid(arguments), format
    assert client.post("/v1/answer", json=INVALID[case]).status_code == 422


def test_gemini_declarations_are_accepted_by_google_genais_types_and_say_what_the_api_takes(
    client: TestClient,
) -> None:
    (tool,) = tools(client, "gemini")
    parsed = gemini.Tool.model_validate(tool)  # extra="forbid": a key Gemini does not know is refused
    declarations = {d.name: d for d in parsed.function_declarations or []}
    assert list(declarations) == [spec.name for spec in TOOLS]
    answer = declarations[ANSWER.name].parameters
    assert answer is not None and answer.type == gemini.Type.OBJECT and answer.properties is not None
    assert list(answer.properties) == PROFILE_FIELDS and not answer.required  # every field may be left out
    nk = answer.properties["nk_cell_percent"]
    assert (nk.type, nk.nullable, nk.minimum, nk.maximum) == (gemini.Type.NUMBER, True, 0, 100)
    conditions = answer.properties["autoimmune_conditions"]
    assert conditions.items is not None and conditions.max_items == 4
    assert conditions.items.enum == [
        "antiphospholipid_syndrome",
        "systemic_lupus_erythematosus",
        "autoimmune_thyroid_disease",
        "other_autoimmune",
    ]
    assert answer.properties["baseline_live_birth_source"].enum == list(BASELINE_SOURCES)
    evidence = declarations[EVIDENCE.name].parameters
    assert evidence is not None and evidence.type == gemini.Type.OBJECT and not evidence.properties
    assert declarations[ANSWER.name].description == ANSWER.description


def test_a_union_gemini_cannot_say_is_refused_rather_than_widened() -> None:
    class Either(BaseModel):
        value: int | str

    with pytest.raises(ValueError, match="T \\| None"):
        gemini_schema(Either.model_json_schema())


def test_an_unknown_format_is_a_422_naming_the_query_parameter(client: TestClient) -> None:
    response = client.get("/v1/tools", params={"format": "bard"})
    assert response.status_code == 422
    assert [field["path"] for field in response.json()["error"]["details"]["fields"]] == ["format"]


class Inner(BaseModel):
    level: int


class Outer(BaseModel):
    inner: Inner | None = None
    items: list[Inner]


def test_strict_schema_inlines_references_and_closes_nested_objects() -> None:
    schema = strict_schema(Outer.model_json_schema())
    inner = schema["properties"]["inner"]
    assert inner["type"] == ["object", "null"] and inner["required"] == ["level"]
    assert inner["additionalProperties"] is False
    assert schema["properties"]["items"]["items"]["additionalProperties"] is False
    assert "$defs" not in schema and schema["required"] == ["inner", "items"]


class Ambiguous(BaseModel):
    value: int | str


class OptionalNotNull(BaseModel):
    value: int = 0


@pytest.mark.parametrize("model", [Ambiguous, OptionalNotNull], ids=lambda m: m.__name__)
def test_strict_schema_refuses_what_strict_mode_cannot_say(model: type[BaseModel]) -> None:
    with pytest.raises(ValueError):
        strict_schema(model.model_json_schema())
