"""A database that cannot answer: CDS Hooks gives 503 with an OperationOutcome, never a card or a token unchecked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from plugin.app import create_app
from tests.cds_hooks.support import SERVICE_URL, cds_settings, chart, hook_request


@pytest.fixture()
def broken(tmp_path: Path) -> Any:
    """Development mode over a database path SQLite cannot open (a directory stands where the file should be)."""
    (tmp_path / "not-a-file.sqlite3").mkdir()
    settings = cds_settings(tmp_path).model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'not-a-file.sqlite3'}"}
    )
    with TestClient(create_app(settings)) as client:
        yield client


def assert_503(response: Any) -> None:
    assert response.status_code == 503
    assert response.json()["resourceType"] == "OperationOutcome"
    assert [(i["code"], i["diagnostics"]) for i in response.json()["issue"]] == [("transient", "storage.unavailable")]


def test_a_service_call_without_a_card_record_is_503_not_a_card(broken: TestClient) -> None:
    assert_503(broken.post(SERVICE_URL, json=hook_request(chart())))


def test_feedback_that_cannot_be_checked_against_the_card_record_is_503(broken: TestClient) -> None:
    entry = {
        "card": "9368d37b-283f-44a0-93ea-547cebab93ed",
        "outcome": "overridden",
        "outcomeTimestamp": "2026-03-02T10:00:00Z",
    }
    assert_503(broken.post(f"{SERVICE_URL}/feedback", json={"feedback": [entry]}))


def test_the_json_door_answers_without_the_database(broken: TestClient) -> None:
    assert broken.post("/v1/answer", json={"prior_pregnancy_losses": 3, "nk_cell_percent": 18}).status_code == 200
    assert broken.get("/widget", params={"prior_pregnancy_losses": "3"}).status_code == 200
