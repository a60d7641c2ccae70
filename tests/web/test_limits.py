"""Limits before parsing and strict JSON, in every door's own error shape, naming the field and echoing no value."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from plugin.app import create_app
from tests.cds_hooks.support import SERVICE_URL, cds_settings, chart, hook_request

FEEDBACK_URL = f"{SERVICE_URL}/feedback"
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with TestClient(create_app(cds_settings(tmp_path_factory.mktemp("limits")))) as test_client:
        yield test_client


def json_door(response: Any) -> tuple[int, str, list[str]]:
    error = response.json()["error"]
    return response.status_code, error["code"], [field["path"] for field in error["details"]["fields"]]


def cds_door(response: Any) -> tuple[int, str, list[str]]:
    (issue,) = response.json()["issue"]
    return response.status_code, issue["diagnostics"], issue["expression"]


def mcp_door(response: Any) -> tuple[int, int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["data"]["code"], error["data"]["field"]


def test_a_json_body_one_byte_past_64_kib_is_a_413_naming_the_limit(client: TestClient) -> None:
    body = json.dumps({"nk_cell_percent": 14, "pad": "x" * 65536})[: 64 * 1024 + 1].encode()
    response = client.post("/v1/answer", content=body, headers=JSON)
    assert json_door(response) == (413, "request.too_large", ["body"])
    assert "65536" in response.json()["error"]["message"]


def test_a_body_at_the_limit_is_read_and_judged_by_the_door(client: TestClient) -> None:
    body = b'{"nk_cell_percent": 14}'.ljust(64 * 1024, b" ")
    assert client.post("/v1/answer", content=body, headers=JSON).status_code == 200


def test_cds_hooks_takes_up_to_1_mib_and_refuses_more_with_an_outcome(client: TestClient) -> None:
    call = json.dumps(hook_request(chart())).encode()
    assert client.post(SERVICE_URL, content=call.ljust(1024 * 1024, b" "), headers=JSON).status_code == 200
    response = client.post(SERVICE_URL, content=call.ljust(1024 * 1024 + 1, b" "), headers=JSON)
    assert cds_door(response) == (413, "request.too_large", ["body"])
    assert response.json()["issue"][0]["code"] == "too-costly"


def test_mcp_refuses_a_large_body_with_a_json_rpc_error(client: TestClient) -> None:
    response = client.post("/mcp", content=b" " * (64 * 1024 + 1), headers=MCP_HEADERS)
    assert mcp_door(response) == (413, -32600, "request.too_large", "body")


def test_a_content_length_past_the_limit_is_refused_before_the_body_is_read(client: TestClient) -> None:
    response = client.post("/v1/answer", content=b"{}", headers={**JSON, "Content-Length": str(50_000_000)})
    assert json_door(response) == (413, "request.too_large", ["body"])


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e309", "-1e309"])
def test_non_finite_numbers_are_refused_at_parsing_in_every_door(client: TestClient, constant: str) -> None:
    answer = client.post("/v1/answer", content=f'{{"nk_cell_percent": {constant}}}'.encode(), headers=JSON)
    assert json_door(answer) == (422, "request.non_finite_number", ["nk_cell_percent"])
    call = json.dumps(hook_request(chart())).replace('"hook":', f'"extra": [1, {constant}], "hook":', 1)
    cds = client.post(SERVICE_URL, content=call.encode(), headers=JSON)
    assert cds_door(cds) == (422, "request.non_finite_number", ["extra[1]"])
    feedback = client.post(FEEDBACK_URL, content=f'{{"feedback": [{{"x": {constant}}}]}}'.encode(), headers=JSON)
    assert cds_door(feedback) == (422, "request.non_finite_number", ["feedback[0].x"])
    mcp = client.post("/mcp", content=f'{{"jsonrpc": "2.0", "id": {constant}}}'.encode(), headers=MCP_HEADERS)
    assert mcp_door(mcp) == (400, -32700, "request.non_finite_number", "id")


def test_nan_in_prefetch_is_a_422_that_echoes_neither_patient_nor_token(client: TestClient) -> None:
    call = hook_request(chart(), fhirServer="https://fhir.example.org", fhirAuthorization={"access_token": "tok-77"})
    call["context"]["patientId"] = "MRN-5550123"
    text = json.dumps(call).replace("{", '{"x": NaN, ', 1)
    response = client.post(SERVICE_URL, content=text.encode(), headers=JSON)
    assert cds_door(response) == (422, "request.non_finite_number", ["x"])
    assert "MRN-5550123" not in response.text and "tok-77" not in response.text


def test_a_duplicate_key_is_a_422_naming_the_key(client: TestClient) -> None:
    response = client.post("/v1/answer", content=b'{"nk_cell_percent": 14, "nk_cell_percent": 3}', headers=JSON)
    assert json_door(response) == (422, "request.duplicate_key", ["nk_cell_percent"])


@pytest.mark.parametrize("text", ["\\ud800", "a\\udfffb", "\\u0000", "\\u001b[31m", "\\u007f"])
def test_lone_surrogates_and_control_characters_are_refused_naming_the_field(client: TestClient, text: str) -> None:
    response = client.post("/v1/answer", content=f'{{"ivig_start": "{text}"}}'.encode(), headers=JSON)
    assert json_door(response) == (422, "request.bad_character", ["ivig_start"])


def test_tabs_and_newlines_in_strings_are_not_control_characters_to_refuse(client: TestClient) -> None:
    response = client.post("/v1/answer", content=b'{"ivig_start": "line\\nbreak\\t"}', headers=JSON)
    assert json_door(response) == (422, "request.invalid", ["ivig_start"])


def test_110_nested_contained_resources_are_refused_as_too_deep(client: TestClient) -> None:
    resource: dict[str, Any] = {"resourceType": "Observation", "status": "final"}
    for _ in range(110):
        resource = {"resourceType": "Observation", "status": "final", "contained": [resource]}
    prefetch = chart()
    prefetch["nkCells"] = resource
    response = client.post(SERVICE_URL, json=hook_request(prefetch))
    status, code, (path,) = cds_door(response)
    assert (status, code) == (422, "request.too_deep")
    assert path.startswith("prefetch.nkCells.contained[0]")
    assert len(response.content) < 2000


def test_an_integer_of_4301_digits_is_refused_at_parsing(client: TestClient) -> None:
    response = client.post("/v1/answer", content=b'{"prior_pregnancy_losses": ' + b"9" * 4301 + b"}", headers=JSON)
    assert json_door(response) == (422, "request.number_too_long", ["prior_pregnancy_losses"])


def test_a_body_that_is_not_utf8_is_a_422(client: TestClient) -> None:
    response = client.post("/v1/answer", content=b'{"ivig_start": "\xff"}', headers=JSON)
    assert json_door(response) == (422, "request.invalid_json", ["body"])


def page_door(response: Any) -> tuple[int, str, str | None]:
    """(status, content type, the page's error code): the widget's door answers refusals with its error page."""
    found = re.search(r'data-error="([^"]+)"', response.text)
    return response.status_code, response.headers["content-type"], found.group(1) if found else None


def test_a_query_string_past_8_kib_is_a_414(client: TestClient) -> None:
    response = client.get("/widget", params={"ivig_start": "x" * 8200})
    assert page_door(response) == (414, "text/html; charset=utf-8", "request.query_too_long")
    assert json_door(client.get("/v1/tools", params={"format": "x" * 8200})) == (
        414,
        "request.query_too_long",
        ["query"],
    )


def test_more_than_64_query_parameters_is_a_422(client: TestClient) -> None:
    response = client.get("/widget", params=[(f"p{i}", "1") for i in range(65)])
    assert page_door(response) == (422, "text/html; charset=utf-8", "request.too_many_parameters")
    many = client.get("/v1/tools", params=[(f"p{i}", "1") for i in range(65)])
    assert json_door(many) == (422, "request.too_many_parameters", ["query"])


def test_a_trailing_slash_is_a_404_never_a_redirect_built_from_host(client: TestClient) -> None:
    response = client.get("/healthz/", headers={"Host": "evil.example"}, follow_redirects=False)
    assert (response.status_code, response.json()["error"]["code"]) == (404, "request.not_found")
    assert "location" not in response.headers


def test_a_non_numeric_content_length_is_a_400() -> None:
    from plugin.web.limits import Limits, RequestLimits

    seen: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover - must not be reached
        seen.append(1)

    def render(path: str, refusal: Any) -> tuple[bytes, str]:
        return refusal.code.encode(), "text/plain"

    raw = TestClient(RequestLimits(app, Limits(max_body=10), render))
    response = raw.post("/", content=b"{}", headers={"Content-Length": "2x"})
    assert (response.status_code, response.text, seen) == (400, "request.bad_content_length", [])
