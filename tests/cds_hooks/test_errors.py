"""One error shape on /cds-services: an OperationOutcome for every non-2xx with a body, CORS on every response,
no request value echoed back, and the private-network preflight answered for allowed origins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from plugin.app import create_app
from plugin.cds_hooks.cors import CdsCors
from tests.cds_hooks.support import ORDER_SELECT_URL, SERVICE_URL, cds_settings, chart, hook_request, load

ORIGIN = "https://sandbox.cds-hooks.org"
PATIENT_MARKER = "Marker-Patient-Name-4471"
TOKEN_MARKER = "secret-access-token-9f2d"


@pytest.fixture(scope="module")
def cds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with TestClient(create_app(cds_settings(tmp_path_factory.mktemp("errors")))) as client:
        yield client


def issues(response: Any) -> list[dict[str, Any]]:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    found: list[dict[str, Any]] = body["issue"]
    return found


def with_values_worth_hiding() -> dict[str, Any]:
    body = load("cds-request-spec-patient-view.json")
    body["fhirAuthorization"]["access_token"] = TOKEN_MARKER
    body["fhirAuthorization"]["token_type"] = "MAC"  # invalid, so the token sits in a rejected field
    prefetch = chart(nkCells="nk-percent.json")
    prefetch["patient"] = {"resourceType": "Patient", "name": [{"family": PATIENT_MARKER}]}
    body["prefetch"] = prefetch
    body["context"]["patientId"] = ""  # invalid too
    return body


def test_a_422_names_the_field_paths_and_echoes_no_request_value(cds: TestClient) -> None:
    response = cds.post(SERVICE_URL, json=with_values_worth_hiding(), headers={"Origin": ORIGIN})
    assert response.status_code == 422
    assert response.headers["access-control-allow-origin"] == ORIGIN
    found = issues(response)
    assert sorted(path for issue in found for path in issue["expression"]) == [
        "context.patientId",
        "fhirAuthorization.token_type",
    ]
    assert {issue["diagnostics"] for issue in found} == {"request.invalid_field"}
    assert TOKEN_MARKER not in response.text
    assert PATIENT_MARKER not in response.text
    assert "1288992" not in response.text


def test_a_missing_field_is_named_as_missing(cds: TestClient) -> None:
    body = hook_request(chart())
    del body["hookInstance"]
    (issue,) = issues(cds.post(SERVICE_URL, json=body))
    assert (issue["diagnostics"], issue["expression"]) == ("request.missing_field", ["hookInstance"])


def test_fhir_authorization_without_fhir_server_names_fhir_server(cds: TestClient) -> None:
    body = load("cds-request-spec-patient-view.json")
    del body["fhirServer"]
    (issue,) = issues(cds.post(SERVICE_URL, json=body))
    assert issue["expression"] == ["fhirServer"]


def test_a_body_that_is_not_json_is_a_422_outcome_about_the_body(cds: TestClient) -> None:
    response = cds.post(SERVICE_URL, content=b'{"hook": "patient-view", ', headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert [issue["expression"] for issue in issues(response)] == [["body"]]


@pytest.mark.parametrize(
    ("method", "url", "status", "code"),
    [
        ("POST", "/cds-services/something-else", 404, "cds.not_found"),
        ("GET", SERVICE_URL, 405, "cds.method_not_allowed"),
        ("GET", f"{ORDER_SELECT_URL}/feedback", 405, "cds.method_not_allowed"),
    ],
    ids=["unknown-service", "get-a-service", "get-feedback"],
)
def test_framework_errors_on_cds_services_are_operation_outcomes_with_cors(
    cds: TestClient, method: str, url: str, status: int, code: str
) -> None:
    response = cds.request(method, url, json=hook_request(chart()), headers={"Origin": ORIGIN})
    assert response.status_code == status
    assert [issue["diagnostics"] for issue in issues(response)] == [code]
    assert response.headers["access-control-allow-origin"] == ORIGIN


def test_a_412_carries_cors_headers(cds: TestClient) -> None:
    response = cds.post(SERVICE_URL, json=hook_request({}), headers={"Origin": ORIGIN})
    assert response.status_code == 412
    assert response.headers["access-control-allow-origin"] == ORIGIN


def test_other_doors_keep_their_own_error_shape(cds: TestClient) -> None:
    response = cds.post("/v1/answer", json={"nk_cell_percent": "many"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "request.invalid"


def test_an_unexpected_failure_is_a_500_outcome_with_cors_not_text() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:  # as a route that fails unexpectedly
        raise RuntimeError("unexpected")

    app = CdsCors(broken, origins=(ORIGIN,))
    response = TestClient(app).post(SERVICE_URL, json={}, headers={"Origin": ORIGIN})  # no lifespan: a route only
    assert response.status_code == 500
    assert [issue["diagnostics"] for issue in issues(response)] == ["cds.internal_error"]
    assert response.headers["access-control-allow-origin"] == ORIGIN


def preflight(client: TestClient, origin: str) -> Any:
    return client.options(
        SERVICE_URL,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
            "Access-Control-Request-Private-Network": "true",
        },
    )


def test_a_private_network_preflight_from_an_allowed_origin_is_allowed(cds: TestClient) -> None:
    response = preflight(cds, ORIGIN)
    assert response.status_code == 200
    assert response.headers["access-control-allow-private-network"] == "true"
    assert response.headers["access-control-allow-origin"] == ORIGIN


def test_a_private_network_preflight_from_another_origin_is_refused_with_an_outcome(cds: TestClient) -> None:
    response = preflight(cds, "https://evil.example.org")
    assert response.status_code == 400
    assert [issue["diagnostics"] for issue in issues(response)] == ["cds.cors_refused"]
    assert "access-control-allow-private-network" not in response.headers
    assert "access-control-allow-origin" not in response.headers


def test_the_401_stays_bare_with_cors(tmp_path: Path) -> None:
    with TestClient(create_app(cds_settings(tmp_path, allow_unauthenticated=False))) as client:
        response = client.post(SERVICE_URL, json=hook_request(chart()), headers={"Origin": ORIGIN})
    assert (response.status_code, response.content) == (401, b"")
    assert response.headers["access-control-allow-origin"] == ORIGIN
