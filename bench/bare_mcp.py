"""The MCP baseline over HTTP: the SDK's low-level `Server`, as ours is built, with one tool whose result is the
very `tools/call` result our service returned (read from BENCH_RESPONSES, see bench/bare_apps.py).

Served like ours: streamable HTTP at /mcp, stateless, JSON responses (no SSE). Run with
`uvicorn --factory bench.bare_mcp:mcp_app`; the SDK's default Host/Origin allow-lists accept 127.0.0.1.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp_types import CallToolRequestParams, CallToolResult, ListToolsResult, PaginatedRequestParams, Tool
from starlette.applications import Starlette

from bench.bare_apps import recorded
from plugin.core.rules.profile import PatientProfile

MCP_PATH = "/mcp"
ANSWER_TOOL = "ivig_rpl_answer"


def mcp_app() -> Starlette:
    body, _ = recorded("mcp")
    result = CallToolResult.model_validate(json.loads(body)["result"])
    tool = Tool(name=ANSWER_TOOL, input_schema=PatientProfile.model_json_schema())

    async def list_tools(ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None) -> ListToolsResult:
        return ListToolsResult(tools=[tool])

    async def call_tool(ctx: ServerRequestContext[Any], params: CallToolRequestParams) -> CallToolResult:
        return result

    server: Server[Any] = Server("bare", on_list_tools=list_tools, on_call_tool=call_tool)
    return server.streamable_http_app(streamable_http_path=MCP_PATH, json_response=True, stateless_http=True)
