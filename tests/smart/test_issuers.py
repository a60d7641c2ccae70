"""Which issuers the SMART door accepts, how their configuration is read and kept, and how a confidential client
signs its token request; real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from plugin.app import create_app
from plugin.config import Settings, SmartIssuer
from plugin.fhir.urls import split
from plugin.smart.issuers import CACHE_SECONDS, Discovery, DiscoveryError, Issuer, configuration, issuers_from
from plugin.smart.launch import Pending, exchange
from tests.cds_hooks.support import serve
from tests.smart.ehr import Ehr

USABLE = {
    "authorization_endpoint": "https://ehr.example.org/auth/authorize",
    "token_endpoint": "https://ehr.example.org/auth/token",
    "code_challenge_methods_supported": ["S256"],
}


@pytest.mark.parametrize(
    "iss",
    ["http://ehr.example.org/fhir", "http://localhost:8080/fhir", "https://ehr.example.org/fhir?tenant=1", "fhir"],
)
def test_an_issuer_that_is_not_https_or_loopback_http_stops_the_app_from_starting(settings: Settings, iss: str) -> None:
    configured = Settings(**{**settings.model_dump(), "smart_issuers": {iss: {"client_id": "ivig-cds"}}})
    with pytest.raises(ValueError, match="SMART issuer"):
        create_app(configured)


def test_issuers_match_once_normalized_and_loopback_http_is_allowed() -> None:
    issuers = issuers_from({"HTTPS://EHR.example.org:443/fhir/": SmartIssuer(client_id="a")})
    issuers |= issuers_from({"http://127.0.0.1:9/fhir": SmartIssuer(client_id="b")})
    assert sorted(issuers) == ["http://127.0.0.1:9/fhir", "https://ehr.example.org/fhir"]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"code_challenge_methods_supported": ["plain", "S256"]}, "plain offered"),
        ({"code_challenge_methods_supported": []}, "no S256"),
        ({"grant_types_supported": ["client_credentials"]}, "no code grant"),
        ({"token_endpoint": "http://ehr.example.org/auth/token"}, "token sent in clear"),
        ({"authorization_endpoint": None}, "no authorization endpoint"),
    ],
)
def test_a_configuration_unfit_for_a_launch_with_pkce_s256_is_refused(change: dict[str, Any], why: str) -> None:
    base = split("https://ehr.example.org/fhir")
    assert base is not None
    with pytest.raises(DiscoveryError):
        configuration(USABLE | change, base)


def test_relative_endpoints_are_read_against_the_fhir_base() -> None:
    base = split("https://ehr.example.org/fhir")
    assert base is not None
    found = configuration(USABLE | {"token_endpoint": "auth/token"}, base)
    assert found.token_endpoint == "https://ehr.example.org/fhir/auth/token"


def test_the_configuration_is_read_once_then_kept_until_the_cache_runs_out(ehr: Ehr) -> None:
    base = split(ehr.fhir)
    assert base is not None
    now = [0.0]
    discovery = Discovery(1.0, clock=lambda: now[0])
    issuer = Issuer(base, "ivig-cds")
    before = len(ehr.requests)

    async def twice() -> None:
        first = await discovery.get(issuer)
        assert await discovery.get(issuer) == first
        now[0] += CACHE_SECONDS + 1
        await discovery.get(issuer)

    asyncio.run(twice())
    reads = [path for _, path, _ in ehr.requests[before:]]
    assert reads == ["/fhir/.well-known/smart-configuration"] * 2


def test_a_configuration_slower_than_the_timeout_is_a_discovery_error() -> None:
    async def slow(request: Request) -> JSONResponse:
        await asyncio.sleep(2)
        return JSONResponse(USABLE)

    with serve(Starlette(routes=[Route("/fhir/.well-known/smart-configuration", slow)])) as url:
        base = split(f"{url}/fhir")
        assert base is not None
        with pytest.raises(DiscoveryError):
            asyncio.run(Discovery(0.2).get(Issuer(base, "ivig-cds")))


def test_a_confidential_client_signs_its_token_request_with_its_private_key(settings: Settings, tmp_path: Path) -> None:
    key = ECKey.generate_key("P-384")
    pem = tmp_path / "smart-key.pem"
    pem.write_bytes(key.as_pem(private=True))
    forms: list[dict[str, str]] = []

    async def token(request: Request) -> JSONResponse:
        forms.append(dict(parse_qsl((await request.body()).decode("ascii"))))
        return JSONResponse({"access_token": "t", "token_type": "Bearer", "expires_in": 60, "patient": "p"})

    with serve(Starlette(routes=[Route("/auth/token", token, methods=["POST"])])) as url:
        configured = {f"{url}/fhir": SmartIssuer(client_id="ivig-cds", private_key=pem, key_id="k1", alg="ES384")}
        issuer = issuers_from(configured)[f"{url}/fhir"]
        config = configuration(USABLE | {"token_endpoint": f"{url}/auth/token"}, issuer.base)
        answer = asyncio.run(exchange(Pending(issuer, config, "v" * 43), "the-code", f"{url}/smart/callback", 1.0))
    assert answer["patient"] == "p"
    form = forms[0]
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert (form["code"], form["code_verifier"], form["grant_type"]) == ("the-code", "v" * 43, "authorization_code")
    public = ECKey.import_key(key.as_pem(private=False))
    assertion = jwt.decode(form["client_assertion"], public, algorithms=["ES384"])
    assert (assertion.header["kid"], assertion.header["typ"]) == ("k1", "JWT")
    claims = assertion.claims
    assert (claims["iss"], claims["sub"], claims["aud"]) == ("ivig-cds", "ivig-cds", f"{url}/auth/token")
    assert claims["exp"] - claims["iat"] <= 300 and claims["jti"]
