"""Client JWTs on the CDS Hooks door, with keys generated here: valid tokens pass, everything else is a bare 401."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
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
from joserfc.jwk import ECKey, KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from plugin.app import create_app
from plugin.cds_hooks.auth import JWKS_RETRY, JWKS_TTL, JwksCache
from tests.cds_hooks.support import (
    ORDER_SELECT_URL,
    SERVICE_URL,
    cds_settings,
    chart,
    hook_request,
    issue_card,
    load,
    serve,
)

ISSUER = "https://ehr.example.org"
ROTATING_ISSUER = "https://other-ehr.example.org"
BASE = "https://cds.example.org"
AUDIENCE = f"{BASE}{SERVICE_URL}"

EC_KEY = ECKey.generate_key("P-384", parameters={"kid": "ehr-ec"})
RSA_KEY = RSAKey.generate_key(2048, parameters={"kid": "ehr-rsa"})
STRANGER_KEY = ECKey.generate_key("P-384", parameters={"kid": "ehr-ec"})  # same kid, not the EHR's key
JKU_KEY = ECKey.generate_key("P-256", parameters={"kid": "jku-1"})
SANDBOX = "https://sandbox.cds-hooks.org"
SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"  # the kid the sandbox's tokens carry


def public_jwks(*keys: ECKey | RSAKey) -> dict[str, Any]:
    return dict(KeySet(list(keys)).as_dict(private=False))


@pytest.fixture(scope="module")
def jwks_hits() -> list[str]:
    """Every request the JWK Set server below received."""
    return []


@pytest.fixture(scope="module")
def jwks_url(jwks_hits: list[str]) -> Iterator[str]:
    async def jwks(request: Request) -> JSONResponse:
        jwks_hits.append(request.url.path)
        return JSONResponse(public_jwks(JKU_KEY))

    with serve(Starlette(routes=[Route("/jwks.json", jwks)])) as base:
        yield f"{base}/jwks.json"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("auth")
    jwks_file = folder / "ehr-jwks.json"
    jwks_file.write_text(json.dumps(public_jwks(EC_KEY, RSA_KEY)), encoding="utf-8")
    settings = cds_settings(folder, allow_unauthenticated=False, trusted_issuers={ISSUER: str(jwks_file)})
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def development(tmp_path_factory: pytest.TempPathFactory, jwks_url: str) -> Iterator[TestClient]:
    """Development mode, where a JWK Set may be served over http from a loopback address (as the test's is)."""
    folder = tmp_path_factory.mktemp("auth-dev")
    settings = cds_settings(folder, allow_unauthenticated=True, trusted_issuers={ROTATING_ISSUER: (jwks_url,)})
    with TestClient(create_app(settings)) as client:
        yield client


def feedback_from(client: TestClient, token: str | None, issuing: str | None = None) -> str | None:
    """Send one feedback entry on a card issued in development mode with `issuing` (without a token when None; the
    feedback must come from the card's issuer); the issuer stored with it says which client the service believed."""
    headers = {"Authorization": f"Bearer {issuing}"} if issuing else None
    card = issue_card(client, headers=headers)
    body = {"feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-03-02T10:00:00Z"}]}
    assert call(client, token, f"{SERVICE_URL}/feedback", body).status_code == 200
    stored = client.app.state.storage.feedback_entries()  # type: ignore[attr-defined]
    issuer: str | None = stored[-1]["client_issuer"]
    return issuer


def signed(
    key: ECKey | RSAKey = EC_KEY, alg: str = "ES384", header: dict[str, Any] | None = None, **claims: Any
) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4()), "tenant": "t-1"}
    payload = {name: value for name, value in (payload | claims).items() if value is not None}
    head = {"alg": alg, "typ": "JWT", "kid": key.kid} | (header or {})
    head = {name: value for name, value in head.items() if value is not None}
    return jws.serialize_compact(head, json.dumps(payload), key, algorithms=[alg])  # the header exactly as given


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def handmade(alg: str, secret: bytes | None) -> str:
    """A token a JOSE library would refuse to make: unsigned (`none`) or HMAC-signed with a public key."""
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    signing_input = f"{b64({'alg': alg, 'typ': 'JWT', 'kid': 'ehr-ec'})}.{b64(payload)}"
    if secret is None:
        return f"{signing_input}."
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def call(client: TestClient, token: str | None, url: str = SERVICE_URL, body: dict[str, Any] | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.post(url, json=body or hook_request(chart(nkCells="nk-percent.json")), headers=headers)


def assert_bare_401(response: Any) -> None:
    assert response.status_code == 401
    assert response.content == b""


def test_a_valid_es384_token_is_accepted(secured: TestClient) -> None:
    response = call(secured, signed())
    assert response.status_code == 200
    assert len(response.json()["cards"]) == 1


def test_a_valid_rs256_token_is_accepted(secured: TestClient) -> None:
    assert call(secured, signed(RSA_KEY, "RS256")).status_code == 200


def test_audience_may_be_a_list_holding_the_endpoint(secured: TestClient) -> None:
    assert call(secured, signed(aud=["https://elsewhere.example.org", AUDIENCE])).status_code == 200


def test_an_allow_listed_jku_is_fetched_and_its_key_accepted(development: TestClient, jwks_url: str) -> None:
    token = signed(JKU_KEY, "ES256", header={"jku": jwks_url}, iss=ROTATING_ISSUER, aud=f"{AUDIENCE}/feedback")
    issuing = signed(JKU_KEY, "ES256", header={"jku": jwks_url}, iss=ROTATING_ISSUER, aud=AUDIENCE)
    assert feedback_from(development, token, issuing) == ROTATING_ISSUER


def test_development_mode_treats_a_token_that_does_not_verify_as_no_token(development: TestClient) -> None:
    assert feedback_from(development, signed(aud=f"{AUDIENCE}/feedback")) is None  # an issuer it does not trust
    assert feedback_from(development, None) is None


@pytest.mark.parametrize(
    "location",
    ["http://keys.example.org/jwks.json", "http://127.0.0.1:8080/jwks.json", "https://user:pw@keys.example.org/jwks"],
    ids=["http", "http-loopback", "userinfo"],
)
def test_a_jwk_set_url_that_is_not_plain_https_stops_the_service_from_starting(tmp_path: Path, location: str) -> None:
    settings = cds_settings(tmp_path, allow_unauthenticated=False, trusted_issuers={ISSUER: location})
    with pytest.raises(ValueError, match="JWK Set"):
        create_app(settings)


def test_development_mode_allows_an_http_jwk_set_only_on_a_loopback_address(tmp_path: Path) -> None:
    create_app(cds_settings(tmp_path, trusted_issuers={ISSUER: "http://127.0.0.1:8080/jwks.json"}))
    with pytest.raises(ValueError, match="JWK Set"):
        create_app(cds_settings(tmp_path, trusted_issuers={ISSUER: "http://localhost:8080/jwks.json"}))


def test_discovery_needs_no_token(secured: TestClient) -> None:
    assert secured.get("/cds-services").status_code == 200


def test_no_token_is_401(secured: TestClient) -> None:
    assert_bare_401(call(secured, None))


def test_an_expired_token_is_401(secured: TestClient) -> None:
    now = int(time.time())
    assert_bare_401(call(secured, signed(iat=now - 200, exp=now - 100)))


def test_a_token_for_another_audience_is_401(secured: TestClient) -> None:
    assert_bare_401(call(secured, signed(aud="https://cds.example.org/cds-services/another-service")))


def test_each_service_is_its_own_audience(secured: TestClient) -> None:
    order_select = load("cds-request-spec-order-select.json")
    assert_bare_401(call(secured, signed(), ORDER_SELECT_URL, order_select))  # the patient-view service's audience
    assert call(secured, signed(aud=f"{BASE}{ORDER_SELECT_URL}"), ORDER_SELECT_URL, order_select).status_code == 200


def test_the_audience_comes_from_configuration_not_the_host_header(secured: TestClient) -> None:
    assert_bare_401(call(secured, signed(aud=f"http://testserver{SERVICE_URL}")))


def test_an_unknown_issuer_is_401(secured: TestClient) -> None:
    assert_bare_401(call(secured, signed(iss="https://attacker.example.org")))


def test_a_replayed_jti_is_401(secured: TestClient) -> None:
    token = signed()
    assert call(secured, token).status_code == 200
    assert_bare_401(call(secured, token))


def test_alg_none_is_401(secured: TestClient) -> None:
    assert_bare_401(call(secured, handmade("none", None)))


def test_hs256_signed_with_the_public_key_is_401(secured: TestClient) -> None:
    assert_bare_401(call(secured, handmade("HS256", EC_KEY.as_pem(private=False))))


def test_a_token_signed_by_another_key_with_a_trusted_kid_is_401(secured: TestClient) -> None:
    assert_bare_401(call(secured, signed(STRANGER_KEY)))


def test_a_jku_not_on_the_issuers_list_is_never_fetched_and_the_kid_is_found_in_the_configured_set(
    secured: TestClient, jwks_url: str, jwks_hits: list[str]
) -> None:
    before = len(jwks_hits)
    assert call(secured, signed(header={"jku": jwks_url})).status_code == 200
    assert len(jwks_hits) == before


def test_a_key_only_the_unlisted_jku_holds_is_401_and_that_jku_is_never_fetched(
    secured: TestClient, jwks_url: str, jwks_hits: list[str]
) -> None:
    before = len(jwks_hits)
    assert_bare_401(
        call(secured, signed(JKU_KEY, "ES256", header={"jku": jwks_url}))
    )  # a real JWK Set, not this issuer's
    assert len(jwks_hits) == before


def test_the_sandboxs_token_with_its_jku_is_accepted_once_its_key_is_configured(tmp_path: Path) -> None:
    """A token shaped as the public CDS Hooks sandbox makes it (its jwt-generator: ES384, its kid, its jku, the
    claims iss/aud/exp/iat/jti and nothing else), signed by a key of our own under the sandbox's kid. Its `jku` is
    not configured and there is no network here: it is accepted because it is never fetched."""
    key = ECKey.generate_key("P-384", parameters={"kid": SANDBOX_KID})
    keys = tmp_path / "sandbox-jwks.json"
    keys.write_text(json.dumps(public_jwks(key)), encoding="utf-8")
    settings = cds_settings(tmp_path, allow_unauthenticated=False, trusted_issuers={SANDBOX: str(keys)})
    now = int(time.time())
    claims = {"iss": SANDBOX, "aud": AUDIENCE, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    header = {"alg": "ES384", "typ": "JWT", "kid": SANDBOX_KID, "jku": f"{SANDBOX}/.well-known/jwks.json"}
    token = jws.serialize_compact(header, json.dumps(claims), key, algorithms=["ES384"])
    with TestClient(create_app(settings)) as client:
        response = call(client, token)
        assert response.status_code == 200 and len(response.json()["cards"]) == 1
        assert_bare_401(call(client, token))  # its jti, once


@pytest.mark.parametrize("claim", ["exp", "iat", "jti", "aud"])
def test_a_token_without_a_required_claim_is_401(secured: TestClient, claim: str) -> None:
    claims: dict[str, Any] = {claim: None}
    assert_bare_401(call(secured, signed(EC_KEY, "ES384", None, **claims)))


@pytest.mark.parametrize("header", [{"typ": None}, {"typ": "at+jwt"}, {"kid": "unknown-kid"}])
def test_a_token_with_a_bad_header_is_401(secured: TestClient, header: dict[str, Any]) -> None:
    assert_bare_401(call(secured, signed(header=header)))


def test_a_token_issued_in_the_future_or_long_ago_is_401(secured: TestClient) -> None:
    now = int(time.time())
    assert_bare_401(call(secured, signed(iat=now + 600, exp=now + 900)))
    assert_bare_401(call(secured, signed(iat=now - 900, exp=now + 300)))


def test_garbage_in_the_authorization_header_is_401(secured: TestClient) -> None:
    assert_bare_401(call(secured, "not-a-jwt"))
    assert_bare_401(secured.post(SERVICE_URL, json={}, headers={"Authorization": f"Basic {signed()}"}))


def test_feedback_needs_a_token_whose_audience_is_the_service_or_its_feedback_url(secured: TestClient) -> None:
    url = f"{SERVICE_URL}/feedback"
    card = issue_card(secured, headers={"Authorization": f"Bearer {signed()}"})
    body = {"feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-03-02T10:00:00Z"}]}
    assert_bare_401(call(secured, None, url, body))
    assert call(secured, signed(), url, body).status_code == 200
    assert call(secured, signed(aud=f"{BASE}{url}"), url, body).status_code == 200


def test_refusals_log_the_reason_but_never_the_token(secured: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = signed(iss="https://attacker.example.org")
    assert_bare_401(call(secured, token))
    assert any(r.name == "plugin.cds_hooks.auth" and r.levelno == logging.INFO for r in caplog.records)
    assert token not in caplog.text
    assert token.split(".")[2] not in caplog.text


def test_cors_preflight_from_an_allowed_origin_needs_no_token(secured: TestClient) -> None:
    response = secured.options(
        SERVICE_URL,
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://sandbox.cds-hooks.org"
    assert "authorization" in response.headers["access-control-allow-headers"].lower()


def test_cors_refuses_a_preflight_from_an_origin_not_configured(secured: TestClient) -> None:
    response = secured.options(
        SERVICE_URL, headers={"Origin": "https://evil.example.org", "Access-Control-Request-Method": "POST"}
    )
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


def test_cors_headers_ride_on_real_responses_including_the_401(secured: TestClient) -> None:
    origin = {"Origin": "https://sandbox.cds-hooks.org"}
    assert secured.get("/cds-services", headers=origin).headers["access-control-allow-origin"] == origin["Origin"]
    refused = secured.post(SERVICE_URL, json={}, headers=origin)
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == origin["Origin"]


def test_unauthenticated_mode_is_announced_when_the_app_is_built(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    create_app(cds_settings(tmp_path, allow_unauthenticated=True))
    announced = [r for r in caplog.records if r.name == "plugin.cds_hooks.routes" and r.levelno == logging.WARNING]
    assert len(announced) == 1
    assert "IVIG_CDS_ALLOW_UNAUTHENTICATED" in announced[0].getMessage()


def test_unauthenticated_mode_accepts_calls_without_a_token(tmp_path: Path) -> None:
    with TestClient(create_app(cds_settings(tmp_path, allow_unauthenticated=True))) as client:
        assert call(client, None).status_code == 200


def test_building_the_app_without_trusted_issuers_warns_that_every_call_will_be_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    create_app(cds_settings(tmp_path, allow_unauthenticated=False))
    assert [r.levelno for r in caplog.records if r.name == "plugin.cds_hooks.routes"] == [logging.WARNING]


def test_an_issuer_whose_jwk_set_cannot_be_loaded_is_refused(tmp_path: Path) -> None:
    settings = cds_settings(
        tmp_path, allow_unauthenticated=False, trusted_issuers={ISSUER: str(tmp_path / "missing.json")}
    )
    with TestClient(create_app(settings)) as client:
        assert_bare_401(call(client, signed()))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_jwk_set_is_reused_then_reloaded_and_kept_if_the_reload_fails(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(public_jwks(EC_KEY)), encoding="utf-8")
    clock = Clock()
    cache = JwksCache(timeout=1.0, clock=clock)
    first = asyncio.run(cache.get(str(path)))
    path.write_text(json.dumps(public_jwks(RSA_KEY)), encoding="utf-8")
    assert asyncio.run(cache.get(str(path))) is first  # within the TTL: not reloaded
    clock.now += JWKS_TTL
    reloaded = asyncio.run(cache.get(str(path)))
    assert reloaded is not None
    assert [k.kid for k in reloaded.keys] == ["ehr-rsa"]
    path.unlink()
    clock.now += JWKS_TTL
    assert asyncio.run(cache.get(str(path))) is reloaded  # the last good set stays in use


def test_an_unknown_kid_reloads_a_jwk_set_url_at_most_every_retry_interval(jwks_url: str) -> None:
    clock = Clock()
    cache = JwksCache(timeout=1.0, clock=clock)
    first = asyncio.run(cache.get(jwks_url))
    assert asyncio.run(cache.get(jwks_url, refresh=True)) is first
    clock.now += JWKS_RETRY
    assert asyncio.run(cache.get(jwks_url, refresh=True)) is not first
