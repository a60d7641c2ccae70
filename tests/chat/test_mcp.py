"""The MCP door through the official client: stdio against a real `ivig-cds mcp` subprocess, and streamable
HTTP against a real uvicorn on 127.0.0.1 serving the whole app (so /mcp shares it with every other route).

One conversation per transport and protocol era (list the tools, call them, send bad arguments) is recorded
once per module; each test then checks one promise against every recorded conversation.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent, Tool
from mcp.types.version import LATEST_HANDSHAKE_VERSION, LATEST_MODERN_VERSION

from plugin.app import create_app
from plugin.chat.tool_catalog import ANSWER, EVIDENCE
from plugin.config import Settings
from plugin.core.answer import WARNING_CODE
from plugin.core.plugin import Plugin
from plugin.core.profile import PatientProfile

ROOT = Path(__file__).resolve().parents[2]
CONSOLE_SCRIPT = Path(sys.executable).with_name("ivig-cds")
ENV = {"IVIG_CDS_EVIDENCE_DIR": str(ROOT / "evidence"), "IVIG_CDS_TEMPLATES_DIR": str(ROOT / "templates")}
PROFILE = {
    "prior_pregnancy_losses": 3,
    "nk_cell_percent": 14,
    "autoimmune_conditions": [],
    "th1_th2_ratio_elevated": False,
    "ivig_start": "conception_cycle",
}
# Bad arguments, each with the field its error must name.
BAD_ARGUMENTS: dict[str, dict[str, Any]] = {
    "nk_cell_percent": {"nk_cell_percent": 140},
    "autoimmune_conditions.0": {"autoimmune_conditions": ["lupus"]},
    "nk_cells": {"nk_cells": 14},
}
DOI = "10.1186/s13223-022-00660-8"


@dataclass(frozen=True)
class Conversation:
    era: str
    protocol_version: str
    tools: list[Tool]
    answer: CallToolResult
    evidence: CallToolResult
    bad_answers: dict[str, CallToolResult]
    bad_evidence: CallToolResult


async def converse(session: ClientSession, era: str) -> Conversation:
    """Connect in the given era, list the tools, call each, then call them with bad arguments."""
    if era == "modern":
        await session.discover()
    else:
        await session.initialize()
    assert session.protocol_version is not None
    tools = (await session.list_tools()).tools
    return Conversation(
        era=era,
        protocol_version=session.protocol_version,
        tools=tools,
        answer=await session.call_tool(ANSWER.name, PROFILE),
        evidence=await session.call_tool(EVIDENCE.name, {}),
        bad_answers={field: await session.call_tool(ANSWER.name, args) for field, args in BAD_ARGUMENTS.items()},
        bad_evidence=await session.call_tool(EVIDENCE.name, {"analysis": "other"}),
    )


def in_own_thread(run: Callable[[], Awaitable[Conversation]]) -> Conversation:
    """Run on a fresh event loop in a worker thread: another fixture may hold a running loop in this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(anyio.run, run).result()


def over_stdio(era: str, errlog_path: Path) -> Conversation:
    params = StdioServerParameters(command=str(CONSOLE_SCRIPT), args=["mcp"], env=ENV, cwd=ROOT)

    async def run() -> Conversation:
        with errlog_path.open("w", encoding="utf-8") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
                return await converse(session, era)

    return in_own_thread(run)


def over_http(url: str, era: str) -> Conversation:
    async def run() -> Conversation:
        async with streamable_http_client(url) as (read, write), ClientSession(read, write) as session:
            return await converse(session, era)

    return in_own_thread(run)


@pytest.fixture(scope="module")
def base_url(settings: Settings) -> Iterator[str]:
    """A fresh app under a real uvicorn (lifespan on) on a free 127.0.0.1 port, in a thread; stopped at the end."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), lifespan="on", log_config=None, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]})
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                pytest.fail("uvicorn did not start within 30 s")
            time.sleep(0.01)  # startup runs in the server thread; nothing to wait on but its flag
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


@pytest.fixture(scope="module", params=["stdio-legacy", "stdio-modern", "http-legacy", "http-modern"])
def conversation(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Conversation:
    transport, era = request.param.split("-")
    if transport == "http":
        return over_http(f"{request.getfixturevalue('base_url')}/mcp", era)
    return over_stdio(era, tmp_path_factory.mktemp("mcp") / "stderr.txt")


def tool(conversation: Conversation, name: str) -> Tool:
    return next(t for t in conversation.tools if t.name == name)


def text_of(result: CallToolResult) -> str:
    assert len(result.content) == 1 and isinstance(result.content[0], TextContent)
    return result.content[0].text


def test_the_client_speaks_the_latest_revision_of_the_era_it_chose(conversation: Conversation) -> None:
    expected = LATEST_MODERN_VERSION if conversation.era == "modern" else LATEST_HANDSHAKE_VERSION
    assert conversation.protocol_version == expected


def test_the_server_lists_the_answer_and_evidence_tools_in_a_fixed_order(conversation: Conversation) -> None:
    assert [t.name for t in conversation.tools] == [ANSWER.name, EVIDENCE.name]


def test_tool_names_are_short_snake_case_that_every_provider_accepts(conversation: Conversation) -> None:
    for listed in conversation.tools:
        assert re.fullmatch(r"[a-z][a-z0-9_]{0,29}", listed.name)
        assert listed.title


def test_every_tool_is_read_only_and_closed_world(conversation: Conversation) -> None:
    for listed in conversation.tools:
        assert listed.annotations is not None
        assert listed.annotations.read_only_hint is True
        assert listed.annotations.open_world_hint is False


def test_every_tool_declares_an_object_output_schema(conversation: Conversation) -> None:
    for listed in conversation.tools:
        assert listed.output_schema is not None and listed.output_schema["type"] == "object"


def test_descriptions_say_the_evidence_is_nonrandomized_decision_support_and_the_warning_must_be_shown(
    conversation: Conversation,
) -> None:
    for listed in conversation.tools:
        description = (listed.description or "").lower()
        for term in ("non-randomized", "habets", "not a prescription", "dosing", "safety", WARNING_CODE):
            assert term in description, (listed.name, term)


def test_the_answer_tool_input_schema_is_the_patient_profile_schema(conversation: Conversation) -> None:
    assert tool(conversation, ANSWER.name).input_schema == PatientProfile.model_json_schema()


def test_the_evidence_tool_takes_no_arguments(conversation: Conversation) -> None:
    schema = tool(conversation, EVIDENCE.name).input_schema
    assert schema["properties"] == {} and schema["additionalProperties"] is False


def test_the_answer_is_matched_with_both_subgroups_then_overall_and_the_warning(conversation: Conversation) -> None:
    answer = conversation.answer.structured_content
    assert conversation.answer.is_error is False and answer is not None
    assert answer["status"] == "matched"
    assert [e["id"] for e in answer["estimates"]] == [
        "habets-2022-ivig-rpl#nk-above-12",
        "habets-2022-ivig-rpl#start-before-or-during-conception-cycle",
        "habets-2022-ivig-rpl#overall",
    ]
    assert WARNING_CODE in [w["code"] for w in answer["warnings"]]


def test_the_structured_answer_is_what_post_v1_answer_returns(conversation: Conversation, client: TestClient) -> None:
    assert conversation.answer.structured_content == client.post("/v1/answer", json=PROFILE).json()


def test_the_text_content_is_the_rendered_markdown_with_the_warning(conversation: Conversation, plugin: Plugin) -> None:
    answer = conversation.answer.structured_content
    assert answer is not None
    markdown = text_of(conversation.answer)
    assert markdown == answer["rendered"]["markdown"]
    warning = next(w for w in answer["warnings"] if w["code"] == WARNING_CODE)
    assert warning["text"] in markdown


@pytest.mark.parametrize("field", BAD_ARGUMENTS)
def test_bad_arguments_come_back_as_a_tool_error_naming_the_field(conversation: Conversation, field: str) -> None:
    result = conversation.bad_answers[field]
    assert result.is_error is True and result.structured_content is None
    assert re.search(rf"^{re.escape(field)}$", text_of(result), re.MULTILINE)


def test_an_argument_sent_to_the_evidence_tool_is_a_tool_error_naming_it(conversation: Conversation) -> None:
    assert conversation.bad_evidence.is_error is True
    assert re.search(r"^analysis$", text_of(conversation.bad_evidence), re.MULTILINE)


def test_the_evidence_tool_returns_estimates_certainty_citation_version_and_warning(
    conversation: Conversation, plugin: Plugin
) -> None:
    evidence = conversation.evidence.structured_content
    assert conversation.evidence.is_error is False and evidence is not None
    assert {e["id"] for e in evidence["estimates"]} == {
        "habets-2022-ivig-rpl#overall",
        "habets-2022-ivig-rpl#nk-above-12",
        "habets-2022-ivig-rpl#start-before-or-during-conception-cycle",
    }
    assert all(e["certainty"]["level"] for e in evidence["estimates"])
    assert evidence["citation"]["doi"] == DOI
    assert evidence["evidence_version"] == plugin.store.version
    assert [w["code"] for w in evidence["warnings"]] == [WARNING_CODE]
    assert json.loads(text_of(conversation.evidence)) == evidence


def test_stdout_of_ivig_cds_mcp_carries_nothing_but_json_rpc() -> None:
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": ANSWER.name, "arguments": PROFILE}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": ANSWER.name, "arguments": {"x": 1}}},
    ]
    with subprocess.Popen(
        [str(CONSOLE_SCRIPT), "mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **ENV},
    ) as server:
        watchdog = threading.Timer(60, server.kill)  # a hung server fails the test instead of hanging it
        watchdog.start()
        try:
            assert server.stdin and server.stdout
            server.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
            server.stdin.flush()
            lines = [server.stdout.readline() for _ in range(3)]  # stdin stays open until every reply is in
            rest, log = server.communicate(timeout=30)  # closes stdin: the server ends its session and exits
        finally:
            watchdog.cancel()
    replies = sorted((json.loads(line) for line in [*lines, *rest.splitlines()]), key=lambda r: r["id"])
    assert [(r["jsonrpc"], r["id"]) for r in replies] == [("2.0", 1), ("2.0", 2), ("2.0", 3)]
    assert replies[1]["result"]["structuredContent"]["status"] == "matched"
    assert replies[2]["result"]["isError"] is True
    assert server.returncode == 0
    assert ANSWER.name in log  # the rejected call is logged, on stderr


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


def test_the_other_routes_are_served_beside_mcp_by_the_same_server(base_url: str) -> None:
    assert httpx.get(f"{base_url}/healthz").status_code == 200
    assert httpx.get(f"{base_url}/v1/tools", params={"format": "openai"}).status_code == 200
    assert httpx.post(f"{base_url}/v1/answer", json=PROFILE).json()["status"] == "matched"
    missing = httpx.get(f"{base_url}/no-such-route")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "request.not_found")


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 200),
        ({"Origin": "http://localhost:5173"}, 200),
        ({"Host": "cds.example.org"}, 421),
        ({"Origin": "https://evil.example"}, 403),
    ],
    ids=["localhost", "local-origin", "foreign-host", "foreign-origin"],
)
def test_mcp_over_http_answers_only_allowed_hosts_and_origins(
    base_url: str, headers: dict[str, str], status: int
) -> None:
    response = httpx.post(f"{base_url}/mcp", json=INITIALIZE, headers=MCP_HEADERS | headers)
    assert response.status_code == status


def test_allowed_hosts_come_from_settings_and_the_app_starts_twice(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"mcp_allowed_hosts": ("testserver",)}))
    for _ in range(2):  # each start runs a fresh session manager; the SDK's runs only once
        with TestClient(app) as client:
            response = client.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)
            assert response.status_code == 200
            assert response.json()["result"]["serverInfo"]["name"] == "ivig-cds"


def test_mcp_answers_503_with_a_code_when_the_app_was_never_started(settings: Settings) -> None:
    response = TestClient(create_app(settings)).post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "mcp.not_running"


def test_building_the_app_keeps_library_info_logs_silent() -> None:
    """The SDK configures root logging when the server is built; INFO lines (request URLs) must stay off."""
    script = "import logging; from plugin.app import create_app; create_app(); print(logging.getLogger().level)"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ, **ENV}, check=True
    )
    assert int(result.stdout) >= logging.WARNING


def test_the_readme_client_snippets_point_at_the_real_doors() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Chat assistants (MCP and function calling)") :]
    stdio, http = (
        json.loads(block)["mcpServers"]["ivig-cds"] for block in re.findall(r"```json\n(.*?)```", section, re.S)
    )
    assert (Path(stdio["command"]).name, stdio["args"]) == ("ivig-cds", ["mcp"])
    assert http["url"] == "http://127.0.0.1:8000/mcp"
    assert set(re.findall(r'"name": "(ivig_rpl_\w+)"', section)) <= {ANSWER.name, EVIDENCE.name}
