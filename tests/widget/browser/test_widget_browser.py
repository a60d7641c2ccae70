"""The widget in Debian's headless Chromium: fill, submit, read; with and without JavaScript; axe-core; framing."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.sync_api import ConsoleMessage, Dialog, Page, expect

WIDTHS = [360, 1280]
PROFILE = {
    "prior_pregnancy_losses": "3",
    "nk_cell_percent": "14",
    "autoimmune_conditions": "none",
    "th1_th2_ratio_elevated": "false",
    "ivig_start": "after_pregnancy_confirmed",
}
NK_ROW = "#answer tr.estimate[data-estimate='habets-2022-ivig-rpl#nk-above-12']"
WARNING = "These results come from few, small, non-randomized studies with serious risk of bias."

PageFactory = Callable[..., Page]


class Watch:
    """What a page did that it should not: script errors, CSP refusals, requests that left the loopback."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        page.on("console", self.console)
        page.on("request", lambda r: None if r.url.startswith(base_url) else self.problems.append(f"request {r.url}"))

    def console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.problems.append(f"CSP: {message.text}")


def fill_profile(page: Page) -> None:
    page.fill("#field-prior_pregnancy_losses", PROFILE["prior_pregnancy_losses"])
    page.fill("#field-nk_cell_percent", PROFILE["nk_cell_percent"])
    page.check("input[name=autoimmune_conditions][value=none]")
    page.select_option("#field-th1_th2_ratio_elevated", PROFILE["th1_th2_ratio_elevated"])
    page.select_option("#field-ivig_start", PROFILE["ivig_start"])


def submit_and_wait_for_answer(page: Page) -> None:
    page.evaluate("document.getElementById('profile-details').open = true")  # folded once an answer is shown
    page.click("#profile-form button[type=submit]")
    expect(page.locator("#update-status")).to_have_text(re.compile("^Answer updated"))


def assert_matched_answer_warning_and_plot(page: Page) -> None:
    expect(page.locator("#answer-heading")).to_have_text("Evidence for this patient")
    expect(page.locator(".lead-estimate")).to_have_text("NK >12% RR 2.32 (1.77 to 3.02) ⊕◯◯◯ Very low certainty")
    expect(page.locator(NK_ROW)).to_contain_text("2.32 (1.77 to 3.02)")
    expect(page.locator(".warning-banner")).to_be_visible()
    expect(page.locator(".warning-banner")).to_contain_text(WARNING)
    plot = page.locator("#forest svg")
    expect(plot).to_be_visible()
    expect(plot.locator("g.row[data-estimate='nk-above-12']")).to_have_attribute("data-highlighted", "true")
    expect(plot.locator("g.row[data-estimate='start-before-or-during-conception-cycle']")).to_have_attribute(
        "data-highlighted", "false"
    )
    expect(plot.locator("g.footer")).to_contain_text(WARNING)


def assert_no_horizontal_overflow(page: Page, width: int) -> None:
    scroll_width = page.evaluate("document.scrollingElement.scrollWidth")
    assert scroll_width <= width, f"page is {scroll_width} px wide in a {width} px viewport"


def axe_violations(page: Page, axe_source: str) -> list[dict[str, Any]]:
    """Run axe-core in the page (injected over the DevTools protocol, so the page's CSP stays as served)."""
    page.evaluate(axe_source)
    result: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))"""
    )
    return result


def assert_accessible(page: Page, axe_source: str) -> None:
    serious = [v for v in axe_violations(page, axe_source) if v["impact"] in ("serious", "critical")]
    assert serious == []


def screenshot(page: Page, artifacts: Path, name: str) -> None:
    path = artifacts / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0


@pytest.mark.parametrize("width", WIDTHS)
def test_with_javascript_the_form_updates_the_page_in_place_with_the_matched_estimate_warning_and_plot(
    page_factory: PageFactory, base_url: str, axe_source: str, artifacts: Path, width: int
) -> None:
    page = page_factory(width)
    watch = Watch(page, base_url)
    page.goto(f"{base_url}/widget")
    assert_accessible(page, axe_source)
    page.evaluate("window.sameDocument = true")
    fill_profile(page)
    submit_and_wait_for_answer(page)
    assert page.evaluate("window.sameDocument") is True  # updated in place: no navigation happened
    assert_matched_answer_warning_and_plot(page)
    assert page.url == f"{base_url}/widget?{urlencode(PROFILE)}"  # the address can be bookmarked or shared
    assert_no_horizontal_overflow(page, width)
    screenshot(page, artifacts, f"widget-js-{width}")
    assert_accessible(page, axe_source)
    assert watch.problems == []


@pytest.mark.parametrize("width", WIDTHS)
def test_without_javascript_a_plain_form_get_shows_the_matched_estimate_warning_and_plot(
    page_factory: PageFactory, base_url: str, artifacts: Path, width: int
) -> None:
    page = page_factory(width, javascript=False)
    watch = Watch(page, base_url)
    page.goto(f"{base_url}/widget")
    fill_profile(page)
    with page.expect_navigation():
        page.click("#profile-form button[type=submit]")
    assert page.url.startswith(f"{base_url}/widget?")
    assert_matched_answer_warning_and_plot(page)
    expect(page.locator("#field-nk_cell_percent")).to_have_value("14")
    assert_no_horizontal_overflow(page, width)
    screenshot(page, artifacts, f"widget-nojs-{width}")
    assert watch.problems == []


def test_the_server_rendered_page_passes_axe_with_a_capped_absolute_effect_and_with_field_errors(
    page_factory: PageFactory, base_url: str, axe_source: str, artifacts: Path
) -> None:
    page = page_factory(360)
    capped = {**PROFILE, "ivig_start": "conception_cycle", "baseline_live_birth_risk": "0.3"}
    page.goto(f"{base_url}/widget?{urlencode(capped)}")
    expect(page.locator(".warning-extra[data-code=absolute_effect_withheld]")).to_be_visible()
    assert_accessible(page, axe_source)
    page.goto(f"{base_url}/widget?nk_cell_percent=140&ivig_start=maybe")
    expect(page.locator(".form-errors")).to_contain_text("nk_cell_percent")
    expect(page.locator(".form-errors")).to_contain_text("ivig_start")
    assert_no_horizontal_overflow(page, 360)
    screenshot(page, artifacts, "widget-errors-360")
    assert_accessible(page, axe_source)


PARITY_PROFILES = {
    "matched-nk": PROFILE,
    "both-subgroups-capped": {**PROFILE, "ivig_start": "conception_cycle", "baseline_live_birth_risk": "0.3"},
    "baseline-rounding": {**PROFILE, "baseline_live_birth_risk": "0.2965"},
    "insufficient": {"prior_pregnancy_losses": "3", "nk_cell_percent": "12"},
    "outside": {"nk_cell_percent": "8", "autoimmune_conditions": "none", "th1_th2_ratio_elevated": "false"},
    "not-rpl": {"prior_pregnancy_losses": "1"},
    "conditions": {"autoimmune_conditions": ["systemic_lupus_erythematosus", "antiphospholipid_syndrome"]},
}


def text(page: Page, selector: str) -> str:
    return " ".join(page.inner_text(selector).split())


@pytest.mark.parametrize("profile", PARITY_PROFILES.values(), ids=PARITY_PROFILES.keys())
def test_the_javascript_update_reads_exactly_like_the_server_rendered_page(
    page_factory: PageFactory, base_url: str, profile: dict[str, Any]
) -> None:
    """widget.js rebuilds the answer from /v1/answer; it must say what the template says, number for number."""
    link = f"{base_url}/widget?{urlencode(profile, doseq=True)}"
    server = page_factory(1280, javascript=False)
    server.goto(link)
    page = page_factory(1280)
    watch = Watch(page, base_url)
    page.goto(f"{base_url}/widget?prior_pregnancy_losses=0")  # start from a different answer
    page.goto(link)
    submit_and_wait_for_answer(page)
    for selector in ("#warnings", "#answer", "#forest-caption", "#forest-table", "#evidence-version"):
        assert text(page, selector) == text(server, selector), selector
    assert page.inner_html("#forest") == server.inner_html("#forest")
    assert watch.problems == []


def test_with_javascript_a_value_the_server_rejects_is_shown_naming_the_field(
    page_factory: PageFactory, base_url: str
) -> None:
    page = page_factory(360)
    page.goto(f"{base_url}/widget?{urlencode(PROFILE)}")
    expect(page.locator("#profile-details")).not_to_have_attribute("open", "")  # folded once an answer is shown
    page.click("#profile-details > summary")
    # Past the browser's own range check, as a hand-edited or scripted request would be.
    page.locator("#field-nk_cell_percent").evaluate("input => input.removeAttribute('max')")
    page.fill("#field-nk_cell_percent", "140")
    page.click("#profile-form button[type=submit]")
    expect(page.locator("#update-status")).to_have_text(re.compile("^Check the patient details"))
    expect(page.locator("#error-nk_cell_percent")).to_contain_text("peripheral-blood NK-cell percentage")
    expect(page.locator("#error-nk_cell_percent")).to_contain_text("you entered “140”")
    expect(page.locator("#field-nk_cell_percent")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".glance")).to_have_count(0)
    expect(page.locator("#forest g.row[data-highlighted=true]")).to_have_count(0)
    expect(page.locator(".warning-banner")).to_contain_text(WARNING)


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_script_tag_in_a_parameter_is_shown_as_text_and_never_runs(
    page_factory: PageFactory, base_url: str, javascript: bool
) -> None:
    page = page_factory(360, javascript=javascript)
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    payload = "<script>alert(1)</script>"
    page.goto(f"{base_url}/widget?{urlencode({'ivig_start': payload, payload: '1'})}")
    expect(page.locator("#error-ivig_start")).to_contain_text(f"you entered “{payload}”")
    expect(page.locator(".form-errors")).to_contain_text(payload)
    assert page.locator("#answer script").count() == 0
    assert dialogs == []


def test_the_same_origin_can_frame_the_widget(page_factory: PageFactory, base_url: str) -> None:
    page = page_factory(1280)
    chart = f"{base_url}/ehr-chart"  # answered by the test itself, at the widget's own origin
    html = f'<!doctype html><title>EHR</title><iframe title="widget" src="{base_url}/widget?{urlencode(PROFILE)}">'
    page.route(chart, lambda route: route.fulfill(body=html, content_type="text/html"))
    page.goto(chart)
    expect(page.frame_locator("iframe").locator(".glance")).to_be_visible()


def chart_url(ehr_origin: str, widget_base: str) -> str:
    return f"{ehr_origin}/chart?{urlencode({'src': f'{widget_base}/widget?{urlencode(PROFILE)}'})}"


def test_an_ehr_origin_not_on_the_allow_list_cannot_frame_the_widget(
    page_factory: PageFactory, base_url: str, ehr_origin: str
) -> None:
    page = page_factory(1280)
    with page.expect_request(lambda request: request.url.startswith(f"{base_url}/widget?")):
        page.goto(chart_url(ehr_origin, base_url), wait_until="load")
    # Requested from the plugin, then refused by the browser: Chromium puts its error page in the frame instead.
    (frame,) = [f for f in page.frames if f != page.main_frame]
    assert frame.url == "chrome-error://chromewebdata/"
    expect(page.frame_locator("iframe").locator(".glance")).to_have_count(0)


def test_an_ehr_origin_on_the_allow_list_can_frame_the_widget(
    page_factory: PageFactory, framable_base_url: str, ehr_origin: str
) -> None:
    page = page_factory(1280)
    page.goto(chart_url(ehr_origin, framable_base_url))
    widget = page.frame_locator("iframe")
    expect(widget.locator(".glance")).to_be_visible()
    expect(widget.locator(".warning-banner")).to_contain_text(WARNING)


@pytest.mark.parametrize("highlight", [[], ["nk-above-12", "start-before-or-during-conception-cycle", "overall"]])
def test_every_text_in_the_plot_fits_inside_the_drawing(
    page_factory: PageFactory, base_url: str, highlight: list[str]
) -> None:
    """SVG text does not wrap: the layout's wrapping estimate must hold for the fonts this browser really has."""
    page = page_factory(360)
    page.goto(
        f"{base_url}/v1/evidence/habets-2022-ivig-rpl/forest.svg?{urlencode({'highlight': highlight}, doseq=True)}"
    )
    overflowing = page.evaluate(
        """() => {
            const svg = document.documentElement;
            const box = svg.viewBox.baseVal;
            return [...svg.querySelectorAll('text')]
                .map(t => ({text: t.textContent, box: t.getBBox()}))
                .filter(t => t.box.x < box.x || t.box.x + t.box.width > box.x + box.width)
                .map(t => t.text);
        }"""
    )
    assert overflowing == []


@pytest.mark.parametrize(
    "sandbox",
    ["allow-scripts allow-same-origin allow-forms allow-popups", "allow-scripts allow-forms"],
    ids=["same-origin-sandbox", "opaque-origin-sandbox"],
)
def test_in_a_sandboxed_frame_the_form_still_answers(page_factory: PageFactory, base_url: str, sandbox: str) -> None:
    """Some EHRs sandbox the iframe (interop.md 5.2). Without allow-same-origin the script cannot call the API,
    so it falls back to the plain form GET, which allow-forms permits."""
    page = page_factory(1280)
    chart = f"{base_url}/ehr-chart"
    html = f'<!doctype html><title>EHR</title><iframe title="widget" sandbox="{sandbox}" src="{base_url}/widget">'
    page.route(chart, lambda route: route.fulfill(body=html, content_type="text/html"))
    page.goto(chart)
    widget = page.frame_locator("iframe")
    widget.locator("#field-nk_cell_percent").fill("14")
    widget.locator("#field-prior_pregnancy_losses").fill("3")
    widget.locator("#profile-form button[type=submit]").click()
    expect(widget.locator(NK_ROW)).to_contain_text("2.32 (1.77 to 3.02)")
    expect(widget.locator(".warning-banner")).to_contain_text(WARNING)


FIRST_SCREEN = {
    "matched": ({"prior_pregnancy_losses": "3", "nk_cell_percent": "18", "ivig_start": "before_conception"}, None),
    "aps-losses-unknown": (
        {
            "nk_cell_percent": "45",
            "autoimmune_conditions": "antiphospholipid_syndrome",
            "ivig_start": "conception_cycle",
        },
        "How many pregnancies has she lost?",
    ),
    "insufficient": ({"prior_pregnancy_losses": "3"}, "Has she been diagnosed with an autoimmune disease?"),
}


@pytest.mark.parametrize(("profile", "question"), FIRST_SCREEN.values(), ids=FIRST_SCREEN.keys())
def test_on_a_phone_the_first_screen_shows_layer_one_the_leading_number_its_certainty_and_the_question(
    page_factory: PageFactory, base_url: str, axe_source: str, artifacts: Path, profile: dict[str, str], question: str
) -> None:
    page = page_factory(360, height=800)
    page.goto(f"{base_url}/widget?{urlencode(profile)}")

    def inside_first_screen(selector: str) -> None:
        box = page.locator(selector).bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 800, (selector, box)

    inside_first_screen(".glance-sentence")
    if page.locator(".lead-estimate").count():  # a matched answer: its leading number and certainty
        inside_first_screen(".lead-rr")
        inside_first_screen(".lead-certainty")
    if question is not None:
        expect(page.locator(".ask-next")).to_have_text(f"Ask first: {question}")
        inside_first_screen(".ask-next")
    expect(page.locator("#layer-detail")).not_to_have_attribute("open", "")
    expect(page.locator("#profile-details")).not_to_have_attribute("open", "")
    assert_no_horizontal_overflow(page, 360)
    page.screenshot(path=str(artifacts / f"first-screen-{'-'.join(sorted(profile))}.png"))
    assert_accessible(page, axe_source)
