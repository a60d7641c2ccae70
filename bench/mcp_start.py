"""Stdio start of `ivig-cds mcp` against bare servers made with the same MCP SDK, measured in the same run.

For each server, ROUNDS fresh processes: the time from spawn to the `initialize` result, and from spawn to the
first `tools/call` result (sent right after the handshake). The bare servers hold one echo tool: one built
with `MCPServer` (the SDK's usual entry point), one with the low-level `Server` this service uses. Prints
medians and maxima, the overhead over each bare server, and the size of each `tools/list` result.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROUNDS = 7
ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "IVIG_CDS_EVIDENCE_DIR": str(ROOT / "evidence"), "IVIG_CDS_TEMPLATES_DIR": str(ROOT / "templates")}
BARE_MCPSERVER = """
from mcp.server import MCPServer
server = MCPServer("bare")
@server.tool()
def echo(text: str) -> str:
    return text
server.run("stdio")
"""
BARE_LOWLEVEL = """
import anyio
from mcp.server.lowlevel.server import Server
from mcp.server.stdio import stdio_server
from mcp_types import CallToolResult, ListToolsResult, TextContent, Tool
TOOL = Tool(name="echo", input_schema={"type": "object", "properties": {"text": {"type": "string"}}})
async def list_tools(ctx, params):
    return ListToolsResult(tools=[TOOL])
async def call_tool(ctx, params):
    return CallToolResult(content=[TextContent(type="text", text=params.arguments["text"])])
server = Server("bare", on_list_tools=list_tools, on_call_tool=call_tool)
async def main():
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())
anyio.run(main)
"""
SERVERS: dict[str, tuple[list[str], str, dict[str, Any]]] = {
    "ivig-cds mcp": (
        [str(Path(sys.executable).with_name("ivig-cds")), "mcp"],
        "ivig_rpl_answer",
        {"prior_pregnancy_losses": 3, "nk_cell_percent": 14},
    ),
    "bare MCPServer": ([sys.executable, "-c", BARE_MCPSERVER], "echo", {"text": "hi"}),
    "bare low-level Server": ([sys.executable, "-c", BARE_LOWLEVEL], "echo", {"text": "hi"}),
}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}},
}


def send(process: subprocess.Popen[str], message: dict[str, Any]) -> None:
    assert process.stdin is not None
    process.stdin.write(json.dumps(message) + "\n")
    process.stdin.flush()


def reply(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    message: dict[str, Any] = json.loads(process.stdout.readline())
    return message


def one_start(command: list[str], tool: str, arguments: dict[str, Any]) -> tuple[float, float, int]:
    """Seconds from spawn to the initialize result and to the first tools/call result; tools/list bytes."""
    start = time.perf_counter()
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=ENV
    ) as process:
        send(process, INITIALIZE)
        reply(process)
        initialized = time.perf_counter() - start
        send(process, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        send(
            process,
            {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": arguments}},
        )
        called = reply(process)
        first_call = time.perf_counter() - start
        if "result" not in called:
            raise SystemExit(f"{command}: tools/call failed: {called}")
        send(process, {"jsonrpc": "2.0", "id": 3, "method": "tools/list"})
        listed = len(json.dumps(reply(process)["result"], separators=(",", ":")))
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)
    return initialized, first_call, listed


def main() -> None:
    results: dict[str, tuple[list[float], list[float], int]] = {}
    for _ in range(ROUNDS):  # interleaved, so a burst of load on the machine hits every server alike
        for name, (command, tool, arguments) in SERVERS.items():
            initialized, first_call, listed = one_start(command, tool, arguments)
            inits, calls, _ = results.setdefault(name, ([], [], 0))
            inits.append(initialized)
            calls.append(first_call)
            results[name] = (inits, calls, listed)
    print(f"stdio start, {ROUNDS} fresh processes each (seconds from spawn):")  # noqa: T201
    header = f"{'initialize median':>18} {'max':>6} {'first tools/call median':>24} {'max':>6} {'tools/list':>11}"
    print(f"{'server':24} {header}")  # noqa: T201
    for name, (inits, calls, listed) in results.items():
        print(  # noqa: T201
            f"{name:24} {statistics.median(inits):18.3f} {max(inits):6.3f} "
            f"{statistics.median(calls):24.3f} {max(calls):6.3f} {listed:>9} B"
        )
    ours_init, ours_call, _ = results["ivig-cds mcp"]
    for bare in ("bare MCPServer", "bare low-level Server"):
        inits, calls, _ = results[bare]
        print(  # noqa: T201
            f"ivig-cds over {bare}: initialize +{statistics.median(ours_init) - statistics.median(inits):.3f} s, "
            f"first tools/call +{statistics.median(ours_call) - statistics.median(calls):.3f} s (medians)"
        )


if __name__ == "__main__":
    main()
