"""The evidence releases replicas switched to, on SQLite and PostgreSQL: the newest is the highest label compared as
a version, the first switch to a release is kept, and a database of the previous schema gains the table on upgrade
with its rows intact."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, insert, select

from plugin.core.evidence.release import label_key, newer
from plugin.storage import migrations, schema
from plugin.storage.store import Storage

MOMENT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def opened(url: str) -> Storage:
    return Storage(url, timeout=5.0, retention_days=30)


def test_labels_compare_as_versions_not_as_text() -> None:
    assert [label_key(label) for label in ("2026.09", "2026.12", "2026.12.1")] == [(2026, 9), (2026, 12), (2026, 12, 1)]
    assert newer("2026.12", "2026.9") and newer("2026.12.1", "2026.12") and newer("2027.01", "2026.12.10")
    assert not newer("2026.12", "2026.12") and not newer("2026.9", "2026.12")


def test_the_newest_release_is_the_highest_label_and_the_first_switch_to_each_is_kept(database_url: str) -> None:
    storage = opened(database_url)
    storage.upgrade()
    try:
        assert asyncio.run(storage.newest_release()) is None
        recorded = [
            asyncio.run(storage.record_release(label, f"sha256:{label}", MOMENT + timedelta(minutes=n)))
            for n, label in enumerate(["2026.9", "2026.12.1", "2026.12", "2026.12.1"])
        ]
        assert recorded == [True, True, True, False]
        storage.transaction(
            lambda c: c.execute(insert(schema.evidence_release).values(label="draft", version="x", switched_at=MOMENT))
        )
        newest = asyncio.run(storage.newest_release())
        assert newest is not None
        assert (newest.label, newest.version, newest.switched_at) == (
            "2026.12.1",
            "sha256:2026.12.1",
            MOMENT + timedelta(minutes=1),
        )
    finally:
        storage.close()


def test_a_database_at_the_previous_schema_gains_the_release_table_and_keeps_its_rows(database_url: str) -> None:
    storage = opened(database_url)
    first = migrations.MIGRATIONS[0]
    with storage.engine.begin() as connection:
        schema.schema_migrations.create(connection)
        first.apply(connection)
        connection.execute(
            insert(schema.schema_migrations).values(version=1, description=first.description, applied_at=MOMENT)
        )
    try:
        assert storage.schema_version() == 1
        assert storage.upgrade() == (1, migrations.LATEST)
        assert asyncio.run(storage.record_release("2026.12", "sha256:a", MOMENT)) is True
        assert [row["version"] for row in storage.transaction(rows_of_migrations, write=False)] == list(
            range(1, migrations.LATEST + 1)
        )
    finally:
        storage.close()


def rows_of_migrations(connection: Connection) -> list[dict[str, object]]:
    return [dict(row._mapping) for row in connection.execute(select(schema.schema_migrations).order_by("version"))]
