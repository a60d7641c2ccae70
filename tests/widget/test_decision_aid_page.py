"""GET /decision-aid through the ASGI app: the aid as a page with no script, the widget's embedding headers, errors
naming the field and never the value, and the link from every widget answer."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qsl, urlsplit

from fastapi.testclient import TestClient

from plugin.app import create_app
from plugin.config import Settings
from tests.widget.test_page import MATCHED, tags

DONE_WHEN = {
    "prior_pregnancy_losses": "3",
    "nk_cell_percent": "18",
    "autoimmune_conditions": "antiphospholipid_syndrome",
}
LABEL = (
    "Decision aid for the talk with the patient, in plain words: material for a conversation with a clinician, "
    "not advice"
)


def test_the_aid_is_a_page_in_plain_words_with_the_options_and_the_warning_for_the_clinician(
    client: TestClient,
) -> None:
    response = client.get("/decision-aid", params=DONE_WHEN)

    assert response.status_code == 200 and response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert "<title>Decision aid: IVIG after repeated pregnancy loss: your choices</title>" in page
    assert re.findall(r'data-option="([a-z-]+)"', page) == ["standard-care", "ivig", "no-ivig", "research"]
    assert "This page is material for a talk with your clinician. It is not advice" in page
    assert "Made for: 3 pregnancies lost; NK cells 18%; antiphospholipid syndrome (APS)." in page
    assert 'id="unknown-heading">What we do not know</h2>' in page
    assert "These results come from few, small, non-randomized studies with serious risk of bias." in page


def test_the_aid_has_the_widgets_embedding_headers(client: TestClient) -> None:
    aid = client.get("/decision-aid", params=DONE_WHEN).headers
    widget = client.get("/widget", params=DONE_WHEN).headers

    for name in ("content-security-policy", "x-content-type-options", "referrer-policy", "cache-control"):
        assert aid[name] == widget[name], name
    assert aid["content-security-policy"].endswith("frame-ancestors 'self'")
    assert aid["cache-control"] == "no-store" and "x-frame-options" not in aid


def test_frame_ancestors_come_from_the_configured_allow_list(settings: Settings) -> None:
    custom = Settings(**{**settings.model_dump(), "frame_ancestors": ("'self'", "https://ehr.example.org")})
    headers = TestClient(create_app(custom)).get("/decision-aid").headers
    assert headers["content-security-policy"].endswith("frame-ancestors 'self' https://ehr.example.org")


def test_the_aid_runs_no_script_and_loads_only_its_own_stylesheet(client: TestClient) -> None:
    page = client.get("/decision-aid", params={**DONE_WHEN, "baseline_live_birth_risk": "0.3"}).text
    found = tags(page)

    assert not [tag for tag, _ in found if tag in ("script", "form", "iframe", "img", "style")]
    assert [attrs["href"] for tag, attrs in found if tag == "link"] == ["/widget/static/aid.css"]
    assert all(not any(name.startswith("on") or name == "style" for name in attrs) for _, attrs in found)
    assert 'id="icon-array"' in page  # the picture is inline SVG: nothing to load


def test_the_aid_serves_its_stylesheet_with_print_rules(client: TestClient) -> None:
    css = client.get("/widget/static/aid.css")

    assert css.status_code == 200 and css.headers["content-type"] == "text/css; charset=utf-8"
    assert "@media print" in css.text and "@page" in css.text and "size: A4" in css.text


def test_the_aid_links_to_the_full_evidence_for_the_same_findings(client: TestClient) -> None:
    page = client.get("/decision-aid", params=DONE_WHEN).text
    (href,) = re.findall(r'<a href="([^"]+)">The evidence for these findings, in full</a>', page)
    url = urlsplit(html.unescape(href))

    assert url.path == "/widget"
    assert parse_qsl(url.query) == [
        ("prior_pregnancy_losses", "3"),
        ("nk_cell_percent", "18.0"),
        ("autoimmune_conditions", "antiphospholipid_syndrome"),
    ]


def test_a_bad_value_gets_the_error_page_naming_the_field_never_the_value(client: TestClient) -> None:
    response = client.get("/decision-aid", params={**DONE_WHEN, "nk_cell_percent": "140", "rpl_type": "xyzzy"})

    assert response.status_code == 422 and response.headers["content-type"].startswith("text/html")
    assert 'data-error="request.invalid"' in response.text
    assert "nk_cell_percent: Input should be less than or equal to 100" in response.text
    assert "rpl_type:" in response.text
    assert "140" not in response.text and "xyzzy" not in response.text
    assert 'data-option="ivig"' not in response.text
    assert response.headers["content-security-policy"].endswith("frame-ancestors 'self'")


def test_a_sourced_baseline_that_does_not_describe_her_is_refused_naming_why(client: TestClient) -> None:
    response = client.get(
        "/decision-aid", params={**DONE_WHEN, "baseline_live_birth_source": "promise2015_placebo_baseline"}
    )

    assert response.status_code == 422
    assert 'data-error="profile.baseline_does_not_fit"' in response.text
    assert "which excludes antiphospholipid syndrome and systemic lupus erythematosus" in response.text
    assert 'data-option="ivig"' not in response.text


def test_every_widget_answer_links_to_the_aid_for_the_same_findings_labelled_not_advice(client: TestClient) -> None:
    for params in (DONE_WHEN, MATCHED, {"prior_pregnancy_losses": "1"}, {}):
        page = client.get("/widget", params=params).text
        (href, label) = re.findall(r'<p class="aid-link" id="aid-link"><a href="([^"]+)"[^>]*>([^<]+)</a>', page)[0]
        aid = urlsplit(html.unescape(href))
        assert aid.path == "/decision-aid" and label == LABEL
        assert dict(parse_qsl(aid.query)).keys() == params.keys()
        assert client.get(html.unescape(href)).status_code == 200


def test_the_widget_form_with_errors_offers_no_aid(client: TestClient) -> None:
    page = client.get("/widget", params={**MATCHED, "nk_cell_percent": "140"}).text
    assert 'id="aid-link"' not in page


def test_openapi_documents_the_aid_with_the_widgets_parameters_but_no_launch(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    names = [p["name"] for p in paths["/decision-aid"]["get"]["parameters"]]
    assert names == [p["name"] for p in paths["/widget"]["get"]["parameters"] if p["name"] != "launch"]
