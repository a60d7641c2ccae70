"""Feedback on our cards is stored durably: across restarts, once per entry, and safely under concurrent writes."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from plugin.app import create_app
from plugin.cds_hooks.feedback import FeedbackStore
from plugin.cds_hooks.models import FeedbackEntry
from tests.cds_hooks.support import ORDER_SELECT_URL, SERVICE_URL, cds_settings

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


def test_feedback_is_stored_and_answered_with_an_empty_object(tmp_path: Path) -> None:
    with TestClient(create_app(cds_settings(tmp_path))) as client:
        response = client.post(FEEDBACK_URL, json={"feedback": [OVERRIDDEN, WITH_REASON]})
        assert response.status_code == 200
        assert response.json() == {}
        stored = client.app.state.cds_feedback.entries()  # type: ignore[attr-defined]
    assert [(e["card"], e["outcome"]) for e in stored] == [(f["card"], f["outcome"]) for f in (OVERRIDDEN, WITH_REASON)]
    assert stored[1]["override_reason"] == WITH_REASON["overrideReason"]
    assert stored[0]["override_reason"] is None
    assert {e["accepted_suggestions"] for e in stored} == {None}
    assert {e["service_id"] for e in stored} == {"ivig-rpl-evidence"}


def test_each_service_keeps_its_own_feedback(tmp_path: Path) -> None:
    with TestClient(create_app(cds_settings(tmp_path))) as client:
        assert client.post(FEEDBACK_URL, json={"feedback": SPEC_EXAMPLES[1:2]}).status_code == 200
        assert client.post(f"{ORDER_SELECT_URL}/feedback", json={"feedback": SPEC_EXAMPLES[2:]}).status_code == 200
        stored = client.app.state.cds_feedback.entries()  # type: ignore[attr-defined]
    assert [(e["service_id"], e["card"]) for e in stored] == [
        ("ivig-rpl-evidence", SPEC_EXAMPLES[1]["card"]),
        ("ivig-rpl-evidence-order-select", SPEC_EXAMPLES[2]["card"]),
    ]


def test_feedback_survives_a_restart(tmp_path: Path) -> None:
    settings = cds_settings(tmp_path)
    with TestClient(create_app(settings)) as first:
        assert first.post(FEEDBACK_URL, json={"feedback": [OVERRIDDEN]}).status_code == 200
    with TestClient(create_app(settings)) as second:
        assert second.post(FEEDBACK_URL, json={"feedback": [WITH_REASON]}).status_code == 200
    assert len(FeedbackStore(settings.feedback_db).entries()) == 2


def test_a_retransmitted_entry_is_stored_once(tmp_path: Path) -> None:
    with TestClient(create_app(cds_settings(tmp_path))) as client:
        for _ in range(3):
            assert client.post(FEEDBACK_URL, json={"feedback": SPEC_EXAMPLES[1:2]}).status_code == 200
        assert len(client.app.state.cds_feedback.entries()) == 1  # type: ignore[attr-defined]


def test_the_database_file_is_created_on_first_feedback_not_at_start_up(tmp_path: Path) -> None:
    settings = cds_settings(tmp_path, feedback_db=tmp_path / "nested" / "feedback.sqlite3")
    with TestClient(create_app(settings)) as client:
        assert not settings.feedback_db.exists()
        client.post(FEEDBACK_URL, json={"feedback": SPEC_EXAMPLES[1:2]})
    assert settings.feedback_db.exists()


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    workers = [FeedbackStore(path), FeedbackStore(path)]  # two stores: as two server processes would
    start = datetime(2026, 3, 2, tzinfo=UTC)

    def write(n: int) -> int:
        entry = FeedbackEntry(card=uuid.uuid4(), outcome="overridden", outcome_timestamp=start + timedelta(seconds=n))
        return workers[n % 2].add("ivig-rpl-evidence", [entry], client_issuer=None, tenant=None)

    with ThreadPoolExecutor(max_workers=8) as pool:
        added = list(pool.map(write, range(200)))
    assert added == [1] * 200
    assert len(FeedbackStore(path).entries()) == 200


def test_malformed_feedback_is_422(tmp_path: Path) -> None:
    with TestClient(create_app(cds_settings(tmp_path))) as client:
        bad_outcome = SPEC_EXAMPLES[1] | {"outcome": "ignored"}
        no_timezone = SPEC_EXAMPLES[1] | {"outcomeTimestamp": "2020-12-11T00:00:00"}
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
    assert client.app.state.cds_feedback.entries() == []  # type: ignore[attr-defined]
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
    spelled = {k: v for k, v in WITH_REASON.items() if k != "overrideReason"}
    spelled["overriddenReason"] = WITH_REASON["overrideReason"]
    assert cds.post(FEEDBACK_URL, json={"feedback": [spelled]}).status_code == 200
    (stored,) = cds.app.state.cds_feedback.entries()  # type: ignore[attr-defined]
    assert stored["override_reason"] == WITH_REASON["overrideReason"]


def test_a_comment_without_a_picked_reason_is_kept(cds: TestClient) -> None:
    entry = OVERRIDDEN | {"overrideReason": {"userComment": "Discussed with the patient."}}
    assert cds.post(FEEDBACK_URL, json={"feedback": [entry]}).status_code == 200


def test_the_outcome_timestamp_is_stored_in_utc(cds: TestClient) -> None:
    entry = OVERRIDDEN | {"outcomeTimestamp": "2026-03-02T12:00:00+02:00"}
    assert cds.post(FEEDBACK_URL, json={"feedback": [entry]}).status_code == 200
    (stored,) = cds.app.state.cds_feedback.entries()  # type: ignore[attr-defined]
    assert stored["outcome_timestamp"] == "2026-03-02T10:00:00+00:00"


class KnowsNoCard:
    def issued(self, service_id: str, card: UUID) -> bool:
        return False


def test_once_cards_are_recorded_a_card_never_issued_refuses_the_batch_naming_its_index(cds: TestClient) -> None:
    cds.app.state.cds_issued_cards = KnowsNoCard()  # type: ignore[attr-defined]
    assert refused(cds, OVERRIDDEN) == [("request.invalid_field", ["feedback[0].card"])]
