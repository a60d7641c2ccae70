"""The MCP door: an `MCPServer` with two read-only tools that call the same `Plugin` as every other door.

`ivig_rpl_answer` takes the `PatientProfile` fields and returns the answer (structured content = the answer
JSON of POST /v1/answer; text content = the rendered markdown, warning included). `ivig_rpl_evidence` returns
the evidence summary. Served over stdio (`ivig-cds mcp`) and streamable HTTP at /mcp (`McpHttp`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from plugin import __version__
from plugin.chat.tool_catalog import ANSWER, EVIDENCE, INSTRUCTIONS, SERVER_NAME, NoArguments, ToolSpec
from plugin.config import Settings
from plugin.core.answer import ANALYSIS_ID, WARNING_CODE, AnswerWarning, Citation, EstimateView, citation_of, view
from plugin.core.evidence import Frozen, Participants, Pico
from plugin.core.plugin import Plugin, RenderedAnswer
from plugin.core.profile import PatientProfile
from plugin.core.views import ContextView, context_view

MCP_PATH = "/mcp"
# JSON-RPC 2.0: -32700 for a body that is not (strict) JSON, -32600 for one that is too large to read.
JSONRPC_CODES = {"request.too_large": -32600}


def jsonrpc_refusal(code: str, message: str, field: str) -> dict[str, Any]:
    """The JSON-RPC error MCP clients expect for a request refused before it was parsed; no id could be read."""
    error = {"code": JSONRPC_CODES.get(code, -32700), "message": message, "data": {"code": code, "field": field}}
    return {"jsonrpc": "2.0", "id": None, "error": error}


# Hints only, but they let a host run the tools without asking: nothing is written, nothing outside is reached.
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


class EvidenceSummary(Frozen):
    """What the evidence tool returns: the estimates as answers show them, their source, version and warning."""

    analysis_id: str
    title: str
    question: str
    pico: Pico
    participants: Participants
    estimates: tuple[EstimateView, ...]
    context: tuple[ContextView, ...]
    warnings: tuple[AnswerWarning, ...] = Field(min_length=1)
    citation: Citation
    evidence_version: str


STORE_WHY = "Held in the evidence store beside the non-randomized review."


def evidence_summary(plugin: Plugin) -> EvidenceSummary:
    analysis = plugin.store.analyses[ANALYSIS_ID]
    return EvidenceSummary(
        analysis_id=analysis.id,
        title=analysis.title,
        question=analysis.question,
        pico=analysis.pico,
        participants=analysis.participants,
        estimates=tuple(view(estimate, analysis, PatientProfile(), None) for estimate in analysis.estimates),
        context=tuple(context_view(record, STORE_WHY) for record in plugin.store.context.values()),
        warnings=(AnswerWarning(code=WARNING_CODE, text=analysis.warning.text),),
        citation=citation_of(analysis),
        evidence_version=plugin.store.version,
    )


# The SDK builds a tool's argument model from the function signature and ignores unknown keys. These models
# are the catalogue's own input models instead, so an extra key is an error naming it, as on POST /v1/answer.
class ProfileArguments(ArgModelBase, PatientProfile):
    model_config = ConfigDict(title="PatientProfile")


class EvidenceArguments(ArgModelBase, NoArguments):
    model_config = ConfigDict(title="NoArguments")


def _tool(spec: ToolSpec, fn: Callable[..., Any], arguments: type[ArgModelBase], output: type[BaseModel]) -> Tool:
    """A tool whose input schema is the catalogue model's schema and whose output schema is `output`'s."""
    return Tool(
        fn=fn,
        name=spec.name,
        title=spec.title,
        description=spec.description,
        parameters=spec.arguments.model_json_schema(),
        fn_metadata=FuncMetadata(arg_model=arguments, output_model=output),
        is_async=False,
        annotations=READ_ONLY,
    )


def build_server(plugin: Plugin) -> MCPServer[Any]:
    """The MCP server over a loaded plugin. Invalid arguments come back as tool errors (`isError`) naming the field."""

    def answer(**fields: Any) -> CallToolResult:
        result = plugin.respond(PatientProfile.model_validate(fields))
        return CallToolResult(
            content=[TextContent(type="text", text=result.rendered.markdown)],
            structured_content=result.model_dump(mode="json"),
        )

    summary = evidence_summary(plugin)

    def evidence() -> EvidenceSummary:
        return summary

    return MCPServer(
        SERVER_NAME,
        title="IVIG in recurrent pregnancy loss: evidence",
        version=__version__,
        instructions=INSTRUCTIONS,
        # Building the server configures root logging unless something already did. WARNING is Python's own
        # default, so the HTTP app does not start printing every library's INFO lines (an HTTP client logs
        # request URLs, which can carry patient ids); `ivig-cds mcp` sets up its stderr logging first.
        log_level="WARNING",
        tools=[
            _tool(ANSWER, answer, ProfileArguments, RenderedAnswer),
            _tool(EVIDENCE, evidence, EvidenceArguments, EvidenceSummary),
        ],
    )


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """Host and Origin allow-lists against DNS rebinding; a host not listed gets 421, an origin not listed 403."""
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=list(settings.mcp_allowed_hosts),
        allowed_origins=list(settings.mcp_allowed_origins),
    )


class McpHttp:
    """The ASGI endpoint at /mcp, and `running()` for the host app's lifespan.

    A mounted app's own lifespan never runs, and an SDK session manager runs only once, so each start of the
    host app builds a fresh manager and runs it until shutdown. Stateless with JSON responses: the tools never
    call back to the client, and any worker can answer any request.
    """

    def __init__(self, server: MCPServer[Any], settings: Settings) -> None:
        self.server = server
        self.security = transport_security(settings)
        self.serving = False

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        self.server.streamable_http_app(json_response=True, stateless_http=True, transport_security=self.security)
        async with self.server.session_manager.run():
            self.serving = True
            try:
                yield
            finally:
                self.serving = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.serving:
            body = {"error": {"code": "mcp.not_running", "message": "the MCP session manager is not running"}}
            await JSONResponse(body, status_code=503)(scope, receive, send)
            return
        await self.server.session_manager.handle_request(scope, receive, send)
