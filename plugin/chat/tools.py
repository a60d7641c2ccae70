"""The two chat tools as MCP sees them: their listing, and a call turned into a result or a protocol error.

Text content is what a model reads and may repeat: the answer's markdown once, after one line restating what
was understood, with no internal ids. `structuredContent` is the JSON for programs (the answer with its trace,
or the evidence summary); neither carries the rendered text a second time. An unknown tool is a JSON-RPC
`-32602` (the MCP spec's code for it); bad arguments are a tool result with `isError` naming each field.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, CallToolResult, TextContent, Tool, ToolAnnotations
from pydantic import BaseModel, ValidationError

from plugin.chat.arguments import error_lines, fields, invalid_text
from plugin.chat.tool_catalog import ANSWER, EVIDENCE, TOOLS, ToolSpec
from plugin.core.answer.evidence_summary import EvidenceSummary, evidence_summary
from plugin.core.answer.model import Answer
from plugin.core.answer.plugin import Plugin
from plugin.core.rules.profile import PatientProfile
from plugin.errors import ProfileError

logger = logging.getLogger(__name__)

# Hints only, but they let a host run the tools without asking: nothing is written, nothing outside is reached.
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
OUTPUTS: dict[str, type[BaseModel]] = {ANSWER.name: Answer, EVIDENCE.name: EvidenceSummary}

# The plugin a tool call uses, asked for once at its start: the release served then, kept to its end.
PluginSource = Callable[[], Awaitable[Plugin]]


def shallow_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's top level as JSON Schema: every property with its JSON type (and enum), nested objects and
    arrays as just that. True of every result, and a tenth of the full schema's size in `tools/list`; the full
    schemas are in /openapi.json."""
    full = model.model_json_schema()
    definitions: dict[str, Any] = full.get("$defs", {})

    def kind(node: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in node:
            node = definitions[node["$ref"].removeprefix("#/$defs/")]
        if "anyOf" in node:
            types: list[str] = []
            for option in node["anyOf"]:
                option_type = kind(option)["type"]
                types += option_type if isinstance(option_type, list) else [option_type]
            return {"type": sorted(set(types))}
        shown = {"type": node.get("type", "object")}
        return {**shown, "enum": node["enum"]} if "enum" in node else shown

    properties = {name: kind(sub) for name, sub in full["properties"].items()}
    return {"type": "object", "properties": properties, "required": full.get("required", [])}


def listing(spec: ToolSpec) -> Tool:
    return Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=spec.arguments.model_json_schema(),
        output_schema=shallow_schema(OUTPUTS[spec.name]),
        annotations=READ_ONLY,
    )


def shown(value: Any) -> str:
    return json.dumps(list(value) if isinstance(value, tuple) else value, ensure_ascii=False)


def understood(profile: PatientProfile) -> str:
    """One line: each field as received, the unknown ones named as unknown, and how to correct them."""
    values = profile.model_dump()
    known = [f"{name} = {shown(value)}" for name, value in values.items() if value is not None]
    unknown = [name for name, value in values.items() if value is None]
    return (
        f"**Understood:** {'; '.join(known) or 'no findings'}. **Unknown:** {', '.join(unknown) or 'none'}. "
        "If any of this is wrong, call again corrected (null = not known)."
    )


def refused(spec: ToolSpec, exc: ProfileError) -> CallToolResult:
    """A profile that asks for what does not fit her: the field and why, as a tool error the model can correct."""
    field = str(exc.details.get("field", ""))
    logger.info("tool %s refused arguments: %s (%s)", spec.name, field, exc.code)
    text = invalid_text(spec.name, [f"{field}: {exc.message}"])
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def invalid(spec: ToolSpec, exc: ValidationError) -> CallToolResult:
    logger.info("tool %s refused arguments: %s", spec.name, ", ".join(fields(exc)))  # names only, never values
    text = invalid_text(spec.name, error_lines(exc, spec.arguments))
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


class ChatTools:
    """Answers `tools/list` without the evidence, and `tools/call` once the evidence store has loaded."""

    def __init__(self, plugin: PluginSource) -> None:
        self.plugin = plugin
        self.tools = [listing(spec) for spec in TOOLS]
        self._evidence: tuple[str, str, dict[str, Any]] | None = None  # per evidence version

    async def call(self, name: str, arguments: Mapping[str, Any] | None) -> CallToolResult:
        """Raises MCPError (-32602) for a tool that does not exist."""
        spec = next((spec for spec in TOOLS if spec.name == name), None)
        if spec is None:
            names = ", ".join(spec.name for spec in TOOLS)
            raise MCPError(code=INVALID_PARAMS, message=f"name: unknown tool {name!r}; the tools are {names}")
        try:
            parsed = spec.arguments.model_validate(dict(arguments or {}))
        except ValidationError as exc:
            return invalid(spec, exc)
        plugin = await self.plugin()
        if spec is EVIDENCE:
            text, structured = self.evidence(plugin)
        else:
            profile = cast(PatientProfile, parsed)
            try:
                finished = plugin.answers.finished(profile)  # rendered once per kind of patient
            except ProfileError as exc:  # valid field by field, but asks for something that does not fit her
                return refused(spec, exc)
            text = f"{understood(profile)}\n\n{finished.evidence_markdown}"
            structured = finished.answer.model_dump(mode="json")
        return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)

    def evidence(self, plugin: Plugin) -> tuple[str, dict[str, Any]]:
        """Rendered once per evidence version: the store changes only when the service switches releases."""
        kept = self._evidence
        if kept is None or kept[0] != plugin.store.version:
            summary = evidence_summary(plugin.store)
            kept = (plugin.store.version, plugin.renderer.render_evidence(summary), summary.model_dump(mode="json"))
            self._evidence = kept
        return kept[1], kept[2]
