"""Durable store for CDS Hooks feedback: one SQLite file, safe for concurrent writers, kept across restarts.

Each write opens its own connection with a busy timeout, so threads and worker processes can write at once (in
WAL mode when the file allows it). The file and its table are created on first use, not at start-up. A
retransmitted entry (same service, card, outcome and timestamp) is stored once: the spec warns clients may send
feedback more than once.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from plugin.cds_hooks.models import FeedbackEntry

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    service_id TEXT NOT NULL,
    card TEXT NOT NULL,
    outcome TEXT NOT NULL,
    outcome_timestamp TEXT NOT NULL,
    accepted_suggestions TEXT,
    override_reason TEXT,
    client_issuer TEXT,
    tenant TEXT,
    received_at TEXT NOT NULL,
    UNIQUE (service_id, card, outcome, outcome_timestamp)
)
"""
BUSY_TIMEOUT_SECONDS = 10.0


class FeedbackStore:
    """Feedback entries in the SQLite file at `path` (its directory is created when needed)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ready = False
        self._lock = threading.Lock()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self._prepare()
        with closing(sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS)) as connection:
            with connection:  # one transaction: committed on success, rolled back on error
                yield connection

    def _prepare(self) -> None:
        with self._lock:
            if self._ready:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS)) as connection:
                with connection:
                    connection.execute(SCHEMA)
                    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                # Switching to WAL fails at once, without waiting, while another writer holds the file. WAL only
                # lets readers run beside a writer; the rollback journal is just as safe, and a later start retries.
                with suppress(sqlite3.OperationalError):
                    connection.execute("PRAGMA journal_mode=WAL")
            self._ready = True

    def add(
        self, service_id: str, entries: Sequence[FeedbackEntry], client_issuer: str | None, tenant: str | None
    ) -> int:
        """Store entries; returns how many were new (duplicates of stored entries are ignored)."""
        received_at = datetime.now(UTC).isoformat()
        rows = [
            (
                service_id,
                str(entry.card),
                entry.outcome,
                entry.outcome_timestamp.isoformat(),
                dumps(entry.accepted_suggestions),
                dumps(entry.override_reason),
                client_issuer,
                tenant,
                received_at,
            )
            for entry in entries
        ]
        with self._connect() as connection:
            before = connection.total_changes
            connection.executemany(
                "INSERT OR IGNORE INTO feedback (service_id, card, outcome, outcome_timestamp, accepted_suggestions, "
                "override_reason, client_issuer, tenant, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            return connection.total_changes - before

    def entries(self) -> list[dict[str, Any]]:
        """Every stored entry, oldest first, as plain dicts (JSON columns decoded)."""
        with self._connect() as connection:
            connection.row_factory = sqlite3.Row
            rows = connection.execute("SELECT * FROM feedback ORDER BY id").fetchall()
        decoded = []
        for row in rows:
            entry = dict(row)
            for column in ("accepted_suggestions", "override_reason"):
                entry[column] = None if entry[column] is None else json.loads(entry[column])
            decoded.append(entry)
        return decoded


def dumps(value: Any) -> str | None:
    """A wire object as JSON in its camelCase form, or None when absent."""
    if value is None:
        return None
    if isinstance(value, tuple):
        return json.dumps([item.model_dump(mode="json", by_alias=True, exclude_none=True) for item in value])
    return json.dumps(value.model_dump(mode="json", by_alias=True, exclude_none=True))
