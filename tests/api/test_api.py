"""The JSON door end to end through the ASGI app: answers, evidence, health, OpenAPI, and 422s naming the field."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from plugin.app import create_app
from plugin.config import Settings
from plugin.errors import EvidenceError, MissingDataError, PluginError, RuleTableError, UpstreamError
from tests.docs_pages import page

ISSUE_PROFILE = {
    "prior_pregnancy_losses": 3,
    "nk_cell_percent": 14,
    "autoimmune_conditions": [],
    "th1_th2_ratio_elevated": False,
    "ivig_start": "after_pregnancy_confirmed",
}


def test_post_answer_returns_the_matched_estimates_with_warning_version_and_markdown(client: TestClient) -> None:
    response = client.post("/v1/answer", json=ISSUE_PROFILE)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "matched"
    assert [e["id"] for e in body["estimates"]] == ["habets-2022-ivig-rpl#nk-above-12", "habets-2022-ivig-rpl#overall"]
    nk = body["estimates"][0]
    assert (nk["rr"], nk["ci_low"], nk["ci_high"], nk["p_value_text"]) == (2.32, 1.77, 3.02, "< 0.0001")
    assert "nonrandomized_evidence" in [w["code"] for w in body["warnings"]]
    assert body["citation"]["doi"] == "10.1186/s13223-022-00660-8"
    assert body["evidence_version"].startswith("sha256:")
    assert body["warnings"][0]["text"] in body["rendered"]["markdown"]
    assert body["warnings"][0]["text"] in body["rendered"]["text"]
    for key in ("missing_information", "applicability_notes", "trace"):
        assert key in body


def test_an_empty_profile_is_all_unknown_and_asks_for_the_immune_findings(client: TestClient) -> None:
    body = client.post("/v1/answer", json={}).json()
    assert body["status"] == "insufficient_information"
    assert set(body["missing_information"]) >= {"nk_cell_percent", "autoimmune_conditions", "th1_th2_ratio_elevated"}


@pytest.mark.parametrize(
    ("case", "body", "path"),
    [
        ("nk-140", {"nk_cell_percent": 140}, "nk_cell_percent"),
        ("nk-negative", {"nk_cell_percent": -1}, "nk_cell_percent"),
        ("negative-losses", {"prior_pregnancy_losses": -1}, "prior_pregnancy_losses"),
        ("fractional-losses", {"prior_pregnancy_losses": 2.5}, "prior_pregnancy_losses"),
        ("losses-as-string", {"prior_pregnancy_losses": "3"}, "prior_pregnancy_losses"),
        ("unknown-condition", {"autoimmune_conditions": ["lupus"]}, "autoimmune_conditions[0]"),
        ("conditions-not-a-list", {"autoimmune_conditions": "none"}, "autoimmune_conditions"),
        ("repeated-condition", {"autoimmune_conditions": ["other_autoimmune"] * 2}, "autoimmune_conditions"),
        ("unknown-timing", {"ivig_start": "maybe"}, "ivig_start"),
        ("th1-th2-as-string", {"th1_th2_ratio_elevated": "yes"}, "th1_th2_ratio_elevated"),
        ("nk-as-boolean", {"nk_cell_percent": True}, "nk_cell_percent"),
        ("baseline-of-1", {"baseline_live_birth_risk": 1}, "baseline_live_birth_risk"),
        ("baseline-of-0", {"baseline_live_birth_risk": 0}, "baseline_live_birth_risk"),
        ("extra-key", {"nk_cells": 14}, "nk_cells"),
    ],
)
def test_bad_input_gets_a_422_naming_the_field_and_echoing_no_value(
    client: TestClient, case: str, body: dict[str, Any], path: str
) -> None:
    response = client.post("/v1/answer", json=body)
    assert response.status_code == 422, case
    error = response.json()["error"]
    assert error["code"] == "request.invalid"
    assert path in [field["path"] for field in error["details"]["fields"]]
    assert "input" not in response.text


def test_a_body_that_is_not_json_gets_a_422_not_a_500(client: TestClient) -> None:
    response = client.post("/v1/answer", content=b"nk=14", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "request.invalid_json"


def test_the_422_for_an_unknown_timing_lists_what_is_allowed(client: TestClient) -> None:
    (field,) = client.post("/v1/answer", json={"ivig_start": "maybe"}).json()["error"]["details"]["fields"]
    assert field == {
        "path": "ivig_start",
        "code": "request.invalid_field",
        "message": "ivig_start must be one of "
        "'before_conception', 'conception_cycle', 'after_pregnancy_confirmed' or 'undecided'",
    }


def test_get_evidence_returns_the_three_estimates_as_stored_with_the_version(client: TestClient) -> None:
    body = client.get("/v1/evidence").json()
    (analysis,) = body["analyses"]
    assert analysis["id"] == "habets-2022-ivig-rpl"
    estimates = {e["id"]: (e["point"], e["ci"], e.get("p_value"), e.get("p_value_text")) for e in analysis["estimates"]}
    assert estimates == {
        "overall": (1.98, [1.44, 2.73], None, "< 0.0001"),
        "nk-above-12": (2.32, [1.77, 3.02], None, "< 0.0001"),
        "start-before-or-during-conception-cycle": (4.47, [1.53, 13.05], 0.006, None),
    }
    assert analysis["participants"]["total"] == 478 and analysis["participants"]["ivig"] == 284
    assert analysis["warning"]["code"] == "nonrandomized_evidence"
    assert body["evidence_version"] == client.get("/healthz").json()["evidence_version"]


def test_openapi_documents_the_request_and_response_models_with_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/answer"]["post"]
    request = operation["requestBody"]["content"]["application/json"]
    assert request["schema"]["$ref"].endswith("/PatientProfile")
    assert "nk-above-12" in request["examples"]
    response_ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert response_ref.endswith("/RenderedAnswer")
    profile_schema = spec["components"]["schemas"]["PatientProfile"]
    assert profile_schema["additionalProperties"] is False
    assert "/v1/evidence" in spec["paths"] and "/healthz" in spec["paths"]


def test_a_broken_evidence_store_stops_the_app_from_starting(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    shutil.copytree(root / "evidence", tmp_path / "evidence")
    analysis = tmp_path / "evidence" / "analyses" / "habets-2022-ivig-rpl.toml"
    analysis.write_text(analysis.read_text(encoding="utf-8").replace("ivig = 284", "ivig = 248"), encoding="utf-8")
    with pytest.raises(EvidenceError) as caught:
        create_app(Settings(evidence_dir=tmp_path / "evidence", templates_dir=root / "templates"))
    assert caught.value.code == "evidence.arm_totals_mismatch"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (MissingDataError("no problem list", code="fhir.unavailable"), 412),
        (UpstreamError("FHIR server timed out"), 502),
        (RuleTableError("gap", code="rules.gap", table="t"), 500),
    ],
)
def test_plugin_errors_map_to_http_in_one_place_with_code_and_details(
    settings: Settings, error: PluginError, status: int
) -> None:
    app = create_app(settings)

    def fail() -> None:
        raise error

    app.add_api_route("/v1/fail", fail)
    with TestClient(app) as test_client:
        response = test_client.get("/v1/fail")
    assert response.status_code == status
    body = response.json()["error"]
    assert body["code"] == error.code
    assert body["details"] == error.details


def test_the_docs_show_the_422_the_api_gives(client: TestClient) -> None:
    text = page("json-api.md")
    shown = re.search(
        r"repeats the value sent\. Every error of the JSON doors has one shape:\n\n```json\n(.*?)```", text, re.DOTALL
    )
    assert shown
    assert client.post("/v1/answer", json={"nk_cell_percent": 140}).json() == json.loads(shown.group(1))


def test_a_sourced_baseline_measured_in_women_she_is_not_among_is_a_422_naming_the_field(client: TestClient) -> None:
    response = client.post(
        "/v1/answer",
        json={"prior_pregnancy_losses": 3, "baseline_live_birth_source": "christiansen2015_placebo"},
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["details"]) == (
        "profile.baseline_does_not_fit",
        {"field": "baseline_live_birth_source"},
    )
    assert "measured in women with 4 or more losses" in error["message"]
