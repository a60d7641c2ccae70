"""FHIR R4 resources -> PatientProfile, and prefetch values -> resources, one rule at a time."""

from __future__ import annotations

import logging
import math
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.observation import Observation

from plugin.fhir.chart import json_text, parse, read_chart
from plugin.fhir.search import BundleError, FhirAccess, WithoutQuery, unpack
from plugin.fhir.urls import split
from tests.cds_hooks.support import load


def nk(value: float, *, ucum: str | None = "%", unit: str | None = None, **fields: Any) -> dict[str, Any]:
    quantity: dict[str, Any] = {"value": value}
    if ucum is not None:
        quantity |= {"system": "http://unitsofmeasure.org", "code": ucum}
    if unit is not None:
        quantity["unit"] = unit
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "18267-5"}]},
        "effectiveDateTime": "2026-03-02",
        "valueQuantity": quantity,
    }
    return observation | fields


def condition(system: str, code: str, **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": "Patient/1288992"},
    } | fields


@pytest.mark.parametrize(
    ("observation", "percent"),
    [
        (nk(18), 18.0),
        (nk(0.18, ucum="1"), 18.0),
        (nk(0.18, ucum=None), 18.0),
        (nk(14, ucum="/100{cells}"), 14.0),
        (nk(14, ucum=None, unit="%"), 14.0),
        (nk(310, ucum="/uL"), None),  # an absolute count is not a percentage
        (nk(18, ucum=None), None),  # unitless reads as a fraction: 1800% is impossible, so unknown
        (nk(18, valueQuantity={"value": 12, "comparator": "<", "code": "%"}), None),
        (nk(18, status="preliminary"), None),
        (nk(18, status="entered-in-error"), None),
        (nk(18, code={"coding": [{"system": "http://loinc.org", "code": "20402-4"}]}), None),
        (nk(18, code={"text": "NK cells (CD56+) %"}), 18.0),  # a local code, named as NK
        (nk(18, code={"text": "Endometrial NK cells %"}), None),  # uterine NK cells are another measurement
        (nk(18, valueQuantity=None), None),
    ],
    ids=[
        "ucum-percent",
        "ucum-fraction",
        "unitless-fraction",
        "per-100-cells",
        "unit-text-percent",
        "absolute-count",
        "unitless-above-one",
        "comparator",
        "preliminary",
        "entered-in-error",
        "absolute-count-code",
        "local-code-by-name",
        "uterine",
        "no-value",
    ],
)
def test_nk_percentage_is_read_only_from_final_percentages_or_fractions(
    observation: dict[str, Any], percent: float | None
) -> None:
    assert read_chart([observation]).profile.nk_cell_percent == percent


def test_a_category_sent_as_one_object_is_read_like_r4s_list_of_one() -> None:
    laboratory = {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]
    }
    assert read_chart([nk(18, category=laboratory)]).profile.nk_cell_percent == 18.0
    assert read_chart([nk(18, category=[laboratory])]).profile.nk_cell_percent == 18.0


def test_the_newest_final_nk_result_wins_whatever_the_date_precision() -> None:
    dated = [
        nk(9, effectiveDateTime="2026"),
        nk(11, effectiveDateTime="2026-02"),
        nk(18, effectiveDateTime="2026-03-02T08:00:00+01:00"),
        nk(10, effectiveDateTime="2026-03-01"),
        nk(13, effectiveDateTime=None, issued="2025-01-01T00:00:00Z"),
        nk(40, effectiveDateTime=None),
    ]
    assert read_chart(dated).profile.nk_cell_percent == 18.0


@pytest.mark.parametrize(
    ("system", "code", "expected"),
    [
        ("http://snomed.info/sct", "26843008", ("antiphospholipid_syndrome",)),
        ("http://snomed.info/sct", "402865003", ("antiphospholipid_syndrome",)),
        ("http://snomed.info/sct", "55464009", ("systemic_lupus_erythematosus",)),
        ("http://snomed.info/sct", "21983002", ("autoimmune_thyroid_disease",)),
        ("http://hl7.org/fhir/sid/icd-10-cm", "D68.61", ("antiphospholipid_syndrome",)),
        ("http://hl7.org/fhir/sid/icd-10-cm", "D6861", ("antiphospholipid_syndrome",)),
        ("http://hl7.org/fhir/sid/icd-10-cm", "M32.14", ("systemic_lupus_erythematosus",)),
        ("http://hl7.org/fhir/sid/icd-10", "E06.3", ("autoimmune_thyroid_disease",)),
        ("http://hl7.org/fhir/sid/icd-10-cm", "D68.62", None),  # lupus anticoagulant syndrome is not APS
        ("http://snomed.info/sct", "38341003", None),
        ("http://example.org/local", "55464009", None),  # a SNOMED number in another system means nothing
    ],
)
def test_autoimmune_conditions_map_from_snomed_and_icd10_codes(
    system: str, code: str, expected: tuple[str, ...] | None
) -> None:
    assert read_chart([condition(system, code)]).profile.autoimmune_conditions == expected


@pytest.mark.parametrize(
    "fields",
    [
        {"clinicalStatus": {"coding": [{"code": "resolved"}]}},
        {"clinicalStatus": {"coding": [{"code": "inactive"}]}},
        {"clinicalStatus": None},
        {"verificationStatus": {"coding": [{"code": "refuted"}]}},
        {"verificationStatus": {"coding": [{"code": "entered-in-error"}]}},
    ],
    ids=["resolved", "inactive", "no-clinical-status", "refuted", "entered-in-error"],
)
def test_conditions_that_are_not_current_and_true_are_ignored(fields: dict[str, Any]) -> None:
    lupus = {k: v for k, v in (condition("http://snomed.info/sct", "55464009") | fields).items() if v is not None}
    chart = read_chart([lupus])
    assert chart.profile.autoimmune_conditions is None


def test_recurring_and_relapsed_conditions_count() -> None:
    relapse = condition("http://snomed.info/sct", "55464009", clinicalStatus={"coding": [{"code": "relapse"}]})
    recurrence = condition(
        "http://hl7.org/fhir/sid/icd-10-cm", "N96", clinicalStatus={"coding": [{"code": "recurrence"}]}
    )
    chart = read_chart([relapse, recurrence])
    assert chart.profile.autoimmune_conditions == ("systemic_lupus_erythematosus",)
    assert chart.rpl_diagnosed


def test_an_empty_problem_list_leaves_autoimmune_status_unknown_not_none() -> None:
    chart = read_chart([])
    assert chart.profile.autoimmune_conditions is None
    assert not chart.relevant


@pytest.mark.parametrize(
    ("resources", "relevant"),
    [
        ([nk(18)], False),
        ([nk(18), condition("http://snomed.info/sct", "55464009")], False),  # lupus, but no RPL
        ([condition("http://snomed.info/sct", "102878001")], True),
        ([load("obstetric-3-losses.json")["entry"][0]["resource"]], True),
        ([load("obstetric-1-loss.json")["entry"][0]["resource"], nk(18)], False),
    ],
    ids=["nk-alone", "nk-and-lupus", "rpl-diagnosis", "three-losses", "one-loss"],
)
def test_the_chart_is_about_this_evidence_only_with_rpl_or_two_or_more_losses(
    resources: list[dict[str, Any]], relevant: bool
) -> None:
    assert read_chart(resources).relevant is relevant


def test_spontaneous_abortions_give_the_loss_count_and_total_abortions_do_not() -> None:
    losses = load("obstetric-3-losses.json")["entry"][0]["resource"]
    total = losses | {"code": {"coding": [{"system": "http://loinc.org", "code": "11612-9"}]}, "valueInteger": 5}
    as_quantity = losses | {"valueInteger": None, "valueQuantity": {"value": 4}}
    as_quantity = {k: v for k, v in as_quantity.items() if v is not None} | {"effectiveDateTime": "2026-01-01"}
    assert read_chart([losses]).profile.prior_pregnancy_losses == 3
    assert read_chart([total]).profile.prior_pregnancy_losses is None
    assert read_chart([losses, as_quantity]).profile.prior_pregnancy_losses == 4


@pytest.mark.parametrize(
    "value",
    [{"valueQuantity": {"value": 3, "comparator": ">"}}, {"valueInteger": -1}, {"valueQuantity": {"value": 2.5}}, {}],
    ids=["comparator", "negative", "not-whole", "no-value"],
)
def test_a_loss_count_that_is_not_a_plain_whole_number_is_unknown(value: dict[str, Any]) -> None:
    losses = {k: v for k, v in load("obstetric-3-losses.json")["entry"][0]["resource"].items() if k != "valueInteger"}
    assert read_chart([losses | value]).profile.prior_pregnancy_losses is None


def test_resources_that_are_not_valid_fhir_or_not_ours_are_skipped() -> None:
    broken = nk(18, valueQuantity="18 %")
    patient = {"resourceType": "Patient", "id": "1288992", "gender": "female"}
    chart = read_chart([broken, patient, nk(14)])
    assert chart.profile.nk_cell_percent == 14.0
    assert chart.unread == (("Observation", 1),)  # the broken result is counted; the Patient is simply not ours


@pytest.mark.parametrize(
    "malformed",
    [
        {"meta": {"lastUpdated": "2026-03-02T10:00:00"}},  # no time zone, which FHIR requires of an instant
        {"note": [{"text": "drawn late", "authorString": 5}]},
        {"category": [{"coding": [{"system": 5, "code": "laboratory"}]}]},
        {"extension": [{"url": 3}], "bogus": True},
    ],
    ids=["meta-lastUpdated-without-zone", "note", "category", "extension-and-unknown-element"],
)
def test_a_malformed_element_the_reader_does_not_use_loses_only_itself(malformed: dict[str, Any]) -> None:
    chart = read_chart([nk(18, **malformed), condition("http://snomed.info/sct", "102878001", **malformed)])
    assert (chart.profile.nk_cell_percent, chart.rpl_diagnosed, chart.unread) == (18.0, True, ())


@pytest.mark.parametrize(
    ("resource", "kind"),
    [
        (nk(18, valueQuantity={"value": "eighteen", "code": "%"}), "Observation"),
        (nk(18, effectiveDateTime="yesterday"), "Observation"),
        (condition("http://snomed.info/sct", "102878001", verificationStatus={"coding": [{"code": 5}]}), "Condition"),
        (condition("http://snomed.info/sct", "102878001") | {"code": "recurrent miscarriage"}, "Condition"),
    ],
    ids=["nk-value", "nk-date", "verification-status", "condition-code"],
)
def test_a_malformed_element_the_reader_uses_makes_the_resource_unread_and_counted(
    resource: dict[str, Any], kind: str
) -> None:
    chart = read_chart([resource, {**resource, "meta": {"lastUpdated": "2026"}}])
    assert chart.unread == ((kind, 2),)
    assert (chart.profile.nk_cell_percent, chart.rpl_diagnosed) == (None, False)


def test_a_bundle_unpacks_to_its_resources_skipping_informational_outcomes() -> None:
    resources, next_url = unpack(load("nk-percent.json"))
    assert [r["id"] for r in resources] == ["nk-2026", "nk-2024", "nk-preliminary", "nk-entered-in-error"]
    assert next_url is None


@pytest.mark.parametrize(
    "value",
    [
        load("operation-outcome.json"),
        {"resourceType": "Bundle", "entry": [{"resource": load("operation-outcome.json")}]},
        {"resourceType": "OperationOutcome", "issue": []},
        "Bundle",
        {"entry": []},
    ],
    ids=["outcome", "bundle-with-error-outcome", "outcome-without-issues", "not-an-object", "no-resource-type"],
)
def test_error_outcomes_and_non_resources_are_prefetch_errors(value: object) -> None:
    with pytest.raises(BundleError):
        unpack(value)


def test_a_single_resource_prefetch_unpacks_to_itself() -> None:
    patient = {"resourceType": "Patient", "id": "1288992"}
    assert unpack(patient) == ([patient], None)


def test_fetch_urls_fill_the_patient_token_and_stay_on_the_fhir_server() -> None:
    base = split("https://EHR.example.org:443/fhir/")
    assert base is not None
    access = FhirAccess(base, "token")
    url = access.url_for("Condition?patient={{patient}}&clinical-status=active", "a b/c")
    assert url == "https://ehr.example.org/fhir/Condition?patient=a%20b%2Fc&clinical-status=active"
    assert access.url_for("Observation?code=http://loinc.org|11614-5", "1") == (
        "https://ehr.example.org/fhir/Observation?code=http://loinc.org%7C11614-5"
    )
    assert access.owns("https://ehr.example.org/fhir/Condition?_page=2")
    assert not access.owns("https://ehr.example.org/fhir-other/Condition")
    assert not access.owns("https://attacker.example.org/fhir/Condition")
    assert not access.owns("http://ehr.example.org/fhir/Condition?_page=2")  # not in clear
    assert not access.owns("https://user:pw@ehr.example.org/fhir/Condition")
    assert not access.owns("https://ehr.example.org/fhir/../admin")
    assert "token" not in repr(access)


def test_httpx_request_logs_lose_their_query_string_and_other_records_pass_untouched() -> None:
    url = httpx.URL("https://ehr.example.org/fhir/Condition?patient=1288992")
    logged = logging.LogRecord("httpx", logging.INFO, __file__, 1, "HTTP Request: %s %s", ("GET", url), None)
    plain = logging.LogRecord("httpx", logging.INFO, __file__, 1, "%(n)s", ({"n": 1},), None)
    assert WithoutQuery().filter(logged)
    assert WithoutQuery().filter(plain)
    assert logged.getMessage() == "HTTP Request: GET https://ehr.example.org/fhir/Condition"
    assert plain.getMessage() == "1"


def test_a_resource_read_whole_is_parsed_once_and_one_that_lost_an_element_every_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A patient's problem list comes again with every hook: the model read from the same JSON is reused. One that
    was read without a malformed element is parsed, and logged, every time it comes."""
    clean = condition("http://snomed.info/sct", "102878001")
    assert parse(dict(clean)) is parse(dict(clean))
    assert parse(clean | {"id": "other"}) is not parse(clean)
    assert read_chart([clean]).rpl_diagnosed and read_chart([clean]).rpl_diagnosed
    damaged = nk(18, note=[{"text": "drawn late", "authorString": 5}])
    with caplog.at_level(logging.INFO, logger="plugin.fhir.chart"):
        first, second = parse(damaged), parse(damaged)
    assert first is not second and first is not None and first.note is None
    assert [r.getMessage() for r in caplog.records] == ["read a Observation without its malformed note"] * 2


def test_a_resource_json_cannot_hold_is_read_and_not_kept() -> None:
    """A FHIR server's page is parsed leniently: NaN can arrive, in an element the reader drops."""
    odd = nk(18) | {"bogus": math.nan}
    assert json_text(odd) is None
    first = parse(odd)
    assert isinstance(first, Observation) and first.valueQuantity is not None and first.valueQuantity.value == 18
    assert parse(odd) is not first
