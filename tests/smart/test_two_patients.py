"""Two patients in one browser, in Chromium against the local EHR: each launched page shows its own patient's chart
under her own banner, whatever the browser launched since, and a page built from query values alone shows neither
a chart nor a banner. A page that did otherwise would put one woman's NK result beside another's name."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.smart.conftest import Smart
from tests.smart.ehr import PATIENT, PATIENT_B, Ehr


@dataclass(frozen=True)
class Shown:
    """What a widget page says about whom: banner, the chart list (field -> text) and the form's two chart fields."""

    banner: str | None
    chart: dict[str, str] | None
    nk: str
    losses: str


# Each patient's marks: her name, birth date, NK result and its date, as her pages show them.
MARKS = {
    PATIENT: ("Anna Aalders", "1990-04-12", "18 %", "2026-03-02"),
    PATIENT_B: ("Britt Bakker", "1986-09-30", "7.25 %", "2026-01-15"),
}
A_CHART = {
    "": "Recurrent pregnancy loss (Condition, SNOMED CT 102878001, 2025-12-01)",
    "nk_cell_percent": "NK-cell percentage: 18 % (Observation, LOINC 18267-5, 2026-03-02)",
    "prior_pregnancy_losses": "Spontaneous abortions: 3 (Observation, LOINC 11614-5, 2025-11-01)",
}
B_CHART = {
    "": "Recurrent pregnancy loss (Condition, SNOMED CT 102878001, 2024-06-10)",
    "nk_cell_percent": "NK-cell percentage: 7.25 % (Observation, LOINC 18267-5, 2026-01-15)",
    "prior_pregnancy_losses": "Spontaneous abortions: 6 (Observation, LOINC 11614-5, 2025-09-01)",
}
CARD_LINK = {"prior_pregnancy_losses": "3", "nk_cell_percent": "18.4", "autoimmune_conditions": "none"}


def shown(page: Page) -> Shown:
    banner = page.locator("#patient-banner .banner-line")
    chart = page.locator("#chart-source")
    return Shown(
        banner=" ".join(banner.inner_text().split()) if banner.count() else None,
        chart={li.get_attribute("data-field") or "": li.inner_text() for li in chart.locator("li").all()}
        if chart.count()
        else None,
        nk=page.locator("#field-nk_cell_percent").input_value(),
        losses=page.locator("#field-prior_pregnancy_losses").input_value(),
    )


def others_marks(page: Page, patient: str | None) -> list[str]:
    """Every mark of a patient other than `patient` (of both, for None) that the page's text shows."""
    text = page.locator("body").inner_text()
    return [mark for who, marks in MARKS.items() if who != patient for mark in marks if mark in text]


def launch(page: Page, smart: Smart, ehr: Ehr, patient: str) -> str:
    """An EHR launch for `patient`, top level in this page, through consent; returns the widget page's URL."""
    page.goto(smart.launch_url(ehr, ehr.launch(patient)))
    page.locator("#allow").click()
    page.locator("#chart-source").wait_for()
    return page.url


@pytest.fixture
def two_tabs(context: BrowserContext, smart: Smart, ehr: Ehr) -> tuple[Page, Page, str, str]:
    """Patient A launched in one tab, then patient B in another tab of the same browser."""
    a, b = context.new_page(), context.new_page()
    a_url = launch(a, smart, ehr, PATIENT)
    b_url = launch(b, smart, ehr, PATIENT_B)
    return a, b, a_url, b_url


A = Shown("Patient: Anna Aalders, born 1990-04-12", A_CHART, "18.0", "3")
B = Shown("Patient: Britt Bakker, born 1986-09-30", B_CHART, "7.25", "6")


def test_a_second_launch_in_the_same_browser_leaves_the_first_page_its_own_patient(
    two_tabs: tuple[Page, Page, str, str],
) -> None:
    a, b, a_url, b_url = two_tabs
    assert a_url != b_url
    assert shown(b) == B and others_marks(b, PATIENT_B) == []
    assert shown(a) == A and others_marks(a, PATIENT) == []
    a.reload()  # the report: a reload of A's tab after B's launch showed B's NK
    assert shown(a) == A and others_marks(a, PATIENT) == []
    b.reload()
    assert shown(b) == B and others_marks(b, PATIENT_B) == []


def test_a_page_built_from_query_values_shows_no_chart_and_no_banner_after_any_launch(
    two_tabs: tuple[Page, Page, str, str], smart: Smart
) -> None:
    a, b, _, _ = two_tabs
    for page in (a, b):
        page.goto(f"{smart.url}/widget?" + urlencode(CARD_LINK))  # a CDS card's link, for patient A
        assert shown(page) == Shown(None, None, "18.4", "3")
        assert others_marks(page, None) == []


def test_an_edited_launched_page_keeps_its_banner_and_drops_the_chart_list(
    two_tabs: tuple[Page, Page, str, str],
) -> None:
    a, _, a_url, _ = two_tabs
    a.goto(f"{a_url}&" + urlencode({"nk_cell_percent": "25", "prior_pregnancy_losses": "4"}))
    assert shown(a) == Shown(A.banner, None, "25", "4")  # her values as edited, under her banner, no chart list
    assert others_marks(a, PATIENT) == []


def test_submitting_the_form_of_a_launched_page_keeps_it_that_patients(
    two_tabs: tuple[Page, Page, str, str],
) -> None:
    a, _, _, _ = two_tabs
    a.locator("#profile-details > summary").click()  # the form is folded once an answer is shown
    a.locator("#field-nk_cell_percent").fill("9")
    a.locator("#profile-form button[type=submit]").click()
    a.locator("#answer-heading").wait_for()
    a.wait_for_function("() => new URL(location.href).searchParams.get('nk_cell_percent') === '9'")
    assert a.url.count("launch=") == 1
    a.reload()  # the URL the script left: her launch and the edited values
    assert shown(a) == Shown(A.banner, None, "9", "3") and others_marks(a, PATIENT) == []


def test_a_launched_page_opened_in_another_browser_shows_nothing_of_her(
    two_tabs: tuple[Page, Page, str, str], other_context: BrowserContext
) -> None:
    _, _, a_url, _ = two_tabs
    stranger = other_context.new_page()
    response = stranger.goto(a_url)
    assert response is not None and response.status == 403
    assert stranger.locator("main").get_attribute("data-error") == "smart.other_browser"
    assert others_marks(stranger, None) == []
