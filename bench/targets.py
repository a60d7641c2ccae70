"""The four requests the HTTP benchmark sends, one per door, each the same for our service and its baselines.

The profile is one a clinician would send (three losses, NK cells 14 %, IVIG from the conception cycle). The CDS
Hooks call carries its prefetch, built from the test fixtures as tests/cds_hooks/support.py builds it, so the
service never queries a FHIR server. MCP is one stateless JSON-RPC `tools/call` POST with the headers the
streamable HTTP transport requires.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from bench.bare_apps import ANSWER_PATH, CDS_PATH, WIDGET_PATH
from bench.bare_mcp import ANSWER_TOOL, MCP_PATH
from tests.cds_hooks.support import chart, hook_request

PROFILE: dict[str, Any] = {"prior_pregnancy_losses": 3, "nk_cell_percent": 14, "ivig_start": "conception_cycle"}
JSON = {"Content-Type": "application/json"}
# Streamable HTTP: the client must accept both JSON and SSE (the SDK answers 406 otherwise), must send JSON
# (400 otherwise), and names the negotiated protocol revision on every request after initialize.
MCP_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2025-11-25",
}


@dataclass(frozen=True)
class Target:
    name: str  # also the file name of its recorded response (bench/bare_apps.py)
    label: str
    method: str
    path: str
    bare: tuple[str, ...]  # the baselines it is compared with (names in http_throughput.BARE)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


def encoded(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def cds_request() -> dict[str, Any]:
    """A patient-view call with the problem list, NK-cell results and obstetric history prefetched."""
    return hook_request(chart(nkCells="nk-percent.json", obstetricHistory="obstetric-3-losses.json"))


def mcp_call() -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": ANSWER_TOOL, "arguments": PROFILE}}


FASTAPI_BARE = ("bare sync", "bare async")
TARGETS = (
    Target("answer", f"POST {ANSWER_PATH}", "POST", ANSWER_PATH, FASTAPI_BARE, JSON, encoded(PROFILE)),
    Target(
        "cds", f"POST {CDS_PATH} (patient-view, prefetch)", "POST", CDS_PATH, FASTAPI_BARE, JSON, encoded(cds_request())
    ),
    Target("widget", f"GET {WIDGET_PATH}?...", "GET", f"{WIDGET_PATH}?{urlencode(PROFILE)}", FASTAPI_BARE),
    Target(
        "mcp",
        f"POST {MCP_PATH} tools/call {ANSWER_TOOL}",
        "POST",
        MCP_PATH,
        ("bare mcp",),
        MCP_HEADERS,
        encoded(mcp_call()),
    ),
)
