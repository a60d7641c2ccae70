"""JSON-RPC 2.0 envelopes as MCP allows them, checked before the SDK sees a message (stdio and HTTP alike).

The SDK reads a message that is not a request as a notification and drops it (`"id": null` got 202), and
answers a batch or a missing method with `-32602` and a validation dump. JSON-RPC 2.0 says `-32600` Invalid
Request for those, with the request's id when it has a usable one and null otherwise; MCP adds that an id is
a string or an integer, never null, and (since 2025-06-18) that batches are not accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcp_types import INVALID_REQUEST, PARSE_ERROR, ErrorData, JSONRPCError

RequestId = str | int


@dataclass(frozen=True)
class Rejection:
    code: int
    message: str
    id: RequestId | None = None

    def reply(self) -> JSONRPCError:
        return JSONRPCError(jsonrpc="2.0", id=self.id, error=ErrorData(code=self.code, message=self.message))


PARSE = Rejection(PARSE_ERROR, "Parse error: the message is not valid JSON")


def usable_id(message: dict[str, Any]) -> RequestId | None:
    value = message.get("id")
    return value if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)) else None


def check(message: Any) -> Rejection | None:
    """Why `message` (decoded JSON) is not a JSON-RPC request, notification or response MCP accepts, or None."""
    if isinstance(message, list):
        return Rejection(INVALID_REQUEST, "batches are not accepted: send one JSON-RPC message at a time")
    if not isinstance(message, dict):
        return Rejection(INVALID_REQUEST, "the message must be a JSON-RPC object")
    found = usable_id(message)
    if message.get("jsonrpc") != "2.0":
        return Rejection(INVALID_REQUEST, 'jsonrpc: must be "2.0"', found)
    if "id" in message and found is None:
        return Rejection(INVALID_REQUEST, "id: must be a string or an integer (MCP allows no null id)")
    if "method" not in message and ("result" in message or "error" in message):
        return None  # a response: nothing here asks the client anything, and the SDK drops it
    if not isinstance(message.get("method"), str):
        return Rejection(INVALID_REQUEST, "method: required, a string", found)
    if message.get("params") is not None and not isinstance(message["params"], dict):
        return Rejection(INVALID_REQUEST, "params: must be an object", found)
    return None
