"""List lengths the models bound: conditions, feedback entries, Bundle entries, and unknown widget parameters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from plugin.app import create_app
from plugin.web.form import parse_query
from tests.cds_hooks.support import SERVICE_URL, cds_settings, chart, hook_request


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with TestClient(create_app(cds_settings(tmp_path_factory.mktemp("lists")))) as test_client:
        yield test_client


def paths(response: Any) -> list[str]:
    return [path for issue in response.json()["issue"] for path in issue["expression"]]


def test_five_autoimmune_conditions_are_refused_naming_the_field(client: TestClient) -> None:
    response = client.post("/v1/answer", json={"autoimmune_conditions": ["other_autoimmune"] * 5})
    assert response.status_code == 422
    assert [f["path"] for f in response.json()["error"]["details"]["fields"]] == ["autoimmune_conditions"]


def test_more_than_100_feedback_entries_are_refused_whole(client: TestClient) -> None:
    entry = {
        "card": "b1d4a2b6-2f2a-4a3c-9ad7-3c5b5a3c1f00",
        "outcome": "overridden",
        "outcomeTimestamp": "2026-03-02T10:00:00Z",
    }
    response = client.post(f"{SERVICE_URL}/feedback", json={"feedback": [entry] * 101})
    assert (response.status_code, paths(response)) == (422, ["feedback"])


def test_a_bundle_of_more_than_1000_entries_is_refused_naming_it(client: TestClient) -> None:
    prefetch = chart()
    prefetch["conditions"]["entry"] = prefetch["conditions"]["entry"][:1] * 1001
    response = client.post(SERVICE_URL, json=hook_request(prefetch))
    assert (response.status_code, paths(response)) == (422, ["prefetch.conditions.entry"])


def test_a_4301_digit_loss_count_in_the_widget_is_a_422_page(client: TestClient) -> None:
    response = client.get("/widget", params={"prior_pregnancy_losses": "9" * 4301})
    assert response.status_code == 422
    assert 'id="error-prior_pregnancy_losses"' in response.text


def test_the_widget_names_at_most_three_unknown_parameters_and_counts_the_rest() -> None:
    form = parse_query([(f"unknown{i}", "x" * 100) for i in range(60)])
    assert [error.field for error in form.errors] == ["unknown0", "unknown1", "unknown2", "other_parameters"]
    assert form.errors[-1].message == "57 more parameters are not profile fields"
