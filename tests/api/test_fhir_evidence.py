"""GET /v1/evidence/{id}/fhir: the store as FHIR R5 Evidence, validated with fhir.resources, numbers as stored."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from fhir.resources.bundle import Bundle
from fhir.resources.evidence import Evidence

from plugin.core.answer.plugin import Plugin

URL = "/v1/evidence/habets-2022-ivig-rpl/fhir"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem"


def resources(body: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {e["resource"]["id"]: e["resource"] for e in body["entry"] if e["resource"]["resourceType"] == kind}


def codes(concept: dict[str, Any]) -> list[str]:
    return [c["code"] for c in concept["coding"]]


def test_the_bundle_is_valid_fhir_r5_and_served_as_fhir_json(client: TestClient) -> None:
    response = client.get(URL)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate(response.json())
    assert bundle.type == "collection"
    kinds = {e.resource.get_resource_type() for e in bundle.entry or [] if e.resource is not None}
    assert kinds == {"Citation", "EvidenceVariable", "Evidence"}


def test_each_estimate_is_one_evidence_with_its_rr_ci_p_size_and_the_curators_certainty(
    client: TestClient, plugin: Plugin
) -> None:
    evidence = resources(client.get(URL).json(), "Evidence")
    analysis = plugin.store.analyses["habets-2022-ivig-rpl"]
    for estimate in analysis.estimates:
        resource = evidence[f"habets-2022-ivig-rpl-{estimate.id}"]
        Evidence.model_validate(resource)
        (statistic,) = resource["statistic"]
        assert codes(statistic["statisticType"]) == ["C93152"]  # Relative Risk
        assert statistic["quantity"]["value"] == estimate.point
        ci, p = statistic["attributeEstimate"]
        assert (ci["level"], ci["range"]["low"]["value"], ci["range"]["high"]["value"]) == (0.95, *estimate.ci)
        assert codes(p["type"]) == ["C44185"]
        assert codes(resource["studyDesign"][0]) == ["CCT"]  # controlled, not randomized
        (overall,) = resource["certainty"]
        assert codes(overall["rating"]) == ["very-low"] and overall["rater"] == "curators"
        assert "RiskOfBias" in [codes(s["type"])[0] for s in overall["subcomponent"]]
        roles = [codes(v["variableRole"])[0] for v in resource["variableDefinition"]]
        assert roles == ["population", "exposure", "referenceExposure", "measuredVariable"]
    overall_stat = evidence["habets-2022-ivig-rpl-overall"]["statistic"][0]
    assert overall_stat["sampleSize"] == {"numberOfStudies": 8, "numberOfParticipants": 478}
    assert "sampleSize" not in evidence["habets-2022-ivig-rpl-nk-above-12"]["statistic"][0]  # unknown, not zero
    p_bound = evidence["habets-2022-ivig-rpl-overall"]["statistic"][0]["attributeEstimate"][1]["quantity"]
    assert p_bound == {"comparator": "<", "value": 0.0001}


def test_the_randomized_records_export_too_each_marked_as_randomized_with_its_own_outcome(client: TestClient) -> None:
    evidence = resources(client.get(URL).json(), "Evidence")
    egerup = evidence["egerup2015-overall"]
    assert codes(egerup["studyDesign"][0]) == ["RCT"]
    assert egerup["statistic"][0]["quantity"]["value"] == 0.92
    assert egerup["variableDefinition"][3]["observed"]["reference"] == "EvidenceVariable/no-live-birth"
    assert egerup["statistic"][0]["sampleSize"] == {"numberOfStudies": 11}  # the total of women is not confirmed
    assert "yamada2022-ongoing-pregnancy" not in evidence  # no confirmed effect estimate, so nothing to export
    assert codes(evidence["ata2011-sr"]["statistic"][0]["statisticType"]) == ["C16932"]  # an odds ratio


def test_an_unknown_analysis_is_a_404_naming_the_code(client: TestClient) -> None:
    response = client.get("/v1/evidence/nope/fhir")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "evidence.unknown_analysis"


def test_the_evidence_listing_says_which_study_counts_are_missing(client: TestClient) -> None:
    body = client.get("/v1/evidence").json()
    data = body["study_data"]
    assert data["habets-2022-ivig-rpl#start-before-or-during-conception-cycle"] == {
        "complete": True,
        "missing": [],
        "re_pooled_at_load": True,
    }
    assert data["habets-2022-ivig-rpl#overall"]["complete"] is False
    assert "mahmoud2004.ivig_events" in data["habets-2022-ivig-rpl#overall"]["missing"]
    assert len(body["context"]) == 38
