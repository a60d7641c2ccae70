"""Feedback entries, stored exactly once: the same (service, card, outcome, time) sent again is a no-op."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, delete, func, select

from plugin.storage.engine import insert_if_absent
from plugin.storage.schema import feedback


@dataclass(frozen=True)
class FeedbackRow:
    """One entry as stored; the JSON columns hold the wire objects in their camelCase form."""

    service_id: str
    card: UUID
    outcome: str
    outcome_timestamp: datetime
    accepted_suggestions: list[dict[str, Any]] | None
    override_reason: dict[str, Any] | None
    client_issuer: str | None
    tenant: str | None
    received_at: datetime


class CardsFullError(Exception):
    """Storing the entries would leave these cards with more entries than allowed; nothing was stored."""

    def __init__(self, cards: Sequence[UUID]) -> None:
        super().__init__(f"{len(cards)} card(s) full")
        self.cards = list(cards)


def add(connection: Connection, rows: Sequence[FeedbackRow], per_card: int | None = None) -> int:
    """Store the entries not stored yet; returns how many were new.

    Raises:
        CardsFullError: with `per_card`, a card would hold more entries than that (nothing is stored).
    """
    if per_card is not None and rows:
        row = feedback.c
        service_ids = {entry.service_id for entry in rows}
        query = (
            select(row.card, func.count())
            .where(row.service_id.in_(service_ids), row.card.in_({entry.card for entry in rows}))
            .group_by(row.card)
        )
        held: dict[UUID, int] = {found[0]: found[1] for found in connection.execute(query)}
        for entry in rows:
            held[entry.card] = held.get(entry.card, 0) + 1
        full = [card for card, count in held.items() if count > per_card]
        if full:
            raise CardsFullError(full)
    return insert_if_absent(connection, feedback, [asdict(row) for row in rows])


def entries(connection: Connection) -> list[dict[str, Any]]:
    """Every stored entry, in the order received."""
    return [dict(row._mapping) for row in connection.execute(select(feedback).order_by(feedback.c.id))]


def purge(connection: Connection, before: datetime) -> int:
    return connection.execute(delete(feedback).where(feedback.c.received_at < before)).rowcount
