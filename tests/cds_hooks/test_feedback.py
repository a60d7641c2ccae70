"""Feedback on our cards is stored durably: across restarts, once per entry, and safely under concurrent writes."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from plugin.app import create_app
from plugin.cds_hooks.feedback import FeedbackStore
from plugin.cds_hooks.models import FeedbackEntry
from tests.cds_hooks.support import ORDER_SELECT_URL, SERVICE_URL, cds_settings

FEEDBACK_URL = f"{SERVICE_URL}/feedback"
# The spec's three examples: a suggestion accepted, overridden without a reason, overridden with one.
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


def test_feedback_is_stored_and_answered_with_an_empty_object(tmp_path: Path) -> None:
    with TestClient(create_app(cds_settings(tmp_path))) as client:
        response = client.post(FEEDBACK_URL, json={"feedback": SPEC_EXAMPLES})
        assert response.status_code == 200
        assert response.json() == {}
        stored = client.app.state.cds_feedback.entries()  # type: ignore[attr-defined]
    assert [(e["card"], e["outcome"]) for e in stored] == [(f["card"], f["outcome"]) for f in SPEC_EXAMPLES]
    assert stored[0]["accepted_suggestions"] == [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}]
    assert stored[2]["override_reason"] == SPEC_EXAMPLES[2]["overrideReason"]
    assert stored[1]["override_reason"] is None
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
        assert first.post(FEEDBACK_URL, json={"feedback": SPEC_EXAMPLES[:1]}).status_code == 200
    with TestClient(create_app(settings)) as second:
        assert second.post(FEEDBACK_URL, json={"feedback": SPEC_EXAMPLES[1:]}).status_code == 200
    assert len(FeedbackStore(settings.feedback_db).entries()) == 3


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
