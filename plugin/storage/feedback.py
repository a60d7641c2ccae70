"""Feedback entries, stored exactly once: the same (service, card, outcome, time) sent again is a no-op."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, delete, select

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


def add(connection: Connection, rows: Sequence[FeedbackRow]) -> int:
    """Store the entries not stored yet; returns how many were new."""
    return insert_if_absent(connection, feedback, [asdict(row) for row in rows])


def entries(connection: Connection) -> list[dict[str, Any]]:
    """Every stored entry, in the order received."""
    return [dict(row._mapping) for row in connection.execute(select(feedback).order_by(feedback.c.id))]


def purge(connection: Connection, before: datetime) -> int:
    return connection.execute(delete(feedback).where(feedback.c.received_at < before)).rowcount
