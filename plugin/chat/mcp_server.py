"""The MCP server: two read-only tools and the decision-aid prompt over the same `Plugin` as every other door, and
/mcp for the HTTP app.

Built on the SDK's low-level `Server` with only the tools and prompts handlers, so the capabilities it derives are
the same in `initialize` and in `server/discover` (tools and prompts, nothing list-changing, nothing to subscribe
to). Served over
stdio (`ivig-cds mcp`, see `stdio.py`) and streamable HTTP at /mcp (`McpHttp`, edges in `http_edges.py`), which
the HTTP app builds on the first /mcp request (`http_door.py`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import (
    CallToolRequestParams,
    CallToolResult,
    GetPromptRequestParams,
    GetPromptResult,
    ListPromptsResult,
    ListToolsResult,
    PaginatedRequestParams,
)
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from plugin import __version__
from plugin.chat.http_edges import McpEdges
from plugin.chat.prompts import ChatPrompts
from plugin.chat.tool_catalog import INSTRUCTIONS, SERVER_NAME
from plugin.chat.tools import ChatTools, PluginSource
from plugin.config import Settings


def build_server(plugin: PluginSource) -> Server[Any]:
    """The MCP server; `plugin` is awaited on each tool call (stdio loads it while `initialize` is answered)."""
    tools = ChatTools(plugin)
    prompts = ChatPrompts(plugin)

    async def list_tools(ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None) -> ListToolsResult:
        return ListToolsResult(tools=tools.tools)

    async def call_tool(ctx: ServerRequestContext[Any], params: CallToolRequestParams) -> CallToolResult:
        return await tools.call(params.name, params.arguments)

    async def list_prompts(ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None) -> ListPromptsResult:
        return ListPromptsResult(prompts=prompts.prompts)

    async def get_prompt(ctx: ServerRequestContext[Any], params: GetPromptRequestParams) -> GetPromptResult:
        return await prompts.get(params.name, params.arguments)

    return Server(
        SERVER_NAME,
        title="IVIG in recurrent pregnancy loss: evidence",
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
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

    def __init__(self, server: Server[Any], settings: Settings) -> None:
        self.server = server
        self.security = transport_security(settings)
        self.edges = McpEdges(self.security, self._sdk)
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

    async def _sdk(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.server.session_manager.handle_request(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.serving:
            body = {"error": {"code": "mcp.not_running", "message": "the MCP session manager is not running"}}
            await JSONResponse(body, status_code=503)(scope, receive, send)
            return
        await self.edges(scope, receive, send)
