"""fhirServer is bound to the issuer: look-alikes, other issuers' servers, redirects and malformed URLs make no
outbound request (checked on a real loopback server's request log), and the token never goes out in clear."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jws
from joserfc.jwk import ECKey, KeySet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from plugin.app import create_app
from plugin.config import Settings, TrustedIssuer
from tests.cds_hooks.support import SERVICE_URL, cds_settings, load, serve

ISSUER = "https://ehr.example.org"
OTHER_ISSUER = "https://other-ehr.example.org"
BASE = "https://cds.example.org"
KEY = ECKey.generate_key("P-256", parameters={"kid": "ehr-1"})
TOKEN = "fhir-access-token-51aa"
RPL = {
    "resourceType": "Condition",
    "clinicalStatus": {"coding": [{"code": "active"}]},
    "code": {"coding": [{"system": "http://snomed.info/sct", "code": "102878001"}]},
    "subject": {"reference": "Patient/1288992"},
}


class Recorder:
    """Answers every path; Condition searches under /fhir find RPL, /moved redirects to /fhir."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str | None]] = []
        self.base = ""
        self.app = Starlette(routes=[Route("/{path:path}", self.any, methods=["GET", "POST"])])

    async def any(self, request: Request) -> Response:
        query = request.scope["query_string"].decode("latin-1")
        self.seen.append((request.url.path, query, request.headers.get("authorization")))
        if request.url.path.startswith("/moved/"):
            return RedirectResponse(f"{self.base}/fhir/{request.url.path.removeprefix('/moved/')}?{query}", 302)
        entries = [{"resource": RPL}] if request.url.path == "/fhir/Condition" else []
        return JSONResponse({"resourceType": "Bundle", "type": "searchset", "entry": entries})

    def take(self) -> list[tuple[str, str, str | None]]:
        seen, self.seen = self.seen, []
        return seen


@pytest.fixture(scope="module")
def fhir() -> Iterator[Recorder]:
    recorder = Recorder()
    with serve(recorder.app) as base:
        recorder.base = base
        yield recorder


def jwks_file(folder: Path) -> str:
    path = folder / "jwks.json"
    path.write_text(json.dumps(KeySet([KEY]).as_dict(private=False)), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def development(tmp_path_factory: pytest.TempPathFactory, fhir: Recorder) -> Iterator[TestClient]:
    """Development mode: issuer one may send the loopback server's /fhir and /moved, issuer two only its own."""
    folder = tmp_path_factory.mktemp("dev")
    issuers = {
        ISSUER: {"jwks": jwks_file(folder), "fhir_servers": [f"{fhir.base}/fhir", f"{fhir.base}/moved"]},
        OTHER_ISSUER: {"jwks": [jwks_file(folder)], "fhir_servers": ["https://fhir.other-ehr.example.org/r4"]},
    }
    with TestClient(create_app(cds_settings(folder, trusted_issuers=issuers))) as client:
        yield client


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("prod")
    issuers = {ISSUER: {"jwks": jwks_file(folder), "fhir_servers": ["https://fhir.example.org/r4"]}}
    settings = cds_settings(folder, allow_unauthenticated=False, trusted_issuers=issuers)
    with TestClient(create_app(settings)) as client:
        yield client


def signed(issuer: str = ISSUER) -> str:
    now = int(time.time())
    claims = {"iss": issuer, "aud": f"{BASE}{SERVICE_URL}", "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    return jws.serialize_compact({"alg": "ES256", "typ": "JWT", "kid": "ehr-1"}, json.dumps(claims), KEY)


def call(client: TestClient, server: str, jwt: str | None, token: str = TOKEN) -> Any:
    body = load("cds-request-spec-patient-view.json")  # its only prefetch key is not ours: conditions must be fetched
    body["fhirServer"] = server
    body["fhirAuthorization"]["access_token"] = token
    headers = {"Origin": "https://sandbox.cds-hooks.org"} | ({"Authorization": f"Bearer {jwt}"} if jwt else {})
    return client.post(SERVICE_URL, json=body, headers=headers)


def assert_412_without_a_request(response: Any, fhir: Recorder) -> None:
    assert response.status_code == 412
    assert response.json()["issue"][0]["diagnostics"] == "fhir.unavailable"
    assert response.headers["access-control-allow-origin"] == "https://sandbox.cds-hooks.org"
    assert fhir.take() == []


def tricks(base: str) -> dict[str, str]:
    port = base.rsplit(":", 1)[1]
    return {
        "internal-path-with-fragment": f"{base}/internal/admin#",
        "internal-path": f"{base}/internal/admin",
        "localhost": f"http://localhost:{port}/fhir",
        "hex-address": f"http://0x7f000001:{port}/fhir",
        "short-address": f"http://127.1:{port}/fhir",
        "query-suffix": f"{base}/fhir?x=",
        "empty-query": f"{base}/fhir?",
        "fragment-suffix": f"{base}/fhir#",
        "userinfo": f"http://user:pw@127.0.0.1:{port}/fhir",
        "dot-segments": f"{base}/fhir/../internal/admin",
        "encoded-slash": f"{base}/fhir%2F..%2Finternal",
        "longer-path": f"{base}/fhir-internal",
    }


TRICKS = list(tricks("http://127.0.0.1:1"))


def test_the_issuers_own_fhir_server_is_queried_with_its_token(development: TestClient, fhir: Recorder) -> None:
    response = call(development, f"{fhir.base}/fhir/", signed())  # a trailing slash is the same base
    assert response.status_code == 200
    assert len(response.json()["cards"]) == 1
    seen = fhir.take()
    assert {path for path, _, _ in seen} == {"/fhir/Condition", "/fhir/Observation"}
    assert {auth for _, _, auth in seen} == {f"Bearer {TOKEN}"}


def test_outgoing_queries_percent_encode_the_bar(development: TestClient, fhir: Recorder) -> None:
    call(development, f"{fhir.base}/fhir", signed())
    queries = [query for path, query, _ in fhir.take() if path == "/fhir/Observation"]
    assert queries
    assert all("%7C" in query and "|" not in query for query in queries)


@pytest.mark.parametrize("trick", TRICKS)
def test_a_look_alike_of_the_issuers_fhir_server_makes_no_request(
    development: TestClient, fhir: Recorder, trick: str
) -> None:
    assert_412_without_a_request(call(development, tricks(fhir.base)[trick], signed()), fhir)


def test_another_issuers_call_cannot_use_this_issuers_fhir_server(development: TestClient, fhir: Recorder) -> None:
    assert_412_without_a_request(call(development, f"{fhir.base}/fhir", signed(OTHER_ISSUER)), fhir)


def test_a_redirect_from_the_fhir_server_is_not_followed(development: TestClient, fhir: Recorder) -> None:
    response = call(development, f"{fhir.base}/moved", signed())
    assert response.status_code == 412
    assert {path.split("/")[1] for path, _, _ in fhir.take()} == {"moved"}  # nothing reached /fhir


@pytest.mark.parametrize("trick", ["localhost", "hex-address", "userinfo", "query-suffix", "fragment-suffix"])
def test_without_an_issuer_development_mode_queries_only_a_plain_loopback_address(
    development: TestClient, fhir: Recorder, trick: str
) -> None:
    assert_412_without_a_request(call(development, tricks(fhir.base)[trick], None), fhir)
    assert call(development, f"{fhir.base}/fhir", None).status_code == 200
    assert fhir.take()


@pytest.mark.parametrize("trick", ["plain", *TRICKS])
def test_outside_development_mode_no_loopback_server_is_ever_queried(
    production: TestClient, fhir: Recorder, trick: str
) -> None:
    server = f"{fhir.base}/fhir" if trick == "plain" else tricks(fhir.base)[trick]
    assert_412_without_a_request(call(production, server, signed()), fhir)


@pytest.mark.parametrize(
    "server",
    ["http://[::1/fhir", "http://127.0.0.1:99999/fhir", "http://127.0.0.1:x/fhir"],
    ids=["broken-ipv6", "port-out-of-range", "port-not-a-number"],
)
def test_a_malformed_fhir_server_is_a_412_outcome_with_cors_not_a_500(
    development: TestClient, fhir: Recorder, server: str
) -> None:
    assert_412_without_a_request(call(development, server, None), fhir)


def test_a_fhir_server_with_a_control_character_is_refused_as_json_naming_it_and_never_queried(
    development: TestClient, fhir: Recorder
) -> None:
    response = call(development, "http://127.0.0.1:8/fh\x00ir", None)
    assert response.status_code == 422
    (issue,) = response.json()["issue"]
    assert (issue["diagnostics"], issue["expression"]) == ("request.bad_character", ["fhirServer"])
    assert not fhir.take()


def test_an_access_token_that_cannot_go_in_a_header_is_a_412_not_a_500(development: TestClient, fhir: Recorder) -> None:
    for token in ("t\u00f6k\u00e9n", "line\nbreak"):
        assert_412_without_a_request(call(development, f"{fhir.base}/fhir", None, token=token), fhir)


def test_an_ignored_fhir_server_is_logged_without_its_query(
    development: TestClient, fhir: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    call(development, "http://user:hunter2@127.0.0.1:1/internal/admin?patient=1288992", signed())
    assert "127.0.0.1:1/internal/admin" in caplog.text
    assert "1288992" not in caplog.text
    assert "hunter2" not in caplog.text
    assert TOKEN not in caplog.text


@pytest.mark.parametrize(
    "servers",
    [["http://fhir.example.org/r4"], ["http://127.0.0.1:8080/fhir"], ["https://fhir.example.org/r4?tenant=1"]],
    ids=["http", "http-loopback", "query"],
)
def test_a_fhir_server_the_token_could_leak_to_stops_the_service_from_starting(
    tmp_path: Path, servers: list[str]
) -> None:
    issuers = {ISSUER: {"jwks": jwks_file(tmp_path), "fhir_servers": servers}}
    with pytest.raises(ValueError, match="FHIR server"):
        create_app(cds_settings(tmp_path, allow_unauthenticated=False, trusted_issuers=issuers))


def test_the_short_issuer_form_still_works_and_allows_no_fhir_server(tmp_path: Path, fhir: Recorder) -> None:
    settings = cds_settings(tmp_path, trusted_issuers={ISSUER: jwks_file(tmp_path)})
    with TestClient(create_app(settings)) as client:
        assert_412_without_a_request(call(client, f"{fhir.base}/fhir", signed()), fhir)


def test_trusted_issuers_are_read_from_the_environment_in_both_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    issuers = {
        ISSUER: {"jwks": "https://ehr.example.org/jwks.json", "fhir_servers": ["https://fhir.example.org/r4"]},
        OTHER_ISSUER: ["keys/a.json", "keys/b.json"],
        "https://third.example.org": "keys/c.json",
    }
    monkeypatch.setenv("IVIG_CDS_TRUSTED_ISSUERS", json.dumps(issuers))
    read = Settings().trusted_issuers
    assert read[ISSUER] == TrustedIssuer(
        jwks=("https://ehr.example.org/jwks.json",), fhir_servers=("https://fhir.example.org/r4",)
    )
    assert read[OTHER_ISSUER] == TrustedIssuer(jwks=("keys/a.json", "keys/b.json"))
    assert read["https://third.example.org"].fhir_servers == ()
