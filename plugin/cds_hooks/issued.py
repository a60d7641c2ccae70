"""Which cards this service issued: a record of every card returned, and the refusal of feedback on any other.

Each card returned is recorded (uuid, service, hook, hookInstance, status, estimate ids, evidence version, time;
nothing about the patient) before the response leaves, so feedback on it is accepted by whichever replica it
reaches. A feedback batch naming a uuid that this service never issued (or issued longer ago than the retention
period) is refused whole with a 422 naming `feedback[i].card`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from plugin.cds_hooks.models import Card, CdsRequest, FeedbackEntry
from plugin.core.answer.model import Answer
from plugin.storage.cards import CardRow


def card_rows(
    cards: Sequence[Card],
    body: CdsRequest,
    service_id: str,
    answer: Answer,
    issued_at: datetime,
    client_issuer: str | None = None,
) -> list[CardRow]:
    return [
        CardRow(
            uuid=card.uuid,
            service_id=service_id,
            hook=body.hook,
            hook_instance=body.hook_instance,
            status=answer.status,
            estimate_ids=tuple(estimate.id for estimate in answer.estimates),
            evidence_version=answer.evidence_version,
            issued_at=issued_at,
            client_issuer=client_issuer,
        )
        for card in cards
    ]


def never_issued(issued: set[UUID], entries: Sequence[FeedbackEntry]) -> list[dict[str, Any]]:
    """Validation errors, in pydantic's shape, for each entry whose card is not among those `issued`."""
    return [
        {
            "type": "cds.unknown_card",
            "loc": ("body", "feedback", index, "card"),
            "msg": "is not a card this service issued",
        }
        for index, entry in enumerate(entries)
        if entry.card not in issued
    ]
