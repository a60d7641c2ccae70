"""The decision aid in Debian's headless Chromium: read without JavaScript on a phone and a desktop, axe-core, the
picture of chances, framing, reached from a widget answer, and printed on A4 (pages counted in Chromium's PDF).

Screenshots (360 and 1280 px, and print media) go to artifacts/ for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page, expect

from tests.widget.browser.test_widget_browser import (
    WIDTHS,
    Watch,
    assert_accessible,
    assert_no_horizontal_overflow,
    screenshot,
)

PageFactory = Callable[..., Page]
# The "done when": NK 18 %, three losses, APS.
DONE_WHEN = {
    "prior_pregnancy_losses": "3",
    "nk_cell_percent": "18",
    "autoimmune_conditions": "antiphospholipid_syndrome",
}
# The longest aid of the profile grid (every condition, NK known, a baseline that draws the picture, a start
# chosen): it too must fit on two A4 pages.
LONGEST = [
    ("prior_pregnancy_losses", "3"),
    ("nk_cell_percent", "18"),
    *[
        ("autoimmune_conditions", c)
        for c in (
            "antiphospholipid_syndrome",
            "systemic_lupus_erythematosus",
            "autoimmune_thyroid_disease",
            "other_autoimmune",
        )
    ],
    ("baseline_live_birth_risk", "0.3"),
    ("ivig_start", "conception_cycle"),
]
A4_PAGES = 2
# A page object in a PDF (not the /Pages tree that lists them).
PDF_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def aid_url(base_url: str, params: dict[str, str] | list[tuple[str, str]]) -> str:
    return f"{base_url}/decision-aid?{urlencode(params)}"


def pdf_pages(page: Page) -> tuple[int, int]:
    """How many A4 pages Chromium prints the page on, with its print stylesheet, and the PDF's size in bytes."""
    pdf = page.pdf(format="A4", prefer_css_page_size=True)
    return len(PDF_PAGE.findall(pdf)), len(pdf)


@pytest.mark.parametrize("width", WIDTHS)
def test_without_javascript_the_aid_reads_on_a_phone_and_a_desktop_and_passes_axe(
    page_factory: PageFactory, base_url: str, axe_source: str, artifacts: Path, width: int
) -> None:
    page = page_factory(width, javascript=False)
    watch = Watch(page, base_url)
    page.goto(aid_url(base_url, DONE_WHEN))

    expect(page.locator("h1")).to_have_text("IVIG after repeated pregnancy loss: your choices")
    expect(page.locator("#aid-label")).to_be_visible()
    expect(page.locator(".option h3")).to_have_text(
        ["Aspirin and heparin: the standard care for APS", "IVIG", "No IVIG", "Taking part in research"]
    )
    expect(page.locator("#no-icons")).to_be_visible()
    expect(page.locator("#unknown li")).to_have_count(6)
    assert_no_horizontal_overflow(page, width)
    screenshot(page, artifacts, f"decision-aid-{width}")
    assert watch.problems == []

    scripted = page_factory(width)  # axe runs as a script: the same page, served the same, in a context that runs it
    scripted.goto(aid_url(base_url, DONE_WHEN))
    assert_accessible(scripted, axe_source)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_picture_of_100_women_is_drawn_with_its_text_and_passes_axe(
    page_factory: PageFactory, base_url: str, axe_source: str, artifacts: Path, width: int
) -> None:
    page = page_factory(width)
    watch = Watch(page, base_url)
    page.goto(aid_url(base_url, {**DONE_WHEN, "autoimmune_conditions": "none", "baseline_live_birth_risk": "0.3"}))

    picture = page.locator("#icon-array")
    expect(picture).to_be_visible()
    expect(picture).to_have_attribute("role", "img")
    expect(picture.locator("use")).to_have_count(100)
    name = page.evaluate(
        "() => { const svg = document.getElementById('icon-array');"
        " return svg.getAttribute('aria-labelledby').split(' ')"
        ".map(id => document.getElementById(id).textContent.trim()).join(' '); }"
    )
    assert name.startswith("A picture of 100 women like you Out of 100 women like you, about 30 would have a baby")
    box = picture.bounding_box()
    assert box is not None and box["width"] > 0 and box["height"] > 0
    assert_no_horizontal_overflow(page, width)
    screenshot(page, artifacts, f"decision-aid-picture-{width}")
    assert_accessible(page, axe_source)
    assert watch.problems == []


@pytest.mark.parametrize(
    ("name", "params"), [("done-when", list(DONE_WHEN.items())), ("longest", LONGEST)], ids=["done-when", "longest"]
)
def test_the_aid_prints_on_two_a4_pages_or_fewer(
    page_factory: PageFactory,
    base_url: str,
    artifacts: Path,
    report: list[str],
    name: str,
    params: list[tuple[str, str]],
) -> None:
    page = page_factory(1280)
    page.goto(aid_url(base_url, params))
    page.emulate_media(media="print")

    expect(page.locator(".kicker")).to_be_hidden()  # the screen's extras stay off paper
    expect(page.locator("#for-clinician .screen-only").first).to_be_hidden()
    expect(page.locator("#read-first")).to_be_visible()
    screenshot(page, artifacts, f"decision-aid-print-{name}")
    pages, size = pdf_pages(page)
    report.append(f"decision aid ({name}) printed by Chromium: {pages} A4 page(s), PDF {size // 1024} KiB")
    assert 1 <= pages <= A4_PAGES


def test_the_done_when_case_opens_from_a_widget_answer_and_names_care_options_unknowns_and_harms(
    page_factory: PageFactory, base_url: str
) -> None:
    widget = page_factory(1280)
    widget.goto(f"{base_url}/widget?{urlencode(DONE_WHEN)}")
    link = widget.locator("#aid-link a")
    expect(link).to_have_text(
        "Decision aid for the talk with the patient, in plain words: material for a conversation with a clinician, "
        "not advice"
    )
    with widget.context.expect_page() as opened:
        link.click()
    aid = opened.value
    aid.wait_for_load_state()

    assert aid.url == aid_url(base_url, {**DONE_WHEN, "nk_cell_percent": "18.0"})
    expect(aid.locator("[data-option='standard-care'] h3")).to_have_text(
        "Aspirin and heparin: the standard care for APS"
    )
    expect(aid.locator("[data-option]")).to_have_count(4)
    expect(aid.locator("#unknown")).to_contain_text("Whether IVIG changes the chance of having a baby")
    expect(aid.locator(".harms li")).to_have_count(4)
    expect(aid.locator(".harms")).to_contain_text("Blood clots.")
    expect(aid.locator("[data-option='ivig']")).to_contain_text("400 mg for each kg of their weight")


def test_an_ehr_origin_on_the_allow_list_can_frame_the_aid_and_one_not_on_it_cannot(
    page_factory: PageFactory, base_url: str, framable_base_url: str, ehr_origin: str
) -> None:
    allowed = page_factory(1280)
    allowed.goto(f"{ehr_origin}/chart?{urlencode({'src': aid_url(framable_base_url, DONE_WHEN)})}")
    expect(allowed.frame_locator("iframe").locator("#aid-label")).to_be_visible()

    refused = page_factory(1280)
    with refused.expect_request(lambda request: request.url.startswith(f"{base_url}/decision-aid?")):
        refused.goto(f"{ehr_origin}/chart?{urlencode({'src': aid_url(base_url, DONE_WHEN)})}", wait_until="load")
    (frame,) = [f for f in refused.frames if f != refused.main_frame]
    assert frame.url == "chrome-error://chromewebdata/"
