"""Two `ivig-cds serve` processes on one SQLite file: contention queues instead of failing, and never starves.

WAL, a busy timeout, BEGIN IMMEDIATE and retries make concurrent writers from two processes wait their turn; the
storage threads keep a locked database from taking the event loop or the thread pool of the other doors.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from plugin.storage.store import Storage
from tests.cds_hooks.support import SERVICE_URL
from tests.storage.replicas import Replica, bearer, command, feedback_on, patient_view, replica_env, start
from tests.storage.test_replicas import FEEDBACK_URL, feedback_twice_each, issue_cards


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Storage, Replica, Replica]]:
    folder = tmp_path_factory.mktemp("sqlite-replicas")
    database = folder / "shared.sqlite3"
    env = replica_env(folder, f"sqlite:///{database}")
    subprocess.run(command("db", "upgrade"), env=env, check=True, capture_output=True, timeout=60)
    a, b = start(folder, env, "a", "b")
    storage = Storage(env["IVIG_CDS_DATABASE_URL"], timeout=5.0, retention_days=365)
    try:
        yield database, storage, a, b
    finally:
        a.stop()
        b.stop()
        storage.close()


def test_the_shared_file_is_in_wal_mode(pair: tuple[Path, Storage, Replica, Replica]) -> None:
    database = pair[0]
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_concurrent_feedback_over_two_processes_gets_no_5xx_and_is_stored_exactly_once(
    pair: tuple[Path, Storage, Replica, Replica],
) -> None:
    _, storage, a, b = pair
    urls = [a.url, b.url]
    cards = [card["uuid"] for _, card in asyncio.run(issue_cards(urls, 200))]

    assert asyncio.run(feedback_twice_each(urls, cards, 48)) == [[200, 200]] * 200
    stored = [str(row["card"]) for row in storage.feedback_entries() if str(row["card"]) in set(cards)]
    assert sorted(stored) == sorted(cards)


def test_a_locked_database_delays_feedback_but_never_the_json_door(
    pair: tuple[Path, Storage, Replica, Replica],
) -> None:
    database, storage, a, _ = pair
    cards = [card["uuid"] for _, card in asyncio.run(issue_cards([a.url], 60))]
    answer_seconds: list[float] = []

    async def scenario() -> tuple[list[bool], list[int]]:
        lock = sqlite3.connect(database, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # another process holds the write lock for 2 s
        async with httpx.AsyncClient(base_url=a.url, timeout=30) as client:
            posts = [
                asyncio.create_task(client.post(FEEDBACK_URL, json=feedback_on(card), headers=bearer()))
                for card in cards
            ]  # more than the 40 threads the synchronous routes share
            await asyncio.sleep(0.3)
            for _ in range(5):
                started = time.monotonic()
                response = await client.post("/v1/answer", json={"prior_pregnancy_losses": 3, "nk_cell_percent": 18})
                answer_seconds.append(time.monotonic() - started)
                assert response.status_code == 200
                await asyncio.sleep(0.2)
            waited = [post.done() for post in posts]
            lock.execute("COMMIT")
            lock.close()
            return waited, [(await post).status_code for post in posts]

    waited, statuses = asyncio.run(scenario())
    assert not any(waited)  # the feedback posts really were waiting on the lock
    assert max(answer_seconds) < 1.0  # liveness, not a benchmark: unloaded, each answer takes a few ms
    assert statuses == [200] * 60
    assert set(cards) <= {str(row["card"]) for row in storage.feedback_entries()}


def test_a_cds_call_during_the_lock_gets_its_card_once_the_lock_is_released(
    pair: tuple[Path, Storage, Replica, Replica],
) -> None:
    database, _, _, b = pair
    lock = sqlite3.connect(database, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    try:
        with httpx.Client(base_url=b.url, timeout=30) as client:

            async def call() -> httpx.Response:
                async with httpx.AsyncClient(base_url=b.url, timeout=30) as async_client:
                    pending = asyncio.create_task(
                        async_client.post(SERVICE_URL, json=patient_view("locked"), headers=bearer())
                    )
                    await asyncio.sleep(1.0)
                    assert not pending.done()
                    assert client.get("/healthz").status_code == 200
                    lock.execute("COMMIT")
                    return await pending

            response = asyncio.run(call())
    finally:
        lock.close()
    assert response.status_code == 200
    assert len(response.json()["cards"]) == 1
