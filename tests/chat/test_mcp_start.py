"""The stdio start through the official client: `initialize` and `tools/list` are answered while the evidence
store is still loading; a tool call waits for it, and a load that then fails ends the server instead of
leaving calls unanswered.

The store is held mid-load deterministically: a copy of the evidence whose extra analysis file is a named pipe,
so loading blocks on opening it until the test opens the other end.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client

from plugin.chat.tool_catalog import ANSWER, EVIDENCE

ROOT = Path(__file__).resolve().parents[2]
CONSOLE_SCRIPT = Path(sys.executable).with_name("ivig-cds")


def test_initialize_and_tools_list_are_answered_while_the_evidence_is_still_loading(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    shutil.copytree(ROOT / "evidence", evidence)
    pipe = evidence / "analyses" / "zz-still-loading.toml"
    os.mkfifo(pipe)
    env = {"IVIG_CDS_EVIDENCE_DIR": str(evidence), "IVIG_CDS_TEMPLATES_DIR": str(ROOT / "templates")}
    params = StdioServerParameters(command=str(CONSOLE_SCRIPT), args=["mcp"], env=env, cwd=ROOT)
    seen: dict[str, object] = {}

    def release() -> None:
        """Open the pipe's writing end and close it: the blocked load reads an empty file and fails."""
        with pipe.open("wb"):
            pass

    async def run() -> None:
        with (tmp_path / "stderr.txt").open("w", encoding="utf-8") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
                with anyio.fail_after(30):
                    await session.initialize()
                    seen["tools"] = [t.name for t in (await session.list_tools()).tools]
                with anyio.move_on_after(1) as waiting:
                    await session.call_tool(ANSWER.name, {"nk_cell_percent": 14})
                seen["call_waited"] = waiting.cancelled_caught
                threading.Thread(target=release, daemon=True).start()
                with anyio.move_on_after(30) as stopping:
                    try:
                        await session.call_tool(ANSWER.name, {"nk_cell_percent": 14})
                    except Exception as exc:  # the server ended under the call: the connection closed
                        seen["call_ended_with"] = type(exc).__name__
                seen["stopped"] = not stopping.cancelled_caught

    with ThreadPoolExecutor(max_workers=1) as pool:  # a fresh event loop: another fixture may hold one here
        try:
            pool.submit(anyio.run, run).result(timeout=90)
        except Exception as exc:  # the server stopping under a pending call may surface as a closed connection
            seen.setdefault("ended_with", type(exc).__name__)
    assert seen["tools"] == [ANSWER.name, EVIDENCE.name]
    assert seen["call_waited"] is True
    assert seen["stopped"] is True  # the blocked load then failed, and the server ended instead of hanging
