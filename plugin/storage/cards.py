"""The card record: one row per card returned, so feedback can be tied to what was shown and refused otherwise."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, delete, select

from plugin.storage.engine import insert_if_absent
from plugin.storage.schema import cards


@dataclass(frozen=True)
class CardRow:
    """What is kept about one card: never a patient identifier, a finding or the card's text."""

    uuid: UUID
    service_id: str
    hook: str
    hook_instance: str
    status: str
    estimate_ids: tuple[str, ...]
    evidence_version: str
    issued_at: datetime
    client_issuer: str | None = None  # whose call the card answered; None in development mode


def record(connection: Connection, rows: Sequence[CardRow]) -> int:
    values = [asdict(row) | {"estimate_ids": list(row.estimate_ids)} for row in rows]
    return insert_if_absent(connection, cards, values)


def issued(connection: Connection, service_id: str, uuids: Sequence[UUID], issuer: str | None = None) -> set[UUID]:
    """The uuids among `uuids` that `service_id` returned to `issuer`'s calls (None: calls without an issuer), and
    that are still within the retention period."""
    if not uuids:
        return set()
    same_issuer = cards.c.client_issuer.is_(None) if issuer is None else cards.c.client_issuer == issuer
    query = select(cards.c.uuid).where(cards.c.service_id == service_id, cards.c.uuid.in_(set(uuids)), same_issuer)
    return set(connection.execute(query).scalars())


def rows(connection: Connection) -> list[dict[str, Any]]:
    """Every card row, oldest first (for audits and tests)."""
    query = select(cards).order_by(cards.c.issued_at, cards.c.uuid)
    return [dict(row._mapping) for row in connection.execute(query)]


def purge(connection: Connection, before: datetime) -> int:
    return connection.execute(delete(cards).where(cards.c.issued_at < before)).rowcount
