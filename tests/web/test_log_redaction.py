"""Identifiable values sent through every door, a forced exception included, appear nowhere in the log."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from plugin.web.logs import redact
from tests.cds_hooks.support import SERVICE_URL, chart, hook_request
from tests.served import Server, free_port, served
from tests.web.failing_server import MRN, TOKEN

NK = "13.77"
FAMILY = "Marker-Family-4471"
FORGED = 'x\n{"level": "ERROR", "message": "forged"}'
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    env = {"IVIG_CDS_LOG_LEVEL": "DEBUG", "IVIG_CDS_ALLOW_UNAUTHENTICATED": "1"}
    with served([sys.executable, "-m", "tests.web.failing_server"], env=env) as running:
        yield running


def cds_call(**changes: Any) -> dict[str, Any]:
    prefetch = chart(nkCells="nk-percent.json")
    prefetch["patient"] = {"resourceType": "Patient", "id": MRN, "name": [{"family": FAMILY}]}
    call = hook_request(prefetch, **changes)
    call["context"]["patientId"] = MRN
    return call


def every_door(url: str) -> None:
    """One request per door and per failure path, each carrying the MRN, the token or the NK value."""
    profile = {"prior_pregnancy_losses": 3, "nk_cell_percent": float(NK)}
    headers = {"Authorization": f"Bearer {TOKEN}", "User-Agent": f"agent {MRN}", "X-Request-Id": MRN}
    with httpx.Client(base_url=url, timeout=10, headers=headers) as client:
        assert client.post("/v1/answer", json=profile).status_code == 200
        assert client.post("/v1/answer", json={**profile, "ivig_start": MRN}).status_code == 422
        assert client.post("/v1/answer", content=f'{{"nk_cell_percent": NaN, "x": "{MRN}"}}').status_code == 422
        assert client.get("/widget", params={"nk_cell_percent": NK, "ivig_start": MRN}).status_code == 422
        assert client.get("/widget", params={"nk_cell_percent": NK}).status_code == 200
        assert client.get(f"/no/{MRN}", params={"token": TOKEN}).status_code == 404
        closed = f"http://127.0.0.1:{free_port()}/fhir"  # nothing listens: the FHIR read fails and is logged
        fetching = cds_call(fhirServer=closed, fhirAuthorization={"access_token": TOKEN, "token_type": "Bearer"})
        del fetching["prefetch"]["nkCells"]
        assert client.post(SERVICE_URL, json=fetching).status_code == 200
        assert (
            client.post(SERVICE_URL, json=cds_call(hookInstance=FORGED)).status_code == 422
        )  # refused for its newline
        nan = json.dumps(cds_call()).replace('"prefetch": {', '"prefetch": {"x": NaN, ', 1)
        assert client.post(SERVICE_URL, content=nan, headers={"Content-Type": "application/json"}).status_code == 422
        feedback = {"feedback": [{"card": MRN, "outcome": "overridden", "outcomeTimestamp": "2026-03-02T10:00:00Z"}]}
        assert client.post(f"{SERVICE_URL}/feedback", json=feedback).status_code == 422
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call"}
        call["params"] = {"name": "ivig_rpl_answer", "arguments": {**profile, "ivig_start": MRN}}
        assert client.post("/mcp", json=call, headers=MCP_HEADERS).status_code == 200
        call["params"] = {"name": "ivig_rpl_answer", "arguments": profile}
        assert client.post("/mcp", json=call, headers=MCP_HEADERS).status_code == 200
        assert client.get("/failing").status_code == 500
    assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200  # a new connection: the 500 closed that one


def test_no_identifier_token_or_finding_reaches_the_log_at_debug_level(server: Server) -> None:
    every_door(server.url)
    lines = server.log_until('"route": "/healthz", "status": 200, "duration_ms"')
    records = [json.loads(line) for line in lines]  # every line is one JSON object: nothing forged a line
    assert "forged" not in {record["message"] for record in records}
    assert {"DEBUG", "INFO", "WARNING", "ERROR"} <= {record["level"] for record in records}
    text = "".join(lines)
    for secret in (MRN, TOKEN, NK, FAMILY, "5550123"):
        assert secret not in text, secret


def test_the_forced_exception_is_logged_by_type_and_stack_without_its_message(server: Server) -> None:
    records = [json.loads(line) for line in server.log_until('"route": "/failing"')]
    (failure,) = [record for record in records if record.get("exception")]
    assert failure["exception"] == "RuntimeError"
    assert any(frame.endswith(" failing") for frame in failure["stack"])
    (access,) = [record for record in records if record.get("route") == "/failing"]
    assert access["status"] == 500


@pytest.mark.parametrize(
    ("message", "kept"),
    [
        ("sent Bearer abc.def to the server", "sent Bearer [redacted] to the server"),
        ("{'patientId': 'MRN-1', 'access_token': 'xyz'}", "{'patientId': '[redacted]', 'access_token': '[redacted]'}"),
        (
            "GET https://fhir.example.org/Condition?patient=123 200",
            "GET https://fhir.example.org/Condition?[redacted] 200",
        ),
        ("read Patient/8812 failed", "read Patient/[redacted] failed"),
        ("input_value={'nk': 14}, input_type=dict", "input_value=[redacted], input_type=dict"),
        ("token eyJhbGciOi.eyJzdWIi.c2ln seen", "token [redacted] seen"),
    ],
)
def test_the_redaction_filter_masks_what_a_message_might_still_carry(message: str, kept: str) -> None:
    assert redact(message) == kept
