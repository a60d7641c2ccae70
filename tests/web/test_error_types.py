"""Each door answers every error in one content type, whatever answered it (the route, the framework, the limits
in front of every door): an integrator parses one kind of error body per door."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from plugin.app import create_app
from tests.cds_hooks.support import cds_settings

LONG = "x" * 8200  # past the 8 KiB query limit
BIG = b'{"a": "' + b"x" * (2 * 1024 * 1024) + b'"}'  # past every body limit

Request = Callable[[TestClient], object]
DOORS: dict[str, tuple[str, list[tuple[str, Request]]]] = {
    "cds-hooks": (
        "application/json",
        [
            ("unknown service", lambda c: c.post("/cds-services/nope", json={})),
            ("invalid body", lambda c: c.post("/cds-services/ivig-rpl-evidence", json={"hook": "patient-view"})),
            ("body too large", lambda c: c.post("/cds-services/ivig-rpl-evidence", content=BIG)),
            ("query too long", lambda c: c.get("/cds-services", params={"q": LONG})),
            ("wrong method", lambda c: c.put("/cds-services/ivig-rpl-evidence", json={})),
        ],
    ),
    "fhir": (
        "application/fhir+json",
        [
            ("unknown analysis", lambda c: c.get("/v1/evidence/nope/fhir")),
            ("query too long", lambda c: c.get("/v1/evidence/habets-2022-ivig-rpl/fhir", params={"q": LONG})),
        ],
    ),
    "widget and SMART pages": (
        "text/html; charset=utf-8",
        [
            ("invalid value", lambda c: c.get("/widget", params={"nk_cell_percent": "high"})),
            ("query too long", lambda c: c.get("/widget", params={"ivig_start": LONG})),
            ("unknown asset", lambda c: c.get("/widget/static/evil.js")),
            ("ended launch", lambda c: c.get("/widget", params={"launch": "unknown"})),
            ("aid: invalid value", lambda c: c.get("/decision-aid", params={"nk_cell_percent": "high"})),
            ("aid: query too long", lambda c: c.get("/decision-aid", params={"ivig_start": LONG})),
            ("aid: wrong method", lambda c: c.post("/decision-aid")),
            ("launch without iss", lambda c: c.get("/smart/launch")),
            ("wrong method", lambda c: c.post("/smart/launch")),
        ],
    ),
    "JSON API": (
        "application/json",
        [
            ("invalid body", lambda c: c.post("/v1/answer", json={"nk_cell_percent": "high"})),
            ("body too large", lambda c: c.post("/v1/answer", content=BIG)),
            ("query too long", lambda c: c.get("/v1/tools", params={"format": LONG})),
            ("unknown path", lambda c: c.get("/nowhere")),
            ("unknown analysis", lambda c: c.get("/v1/evidence/nope/forest.svg")),
        ],
    ),
    "MCP": (
        "application/json",
        [
            ("not JSON", lambda c: c.post("/mcp", content=b"{", headers={"Content-Type": "application/json"})),
            ("body too large", lambda c: c.post("/mcp", content=BIG, headers={"Content-Type": "application/json"})),
        ],
    ),
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """Development mode, so a CDS call reaches validation (the 401 of a call without a token has no body at all)."""
    with TestClient(create_app(cds_settings(tmp_path_factory.mktemp("errors")))) as test_client:
        yield test_client


@pytest.mark.parametrize("door", DOORS, ids=DOORS.keys())
def test_every_error_of_a_door_comes_in_that_doors_one_content_type(client: TestClient, door: str) -> None:
    expected, requests = DOORS[door]
    seen = {}
    for what, request in requests:
        response = request(client)
        assert response.status_code >= 400, what  # type: ignore[attr-defined]
        seen[what] = response.headers["content-type"]  # type: ignore[attr-defined]
    assert seen == dict.fromkeys(seen, expected)
