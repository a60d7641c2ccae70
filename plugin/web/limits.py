"""Request limits applied before any parsing, as a pure ASGI middleware in front of every door.

A body is refused (413) from its Content-Length, or as soon as it has grown past the limit, before the app sees
any of it; a long query string (414) or one with too many parameters (422) is refused before it is split. A JSON
body is then parsed once strictly (`strict_json`), off the event loop when it is large, so that no door ever
meets NaN, a duplicate key, a lone surrogate or a nesting deep enough to be costly. Each door renders a refusal
in its own error shape (`Render`), and none of them echoes a value from the request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plugin.web.strict_json import Refusal, check_json


@dataclass(frozen=True)
class Limits:
    """Every limit in one place; `bodies` gives the body limit of a path prefix (the first that matches wins)."""

    max_body: int
    bodies: tuple[tuple[str, int], ...] = ()
    max_query: int = 8192
    max_parameters: int = 64
    max_depth: int = 32
    # Bodies larger than this are parsed in a worker thread, so a big one never stalls the other requests.
    offload_above: int = 64 * 1024

    def body_limit(self, path: str) -> int:
        return next((limit for prefix, limit in self.bodies if (path + "/").startswith(prefix + "/")), self.max_body)


# How a door writes a refusal: (path, refusal) -> (body, media type); the status is the refusal's.
Render = Callable[[str, Refusal], tuple[bytes, str]]
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_json(content_type: str) -> bool:
    """Content types FastAPI reads as JSON (and none at all, which it reads as JSON too)."""
    media = content_type.partition(";")[0].strip().lower()
    return not media or media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class RequestLimits:
    """Refuse oversized or malformed requests before a door parses them; let everything else through unchanged."""

    def __init__(self, app: ASGIApp, limits: Limits, render: Render) -> None:
        self.app = app
        self.limits = limits
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self.check_query(scope["query_string"])
            replay = await self.read_body(scope, receive)
        except Refusal as refusal:
            await self.refuse(scope, send, refusal)
            return
        await self.app(scope, replay or receive, send)

    def check_query(self, query: bytes) -> None:
        if len(query) > self.limits.max_query:
            raise Refusal(414, "request.query_too_long", f"longer than {self.limits.max_query} bytes", "query")
        if query and query.count(b"&") + 1 > self.limits.max_parameters:
            raise Refusal(
                422, "request.too_many_parameters", f"more than {self.limits.max_parameters} parameters", "query"
            )

    async def read_body(self, scope: Scope, receive: Receive) -> Receive | None:
        """The whole body, within its limit and checked if JSON, replayed to the app; None when there is none."""
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if scope["method"] not in BODY_METHODS and length is None and b"transfer-encoding" not in headers:
            return None
        limit = self.limits.body_limit(scope["path"])
        if length is not None:
            if not length.isdigit():
                raise Refusal(400, "request.bad_content_length", "is not a whole number of bytes", "Content-Length")
            if int(length) > limit:
                raise too_large(limit)
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return lambda: just(message)  # the client left: the app sees the disconnect
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body and is_json(headers.get(b"content-type", b"").decode("latin-1")):
            if len(body) > self.limits.offload_above:
                await anyio.to_thread.run_sync(check_json, body, self.limits.max_depth)
            else:
                check_json(body, self.limits.max_depth)
        return replaying(body, receive)

    async def refuse(self, scope: Scope, send: Send, refusal: Refusal) -> None:
        body, media_type = self.render(scope["path"], refusal)
        headers = [(b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode())]
        # A body left unread must not be taken for the next request on this connection.
        headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def too_large(limit: int) -> Refusal:
    return Refusal(413, "request.too_large", f"larger than the limit of {limit} bytes", "body")


async def just(message: Message) -> Message:
    return message


def replaying(body: bytes, receive: Receive) -> Receive:
    """A receive() that hands the app the body already read, then whatever the client does next (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
