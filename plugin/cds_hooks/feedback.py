"""CDS Hooks feedback entries as the shared store keeps them: one row per entry, the wire objects as JSON.

The store keeps each entry once (same service, card, outcome and timestamp): the spec warns that clients may send
feedback more than once, and an EHR retries a post whose answer it did not see.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from plugin.cds_hooks.auth import Client
from plugin.cds_hooks.models import FeedbackEntry
from plugin.storage.feedback import FeedbackRow


def feedback_rows(
    service_id: str, entries: Sequence[FeedbackEntry], client: Client | None, received_at: datetime
) -> list[FeedbackRow]:
    return [
        FeedbackRow(
            service_id=service_id,
            card=entry.card,
            outcome=entry.outcome,
            outcome_timestamp=entry.outcome_timestamp,
            accepted_suggestions=None
            if entry.accepted_suggestions is None
            else [wire(item) for item in entry.accepted_suggestions],
            override_reason=None if entry.override_reason is None else wire(entry.override_reason),
            client_issuer=client.issuer if client else None,
            tenant=client.tenant if client else None,
            received_at=received_at,
        )
        for entry in entries
    ]


def wire(model: Any) -> dict[str, Any]:
    """A wire object in its camelCase JSON form."""
    dumped: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped
