"""Feedback on our cards is stored in the shared database: across restarts, once per entry, only for cards issued."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from plugin.app import create_app
from plugin.storage.store import Storage
from tests.cds_hooks.support import ORDER_SELECT_URL, SERVICE_URL, cds_settings, issue_card

FEEDBACK_URL = f"{SERVICE_URL}/feedback"
# The spec's three examples: a suggestion accepted, overridden without a reason, overridden with one. This service
# issues no suggestions, so the first is refused (see test_an_accepted_outcome_is_refused...); the others are kept.
SPEC_EXAMPLES: list[dict[str, Any]] = [
    {
        "card": "4e0a3a1e-3283-4575-ab82-028d55fe2719",
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
        "outcomeTimestamp": "2021-12-11T10:05:31Z",
    },
    {
        "card": "f6b95768-b1c8-40dc-8385-bf3504b82ffb",
        "outcome": "overridden",
        "outcomeTimestamp": "2020-12-11T00:00:00Z",
    },
    {
        "card": "9368d37b-283f-44a0-93ea-547cebab93ed",
        "outcome": "overridden",
        "overrideReason": {
            "reason": {"code": "d7ecf885", "system": "https://example.com/cds-hooks/override-reason-system"},
            "userComment": "A comment entered by the clinician.",
        },
        "outcomeTimestamp": "2020-12-11T00:00:00Z",
    },
]
ACCEPTED, OVERRIDDEN, WITH_REASON = SPEC_EXAMPLES


def stored(client: TestClient) -> list[dict[str, Any]]:
    storage: Storage = client.app.state.storage  # type: ignore[attr-defined]
    return storage.feedback_entries()


def on(card: str, entry: dict[str, Any]) -> dict[str, Any]:
    return entry | {"card": card}


def test_feedback_is_stored_and_answered_with_an_empty_object(tmp_path: Path) -> None:
    with TestClient(create_app(cds_settings(tmp_path))) as client:
        first, second = issue_card(client), issue_card(client)
        response = client.post(FEEDBACK_URL, json={"feedback": [on(first, OVERRIDDEN), on(second, WITH_REASON)]})
        assert response.status_code == 200
        assert response.json() == {}
        entries = stored(client)
    assert [(str(e["card"]), e["outcome"]) for e in entries] == [(first, "overridden"), (second, "overridden")]
    assert entries[1]["override_reason"] == WITH_REASON["overrideReason"]
    assert entries[0]["override_reason"] is None
    assert {e["accepted_suggestions"] for e in entries} == {None}
    assert {e["service_id"] for e in entries} == {"ivig-rpl-evidence"}


def test_each_service_keeps_its_own_feedback(tmp_path: Path) -> None:
    with TestClient(create_app(cds_settings(tmp_path))) as client:
        viewed, ordered = issue_card(client), issue_card(client, ORDER_SELECT_URL)
        assert client.post(FEEDBACK_URL, json={"feedback": [on(viewed, OVERRIDDEN)]}).status_code == 200
        body = {"feedback": [on(ordered, WITH_REASON)]}
        assert client.post(f"{ORDER_SELECT_URL}/feedback", json=body).status_code == 200
        entries = stored(client)
    assert [(e["service_id"], str(e["card"])) for e in entries] == [
        ("ivig-rpl-evidence", viewed),
        ("ivig-rpl-evidence-order-select", ordered),
    ]


def test_feedback_survives_a_restart(tmp_path: Path) -> None:
    settings = cds_settings(tmp_path)
    with TestClient(create_app(settings)) as first:
        card = issue_card(first)
        assert first.post(FEEDBACK_URL, json={"feedback": [on(card, OVERRIDDEN)]}).status_code == 200
    with TestClient(create_app(settings)) as second:
        later = on(card, WITH_REASON) | {"outcomeTimestamp": "2020-12-11T00:05:00Z"}
        assert second.post(FEEDBACK_URL, json={"feedback": [later]}).status_code == 200  # the card record survived
        assert len(stored(second)) == 2


def test_a_retransmitted_entry_is_stored_once(tmp_path: Path) -> None:
    with TestClient(create_app(cds_settings(tmp_path))) as client:
        entry = on(issue_card(client), OVERRIDDEN)
        for _ in range(3):
            assert client.post(FEEDBACK_URL, json={"feedback": [entry]}).status_code == 200
        assert len(stored(client)) == 1


def test_malformed_feedback_is_422(tmp_path: Path) -> None:
    with TestClient(create_app(cds_settings(tmp_path))) as client:
        bad_outcome = OVERRIDDEN | {"outcome": "ignored"}
        no_timezone = OVERRIDDEN | {"outcomeTimestamp": "2020-12-11T00:00:00"}
        bodies: list[dict[str, Any]] = [{"feedback": []}, {"feedback": [bad_outcome]}, {"feedback": [no_timezone]}, {}]
        for body in bodies:
            assert client.post(FEEDBACK_URL, json=body).status_code == 422


@pytest.fixture()
def cds(tmp_path: Path) -> Any:
    with TestClient(create_app(cds_settings(tmp_path))) as client:
        yield client


def refused(client: TestClient, *entries: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """Post a batch that must be refused whole: its issues as (code, paths), and nothing stored."""
    response = client.post(FEEDBACK_URL, json={"feedback": list(entries)})
    assert response.status_code == 422
    assert response.json()["resourceType"] == "OperationOutcome"
    assert stored(client) == []
    return [(issue["diagnostics"], issue["expression"]) for issue in response.json()["issue"]]


def test_an_accepted_outcome_is_refused_since_this_service_issues_no_suggestions(cds: TestClient) -> None:
    without = {k: v for k, v in ACCEPTED.items() if k != "acceptedSuggestions"}
    assert refused(cds, ACCEPTED) == [("request.invalid_field", ["feedback[0].acceptedSuggestions"])]
    assert refused(cds, without) == [("request.invalid_field", ["feedback[0].acceptedSuggestions"])]


def test_accepted_suggestions_on_an_overridden_outcome_are_refused(cds: TestClient) -> None:
    entry = OVERRIDDEN | {"acceptedSuggestions": ACCEPTED["acceptedSuggestions"]}
    assert refused(cds, entry) == [("request.invalid_field", ["feedback[0].acceptedSuggestions"])]


@pytest.mark.parametrize(
    ("override_reason", "path"),
    [
        ({}, "feedback[1].overrideReason"),
        ({"reason": {"code": "d7ecf885"}}, "feedback[1].overrideReason.reason.system"),
        ({"reason": {"system": "https://example.com/reasons"}}, "feedback[1].overrideReason.reason.code"),
        ({"reason": {}}, "feedback[1].overrideReason.reason.system"),
        ({"userComment": ""}, "feedback[1].overrideReason.userComment"),
    ],
    ids=["empty", "no-system", "no-code", "empty-coding", "empty-comment"],
)
def test_an_override_reason_the_spec_forbids_refuses_the_whole_batch_naming_the_entry(
    cds: TestClient, override_reason: dict[str, Any], path: str
) -> None:
    bad = OVERRIDDEN | {"card": "3f1c3ad2-0e43-4d8e-9a51-4b6c40ad2a1b", "overrideReason": override_reason}
    assert path in [p for _, paths in refused(cds, WITH_REASON, bad) for p in paths]


def test_the_override_reason_is_read_under_either_name(cds: TestClient) -> None:
    spelled = {k: v for k, v in on(issue_card(cds), WITH_REASON).items() if k != "overrideReason"}
    spelled["overriddenReason"] = WITH_REASON["overrideReason"]
    assert cds.post(FEEDBACK_URL, json={"feedback": [spelled]}).status_code == 200
    (entry,) = stored(cds)
    assert entry["override_reason"] == WITH_REASON["overrideReason"]


def test_a_comment_without_a_picked_reason_is_kept(cds: TestClient) -> None:
    entry = on(issue_card(cds), OVERRIDDEN) | {"overrideReason": {"userComment": "Discussed with the patient."}}
    assert cds.post(FEEDBACK_URL, json={"feedback": [entry]}).status_code == 200
    assert [e["override_reason"] for e in stored(cds)] == [{"userComment": "Discussed with the patient."}]


def test_the_outcome_timestamp_is_stored_in_utc(cds: TestClient) -> None:
    entry = on(issue_card(cds), OVERRIDDEN) | {"outcomeTimestamp": "2026-03-02T12:00:00+02:00"}
    assert cds.post(FEEDBACK_URL, json={"feedback": [entry]}).status_code == 200
    (kept,) = stored(cds)
    assert kept["outcome_timestamp"] == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def test_a_card_never_issued_refuses_the_whole_batch_naming_its_index(cds: TestClient) -> None:
    issued = on(issue_card(cds), OVERRIDDEN)
    assert refused(cds, issued, on(str(uuid4()), WITH_REASON)) == [("request.invalid_field", ["feedback[1].card"])]


def test_a_card_issued_by_the_other_service_is_not_this_services_card(cds: TestClient) -> None:
    ordered = on(issue_card(cds, ORDER_SELECT_URL), OVERRIDDEN)
    assert refused(cds, ordered) == [("request.invalid_field", ["feedback[0].card"])]
