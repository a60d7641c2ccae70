"""The storage layer, the same tests on SQLite and PostgreSQL: schema versions, replay guard, cards, feedback, purge."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Connection, text

from plugin.storage import migrations
from plugin.storage.cards import CardRow
from plugin.storage.errors import SchemaOutOfDateError
from plugin.storage.feedback import FeedbackRow
from plugin.storage.group_commit import GroupCommit
from plugin.storage.store import PURGE_EVERY, Storage

NOW = 1_800_000_000.0  # a fixed clock: 2027-01-15T08:00:00Z
MOMENT = datetime.fromtimestamp(NOW, UTC)


def opened(url: str, clock: float = NOW) -> Storage:
    return Storage(url, timeout=5.0, retention_days=30, clock=lambda: clock)


@pytest.fixture()
def store(database_url: str) -> Iterator[Storage]:
    storage = opened(database_url)
    storage.upgrade()
    yield storage
    storage.close()


def card(service_id: str = "ivig-rpl-evidence", issued_at: datetime = MOMENT) -> CardRow:
    return CardRow(uuid4(), service_id, "patient-view", "hook-1", "matched", ("a", "b"), "v1", issued_at)


def entry(card: UUID, *, at: datetime = MOMENT, received_at: datetime = MOMENT) -> FeedbackRow:
    reason = {"userComment": "Discussed with the patient."}
    return FeedbackRow(
        "ivig-rpl-evidence", card, "overridden", at, None, reason, "https://ehr.example.org", "t-1", received_at
    )


def test_upgrade_creates_the_schema_and_running_it_again_changes_nothing(database_url: str) -> None:
    storage = opened(database_url)
    assert storage.schema_version() == 0
    assert storage.upgrade() == (0, migrations.LATEST)
    assert storage.upgrade() == (migrations.LATEST, migrations.LATEST)
    assert storage.schema_version() == migrations.LATEST
    storage.close()


def test_a_database_older_than_this_release_is_refused_with_the_command_to_run(database_url: str) -> None:
    storage = opened(database_url)
    with pytest.raises(SchemaOutOfDateError) as refused:
        storage.feedback_entries()
    assert refused.value.code == "storage.schema_out_of_date"
    assert refused.value.details == {"found": 0, "needed": migrations.LATEST}
    assert "ivig-cds db upgrade" in refused.value.message
    storage.close()


def test_two_replicas_upgrading_at_once_apply_each_step_once(database_url: str) -> None:
    replicas = [opened(database_url), opened(database_url)]
    start = threading.Barrier(2)

    def upgrade(storage: Storage) -> tuple[int, int]:
        start.wait()
        return storage.upgrade()

    with ThreadPoolExecutor(2) as pool:
        results = sorted(pool.map(upgrade, replicas))
    assert results == [(0, migrations.LATEST), (migrations.LATEST, migrations.LATEST)]
    assert replicas[0].schema_version() == migrations.LATEST
    for storage in replicas:
        storage.close()


def test_a_jti_is_accepted_once_per_issuer_until_its_token_could_no_longer_be_accepted(store: Storage) -> None:
    async def uses() -> list[bool]:
        return [
            await store.first_use("https://ehr.example.org", "jti-1", until=1100.0, now=1000.0),
            await store.first_use("https://ehr.example.org", "jti-1", until=1100.0, now=1050.0),
            await store.first_use("https://other.example.org", "jti-1", until=1100.0, now=1050.0),
            await store.first_use("https://ehr.example.org", "jti-1", until=1100.0, now=1100.0),
            await store.first_use("https://ehr.example.org", "jti-1", until=1300.0, now=1200.0),
        ]

    assert asyncio.run(uses()) == [True, False, True, False, True]


def test_two_replicas_racing_with_the_same_tokens_accept_each_exactly_once(database_url: str) -> None:
    replicas = [opened(database_url), opened(database_url)]
    replicas[0].upgrade()
    jtis = [f"jti-{n}" for n in range(40)]

    def race(storage: Storage) -> list[bool]:
        async def all_of_them() -> list[bool]:
            return list(await asyncio.gather(*(storage.first_use("iss", j, NOW + 60, NOW) for j in jtis)))

        return asyncio.run(all_of_them())

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(race, replicas)
    assert [a + b for a, b in zip(first, second, strict=True)] == [1] * len(jtis)
    for storage in replicas:
        storage.close()


def test_feedback_sent_again_is_stored_once(store: Storage) -> None:
    cards = [uuid4(), uuid4()]
    rows = [entry(cards[0]), entry(cards[1])]
    assert asyncio.run(store.add_feedback(rows)) == 2
    assert asyncio.run(store.add_feedback(rows)) == 0
    assert asyncio.run(store.add_feedback([entry(cards[0], at=MOMENT + timedelta(seconds=1))])) == 1
    stored = store.feedback_entries()
    assert [(row["card"], row["outcome_timestamp"]) for row in stored] == [
        (cards[0], MOMENT),
        (cards[1], MOMENT),
        (cards[0], MOMENT + timedelta(seconds=1)),
    ]
    assert stored[0]["override_reason"] == {"userComment": "Discussed with the patient."}
    assert stored[0]["accepted_suggestions"] is None


def test_two_replicas_writing_at_once_lose_nothing(database_url: str) -> None:
    replicas = [opened(database_url), opened(database_url)]
    replicas[0].upgrade()

    def write(n: int) -> int:
        return asyncio.run(replicas[n % 2].add_feedback([entry(uuid4(), at=MOMENT + timedelta(seconds=n))]))

    with ThreadPoolExecutor(8) as pool:
        added = list(pool.map(write, range(200)))
    assert added == [1] * 200
    assert len(replicas[1].feedback_entries()) == 200
    for storage in replicas:
        storage.close()


def test_a_card_counts_as_issued_only_by_the_service_that_returned_it(store: Storage) -> None:
    viewed, ordered = card(), card("ivig-rpl-evidence-order-select")
    asyncio.run(store.record_cards([viewed, ordered]))
    never = uuid4()
    asked = [viewed.uuid, ordered.uuid, never]
    assert asyncio.run(store.issued("ivig-rpl-evidence", asked)) == {viewed.uuid}
    assert asyncio.run(store.issued("ivig-rpl-evidence-order-select", asked)) == {ordered.uuid}
    (row, _) = sorted(store.card_rows(), key=lambda r: r["service_id"])
    assert row == {
        "uuid": viewed.uuid,
        "service_id": "ivig-rpl-evidence",
        "hook": "patient-view",
        "hook_instance": "hook-1",
        "status": "matched",
        "estimate_ids": ["a", "b"],
        "evidence_version": "v1",
        "issued_at": MOMENT,
        "client_issuer": None,
    }


def test_purge_drops_spent_tokens_and_records_past_the_retention_period(store: Storage) -> None:
    old, recent = MOMENT - timedelta(days=31), MOMENT - timedelta(days=29)
    asyncio.run(store.record_cards([card(issued_at=old), kept := card(issued_at=recent)]))
    asyncio.run(store.add_feedback([entry(uuid4(), received_at=old), entry(kept.uuid, received_at=recent)]))
    asyncio.run(store.first_use("iss", "spent", until=NOW - 1, now=NOW - 100))
    asyncio.run(store.first_use("iss", "live", until=NOW + 100, now=NOW - 100))
    assert store.purge() == {"jwt_replay": 1, "cards": 1, "feedback": 1, "smart_launches": 0, "chart_sessions": 0}
    assert [row["uuid"] for row in store.card_rows()] == [kept.uuid]
    assert [row["card"] for row in store.feedback_entries()] == [kept.uuid]
    assert not asyncio.run(store.first_use("iss", "live", until=NOW + 100, now=NOW))
    assert store.purge() == {"jwt_replay": 0, "cards": 0, "feedback": 0, "smart_launches": 0, "chart_sessions": 0}


def test_the_replay_guard_starts_a_purge_on_its_own_every_few_minutes(store: Storage) -> None:
    asyncio.run(store.record_cards([card(issued_at=MOMENT - timedelta(days=31))]))
    asyncio.run(store.first_use("iss", "early", until=NOW + 60, now=NOW + PURGE_EVERY - 1))
    assert len(store.card_rows()) == 1
    asyncio.run(store.first_use("iss", "due", until=NOW + PURGE_EVERY + 60, now=NOW + PURGE_EVERY))
    deadline = time.monotonic() + 5
    while store.card_rows() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert store.card_rows() == []


def test_thirty_concurrent_calls_are_all_recorded_in_fewer_transactions(store: Storage) -> None:
    transactions: list[int] = []
    real = store._write_cards

    async def counting(rows: list[CardRow]) -> None:
        transactions.append(len(rows))
        await real(rows)

    store._card_records = GroupCommit(counting)
    rows = [card() for _ in range(30)]

    async def calls() -> None:
        first = asyncio.create_task(store.record_cards(rows[:1]))
        await asyncio.sleep(0)  # the first commit starts; the others meet it in progress
        await asyncio.gather(first, *(store.record_cards([row]) for row in rows[1:]))

    asyncio.run(calls())
    assert {row["uuid"] for row in store.card_rows()} == {row.uuid for row in rows}
    assert sum(transactions) == 30 and len(transactions) < 30


def test_closing_waits_for_the_work_already_running_and_leaves_no_connection_open(database_url: str) -> None:
    """A look at the database that began just before the end (the release poll, a purge) finishes on its connection
    before the pool goes; disposing first left that connection open until the garbage collector warned of it."""
    storage = opened(database_url)
    storage.upgrade()
    started = threading.Event()

    def slow(connection: Connection) -> int:
        started.set()
        time.sleep(0.3)
        return int(connection.execute(text("SELECT 1")).scalar_one())

    running = storage.threads.submit(storage.transaction, slow, write=False)
    assert started.wait(10)
    storage.close()
    assert running.done() and running.result() == 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
