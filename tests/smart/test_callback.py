"""The launch and callback over plain HTTP (no browser): the rarer ways a launch fails, each on its error page,
and the pieces that keep state (sessions, launches, the signing key) at their limits."""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from joserfc.jwk import ECKey
from starlette.requests import Request
from starlette.responses import Response

from plugin.config import SmartIssuer
from plugin.core.rules.profile import PatientProfile
from plugin.smart.issuers import Discovery, SmartConfiguration, issuers_from
from plugin.smart.launch import CodeRefusedError, Pending, SharedLaunches, exchange
from plugin.web.sessions import BROWSER_COOKIE, Banner, ChartSession, SessionStore
from tests.smart.conftest import Smart
from tests.smart.ehr import LAUNCH, PATIENT, Ehr


def start(smart: Smart, ehr: Ehr) -> tuple[str, str]:
    """Launch and read the consent page: (the launch cookie as a Cookie header, the callback link)."""
    launched = httpx.get(smart.launch_url(ehr, LAUNCH))
    assert launched.status_code == 302
    cookie = launched.headers["set-cookie"].split(";")[0]
    consent = httpx.get(launched.headers["location"])
    found = re.search(r'href="([^"]+)"', consent.text)
    assert found
    return cookie, html.unescape(found.group(1))


def error_code(response: httpx.Response) -> str | None:
    found = re.search(r'data-error="([^"]+)"', response.text)
    assert PATIENT not in response.text
    return found.group(1) if found else None


@pytest.fixture
def discovery(smart: Smart) -> Iterator[Discovery]:
    kept: Discovery = smart.app.state.smart_discovery
    kept.cache.clear()
    yield kept
    kept.cache.clear()


def test_the_ehr_denying_authorization_ends_on_the_denied_page(smart: Smart, ehr: Ehr) -> None:
    ehr.denies = True
    try:
        cookie, link = start(smart, ehr)
    finally:
        ehr.denies = False
    assert "error=access_denied" in link
    answer = httpx.get(link, headers={"Cookie": cookie})
    assert (answer.status_code, error_code(answer)) == (403, "smart.authorization_denied")


def test_a_token_response_without_a_patient_ends_on_the_no_patient_page(smart: Smart, ehr: Ehr) -> None:
    cookie, link = start(smart, ehr)
    ehr.omits_patient = True
    try:
        answer = httpx.get(link, headers={"Cookie": cookie})
    finally:
        ehr.omits_patient = False
    assert (answer.status_code, error_code(answer)) == (400, "smart.no_patient")


def test_a_launch_older_than_ten_minutes_ends_on_the_unknown_state_page(smart: Smart, ehr: Ehr) -> None:
    cookie, link = start(smart, ehr)
    launches: SharedLaunches = smart.app.state.smart_launches
    launches.clock = lambda: time.time() + 601
    try:
        answer = httpx.get(link, headers={"Cookie": cookie})
    finally:
        launches.clock = time.time
    assert (answer.status_code, error_code(answer)) == (400, "smart.state_unknown")


def test_an_unusable_smart_configuration_ends_on_the_discovery_page(
    smart: Smart, ehr: Ehr, discovery: Discovery
) -> None:
    ehr.configuration_broken = True
    try:
        answer = httpx.get(smart.launch_url(ehr, LAUNCH))
    finally:
        ehr.configuration_broken = False
    assert (answer.status_code, error_code(answer)) == (502, "smart.discovery_failed")
    assert "set-cookie" not in answer.headers


def test_a_forged_browser_cookie_opens_no_launch(smart: Smart, ehr: Ehr) -> None:
    cookie, link = start(smart, ehr)
    done = httpx.get(link, headers={"Cookie": cookie})
    launched = f"{smart.url}{done.headers['location']}"
    answer = httpx.get(launched, headers={"Cookie": f"{BROWSER_COOKIE}=forged.signature"})
    assert (answer.status_code, error_code(answer)) == (403, "smart.other_browser")
    plain = httpx.get(f"{smart.url}/widget", headers={"Cookie": f"{BROWSER_COOKIE}=forged.signature"})
    assert plain.status_code == 200 and 'id="chart-source"' not in plain.text


def test_an_unreachable_token_endpoint_is_a_refused_code() -> None:
    issuer = issuers_from({"http://127.0.0.1:9/fhir": SmartIssuer(client_id="ivig-cds")})["http://127.0.0.1:9/fhir"]
    config = SmartConfiguration("http://127.0.0.1:9/auth", "http://127.0.0.1:9/token", frozenset())
    with pytest.raises(CodeRefusedError) as refused:
        asyncio.run(exchange(Pending(issuer, config, "v" * 43), "code", "http://127.0.0.1:9/cb", 0.5))
    assert refused.value.error == "ConnectError"


def request_with(cookie: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [(b"cookie", cookie.encode())]})


def test_every_launch_of_one_browser_stays_open_and_the_cookie_lasts_as_long_as_the_longest(smart: Smart) -> None:
    store: SessionStore = smart.app.state.sessions
    launches = []
    cookie = ""
    for lifetime in (600, 60, 300):
        response = Response()
        session = ChartSession(PatientProfile(), (), Banner("p"), time.time() + lifetime, "t")
        launches.append(asyncio.run(store.open(request_with(cookie), response, session)))
        set_cookie = response.headers["set-cookie"]
        assert set_cookie.endswith("; Partitioned") and "HttpOnly" in set_cookie and "SameSite=none" in set_cookie
        assert 590 <= int(re.search(r"Max-Age=(\d+)", set_cookie).group(1)) <= 600  # type: ignore[union-attr]
        cookie = set_cookie.split(";")[0]
    assert [asyncio.run(store.find(request_with(cookie), launch))[0] for launch in launches] == ["active"] * 3


@pytest.mark.parametrize(
    "content", [b"not a key", ECKey.generate_key("P-384").as_pem(private=False)], ids=["junk", "public"]
)
def test_a_private_key_file_that_holds_no_private_key_stops_the_start(tmp_path: Path, content: bytes) -> None:
    key = tmp_path / "key.pem"
    key.write_bytes(content)
    with pytest.raises(ValueError, match="private_key"):
        issuers_from({"https://ehr.example.org/fhir": SmartIssuer(client_id="c", private_key=key)})


def test_a_chart_with_nothing_the_evidence_uses_opens_the_widget_empty_and_says_so(smart: Smart, ehr: Ehr) -> None:
    cookie, link = start(smart, ehr)
    ehr.empty_chart = True
    try:
        done = httpx.get(link, headers={"Cookie": cookie})
    finally:
        ehr.empty_chart = False
    assert done.status_code == 303 and done.headers["location"].startswith("/widget?launch=")
    browser = done.headers["set-cookie"].split(";")[0]
    assert browser.startswith(f"{BROWSER_COOKIE}=")
    widget = httpx.get(f"{smart.url}{done.headers['location']}", headers={"Cookie": browser})
    assert widget.status_code == 200
    assert 'id="chart-empty"' in widget.text and 'data-field="' not in widget.text
    assert re.search(r'name="nk_cell_percent"[^>]*value=""', widget.text)
