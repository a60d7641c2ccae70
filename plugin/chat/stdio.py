"""`ivig-cds mcp`: MCP over stdin/stdout, answering `initialize` and `tools/list` while the evidence loads.

Loading and verifying the evidence store takes longer than the handshake (the consistency checks import
scipy), and neither `initialize` nor `tools/list` needs it, so it loads in a worker thread from the start and
a tool call waits for it. A store that fails to load still fails closed: the process ends at once with
status 1, having answered no tool call. A line on stdin that is not one JSON-RPC message gets a
JSON-RPC error reply (with its id when it has a usable one) and a warning on stderr; the SDK dropped it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable
from io import TextIOWrapper
from typing import Any, NoReturn

import anyio
import anyio.to_thread
from anyio.abc import ObjectSendStream
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage

from plugin.chat import envelope
from plugin.chat.envelope import Rejection
from plugin.chat.mcp_server import build_server
from plugin.core.answer.plugin import Plugin
from plugin.errors import PluginError

logger = logging.getLogger(__name__)


def rejection_of(line: str) -> Rejection | None:
    try:
        message = json.loads(line)
    except (ValueError, RecursionError):
        return envelope.PARSE
    return envelope.check(message)


class CheckedLines:
    """Stdin as the SDK reads it (`async for line in …`), minus the lines that are not JSON-RPC messages."""

    def __init__(self, lines: Any, refused: ObjectSendStream[Rejection]) -> None:
        self.lines = lines
        self.refused = refused

    async def __aiter__(self) -> AsyncIterator[str]:
        number = 0
        async with self.refused:
            async for line in self.lines:
                number += 1
                if not line.strip():
                    continue
                rejection = rejection_of(line)
                if rejection is None:
                    yield line
                    continue
                logger.warning("stdin line %d refused with %d: %s", number, rejection.code, rejection.message)
                await self.refused.send(rejection)


async def serve(load: Callable[[], Plugin]) -> None:
    """Serve until stdin closes. A store that fails to load ends the process with status 1 (see `stop`)."""
    ready = anyio.Event()
    loaded: list[Plugin] = []

    async def plugin() -> Plugin:
        await ready.wait()
        return loaded[0]

    server = build_server(plugin)
    refused_send, refused_receive = anyio.create_memory_object_stream[Rejection](16)
    stdin = anyio.wrap_file(TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace"))

    async def load_in_background() -> None:
        try:
            loaded.append(await anyio.to_thread.run_sync(load, abandon_on_cancel=True))
        except PluginError as exc:
            stop(exc)
        ready.set()

    async with anyio.create_task_group() as group:
        group.start_soon(load_in_background)
        async with stdio_server(stdin=CheckedLines(stdin, refused_send)) as (read, write):  # type: ignore[arg-type]

            async def answer_refused() -> None:
                async with refused_receive:
                    async for rejection in refused_receive:
                        try:
                            await write.send(SessionMessage(rejection.reply()))
                        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                            return  # the session ended first: nobody is left to read the reply

            group.start_soon(answer_refused)
            await server.run(read, write, server.create_initialization_options())
        group.cancel_scope.cancel()


def stop(error: PluginError) -> NoReturn:
    """End the process now, as `ivig-cds` ends on a broken store before serving: the error on stderr, status 1.

    A cancelled server would wait for its stdin reader, a worker thread blocked in a read that no cancellation
    reaches, so the client would wait on calls nobody answers until it closed stdin.
    """
    logging.shutdown()
    print(f"ivig-cds: {error}", file=sys.stderr, flush=True)  # noqa: T201
    os._exit(1)
