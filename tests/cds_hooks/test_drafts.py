"""order-select with the incomplete drafts EHRs send: no `intent` (the public sandbox's drafts have none unless a
dispense is filled in), no `subject`, the medicine in a `contained` Medication or beside the order, a malformed
element; and the site's own IVIG medication codes. Each is still the IVIG order it is, and gets the card."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from plugin.app import create_app
from plugin.config import Settings
from tests.cds_hooks import support
from tests.cds_hooks.support import ORDER_SELECT_URL, cds_settings, chart

SITE_SYSTEM = "https://pharmacy.example.org/formulary"
SITE_CODE = f"{SITE_SYSTEM}|IVIG-10"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@pytest.fixture(scope="module")
def cds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = cds_settings(tmp_path_factory.mktemp("drafts"), ivig_medication_codes=(SITE_CODE,))
    with TestClient(create_app(settings)) as client:
        yield client


def draft(drop: tuple[str, ...] = (), entries: tuple[dict[str, Any], ...] = (), **fields: Any) -> dict[str, Any]:
    """An order-select call whose selected draft has `fields`, lacks `drop`, and has `entries` beside it."""
    body = support.ivig_order(chart(nkCells="nk-percent.json"), **fields)
    order = body["context"]["draftOrders"]["entry"][-1]["resource"]
    for name in drop:
        del order[name]
    body["context"]["draftOrders"]["entry"] += [{"resource": entry} for entry in entries]
    return body


def contained(code: dict[str, Any]) -> dict[str, Any]:
    return {
        "contained": [{"resourceType": "Medication", "id": "med", "code": code}],
        "medicationReference": {"reference": "#med"},
    }


NAMED = {"text": "Immune globulin intravenous (human) 10% solution"}
SANDBOX_LIKE = {  # as the sandbox's medication form builds it: draft, no intent, category one object, a date
    "category": {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category", "code": "community"}]
    },
    "authoredOn": "2026-03-02",
    "medicationCodeableConcept": {**NAMED, "coding": [{"display": NAMED["text"], "system": RXNORM, "code": "0"}]},
}
SHAPES: dict[str, dict[str, Any]] = {
    "no-intent": {"drop": ("intent",), **SANDBOX_LIKE},
    "no-subject": {"drop": ("subject",), "medicationCodeableConcept": NAMED},
    "no-intent-subject-or-status": {"drop": ("intent", "subject", "status"), "medicationCodeableConcept": NAMED},
    "contained-medication-named": {"drop": ("intent",), **contained({"text": "IVIG 10%"})},
    "contained-medication-site-code": {**contained({"coding": [{"system": SITE_SYSTEM, "code": "IVIG-10"}]})},
    "medication-beside-the-order": {
        "medicationReference": {"reference": "Medication/m1"},
        "entries": ({"resourceType": "Medication", "id": "m1", "code": {"text": "IGIV"}},),
    },
    "r5-codeable-reference": {"drop": ("intent",), "medication": {"concept": {"text": "IVIG"}}},
    "malformed-elements": {
        "medicationCodeableConcept": NAMED,
        "authoredOn": "yesterday",
        "dosageInstruction": [{"route": "intravenous"}],
        "meta": {"lastUpdated": "2026-03-02T10:00:00"},
    },
}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_each_incomplete_ivig_draft_gives_the_ivig_card(cds: TestClient, shape: dict[str, Any]) -> None:
    response = cds.post(ORDER_SELECT_URL, json=draft(**shape))
    assert response.status_code == 200, response.text
    (card,) = response.json()["cards"]
    assert "NK >12%: non-randomized RR 2.32" in card["summary"] and card["indicator"] == "warning"


@pytest.mark.parametrize(
    "shape",
    [
        contained({"text": "Rho(D) immune globulin intravenous"}),
        {"medicationReference": {"reference": "#absent"}},
        {
            "medicationReference": {"reference": "Medication/m1"},
            "entries": ({"resourceType": "Medication", "id": "m2", "code": {"text": "IVIG"}},),
        },
        contained({"coding": [{"system": SITE_SYSTEM, "code": "ALBUMIN-5"}]}),
        {"drop": ("intent",), "medicationCodeableConcept": {"text": 12}},
    ],
    ids=["anti-d-contained", "reference-to-nothing", "another-medication-beside", "other-site-code", "malformed-name"],
)
def test_a_draft_that_does_not_name_ivig_gets_no_card(cds: TestClient, shape: dict[str, Any]) -> None:
    response = cds.post(ORDER_SELECT_URL, json=draft(**shape))
    assert response.status_code == 200 and response.json()["cards"] == []


def test_a_site_code_counts_only_where_it_is_configured(tmp_path: Path) -> None:
    body = draft(**SHAPES["contained-medication-site-code"])
    with TestClient(create_app(cds_settings(tmp_path))) as unconfigured:
        assert unconfigured.post(ORDER_SELECT_URL, json=body).json()["cards"] == []


@pytest.mark.parametrize("code", ["IVIG-10", "|IVIG-10", f"{SITE_SYSTEM}|", "a|b|c", f"{SITE_SYSTEM}| IVIG"])
def test_a_site_code_that_is_not_system_bar_code_stops_the_start(code: str) -> None:
    with pytest.raises(ValidationError, match="ivig_medication_codes"):
        Settings(ivig_medication_codes=(code,))
