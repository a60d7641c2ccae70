"""The CDS Hooks door end to end with prefetched FHIR data: discovery, cards, cards: [], 412 and 422."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient

from plugin.app import create_app
from plugin.cds_hooks.prefetch import TEMPLATES
from tests.cds_hooks import support
from tests.cds_hooks.support import (
    ORDER_SELECT_URL,
    SERVICE_URL,
    cds_settings,
    chart,
    empty_values,
    hook_request,
    load,
)
from tests.docs_pages import section

WARNING = "These results come from few, small, non-randomized studies with serious risk of bias."


@pytest.fixture(scope="module")
def cds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = cds_settings(
        tmp_path_factory.mktemp("cds"), ivig_medication_codes=("urn:oid:2.16.840.1.113883.6.69|0944-2700",)
    )
    with TestClient(create_app(settings)) as client:
        yield client


def url_for(body: dict[str, Any]) -> str:
    """Each hook has its own service id."""
    return ORDER_SELECT_URL if body["hook"] == "order-select" else SERVICE_URL


def cards(client: TestClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post(url_for(body), json=body)
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()["cards"]
    return result


def one_card(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    found = cards(client, body)
    assert len(found) == 1
    return found[0]


def test_discovery_lists_one_service_per_hook_each_with_its_own_id_and_the_prefetch(cds: TestClient) -> None:
    response = cds.get("/cds-services")
    assert response.status_code == 200
    services = response.json()["services"]
    assert [(s["hook"], s["id"]) for s in services] == [
        ("patient-view", "ivig-rpl-evidence"),
        ("order-select", "ivig-rpl-evidence-order-select"),
    ]
    for service in services:
        assert set(service) == {"hook", "id", "title", "description", "prefetch", "usageRequirements"}
        assert service["prefetch"] == TEMPLATES
        assert all("{{context.patientId}}" in query for query in service["prefetch"].values())
    assert empty_values(response.json()) == []


def test_a_client_that_keeps_one_discovery_entry_per_id_keeps_both_services(cds: TestClient) -> None:
    services = cds.get("/cds-services").json()["services"]
    by_id = {service["id"]: service for service in services}  # the public sandbox's reducer, keyed by id
    assert sorted(service["hook"] for service in by_id.values()) == ["order-select", "patient-view"]


def test_each_service_answers_only_its_own_hook(cds: TestClient) -> None:
    order_select = cds.post(SERVICE_URL, json=load("cds-request-spec-order-select.json"))
    patient_view = cds.post(ORDER_SELECT_URL, json=hook_request(chart()))
    for response in (order_select, patient_view):
        assert response.status_code == 422


def test_card_for_nk_18_percent_and_three_losses_shows_rr_2_32_and_the_warning(cds: TestClient) -> None:
    body = hook_request(chart(nkCells="nk-percent.json", obstetricHistory="obstetric-3-losses.json"))
    card = one_card(cds, body)
    assert "NK >12%: non-randomized RR 2.32" in card["summary"]
    assert "2.32 (1.77 to 3.02)" in card["detail"]
    assert WARNING in card["detail"]
    assert "Prior pregnancy losses: 3" in card["detail"]
    assert "Peripheral-blood NK cells: 18.0%" in card["detail"]
    assert "Observation, LOINC 18267-5, 2026-03-02" in card["detail"]  # the newest final result, dated


def test_card_has_the_spec_shape_and_no_null_or_empty_field(cds: TestClient) -> None:
    body = hook_request(chart(nkCells="nk-percent.json", obstetricHistory="obstetric-3-losses.json"))
    response = cds.post(SERVICE_URL, json=body)
    assert empty_values(response.json()) == []
    card = response.json()["cards"][0]
    assert set(card) == {"uuid", "summary", "detail", "indicator", "source", "links"}
    assert uuid.UUID(card["uuid"]).version == 4
    assert len(card["summary"]) < 140
    assert card["indicator"] == "info"
    assert card["source"] == {
        "label": "Habets et al., Allergy Asthma Clin Immunol 2022;18:23",
        "url": "https://aacijournal.biomedcentral.com/articles/10.1186/s13223-022-00660-8",
    }
    assert "<" not in card["detail"].replace("< 0.0001", "")  # markdown only, no HTML


def test_each_call_gets_fresh_card_uuids(cds: TestClient) -> None:
    body = hook_request(chart(nkCells="nk-percent.json"))
    assert one_card(cds, body)["uuid"] != one_card(cds, body)["uuid"]


def test_card_links_to_the_widget_and_the_decision_aid_with_the_profile_as_query_parameters(cds: TestClient) -> None:
    body = hook_request(
        chart("conditions-icd10cm.json", nkCells="nk-percent.json", obstetricHistory="obstetric-3-losses.json")
    )
    link, aid = one_card(cds, body)["links"]
    url, aid_url = urlsplit(link["url"]), urlsplit(aid["url"])
    assert (url.scheme, url.netloc, url.path, link["type"]) == ("https", "cds.example.org", "/widget", "absolute")
    assert parse_qsl(url.query) == [
        ("prior_pregnancy_losses", "3"),
        ("nk_cell_percent", "18.0"),
        ("autoimmune_conditions", "antiphospholipid_syndrome"),
        ("autoimmune_conditions", "systemic_lupus_erythematosus"),
    ]
    # The decision aid for the talk with the patient: the same findings, labelled as what it is and is not.
    assert (aid_url.scheme, aid_url.netloc, aid_url.path, aid["type"]) == (
        "https",
        "cds.example.org",
        "/decision-aid",
        "absolute",
    )
    assert aid_url.query == url.query
    assert aid["label"] == (
        "Decision aid for the talk with the patient, in plain words: material for a conversation with a clinician, "
        "not advice"
    )


def test_nk_as_a_fraction_reads_the_same_as_a_percentage(cds: TestClient) -> None:
    as_percent = one_card(cds, hook_request(chart(nkCells="nk-percent.json")))
    as_fraction = one_card(cds, hook_request(chart(nkCells="nk-fraction.json")))
    assert as_fraction["summary"] == as_percent["summary"]
    assert "Peripheral-blood NK cells: 18.0%" in as_fraction["detail"]
    assert "LOINC 107067-1" in as_fraction["detail"]


def test_icd10cm_conditions_match_like_snomed_and_give_the_overall_estimate(cds: TestClient) -> None:
    card = one_card(cds, hook_request(chart("conditions-icd10cm.json", nkCells=None)))
    assert "all studies: non-randomized RR 1.98" in card["summary"]
    assert "Autoimmune: APS, SLE (" in card["detail"]
    assert "ICD-10-CM D68.61" in card["detail"]
    assert "ICD-10 M32.9" in card["detail"]


def test_refuted_entered_in_error_and_resolved_conditions_are_ignored(cds: TestClient) -> None:
    card = one_card(cds, hook_request(chart(nkCells="nk-normal.json")))
    assert card["summary"] == "IVIG in RPL: no non-randomized estimate matched yet; RCTs in RPL: no clear benefit"
    assert "Autoimmune:" not in card["detail"]
    assert "SNOMED CT 102878001" in card["detail"]
    for code in ("55464009", "26843008", "21983002"):
        assert code not in card["detail"]


def test_a_null_prefetch_key_means_no_data_and_is_not_an_error(cds: TestClient) -> None:
    card = one_card(cds, hook_request(chart(nkCells=None, obstetricHistory=None)))
    assert card["summary"] == "IVIG in RPL: no non-randomized estimate matched yet; RCTs in RPL: no clear benefit"
    assert "NK" not in card["summary"]  # the summary never reads as a request to test (CLINICAL.md section 4)
    assert "peripheral-blood NK-cell percentage" in card["detail"]
    assert "ESHRE and RCOG advise against NK-cell testing" in card["detail"]


def test_an_nk_result_alone_gives_no_cards(cds: TestClient) -> None:
    assert cards(cds, hook_request(chart(None, nkCells="nk-percent.json"))) == []
    assert cards(cds, hook_request(chart("conditions-none.json", nkCells="nk-percent.json"))) == []


def test_null_conditions_with_three_losses_answer_from_the_nk_result(cds: TestClient) -> None:
    body = hook_request(chart(None, nkCells="nk-percent.json", obstetricHistory="obstetric-3-losses.json"))
    assert "NK >12%: non-randomized RR 2.32" in one_card(cds, body)["summary"]


def test_missing_conditions_without_fhir_access_is_412_with_an_operation_outcome(cds: TestClient) -> None:
    body = hook_request({"nkCells": load("nk-percent.json")})
    response = cds.post(SERVICE_URL, json=body)
    assert response.status_code == 412
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["diagnostics"] == "fhir.unavailable"
    assert outcome["issue"][0]["severity"] == "error"


def test_conditions_prefetched_as_an_error_outcome_without_fhir_access_is_412(cds: TestClient) -> None:
    response = cds.post(SERVICE_URL, json=hook_request(chart("operation-outcome.json", nkCells="nk-percent.json")))
    assert response.status_code == 412
    assert response.json()["issue"][0]["diagnostics"] == "fhir.unavailable"


def test_missing_or_failed_nk_prefetch_leaves_nk_unknown_instead_of_failing(cds: TestClient) -> None:
    missing = one_card(cds, hook_request(chart(obstetricHistory="obstetric-3-losses.json")))
    failed = one_card(cds, hook_request(chart(nkCells="operation-outcome.json")))
    for card in (missing, failed):
        assert card["summary"] == "IVIG in RPL: no non-randomized estimate matched yet; RCTs in RPL: no clear benefit"
        assert "NK" not in card["summary"]  # the summary never reads as a request to test (CLINICAL.md section 4)
    assert "peripheral-blood NK-cell percentage" in card["detail"]
    assert "ESHRE and RCOG advise against NK-cell testing" in card["detail"]


def test_fewer_than_two_losses_without_an_rpl_diagnosis_returns_no_cards(cds: TestClient) -> None:
    body = hook_request(
        chart("conditions-none.json", nkCells="nk-percent.json", obstetricHistory="obstetric-1-loss.json")
    )
    assert cards(cds, body) == []


def test_a_chart_with_nothing_about_rpl_or_nk_cells_returns_no_cards(cds: TestClient) -> None:
    assert cards(cds, hook_request(chart("conditions-none.json", nkCells=None, obstetricHistory=None))) == []


def test_a_loss_count_that_contradicts_the_rpl_diagnosis_is_not_used(cds: TestClient) -> None:
    card = one_card(cds, hook_request(chart(nkCells="nk-percent.json", obstetricHistory="obstetric-1-loss.json")))
    assert "NK >12%: non-randomized RR 2.32" in card["summary"]
    assert "Prior pregnancy losses" not in card["detail"]
    assert "conflicts with the RPL diagnosis" in card["detail"]


def test_the_spec_patient_view_example_without_our_prefetch_or_a_reachable_server_is_412(cds: TestClient) -> None:
    body = load("cds-request-spec-patient-view.json")
    del body["fhirAuthorization"]  # keeps the test off the network: nothing may be fetched
    response = cds.post(SERVICE_URL, json=body)
    assert response.status_code == 412
    assert response.json()["issue"][0]["diagnostics"] == "fhir.unavailable"


def test_the_spec_order_select_example_is_not_about_ivig_and_returns_no_cards(cds: TestClient) -> None:
    assert cards(cds, load("cds-request-spec-order-select.json")) == []


def ivig_order(**medication: Any) -> dict[str, Any]:
    return support.ivig_order(chart(nkCells="nk-percent.json"), **medication)


@pytest.mark.parametrize(
    "medication",
    [
        {"medicationCodeableConcept": {"text": "IVIG 10% solution"}},
        {"medicationCodeableConcept": {"text": "Immune globulin (human), intravenous"}},
        {
            "medicationCodeableConcept": {"text": "Human normal immunoglobulin 100 mg/mL"},
            "dosageInstruction": [{"route": {"coding": [{"system": "http://snomed.info/sct", "code": "47625008"}]}}],
        },
        {"medicationCodeableConcept": {"coding": [{"system": "urn:oid:2.16.840.1.113883.6.69", "code": "0944-2700"}]}},
        {"medicationReference": {"reference": "Medication/ivig", "display": "IVIG (Privigen)"}},
    ],
    ids=["ivig-text", "immune-globulin-intravenous", "immunoglobulin-by-iv-route", "configured-code", "reference"],
)
def test_order_select_for_ivig_shows_the_evidence_card(cds: TestClient, medication: dict[str, Any]) -> None:
    card = one_card(cds, ivig_order(**medication))
    assert "NK >12%: non-randomized RR 2.32" in card["summary"]
    assert WARNING in card["detail"]


@pytest.mark.parametrize(
    "text",
    ["Rho(D) immune globulin intravenous", "Hepatitis B immune globulin IV", "Immune globulin subcutaneous 20%"],
    ids=["anti-d", "hbig", "scig"],
)
def test_order_select_for_other_immunoglobulins_returns_no_cards(cds: TestClient, text: str) -> None:
    assert cards(cds, ivig_order(medicationCodeableConcept={"text": text})) == []


def test_an_unselected_ivig_draft_beside_a_selected_diet_order_returns_no_cards(cds: TestClient) -> None:
    body = ivig_order(medicationCodeableConcept={"text": "IVIG 10% solution"})
    body["context"]["selections"] = ["NutritionOrder/pureeddiet-simple"]
    assert cards(cds, body) == []


def test_order_select_without_selections_is_a_422_naming_the_field(cds: TestClient) -> None:
    for selections in (None, ()):
        body = ivig_order(medicationCodeableConcept={"text": "IVIG 10% solution"})
        if selections is None:
            del body["context"]["selections"]
        else:
            body["context"]["selections"] = list(selections)
        response = cds.post(ORDER_SELECT_URL, json=body)
        assert response.status_code == 422
        assert [issue["expression"] for issue in response.json()["issue"]] == [["context.selections"]]


def test_a_draft_order_with_category_as_one_object_is_read_like_a_list(cds: TestClient) -> None:
    category = {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category", "code": "outpatient"}]
    }
    as_object = ivig_order(medicationCodeableConcept={"text": "IVIG 10% solution"}, category=category)
    as_list = ivig_order(medicationCodeableConcept={"text": "IVIG 10% solution"}, category=[category])
    assert one_card(cds, as_object)["summary"] == one_card(cds, as_list)["summary"]


def test_order_select_reason_rpl_makes_the_ivig_order_relevant_without_a_problem_list_entry(cds: TestClient) -> None:
    body = ivig_order(
        medicationCodeableConcept={"text": "IVIG"},
        reasonCode=[{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "N96"}]}],
    )
    body["prefetch"] = chart("conditions-none.json", nkCells=None)
    card = one_card(cds, body)
    assert "reason on the IVIG order, ICD-10-CM N96" in card["detail"]


def test_order_select_without_draft_orders_is_422(cds: TestClient) -> None:
    body = load("cds-request-spec-order-select.json")
    del body["context"]["draftOrders"]
    assert cds.post(ORDER_SELECT_URL, json=body).status_code == 422


def test_a_hook_this_service_does_not_answer_is_422(cds: TestClient) -> None:
    assert cds.post(SERVICE_URL, json=hook_request(chart(), hook="order-sign")).status_code == 422


def test_fhir_authorization_without_fhir_server_is_422(cds: TestClient) -> None:
    body = load("cds-request-spec-patient-view.json")
    del body["fhirServer"]
    assert cds.post(SERVICE_URL, json=body).status_code == 422


def test_a_fhir_authorization_that_is_not_a_bearer_token_is_422(cds: TestClient) -> None:
    body = load("cds-request-spec-patient-view.json")
    body["fhirAuthorization"]["token_type"] = "MAC"
    assert cds.post(SERVICE_URL, json=body).status_code == 422


def test_an_unknown_service_id_is_404(cds: TestClient) -> None:
    assert cds.post("/cds-services/something-else", json=hook_request(chart())).status_code == 404


def test_extensions_in_the_request_are_ignored(cds: TestClient) -> None:
    body = hook_request(chart(nkCells="nk-percent.json"), extension={"org.example.flag": True})
    assert "NK >12%: non-randomized RR 2.32" in one_card(cds, body)["summary"]


def test_the_card_link_opens_the_widget_on_the_same_numbers(cds: TestClient) -> None:
    body = hook_request(chart(nkCells="nk-percent.json", obstetricHistory="obstetric-3-losses.json"))
    url = urlsplit(one_card(cds, body)["links"][0]["url"])
    page = cds.get(f"{url.path}?{url.query}")
    assert page.status_code == 200
    assert "2.32 (1.77 to 3.02)" in page.text


def test_the_documented_sample_request_gives_the_card_shown_there(tmp_path: Path) -> None:
    page = section("cds-hooks.md", "EHR integration (CDS Hooks)")
    request = json.loads(re.search(r"-d '(\{.*?\})'\n```", page, re.DOTALL).group(1))  # type: ignore[union-attr]
    shown = re.search(r"```jsonc\n(.*?)\n```", page, re.DOTALL).group(1)  # type: ignore[union-attr]
    with TestClient(create_app(cds_settings(tmp_path, public_base_url="http://127.0.0.1:8000"))) as client:
        card = one_card(client, request)
    assert json.dumps(card["summary"]) in shown
    assert json.dumps(card["source"]["url"]) in shown
    assert all(json.dumps(link["url"]) in shown and json.dumps(link["label"]) in shown for link in card["links"])


def test_a_card_says_how_many_chart_resources_could_not_be_read(cds: TestClient) -> None:
    prefetch = chart(nkCells="nk-percent.json")
    broken = dict(prefetch["nkCells"]["entry"][0]["resource"], valueQuantity={"value": "high"})
    prefetch["nkCells"]["entry"].append({"resource": broken})
    prefetch["conditions"]["entry"][0]["resource"]["meta"] = {"lastUpdated": "2026-03-02T10:00:00"}  # loses meta only
    detail = one_card(cds, hook_request(prefetch))["detail"]
    assert "**Not read from the chart:** 1 Observation could not be read" in detail
    assert "SNOMED CT 102878001" in detail  # the Condition whose meta was malformed still counts


def test_a_card_built_from_a_whole_chart_has_no_not_read_note(cds: TestClient) -> None:
    assert "Not read from the chart" not in one_card(cds, hook_request(chart(nkCells="nk-percent.json")))["detail"]
