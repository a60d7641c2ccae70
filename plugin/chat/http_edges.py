"""What /mcp answers before the SDK does: the protocol's edges, per the MCP transport spec and JSON-RPC 2.0.

- Only POST: this server sends nothing server-initiated (stateless, JSON responses), so a GET (or DELETE)
  gets 405 with `Allow: POST`, as the transport spec lets a server without a GET stream answer. The SDK
  opened an SSE stream that never carried anything, one held socket per GET; now no GET holds anything.
- A body that is not one valid JSON-RPC message gets the JSON-RPC code (`envelope.py`) and 400.
- A 2026-07-28 request whose `MCP-Protocol-Version` header is missing or differs from its `_meta` protocol
  version gets 400 with `-32020` (header mismatch); the SDK checked this only when the header itself named
  the new revision.
- CORS for browser clients (an MCP Inspector page, a web assistant): a preflight from an allowed origin
  (IVIG_CDS_MCP_ALLOWED_ORIGINS) gets 204 with the methods and the MCP headers it may send, and every answer to an
  allowed origin carries `Access-Control-Allow-Origin` and exposes `Mcp-Session-Id`. A preflight from any other
  origin is refused like the request itself would be.
Host and Origin are checked first, as the SDK does, and bodies are capped at the SDK's 4 MiB (413 above). Every
error this door answers is JSON (JSON-RPC), the SDK's plain-text Host and Origin refusals included.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server.transport_security import (
    DEFAULT_MAX_REQUEST_BODY_SIZE,
    RequestBodyLimitMiddleware,
    TransportSecurityMiddleware,
    TransportSecuritySettings,
)
from mcp_types import HEADER_MISMATCH, PROTOCOL_VERSION_META_KEY
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plugin.chat import envelope
from plugin.chat.envelope import Rejection
from plugin.web.limits import replaying

VERSION_HEADER = "mcp-protocol-version"
# What a browser client may send and read (MCP transports: the session, protocol version and, from 2026-07-28,
# method and name headers; Last-Event-ID for resuming a stream).
ALLOW_HEADERS = (
    "Accept, Authorization, Content-Type, Last-Event-ID, Mcp-Method, Mcp-Name, Mcp-Protocol-Version, Mcp-Session-Id"
)
PREFLIGHT = {
    "Access-Control-Allow-Methods": "POST",
    "Access-Control-Allow-Headers": ALLOW_HEADERS,
    "Access-Control-Max-Age": "600",
}
INVALID_REQUEST = -32600


def cors(origin: str) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Expose-Headers": "Mcp-Session-Id", "Vary": "Origin"}


def as_jsonrpc(refusal: Response) -> Response:
    """The SDK's plain-text Host, Origin or Content-Type refusal as a JSON-RPC error, with its status."""
    message = bytes(refusal.body).decode("utf-8", "replace") or "request refused"
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": INVALID_REQUEST, "message": message}})
    return Response(body, status_code=refusal.status_code, media_type="application/json")


def header_mismatch(message: dict[str, Any], header: str | None) -> Rejection | None:
    """A request carrying the per-request envelope must name the same protocol version in the header."""
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    declared = meta.get(PROTOCOL_VERSION_META_KEY) if isinstance(meta, dict) else None
    if declared is None or message.get("method") == "initialize" or header == declared:
        return None
    said = "is missing" if header is None else "differs"
    return Rejection(
        HEADER_MISMATCH,
        f"MCP-Protocol-Version header {said}: it must equal params._meta's protocol version",
        envelope.usable_id(message),
    )


def refused(rejection: Rejection) -> Response:
    body = rejection.reply().model_dump_json(by_alias=True)
    return Response(body, status_code=400, media_type="application/json")


class McpEdges:
    """ASGI: answers the edges itself and hands every other request, body replayed, to the SDK's `app`."""

    def __init__(self, security: TransportSecuritySettings, app: ASGIApp) -> None:
        self.security = TransportSecurityMiddleware(security)
        self.app = app
        self.post = RequestBodyLimitMiddleware(self._post, DEFAULT_MAX_REQUEST_BODY_SIZE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        is_post = request.method == "POST"
        origin = request.headers.get("origin")
        preflight = request.method == "OPTIONS" and origin and "access-control-request-method" in request.headers
        error = await self.security.validate_request(request, is_post=is_post)
        if error is not None:
            await as_jsonrpc(error)(scope, receive, send)
        elif preflight and origin:
            await Response(status_code=204, headers={**PREFLIGHT, **cors(origin)})(scope, receive, send)
        elif not is_post:
            await Response(status_code=405, headers={"Allow": "POST"})(scope, receive, send)
        elif origin:
            await self.post(scope, receive, with_headers(send, cors(origin)))
        else:
            await self.post(scope, receive, send)

    async def _post(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        body = await request.body()
        try:
            message = json.loads(body)
        except (ValueError, RecursionError):
            await refused(envelope.PARSE)(scope, receive, send)
            return
        rejection = envelope.check(message)
        if rejection is None and isinstance(message, dict):
            rejection = header_mismatch(message, request.headers.get(VERSION_HEADER))
        if rejection is not None:
            await refused(rejection)(scope, receive, send)
            return
        await self.app(scope, replaying(body, receive), send)


def with_headers(send: Send, headers: dict[str, str]) -> Send:
    """`send`, adding `headers` to the response's start (the SDK's answers and this module's own alike)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            extra = MutableHeaders(scope=message)
            for name, value in headers.items():
                extra[name] = value
        await send(message)

    return sending
