"""SMART App Launch 2.2 as a strict EHR checks it, over plain HTTP against the local EHR: `aud` is the `iss` as
sent, scopes in the syntax the server speaks and no more than the app reads, `expires_in` as any JSON number and
capped, the granted scope checked before reading, and `need_patient_banner` honoured without hiding the banner."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from sqlalchemy import select

from plugin.smart.issuers import Discovery
from plugin.smart.reading import MAX_LIFETIME, lifetime
from plugin.smart.scopes import granted, requested
from plugin.storage.schema import chart_sessions
from plugin.storage.store import Storage
from plugin.web.sessions import digest
from tests.smart.conftest import EHR_SCOPE, V1_EHR_SCOPE, Smart
from tests.smart.ehr import PATIENT, Ehr


@pytest.fixture(autouse=True)
def fresh_discovery(smart: Smart) -> Iterator[None]:
    """Each test reads the EHR's configuration anew (a test may make the EHR v1-only)."""
    discovery: Discovery = smart.app.state.smart_discovery
    discovery.cache.clear()
    yield
    discovery.cache.clear()


def consent(smart: Smart, ehr: Ehr, iss: str) -> tuple[str, str, httpx.Response]:
    """Launch with this `iss` and read the EHR's answer to the authorization request: (cookie, where the app sent
    the browser, the EHR's answer)."""
    launched = httpx.get(smart.launch_url(ehr, ehr.launch(PATIENT, iss), iss))
    assert launched.status_code == 302, launched.text
    return (
        launched.headers["set-cookie"].split(";")[0],
        launched.headers["location"],
        httpx.get(launched.headers["location"]),
    )


def allow(answer: httpx.Response) -> str:
    found = re.search(r'href="([^"]+)"', answer.text)
    assert found, answer.text
    return html.unescape(found.group(1))


def launch(smart: Smart, ehr: Ehr, iss: str | None = None) -> httpx.Response:
    """A whole launch up to the widget page it ends on (or the callback's error page)."""
    cookie, _, answer = consent(smart, ehr, iss or ehr.fhir)
    done = httpx.get(allow(answer), headers={"Cookie": cookie})
    if done.status_code != 303:
        return done
    browser = done.headers["set-cookie"].split(";")[0]
    return httpx.get(f"{smart.url}{done.headers['location']}", headers={"Cookie": browser})


def error_code(page: httpx.Response) -> str | None:
    found = re.search(r'data-error="([^"]+)"', page.text)
    return found.group(1) if found else None


@pytest.mark.parametrize("slash", ["", "/"], ids=["iss-without-slash", "iss-with-trailing-slash"])
def test_aud_is_the_iss_exactly_as_sent_so_a_strict_server_accepts_either_form(
    smart: Smart, ehr: Ehr, slash: str
) -> None:
    iss = ehr.fhir + slash
    refusals = len(ehr.refusals)
    _, sent_to, answer = consent(smart, ehr, iss)
    assert parse_qs(urlsplit(sent_to).query)["aud"] == [iss]
    assert answer.status_code == 200 and len(ehr.refusals) == refusals
    page = launch(smart, ehr, iss)
    assert page.status_code == 200 and 'id="banner-name">Anna Aalders<' in page.text


@pytest.mark.parametrize("slash", ["", "/"], ids=["iss-without-slash", "iss-with-trailing-slash"])
def test_the_strict_server_refuses_an_aud_that_is_not_the_iss_of_its_launch(smart: Smart, ehr: Ehr, slash: str) -> None:
    iss = ehr.fhir + slash
    other = ehr.fhir + ("" if slash else "/")
    _, sent_to, _ = consent(smart, ehr, iss)
    parts = urlsplit(sent_to)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()} | {"aud": other}
    answer = httpx.get(urlunsplit(parts._replace(query=urlencode(query))))
    assert answer.status_code == 400 and ehr.refusals[-1] == ("invalid_request", "aud is not the iss of this launch")


def test_a_v1_only_server_is_asked_v1_scopes_and_the_launch_completes(smart: Smart, ehr: Ehr) -> None:
    ehr.v1_only = True
    try:
        _, sent_to, _ = consent(smart, ehr, ehr.fhir)
        page = launch(smart, ehr)
    finally:
        ehr.v1_only = False
    assert parse_qs(urlsplit(sent_to).query)["scope"] == [V1_EHR_SCOPE]
    assert V1_EHR_SCOPE == "launch patient/Patient.read patient/Condition.read patient/Observation.read"
    assert page.status_code == 200 and 'id="chart-source"' in page.text


def test_a_v2_server_is_asked_only_what_the_app_reads(smart: Smart, ehr: Ehr) -> None:
    _, sent_to, _ = consent(smart, ehr, ehr.fhir)
    assert parse_qs(urlsplit(sent_to).query)["scope"] == [EHR_SCOPE]
    assert EHR_SCOPE == "launch patient/Patient.r patient/Condition.rs patient/Observation.rs"


@pytest.mark.parametrize(
    ("expires_in", "kept"), [(3600.0, 3600), (600, 600), (86400, MAX_LIFETIME)], ids=["float", "int", "capped"]
)
def test_expires_in_may_be_any_positive_number_and_is_kept_at_most_an_hour(
    smart: Smart, ehr: Ehr, expires_in: float, kept: int
) -> None:
    ehr.token_lifetime = expires_in
    before = time.time()
    try:
        page = launch(smart, ehr)
    finally:
        ehr.token_lifetime = 300
    assert page.status_code == 200
    storage: Storage = smart.app.state.storage
    row = chart_sessions.c.launch == digest(page.url.params["launch"])
    expires_at = storage.transaction(lambda db: db.execute(select(chart_sessions.c.expires_at).where(row)).scalar_one())
    assert before + kept - 1 <= expires_at <= time.time() + kept


@pytest.mark.parametrize("withheld", ["patient/Observation.rs", "patient/Condition.rs"])
def test_a_token_that_does_not_grant_the_chart_searches_ends_on_the_scope_page_unread(
    smart: Smart, ehr: Ehr, withheld: str
) -> None:
    ehr.withheld = {withheld}
    before = len(ehr.requests)
    try:
        page = launch(smart, ehr)
    finally:
        ehr.withheld = set()
    assert (page.status_code, error_code(page)) == (403, "smart.scope_not_granted")
    assert [path for _, path, _ in ehr.requests[before:] if "/fhir/" in path and "well-known" not in path] == []


def test_without_patient_read_the_banner_shows_her_id_and_the_record_is_never_asked_for(smart: Smart, ehr: Ehr) -> None:
    ehr.withheld = {"patient/Patient.r"}
    before = len(ehr.requests)
    try:
        page = launch(smart, ehr)
    finally:
        ehr.withheld = set()
    assert page.status_code == 200 and 'id="chart-source"' in page.text
    assert f'id="banner-id">patient id {PATIENT}<' in page.text and "banner-name" not in page.text
    assert not [path for _, path, _ in ehr.requests[before:] if "/Patient/" in path]


@pytest.mark.parametrize(("need", "compact"), [(False, True), (True, False)])
def test_need_patient_banner_false_makes_the_banner_compact_never_absent(
    smart: Smart, ehr: Ehr, need: bool, compact: bool
) -> None:
    ehr.token_extras = {"need_patient_banner": need}
    try:
        page = launch(smart, ehr)
    finally:
        ehr.token_extras = {}
    assert 'id="banner-name">Anna Aalders<' in page.text
    assert ("patient-banner-compact" in page.text) is compact


@pytest.mark.parametrize("value", [0, -5, "3600", True, None], ids=["zero", "negative", "string", "bool", "absent"])
def test_an_expires_in_that_is_no_positive_number_is_spent_and_an_absent_one_is_five_minutes(value: object) -> None:
    assert lifetime(value) == (300 if value is None else None)


@pytest.mark.parametrize(
    ("scope", "chart", "patient"),
    [
        ("patient/*.rs", True, True),
        ("patient/*.read", True, True),
        ("user/Condition.read user/Observation.read", True, False),
        ("patient/Condition.rs patient/Observation.rs?category=laboratory", True, False),
        ("patient/Condition.r patient/Observation.rs patient/Patient.r", False, True),
        ("patient/Condition.cruds patient/Observation.s patient/Patient.cruds", True, True),
        ("patient/Condition.sr patient/Observation.rs", False, False),  # letters out of order: not a v2 scope
        ("system/*.rs", False, False),
        ("", False, False),
    ],
)
def test_granted_scopes_are_read_in_both_syntaxes(scope: str, chart: bool, patient: bool) -> None:
    assert granted(scope) == type(granted(""))(chart=chart, patient=patient)


def test_a_server_that_claims_neither_syntax_is_asked_v1() -> None:
    assert requested(frozenset(), ehr_launch=False).split()[1:] == V1_EHR_SCOPE.split()[1:]
