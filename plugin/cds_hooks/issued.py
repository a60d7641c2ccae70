"""Which cards this service issued: the seam where feedback on a card uuid it never issued is refused.

Cards are not recorded yet; the card record belongs to the replicas work, which stores every card issued. Until
it lands, `NotRecorded` lets every uuid through. Then implement `IssuedCards` over that record and install it in
`routes.install`: the feedback routes already refuse the whole batch with a 422 naming `feedback[i].card`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol
from uuid import UUID

from plugin.cds_hooks.models import FeedbackEntry


class IssuedCards(Protocol):
    def issued(self, service_id: str, card: UUID) -> bool:
        """Whether `service_id` returned a card with this uuid (and may therefore get feedback on it)."""
        ...


class NotRecorded:
    """No card record yet: every uuid counts as issued."""

    def issued(self, service_id: str, card: UUID) -> bool:
        return True


def never_issued(record: IssuedCards, service_id: str, entries: Sequence[FeedbackEntry]) -> list[dict[str, Any]]:
    """Validation errors, in pydantic's shape, for each entry whose card this service never issued."""
    return [
        {
            "type": "cds.unknown_card",
            "loc": ("body", "feedback", index, "card"),
            "msg": "is not a card this service issued",
        }
        for index, entry in enumerate(entries)
        if not record.issued(service_id, entry.card)
    ]
