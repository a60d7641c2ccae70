"""The decision aid as an MCP prompt: the conversation with the patient, for an assistant to hand on as it is.

A prompt's arguments are strings, as a query string's values are, so they are read by the parser the widget and
the decision aid page use (`plugin.web.form`), conditions comma-separated as on the command line. A bad argument
is a JSON-RPC `-32602` naming each field and what it allows, never the value sent. The one message is the aid's
plain text after a line saying what it is: material for a conversation with a clinician, not advice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, GetPromptResult, Prompt, PromptArgument, PromptMessage, TextContent

from plugin.chat.tool_catalog import DECISION_AID, PromptSpec
from plugin.chat.tools import PluginSource
from plugin.core.rules.profile import AUTOIMMUNE_CONDITIONS, PatientProfile
from plugin.errors import ProfileError
from plugin.web.form import CONDITIONS, NONE, FieldError, parse_query
from plugin.web.links import NOT_ADVICE

logger = logging.getLogger(__name__)

# How each argument is written as a string, where the profile field's own description does not say.
AS_TEXT = {
    CONDITIONS: f"Comma-separated, each at most once: {', '.join(AUTOIMMUNE_CONDITIONS)}; '{NONE}' when she has none.",
    "th1_th2_ratio_elevated": "'true' or 'false'.",
}
LEAD = (
    f"The text below is a decision aid for the talk between a woman and her clinician: {NOT_ADVICE}. Share it as "
    "it is, warning and sources included; add no number or advice of your own, and leave the choice to her and her "
    "clinician."
)


def arguments() -> list[PromptArgument]:
    """The profile's fields as optional string arguments: empty or left out means not known."""
    return [
        PromptArgument(
            name=name,
            description=" ".join(filter(None, (field.description, AS_TEXT.get(name)))),
            required=False,
        )
        for name, field in PatientProfile.model_fields.items()
    ]


def listing(spec: PromptSpec) -> Prompt:
    return Prompt(name=spec.name, title=spec.title, description=spec.description, arguments=arguments())


def pairs_of(values: Mapping[str, str]) -> list[tuple[str, str]]:
    """The arguments as query pairs: the conditions one pair each, as the widget's query repeats them."""
    pairs: list[tuple[str, str]] = []
    for name, value in values.items():
        parts = value.split(",") if name == CONDITIONS else [value]
        pairs += [(name, part.strip()) for part in parts]
    return pairs


def refused(spec: PromptSpec, problems: list[str]) -> MCPError:
    logger.info("prompt %s refused arguments: %s", spec.name, ", ".join(p.split(":")[0] for p in problems))
    return MCPError(code=INVALID_PARAMS, message=f"Invalid arguments for {spec.name}: {'; '.join(problems)}")


def lines(errors: tuple[FieldError, ...]) -> list[str]:
    return [f"{e.field}: {e.message}" for e in errors]


class ChatPrompts:
    """Answers `prompts/list` without the evidence, and `prompts/get` once the evidence store has loaded."""

    def __init__(self, plugin: PluginSource) -> None:
        self.plugin = plugin
        self.prompts = [listing(DECISION_AID)]

    async def get(self, name: str, values: Mapping[str, str] | None) -> GetPromptResult:
        """Raises MCPError (-32602) for a prompt that does not exist or arguments that are not valid."""
        if name != DECISION_AID.name:
            raise MCPError(
                code=INVALID_PARAMS, message=f"name: unknown prompt {name!r}; the prompt is {DECISION_AID.name}"
            )
        form = parse_query(pairs_of(values or {}))
        if form.profile is None:
            raise refused(DECISION_AID, lines(form.errors))
        plugin = await self.plugin()
        try:
            aid = plugin.decision_aid(form.profile)
        except ProfileError as exc:  # a sourced baseline measured in women she is not among
            raise refused(DECISION_AID, [f"{exc.details.get('field', '')}: {exc.message}"]) from None
        text = f"{LEAD}\n\n{plugin.renderer.render_aid(aid, 'text')}"
        return GetPromptResult(
            description=f"{DECISION_AID.title}: {NOT_ADVICE}.",
            messages=[PromptMessage(role="user", content=TextContent(type="text", text=text))],
        )
