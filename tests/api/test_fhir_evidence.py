"""GET /v1/evidence/{id}/fhir: the store as FHIR R5 Evidence, validated with fhir.resources, numbers as stored; every
reference resolved inside the Bundle, every coding checked against the R5 definitions (the hl7.fhir.r5.core
package, which `make test` installs from npm into var/)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.bundle import Bundle
from fhir.resources.evidence import Evidence

from plugin.api.fhir_evidence import urn
from plugin.core.answer.plugin import Plugin

R5 = Path(__file__).resolve().parents[2] / "var" / "npm" / "fhir-r5" / "node_modules" / "hl7.fhir.r5.core"

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
        assert [codes(d) for d in resource["studyDesign"]] == [["SEVCO:01010"]]  # comparative, not randomized
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
    assert [codes(d) for d in egerup["studyDesign"]] == [["SEVCO:01003"], ["SEVCO:01010"]]  # randomized, comparative
    assert egerup["statistic"][0]["quantity"]["value"] == 0.92
    assert egerup["variableDefinition"][3]["observed"]["reference"] == urn("EvidenceVariable", "no-live-birth")
    assert egerup["statistic"][0]["sampleSize"] == {"numberOfStudies": 11}  # the total of women is not confirmed
    assert "yamada2022-ongoing-pregnancy" not in evidence  # no confirmed effect estimate, so nothing to export
    assert codes(evidence["ata2011-sr"]["statistic"][0]["statisticType"]) == ["C16932"]  # an odds ratio


def test_an_unknown_analysis_is_a_404_operation_outcome_naming_the_code_not_the_id(client: TestClient) -> None:
    response = client.get("/v1/evidence/nope-x7/fhir")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/fhir+json"
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert [(i["severity"], i["code"], i["diagnostics"]) for i in outcome["issue"]] == [
        ("error", "not-found", "evidence.unknown_analysis")
    ]
    assert "nope-x7" not in response.text


def references(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(element path without indexes, reference) for every Reference.reference in a resource."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield path, item
            else:
                yield from references(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for item in value:
            yield from references(item, path)


TARGETS = {"citeAsReference": {"Citation"}, "variableDefinition.observed": {"Group", "EvidenceVariable"}}


def test_every_reference_resolves_to_an_entry_of_the_bundle_whose_full_url_it_is(client: TestClient) -> None:
    entries = client.get(URL).json()["entry"]
    by_url = {entry["fullUrl"]: entry["resource"] for entry in entries}
    assert len(by_url) == len(entries)  # no fullUrl twice
    assert all(url == urn(r["resourceType"], r["id"]) for url, r in by_url.items())
    seen = 0
    for entry in entries:
        for path, reference in references(entry["resource"]):
            assert reference in by_url, f"{entry['fullUrl']} {path} -> {reference}"
            assert by_url[reference]["resourceType"] in TARGETS[path]
            seen += 1
    assert seen == 5 * sum(1 for e in entries if e["resource"]["resourceType"] == "Evidence")  # 4 variables + citation


def test_each_randomized_record_has_its_own_population_and_comparator_not_the_reviews(
    client: TestClient, plugin: Plugin
) -> None:
    entries = client.get(URL).json()["entry"]
    by_url = {entry["fullUrl"]: entry["resource"] for entry in entries}
    review = plugin.store.analyses["habets-2022-ivig-rpl"].pico.comparator
    randomized = {r.id.replace("_", "-"): r for r in plugin.store.context.values() if r.randomized and r.estimate}
    evidence = resources({"entry": entries}, "Evidence")
    for fhir_id, record in randomized.items():
        variables = {
            v["variableRole"]["coding"][0]["code"]: by_url[v["observed"]["reference"]]
            for v in evidence[fhir_id]["variableDefinition"]
        }
        assert variables["population"]["description"] == record.population
        assert variables["referenceExposure"]["description"] == f"{record.measure}; {record.design}"
        assert review not in variables["referenceExposure"]["description"]
    before = evidence["wang2016-preconception"]["variableDefinition"][0]["observed"]["reference"]
    after = evidence["wang2016-post-implantation"]["variableDefinition"][0]["observed"]["reference"]
    assert before != after
    assert by_url[before]["description"] == "Subgroup: IVIG started before conception"
    assert by_url[after]["description"] == "Subgroup: IVIG started after implantation"


@pytest.fixture(scope="module")
def r5() -> Path:
    if not (R5 / "StructureDefinition-Evidence.json").is_file():
        message = f"the FHIR R5 definitions are not in {R5}: run `make fhir-deps`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return R5


def definition(r5: Path, kind: str, url: str) -> dict[str, Any] | None:
    """The package's ValueSet or CodeSystem with this canonical URL (its file is named by the URL's last part)."""
    path = r5 / f"{kind}-{url.rstrip('/').rpartition('/')[2]}.json"
    found: dict[str, Any] | None = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    return found if found is not None and found["url"] == url else None


def concepts(items: list[dict[str, Any]]) -> Iterator[str]:
    for item in items:
        yield item["code"]
        yield from concepts(item.get("concept", []))


def codings(value: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(element path, Coding) for every CodeableConcept; a certainty's subcomponent is a certainty (R5 reuses it)."""
    if isinstance(value, dict) and isinstance(value.get("coding"), list):
        yield from ((path, coding) for coding in value["coding"])
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from codings(item, path if key == "subcomponent" else f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            yield from codings(item, path)


def test_every_coding_is_from_the_code_system_its_r5_value_set_binds(client: TestClient, r5: Path) -> None:
    structure = json.loads((r5 / "StructureDefinition-Evidence.json").read_text(encoding="utf-8"))
    bindings = {e["path"]: e["binding"]["valueSet"] for e in structure["snapshot"]["element"] if "binding" in e}
    checked: dict[str, int] = {}
    for resource in resources(client.get(URL).json(), "Evidence").values():
        for path, found in codings(resource, "Evidence"):
            value_set = definition(r5, "ValueSet", bindings[path].partition("|")[0])
            if value_set is None:  # bound to a terminology.hl7.org value set, which the core package does not hold
                assert (
                    path == "Evidence.synthesisType"
                    and found["system"] == "http://terminology.hl7.org/CodeSystem/synthesis-type"
                )
                continue
            (include,) = value_set["compose"]["include"]
            assert found["system"] == include["system"], path
            code_system = definition(r5, "CodeSystem", include["system"])
            if code_system is not None:  # an R5 code system: the code must be one of its concepts
                assert found["code"] in set(concepts(code_system["concept"])), (path, found["code"])
                checked[path] = checked.get(path, 0) + 1
    assert set(checked) == {"Evidence.studyDesign", "Evidence.certainty.type", "Evidence.certainty.rating"}


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
