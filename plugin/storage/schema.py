"""The tables, as of the latest migration. No patient identifier and no finding is stored in clear anywhere: the two
SMART tables keep what a launch needs sealed (AES-GCM, by the web layer) and only digests, expiry times and the
sealed bytes beside it.

Times are UTC: `UtcDateTime` stores them as timestamptz on PostgreSQL and as naive UTC text on SQLite, and always
hands back an aware datetime. The replay guard keeps epoch seconds (a float), which both compare natively.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Dialect,
    Double,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime in, UTC stored, an aware UTC datetime out, on either backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("times are stored in UTC and must carry a time zone")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


metadata = MetaData()

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", String, nullable=False),
    Column("applied_at", UtcDateTime, nullable=False),
)

# One row per (issuer, jti) accepted, until the token could no longer be accepted anyway (epoch seconds).
jwt_replay = Table(
    "jwt_replay",
    metadata,
    Column("issuer", String, primary_key=True),
    Column("jti", String, primary_key=True),
    Column("expires_at", Double, nullable=False),
    Index("ix_jwt_replay_expires_at", "expires_at"),
)

# One row per card returned: enough to tie feedback to what was shown and to reproduce it from the evidence
# version, and nothing about the patient (no id, no finding, no card text).
cards = Table(
    "cards",
    metadata,
    Column("uuid", Uuid, primary_key=True),
    Column("service_id", String, nullable=False),
    Column("hook", String, nullable=False),
    Column("hook_instance", String, nullable=False),
    Column("status", String, nullable=False),
    Column("estimate_ids", JSON, nullable=False),
    Column("evidence_version", String, nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    # The client issuer whose call the card answered (none in development mode): feedback only from that issuer.
    Column("client_issuer", String, nullable=True),
    Index("ix_cards_issued_at", "issued_at"),
)

# What the clinician did with a card; the unique key makes a retransmitted entry a no-op.
feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service_id", String, nullable=False),
    Column("card", Uuid, nullable=False),
    Column("outcome", String, nullable=False),
    Column("outcome_timestamp", UtcDateTime, nullable=False),
    Column("accepted_suggestions", JSON(none_as_null=True), nullable=True),
    Column("override_reason", JSON(none_as_null=True), nullable=True),
    Column("client_issuer", String, nullable=True),
    Column("tenant", String, nullable=True),
    Column("received_at", UtcDateTime, nullable=False),
    UniqueConstraint("service_id", "card", "outcome", "outcome_timestamp", name="uq_feedback_entry"),
    Index("ix_feedback_received_at", "received_at"),
)

# Each evidence release a replica has switched to (label, content hash), first time first: the newest label is the
# release every replica converges to.
evidence_release = Table(
    "evidence_release",
    metadata,
    Column("label", String, primary_key=True),
    Column("version", String, primary_key=True),
    Column("switched_at", UtcDateTime, nullable=False),
)

# A SMART launch waiting for its callback, under the SHA-256 of its `state`: the client's address as a digest (for the
# per-client limit), when it started and ends (epoch seconds), and sealed the issuer, its endpoints, the scope asked
# for and the PKCE verifier. Taken (deleted) once by whichever replica the callback reaches.
smart_launches = Table(
    "smart_launches",
    metadata,
    Column("state", String, primary_key=True),
    Column("client", String, nullable=False),
    Column("started_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    Index("ix_smart_launches_client", "client"),
    Index("ix_smart_launches_expires_at", "expires_at"),
)

# What one launch read, under the SHA-256 of its launch id: the digest of the browser that made it, when the access
# token expires (epoch seconds), and sealed the token, her findings, her profile and her banner.
chart_sessions = Table(
    "chart_sessions",
    metadata,
    Column("launch", String, primary_key=True),
    Column("browser", String, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    Index("ix_chart_sessions_browser", "browser"),
    Index("ix_chart_sessions_expires_at", "expires_at"),
)
