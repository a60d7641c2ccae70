"""CDS Hooks feedback entries as the shared store keeps them: one row per entry, the wire objects as JSON.

The store keeps each entry once (same service, card, outcome and timestamp): the spec warns that clients may send
feedback more than once, and an EHR retries a post whose answer it did not see.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

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


WINDOW = 60.0  # seconds over which a client's feedback entries are counted
MAX_CLIENTS = 10_000  # clients whose recent entries are remembered (the least recent forgotten first)


class FeedbackRate:
    """Feedback entries per client in the last minute, per worker: `allow` says whether `count` more may come."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.recent: OrderedDict[str, deque[float]] = OrderedDict()

    def allow(self, client: str, count: int) -> float | None:
        """None when the entries may be taken (and they are counted); otherwise seconds until they could be."""
        now = self.clock()
        times = self.recent.pop(client, None) or deque()
        while times and times[0] <= now - WINDOW:
            times.popleft()
        self.recent[client] = times
        while len(self.recent) > MAX_CLIENTS:
            self.recent.popitem(last=False)
        if len(times) + count > self.per_minute:
            return max(times[0] + WINDOW - now, 1.0) if times else WINDOW
        times.extend([now] * count)
        return None


def too_many_on_card(full: Sequence[UUID], entries: Sequence[Any], per_card: int) -> list[dict[str, Any]]:
    """Validation errors, in pydantic's shape, for each entry on a card that already holds `per_card` entries."""
    return [
        {
            "type": "cds.feedback_limit",
            "loc": ("body", "feedback", index, "card"),
            "msg": f"already has the most feedback entries one card may hold ({per_card})",
        }
        for index, entry in enumerate(entries)
        if entry.card in set(full)
    ]


def wire(model: Any) -> dict[str, Any]:
    """A wire object in its camelCase JSON form."""
    dumped: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped
