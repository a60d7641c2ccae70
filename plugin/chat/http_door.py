"""/mcp in the HTTP app, without making `serve` wait for the MCP SDK.

Importing the SDK takes about half a second, a third of what `serve` needs before its first answer, and only the
chat door uses it. So the app starts without it, and the first /mcp request has a worker thread import the SDK
and build the server (`mcp_server.McpHttp`); it and any request that comes meanwhile wait for it. Not at start-up
in the background: the import holds the interpreter in long stretches, and the other doors' first answers then
took up to a tenth of a second.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from plugin.config import Settings

if TYPE_CHECKING:
    from plugin.chat.mcp_server import McpHttp
    from plugin.chat.tools import PluginSource

MCP_PATH = "/mcp"
# JSON-RPC 2.0: -32700 for a body that is not (strict) JSON, -32600 for one that is too large to read.
JSONRPC_CODES = {"request.too_large": -32600}
# Seconds a /mcp request waits for the server being built (it takes about half a second).
BUILD_WAIT = 10.0
log = logging.getLogger(__name__)


def jsonrpc_refusal(code: str, message: str, field: str) -> dict[str, Any]:
    """The JSON-RPC error MCP clients expect for a request refused before it was parsed; no id could be read."""
    error = {"code": JSONRPC_CODES.get(code, -32700), "message": message, "data": {"code": code, "field": field}}
    return {"jsonrpc": "2.0", "id": None, "error": error}


def build(plugin: PluginSource, settings: Settings) -> McpHttp:
    from plugin.chat.mcp_server import McpHttp, build_server  # the SDK, imported here only

    return McpHttp(build_server(plugin), settings)


async def not_running(scope: Scope, receive: Receive, send: Send) -> None:
    body = {"error": {"code": "mcp.not_running", "message": "the MCP session manager is not running"}}
    await JSONResponse(body, status_code=503)(scope, receive, send)


class LazyMcpHttp:
    """The ASGI endpoint at /mcp, and `running()` for the host app's lifespan, which builds the server in a
    worker thread on the first request and runs it until shutdown (each start of the host app runs a fresh one).
    Each tool call asks `plugin` for the release served when it starts, so the server outlives a switch."""

    def __init__(self, plugin: PluginSource, settings: Settings) -> None:
        self.plugin = plugin
        self.settings = settings
        self._wanted: anyio.Event | None = None
        self._ready: anyio.Event | None = None
        self._http: McpHttp | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        self._wanted, self._ready = anyio.Event(), anyio.Event()
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._serve, self._wanted, self._ready)
                try:
                    yield
                finally:
                    group.cancel_scope.cancel()
        finally:
            self._wanted = self._ready = None

    async def _serve(self, wanted: anyio.Event, ready: anyio.Event) -> None:
        await wanted.wait()  # the first /mcp request
        try:
            http = await anyio.to_thread.run_sync(build, self.plugin, self.settings)
            async with http.running():
                self._http = http
                ready.set()
                await anyio.sleep_forever()
        except Exception:  # a defect: the other doors keep serving, /mcp answers 503, the log has the stack
            log.exception("the MCP server could not be built or run")
        finally:
            self._http = None
            ready.set()  # wakes any request still waiting: it gets 503

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        wanted, ready = self._wanted, self._ready
        if wanted is None or ready is None:
            await not_running(scope, receive, send)
            return
        if not ready.is_set():  # only while the server is being built: later requests go straight through
            wanted.set()
            with anyio.move_on_after(BUILD_WAIT):
                await ready.wait()
        http = self._http
        if http is None:
            await not_running(scope, receive, send)
            return
        await http(scope, receive, send)
