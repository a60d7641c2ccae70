"""The SMART launch in Chromium against the local EHR: launch URL -> authorize -> callback -> the widget, prefilled
from her chart; and each way a launch can go wrong, ending on its error page with nothing of hers shown or logged.

`Secure` cookies over http://127.0.0.1: Chromium counts loopback as a secure context, so it stores and sends them;
the first test proves it by finishing a launch that needs both of the app's cookies.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
from playwright.sync_api import BrowserContext, Frame, Page

from plugin.core.answer.plugin import Plugin
from plugin.core.rules.profile import PatientProfile
from plugin.smart.launch import SharedLaunches
from plugin.web.sessions import BROWSER_COOKIE, SessionStore
from tests.smart.conftest import EHR_SCOPE, STANDALONE_SCOPE, Smart, serious_axe_violations
from tests.smart.ehr import CLIENT_ID, LAUNCH, PATIENT, Ehr

NK_ESTIMATE = "habets-2022-ivig-rpl#nk-above-12"
# What would name her or her results on a page or in a log line.
HERS = (PATIENT, "18 %", "2026-03-02", "102878001")


@pytest.fixture(autouse=True)
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every test: nothing the app logs names her or carries a token."""
    caplog.set_level(logging.DEBUG, logger="plugin")
    yield caplog
    assert PATIENT not in caplog.text and "tok-" not in caplog.text


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


def consent(page: Page, smart: Smart, ehr: Ehr, launch: str | None = LAUNCH) -> str:
    """Start a launch top-level and stop on the EHR's consent page: the redirect back to the app, not followed."""
    page.goto(smart.launch_url(ehr, launch))
    href = page.locator("#allow").get_attribute("href")
    assert href is not None and href.startswith(f"{smart.url}/smart/callback?")
    return href


def code_of(href: str) -> str:
    return parse_qs(urlsplit(href).query)["code"][0]


def ends_on_error(page: Page, url: str, code: str, status: int) -> None:
    response = page.goto(url)
    assert response is not None and response.status == status
    assert page.locator("main").get_attribute("data-error") == code
    content = page.content()
    assert not [hers for hers in HERS if hers in content]


def test_an_ehr_launch_in_the_ehr_iframe_opens_the_widget_filled_from_her_chart(
    context: BrowserContext, ehr: Ehr, smart: Smart, plugin: Plugin
) -> None:
    before = len(ehr.requests)
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    page = context.new_page()
    page.goto(f"{ehr.base}/chart?" + urlencode({"src": smart.launch_url(ehr, LAUNCH)}))
    widget = page.frame_locator("iframe")
    widget.locator("#allow").click()
    widget.locator("#chart-source").wait_for()

    asked = ehr.authorize_requests[-1]
    assert {k: asked[k] for k in ("response_type", "client_id", "scope", "aud", "launch", "code_challenge_method")} == {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "scope": EHR_SCOPE,
        "aud": ehr.fhir,
        "launch": LAUNCH,
        "code_challenge_method": "S256",
    }
    assert asked["redirect_uri"] == f"{smart.url}/smart/callback" and len(asked["state"]) >= 22

    assert widget.locator("#field-nk_cell_percent").input_value() == "18.0"
    assert widget.locator("#field-prior_pregnancy_losses").input_value() == "3"
    lead = widget.locator(".lead-estimate").inner_text()
    assert " ".join(lead.split()).startswith("NK >12% RR 2.32 (1.77 to 3.02)")
    warning = plugin.answer(PatientProfile(prior_pregnancy_losses=3, nk_cell_percent=18.0)).nonrandomized_warning
    assert widget.locator("#warnings .warning-text").inner_text() == warning.text
    sources = {li.get_attribute("data-field"): li.inner_text() for li in widget.locator("#chart-source li").all()}
    assert sources == {
        "": "Recurrent pregnancy loss (Condition, SNOMED CT 102878001, 2025-12-01)",
        "nk_cell_percent": "NK-cell percentage: 18 % (Observation, LOINC 18267-5, 2026-03-02)",
        "prior_pregnancy_losses": "Spontaneous abortions: 3 (Observation, LOINC 11614-5, 2025-11-01)",
    }
    # What never comes from the chart stays empty and editable.
    for field in ("th1_th2_ratio_elevated", "ivig_start", "baseline_live_birth_risk", "baseline_live_birth_source"):
        control = widget.locator(f"#field-{field}")
        assert control.input_value() == "" and control.is_editable()
    assert widget.locator("input[name=autoimmune_conditions]:checked").count() == 0

    # Her banner, read with her chart: name and birth date from her Patient record.
    assert widget.locator("#banner-name").inner_text() == "Anna Aalders"
    assert widget.locator("#banner-birth-date").inner_text() == "1990-04-12"
    frame = next(f for f in page.frames if f.url.startswith(smart.url))
    assert re.fullmatch(rf"{re.escape(smart.url)}/widget\?launch=[A-Za-z0-9_-]{{43}}", frame.url)
    token = next(iter(ehr.tokens))
    stored = frame.evaluate("() => JSON.stringify([localStorage, sessionStorage, document.cookie])")
    assert stored == '[{},{},""]'  # HttpOnly: the page's script cannot read the browser cookie
    assert token not in frame.content() and not [u for u in requested if token in u or PATIENT in u]
    cookies = {c["name"]: c for c in context.cookies()}
    browser = cookies[BROWSER_COOKIE]
    assert (browser["httpOnly"], browser["secure"], browser["sameSite"]) == (True, True, "None")
    assert abs(browser["expires"] - (time.time() + ehr.token_lifetime)) < 30
    assert "ivig_cds_launch" not in cookies
    # The chart read once: one search per kind of finding and one read of her record, for the patient the token
    # response named.
    searches = sorted((path, query["patient"]) for _, path, query in ehr.requests[before:] if "patient" in query)
    assert searches == [("/fhir/Condition", PATIENT), ("/fhir/Observation", PATIENT), ("/fhir/Observation", PATIENT)]
    assert [path for _, path, query in ehr.requests[before:] if "Patient/" in path] == [f"/fhir/Patient/{PATIENT}"]


def test_a_standalone_launch_asks_for_a_patient_and_opens_the_widget_filled_and_accessible(
    context: BrowserContext, ehr: Ehr, smart: Smart, axe_source: str
) -> None:
    page = context.new_page()
    page.goto(smart.launch_url(ehr, None))
    asked = ehr.authorize_requests[-1]
    assert asked["scope"] == STANDALONE_SCOPE and "launch" not in asked
    page.locator("#allow").click()
    page.locator("#chart-source").wait_for()
    assert page.url.startswith(f"{smart.url}/widget?launch=")
    assert page.locator("#field-nk_cell_percent").input_value() == "18.0"
    assert page.locator("#banner-name").inner_text() == "Anna Aalders"
    assert serious_axe_violations(page, axe_source) == []


def test_a_callback_with_another_state_ends_on_the_state_error_page(
    context: BrowserContext, ehr: Ehr, smart: Smart, axe_source: str
) -> None:
    page = context.new_page()
    href = consent(page, smart, ehr)
    ends_on_error(page, with_query(href, state="forged-state"), "smart.state_mismatch", 400)
    assert serious_axe_violations(page, axe_source) == []


def test_a_callback_taken_twice_ends_on_the_already_used_page(context: BrowserContext, ehr: Ehr, smart: Smart) -> None:
    page = context.new_page()
    href = consent(page, smart, ehr)
    page.goto(href)
    page.locator("#chart-source").wait_for()
    ends_on_error(page, href, "smart.state_mismatch", 400)  # its state cookie is spent with the launch


def test_a_replayed_code_is_refused_by_the_server_and_ends_on_the_code_error_page(
    context: BrowserContext, ehr: Ehr, smart: Smart
) -> None:
    page = context.new_page()
    first = consent(page, smart, ehr)
    page.goto(first)
    page.locator("#chart-source").wait_for()
    used = code_of(first)
    assert ehr.codes[used].used
    again = consent(page, smart, ehr)
    ends_on_error(page, with_query(again, code=used), "smart.code_refused", 400)
    assert ehr.refusals[-1][0] == "invalid_grant"


def test_a_code_from_another_launch_fails_pkce_and_ends_on_the_code_error_page(
    context: BrowserContext, ehr: Ehr, smart: Smart
) -> None:
    page = context.new_page()
    injected = code_of(consent(page, smart, ehr))  # another launch's code, never exchanged
    mine = consent(page, smart, ehr)
    ends_on_error(page, with_query(mine, code=injected), "smart.code_refused", 400)
    # Refused on the verifier, not for being used: the code is still unspent.
    assert ehr.refusals[-1][0] == "invalid_grant" and not ehr.codes[injected].used


def test_a_launch_without_its_pkce_verifier_is_refused_and_ends_on_the_code_error_page(
    context: BrowserContext, ehr: Ehr, smart: Smart
) -> None:
    page = context.new_page()
    href = consent(page, smart, ehr)
    launches: SharedLaunches = smart.app.state.smart_launches
    state = parse_qs(urlsplit(href).query)["state"][0]
    with ThreadPoolExecutor(1) as aside:  # Playwright's own event loop runs on this thread
        pending = aside.submit(asyncio.run, launches.take(state)).result()
        assert pending is not None
        assert aside.submit(asyncio.run, launches.add(state, dataclasses.replace(pending, verifier=""))).result()
    ends_on_error(page, href, "smart.code_refused", 400)
    assert ehr.refusals[-1][0] == "invalid_request" and not ehr.codes[code_of(href)].used


def test_a_launch_from_an_unlisted_issuer_ends_on_its_error_page_without_asking_it(
    context: BrowserContext, ehr: Ehr, smart: Smart
) -> None:
    page = context.new_page()
    asked = len(ehr.requests)
    for iss in ("https://ehr.attacker.example/fhir", f"{ehr.base}/other/fhir", f"{ehr.base}/fhir?x=1"):
        url = f"{smart.url}/smart/launch?" + urlencode({"iss": iss, "launch": LAUNCH})
        ends_on_error(page, url, "smart.unlisted_issuer", 400)
    ends_on_error(page, f"{smart.url}/smart/launch?launch={LAUNCH}", "smart.missing_iss", 400)
    assert len(ehr.requests) == asked


def finish_launch(page: Page, smart: Smart, ehr: Ehr) -> Frame:
    page.goto(consent(page, smart, ehr))
    page.locator("#chart-source").wait_for()
    return page.main_frame


def test_a_launch_whose_token_has_expired_ends_on_the_expired_page_and_is_dropped(
    context: BrowserContext, ehr: Ehr, smart: Smart
) -> None:
    page = context.new_page()
    launched = finish_launch(page, smart, ehr).url
    sessions: SessionStore = smart.app.state.sessions
    sessions.clock = lambda: time.time() + ehr.token_lifetime + 1
    try:
        ends_on_error(page, launched, "smart.token_expired", 401)
    finally:
        sessions.clock = time.time
    ends_on_error(page, launched, "smart.token_expired", 401)  # dropped: the clock going back brings nothing back
    page.goto(f"{smart.url}/widget")
    assert page.locator("#chart-source").count() == 0 and page.locator("#patient-banner").count() == 0
    assert page.locator("#field-nk_cell_percent").input_value() == ""


def test_a_token_issued_already_expired_ends_on_the_expired_page(
    context: BrowserContext, ehr: Ehr, smart: Smart
) -> None:
    page = context.new_page()
    ehr.token_lifetime = 0
    try:
        ends_on_error(page, consent(page, smart, ehr), "smart.token_expired", 401)
    finally:
        ehr.token_lifetime = 300


def test_a_fhir_server_refusing_the_token_ends_on_the_chart_error_page(
    context: BrowserContext, ehr: Ehr, smart: Smart
) -> None:
    page = context.new_page()
    ehr.fhir_refuses = True
    try:
        ends_on_error(page, consent(page, smart, ehr), "smart.chart_unavailable", 502)
    finally:
        ehr.fhir_refuses = False
    assert BROWSER_COOKIE not in {c["name"] for c in context.cookies()}
