"""The output schemas in tools/list: each result model's top level, true of every result and small."""

from __future__ import annotations

from typing import Literal

import anyio
from jsonschema import Draft202012Validator
from mcp_types import TextContent
from pydantic import BaseModel

from plugin.chat.tool_catalog import ANSWER
from plugin.chat.tools import ChatTools, shallow_schema
from plugin.core.answer.model import Answer
from plugin.core.answer.plugin import Plugin
from plugin.core.rules.profile import PatientProfile


class Inner(BaseModel):
    level: int


class Result(BaseModel):
    kind: Literal["a", "b"]
    inner: Inner
    maybe: Inner | None = None
    count: int | None
    items: list[Inner]


def test_a_shallow_schema_keeps_each_property_s_json_type_and_enum_and_nothing_nested() -> None:
    assert shallow_schema(Result) == {
        "type": "object",
        "properties": {
            "kind": {"type": "string", "enum": ["a", "b"]},
            "inner": {"type": "object"},
            "maybe": {"type": ["null", "object"]},
            "count": {"type": ["integer", "null"]},
            "items": {"type": "array"},
        },
        "required": ["kind", "inner", "count", "items"],
    }


def test_every_answer_validates_against_the_answer_tool_output_schema(plugin: Plugin) -> None:
    validator = Draft202012Validator(shallow_schema(Answer))
    for profile in ({}, {"prior_pregnancy_losses": 1}, {"prior_pregnancy_losses": 3, "nk_cell_percent": 14}):
        validator.validate(plugin.answer(PatientProfile.model_validate(profile)).model_dump(mode="json"))


def test_a_sourced_baseline_that_does_not_describe_her_is_a_tool_error_naming_the_field(plugin: Plugin) -> None:
    tools = ChatTools(lambda: _loaded(plugin))
    arguments = {
        "autoimmune_conditions": ["antiphospholipid_syndrome"],
        "baseline_live_birth_source": "lund2012_baseline",
    }
    assert anyio.run(tools.call, ANSWER.name, arguments).is_error is False  # a cohort that excludes no one
    arguments["baseline_live_birth_source"] = "promise2015_placebo_baseline"
    result = anyio.run(tools.call, ANSWER.name, arguments)
    assert result.is_error is True
    (content,) = result.content
    assert isinstance(content, TextContent)
    assert content.text.splitlines()[1].startswith(
        "- baseline_live_birth_source: PROMISE 2015, placebo arm does not describe this patient: it was measured in "
        "unexplained recurrent pregnancy loss"
    )


async def _loaded(plugin: Plugin) -> Plugin:
    return plugin
