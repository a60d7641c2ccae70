"""The schema's versions: a numbered list of steps, each applied once and recorded in `schema_migrations`.

`ivig-cds db upgrade` applies the steps a database lacks, in one transaction, holding a lock so that two replicas
upgrading at once do the work once (PostgreSQL: an advisory lock; SQLite: BEGIN IMMEDIATE). `serve` only reads the
version and refuses a database older than `LATEST`. A change to `schema` goes in a new step (never an edit of an
applied one); step 1 creates the tables as `schema` first described them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, func, insert, inspect, select, text

from plugin.storage import schema
from plugin.storage.engine import sqlite_file

UPGRADE_LOCK = 0x1B16C0D5  # the PostgreSQL advisory lock key held while upgrading


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


def _first(connection: Connection) -> None:
    schema.metadata.create_all(connection, tables=[schema.jwt_replay, schema.cards, schema.feedback])


def _card_issuer(connection: Connection) -> None:
    """Step 1 creates the tables as `schema` describes them now, so only a database made before this step lacks it."""
    if "client_issuer" not in {column["name"] for column in inspect(connection).get_columns("cards")}:
        connection.execute(text("ALTER TABLE cards ADD COLUMN client_issuer VARCHAR"))


def _evidence_release(connection: Connection) -> None:
    schema.metadata.create_all(connection, tables=[schema.evidence_release])


def _smart_sessions(connection: Connection) -> None:
    schema.metadata.create_all(connection, tables=[schema.smart_launches, schema.chart_sessions])


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "replay guard, card record and feedback", _first),
    Migration(2, "the client issuer each card was issued to", _card_issuer),
    Migration(3, "the evidence releases replicas switch to", _evidence_release),
    Migration(4, "SMART launches and chart sessions, sealed, shared by every replica", _smart_sessions),
)
LATEST = MIGRATIONS[-1].version


def version(connection: Connection) -> int:
    """The schema version of this database: 0 when it has none yet."""
    if not inspect(connection).has_table(schema.schema_migrations.name):
        return 0
    return int(connection.execute(select(func.coalesce(func.max(schema.schema_migrations.c.version), 0))).scalar_one())


def upgrade(engine: Engine) -> tuple[int, int]:
    """Apply every missing step; returns the version before and after."""
    if sqlite_file(engine.url) is not None:
        use_wal(engine)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": UPGRADE_LOCK})
        schema.schema_migrations.create(connection, checkfirst=True)
        before = version(connection)
        for step in MIGRATIONS:
            if step.version > before:
                step.apply(connection)
                connection.execute(
                    insert(schema.schema_migrations).values(
                        version=step.version, description=step.description, applied_at=datetime.now(UTC)
                    )
                )
        return before, max(before, LATEST)


def use_wal(engine: Engine) -> None:
    """Switch an SQLite file to WAL (kept in the file): readers never wait for the writer, writers queue briefly."""
    raw = engine.raw_connection()
    try:
        raw.driver_connection.execute("PRAGMA journal_mode=WAL")  # type: ignore[union-attr]
    finally:
        raw.close()
