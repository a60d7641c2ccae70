"""The protocol's edges that no well-behaved client sends, on the real servers: streamable HTTP under uvicorn on
127.0.0.1, and `ivig-cds mcp` as a subprocess. Codes as MCP (2025-11-25, 2026-07-28) and JSON-RPC 2.0 list them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.types import HEADER_MISMATCH, INVALID_REQUEST, PARSE_ERROR
from mcp.types.version import LATEST_MODERN_VERSION

from plugin.chat.tool_catalog import ANSWER

ROOT = Path(__file__).resolve().parents[2]
CONSOLE_SCRIPT = Path(sys.executable).with_name("ivig-cds")
ENV = {"IVIG_CDS_EVIDENCE_DIR": str(ROOT / "evidence"), "IVIG_CDS_TEMPLATES_DIR": str(ROOT / "templates")}
POST_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
LEGACY = "2025-11-25"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
}


def modern_call(version: str) -> dict[str, Any]:
    meta = {"io.modelcontextprotocol/protocolVersion": version, "io.modelcontextprotocol/clientCapabilities": {}}
    return {"jsonrpc": "2.0", "id": 5, "method": "tools/list", "params": {"_meta": meta}}


def post(base_url: str, body: str | bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{base_url}/mcp", content=body, headers=POST_HEADERS | (headers or {}), timeout=10)


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_mcp_answers_405_to_anything_but_post_because_it_streams_nothing(base_url: str, method: str) -> None:
    response = httpx.request(method, f"{base_url}/mcp", headers={"Accept": "text/event-stream"}, timeout=10)
    assert (response.status_code, response.headers["allow"], response.content) == (405, "POST", b"")


def test_a_hundred_concurrent_gets_are_all_answered_at_once_and_none_holds_a_stream(base_url: str) -> None:
    def get(_: int) -> tuple[int, str]:
        response = httpx.get(f"{base_url}/mcp", headers={"Accept": "text/event-stream"}, timeout=10)
        return response.status_code, response.headers.get("content-type", "")

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(get, range(100)))
    assert answers == [(405, "")] * 100  # no text/event-stream: every socket is released with its answer


@pytest.mark.parametrize(
    ("body", "code", "reply_id"),
    [
        ("{not json", PARSE_ERROR, None),
        (json.dumps([INITIALIZE]), INVALID_REQUEST, None),
        (json.dumps("tools/list"), INVALID_REQUEST, None),
        (json.dumps({"jsonrpc": "1.0", "id": 7, "method": "tools/list"}), INVALID_REQUEST, 7),
        (json.dumps({"jsonrpc": "2.0", "id": 8}), INVALID_REQUEST, 8),
        (json.dumps({"jsonrpc": "2.0", "id": None, "method": "tools/list"}), INVALID_REQUEST, None),
        (json.dumps({"jsonrpc": "2.0", "id": True, "method": "tools/list"}), INVALID_REQUEST, None),
        (json.dumps({"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": [1]}), INVALID_REQUEST, 9),
    ],
    ids=["parse-error", "batch", "not-an-object", "jsonrpc-1.0", "no-method", "null-id", "boolean-id", "params-list"],
)
def test_a_body_that_is_not_one_json_rpc_message_gets_400_and_the_json_rpc_code(
    base_url: str, body: str, code: int, reply_id: int | None
) -> None:
    response = post(base_url, body, {"MCP-Protocol-Version": LEGACY})
    assert response.status_code == 400
    reply = response.json()
    assert (reply["jsonrpc"], reply["id"], reply["error"]["code"]) == ("2.0", reply_id, code)
    assert len(reply["error"]["message"]) < 100


@pytest.mark.parametrize(
    ("header", "body_version"),
    [(None, LATEST_MODERN_VERSION), (LEGACY, LATEST_MODERN_VERSION), (LATEST_MODERN_VERSION, LEGACY)],
    ids=["header-missing", "header-legacy", "header-modern-body-legacy"],
)
def test_a_protocol_version_header_that_contradicts_the_body_meta_is_400_header_mismatch(
    base_url: str, header: str | None, body_version: str
) -> None:
    headers = {"Mcp-Method": "tools/list"} | ({"MCP-Protocol-Version": header} if header else {})
    response = post(base_url, json.dumps(modern_call(body_version)), headers)
    assert response.status_code == 400
    assert (response.json()["id"], response.json()["error"]["code"]) == (5, HEADER_MISMATCH)


ALLOWED_ORIGIN = "http://localhost:6274"  # MCP Inspector's page, allowed by the default localhost:* origins


def preflight(base_url: str, origin: str) -> httpx.Response:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, mcp-protocol-version, mcp-session-id",
    }
    return httpx.options(f"{base_url}/mcp", headers=headers, timeout=10)


def test_a_cors_preflight_from_an_allowed_origin_is_answered_with_what_a_browser_client_may_send(
    base_url: str,
) -> None:
    response = preflight(base_url, ALLOWED_ORIGIN)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert response.headers["access-control-allow-methods"] == "POST"
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "mcp-protocol-version", "mcp-session-id", "mcp-method", "mcp-name"} <= allowed
    called = post(base_url, json.dumps(INITIALIZE), {"Origin": ALLOWED_ORIGIN})
    assert called.status_code == 200 and called.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert called.headers["access-control-expose-headers"] == "Mcp-Session-Id"


def test_a_cors_preflight_from_another_origin_is_refused_with_a_json_rpc_error(base_url: str) -> None:
    response = preflight(base_url, "https://evil.example")
    assert (response.status_code, response.headers["content-type"]) == (403, "application/json")
    assert response.json()["error"]["code"] == INVALID_REQUEST
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-origin" not in post(base_url, json.dumps(INITIALIZE)).headers  # no Origin, no CORS


@pytest.mark.parametrize(
    ("headers", "status"), [({"Host": "cds.example.org"}, 421), ({"Origin": "https://evil.example"}, 403)]
)
def test_a_host_or_origin_refusal_is_a_json_rpc_error_like_every_other_mcp_error(
    base_url: str, headers: dict[str, str], status: int
) -> None:
    response = post(base_url, json.dumps(INITIALIZE), headers)
    assert (response.status_code, response.headers["content-type"]) == (status, "application/json")
    assert response.json()["error"]["code"] == INVALID_REQUEST


def test_a_response_posted_by_the_client_is_accepted_with_202_as_the_transport_spec_says(base_url: str) -> None:
    response = post(base_url, json.dumps({"jsonrpc": "2.0", "id": 3, "result": {}}), {"MCP-Protocol-Version": LEGACY})
    assert (response.status_code, response.content) == (202, b"")


def test_a_header_that_agrees_with_the_body_meta_is_served(base_url: str) -> None:
    headers = {"MCP-Protocol-Version": LATEST_MODERN_VERSION, "Mcp-Method": "tools/list"}
    response = post(base_url, json.dumps(modern_call(LATEST_MODERN_VERSION)), headers)
    assert response.status_code == 200
    assert [t["name"] for t in response.json()["result"]["tools"]][0] == ANSWER.name


def run_stdio(lines: list[str], env: dict[str, str], replies: int) -> tuple[list[dict[str, Any]], str, int]:
    """Write `lines` to a fresh `ivig-cds mcp`, read `replies` lines, then close stdin and collect the rest."""
    with subprocess.Popen(
        [str(CONSOLE_SCRIPT), "mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    ) as server:
        watchdog = threading.Timer(60, server.kill)  # a hung server fails the test instead of hanging it
        watchdog.start()
        try:
            assert server.stdin and server.stdout
            server.stdin.write("".join(line + "\n" for line in lines))
            server.stdin.flush()
            read = [server.stdout.readline() for _ in range(replies)]
            rest, log = server.communicate(timeout=30)
        finally:
            watchdog.cancel()
    return [json.loads(line) for line in [*read, *rest.splitlines()] if line], log, server.returncode


def test_stdio_answers_each_bad_line_with_a_json_rpc_error_and_logs_it_on_stderr() -> None:
    lines = [
        json.dumps(INITIALIZE),
        "{not json",
        json.dumps([{"jsonrpc": "2.0", "id": 2, "method": "tools/list"}]),
        json.dumps({"jsonrpc": "2.0", "id": None, "method": "tools/list"}),
        json.dumps({"jsonrpc": "1.0", "id": 4, "method": "tools/list"}),
        json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json.dumps({"jsonrpc": "2.0", "id": 6, "method": "tools/list"}),
    ]
    replies, log, returncode = run_stdio(lines, ENV, replies=6)
    errors = [(r["id"], r["error"]["code"]) for r in replies if "error" in r]
    assert errors == [(None, PARSE_ERROR), (None, INVALID_REQUEST), (None, INVALID_REQUEST), (4, INVALID_REQUEST)]
    assert sorted(r["id"] for r in replies if "result" in r) == [1, 6]
    refused = [line for line in log.splitlines() if "refused with" in line]
    assert [line.split("stdin line ")[1].split(" ")[0] for line in refused] == ["2", "3", "4", "5"]
    assert returncode == 0


def test_the_stdio_command_imports_no_scipy_before_it_serves() -> None:
    script = "import sys, plugin.cli, plugin.chat.stdio; print(sorted(m for m in sys.modules if m.startswith('scipy')))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_broken_evidence_store_stops_the_stdio_server_before_any_tool_answers(tmp_path: Path) -> None:
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": ANSWER.name, "arguments": {}}}
    env = {**ENV, "IVIG_CDS_EVIDENCE_DIR": str(tmp_path)}  # an empty directory: no analysis to load
    replies, log, returncode = run_stdio([json.dumps(INITIALIZE), json.dumps(call)], env, replies=0)
    assert [r for r in replies if r.get("id") == 2 and "result" in r] == []
    assert returncode == 1
    assert log.splitlines()[-1].startswith("ivig-cds: ")
