"""Two `ivig-cds serve` processes on one PostgreSQL: one replay guard, one card record, feedback stored once.

Every request goes over real HTTP on 127.0.0.1 with a real client JWT (a new jti each, as an EHR signs them).
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import httpx
import pytest

from plugin.storage.store import Storage
from tests.cds_hooks.support import SERVICE_URL
from tests.storage.postgres import Postgres
from tests.storage.replicas import Replica, bearer, command, feedback_on, patient_view, replica_env, start

FEEDBACK_URL = f"{SERVICE_URL}/feedback"
PROFILE_QUERY = "prior_pregnancy_losses=3&nk_cell_percent=18.0"  # what `patient_view` reads from its chart


@dataclass
class Cluster:
    folder: Path
    env: dict[str, str]
    storage: Storage
    a: Replica
    b: Replica


@pytest.fixture(scope="module")
def cluster(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("replicas")
    env = replica_env(folder, postgres.new_database())
    subprocess.run(command("db", "upgrade"), env=env, check=True, capture_output=True, timeout=60)
    a, b = start(folder, env, "a", "b")
    storage = Storage(env["IVIG_CDS_DATABASE_URL"], timeout=5.0, retention_days=365)
    try:
        yield Cluster(folder, env, storage, a, b)
    finally:
        a.stop()
        b.stop()
        storage.close()


async def issue_cards(urls: list[str], count: int) -> list[tuple[str, dict[str, Any]]]:
    """`count` patient-view calls spread over the replicas: (hookInstance, card) for each."""
    limit = asyncio.Semaphore(16)

    async def one(client: httpx.AsyncClient, n: int) -> tuple[str, dict[str, Any]]:
        hook_instance = str(uuid4())
        async with limit:
            response = await client.post(
                f"{urls[n % len(urls)]}{SERVICE_URL}", json=patient_view(hook_instance), headers=bearer()
            )
        assert response.status_code == 200, response.text
        (card,) = response.json()["cards"]
        return hook_instance, card

    async with httpx.AsyncClient(timeout=30) as client:
        return list(await asyncio.gather(*(one(client, n) for n in range(count))))


async def feedback_twice_each(urls: list[str], cards: list[str], concurrency: int) -> list[list[int]]:
    """Feedback on each card posted twice, the retry to the other replica (as a load balancer may send it):
    the statuses of both posts, per card."""
    limit = asyncio.Semaphore(concurrency)

    async def twice(client: httpx.AsyncClient, n: int) -> list[int]:
        statuses = []
        for attempt in range(2):
            async with limit:
                url = f"{urls[(n + attempt) % 2]}{FEEDBACK_URL}"
                statuses.append((await client.post(url, json=feedback_on(cards[n]), headers=bearer())).status_code)
        return statuses

    async with httpx.AsyncClient(timeout=30) as client:
        return list(await asyncio.gather(*(twice(client, n) for n in range(len(cards)))))


def test_a_token_accepted_by_one_replica_is_refused_by_the_other(cluster: Cluster) -> None:
    headers = bearer()
    assert cluster.a.client.post(SERVICE_URL, json=patient_view("first"), headers=headers).status_code == 200
    replayed = cluster.b.client.post(SERVICE_URL, json=patient_view("replayed"), headers=headers)
    assert (replayed.status_code, replayed.content) == (401, b"")
    assert cluster.a.client.post(SERVICE_URL, json=patient_view("again"), headers=headers).status_code == 401


def test_concurrent_feedback_over_both_replicas_each_retried_once_is_stored_exactly_once(cluster: Cluster) -> None:
    urls = [cluster.a.url, cluster.b.url]
    issued = asyncio.run(issue_cards(urls, 200))
    cards = [card["uuid"] for _, card in issued]

    assert asyncio.run(feedback_twice_each(urls, cards, 32)) == [[200, 200]] * 200
    stored = [row for row in cluster.storage.feedback_entries() if str(row["card"]) in set(cards)]
    assert len(stored) == 200
    assert sorted(str(row["card"]) for row in stored) == sorted(cards)


def test_card_rows_match_the_cards_returned(cluster: Cluster) -> None:
    issued = asyncio.run(issue_cards([cluster.a.url, cluster.b.url], 40))
    version = cluster.a.client.get("/healthz").json()["evidence_version"]
    assert {urlsplit(card["links"][0]["url"]).query for _, card in issued} == {PROFILE_QUERY}
    answer = cluster.a.client.post("/v1/answer", json={"prior_pregnancy_losses": 3, "nk_cell_percent": 18}).json()
    estimate_ids = [estimate["id"] for estimate in answer["estimates"]]
    rows = {row["uuid"]: row for row in cluster.storage.card_rows()}
    for hook_instance, card in issued:
        row = rows[UUID(card["uuid"])]
        assert row == {
            "uuid": UUID(card["uuid"]),
            "service_id": "ivig-rpl-evidence",
            "hook": "patient-view",
            "hook_instance": hook_instance,
            "status": "matched",
            "estimate_ids": estimate_ids,
            "evidence_version": version,
            "issued_at": row["issued_at"],
            "client_issuer": "https://ehr.example.org",
        }
    assert len(estimate_ids) == 2


def test_killing_a_replica_mid_load_loses_no_acknowledged_post(cluster: Cluster) -> None:
    (doomed,) = start(cluster.folder, cluster.env, "doomed")
    targets = [cluster.a, doomed]
    cards = [card["uuid"] for _, card in asyncio.run(issue_cards([cluster.a.url], 160))]
    acknowledged: list[tuple[str, str]] = []
    failed: list[str] = []

    async def post(client: httpx.AsyncClient, n: int, limit: asyncio.Semaphore) -> int | None:
        target = targets[n % 2]
        async with limit:
            try:
                response = await client.post(
                    f"{target.url}{FEEDBACK_URL}", json=feedback_on(cards[n]), headers=bearer()
                )
            except httpx.TransportError:
                failed.append(target.url)
                return None
        if response.status_code == 200:
            acknowledged.append((target.url, cards[n]))
            if target is doomed and sum(url == doomed.url for url, _ in acknowledged) == 25:
                doomed.kill()
        return response.status_code

    async def load() -> list[int | None]:
        limit = asyncio.Semaphore(8)
        async with httpx.AsyncClient(timeout=30) as client:
            return list(await asyncio.gather(*(post(client, n, limit) for n in range(len(cards)))))

    try:
        statuses = asyncio.run(load())
    finally:
        doomed.stop()
    assert set(statuses) <= {200, None}  # a post either acknowledged or never answered: no 5xx
    assert sum(url == doomed.url for url, _ in acknowledged) >= 25
    assert failed and set(failed) == {doomed.url}  # the kill landed mid-load, and only the killed replica failed
    stored = {str(row["card"]) for row in cluster.storage.feedback_entries()}
    assert {card for _, card in acknowledged} <= stored


def test_with_postgresql_stopped_cds_hooks_answers_503_and_the_json_door_still_answers(
    cluster: Cluster, postgres: Postgres
) -> None:
    card = asyncio.run(issue_cards([cluster.a.url], 1))[0][1]["uuid"]
    postgres.stop()
    try:
        hook = cluster.a.client.post(SERVICE_URL, json=patient_view("outage"), headers=bearer())
        assert hook.status_code == 503
        assert [issue["diagnostics"] for issue in hook.json()["issue"]] == ["storage.refused"]
        feedback = cluster.b.client.post(FEEDBACK_URL, json=feedback_on(card), headers=bearer())
        assert feedback.status_code == 503
        assert feedback.json()["resourceType"] == "OperationOutcome"
        answer = cluster.a.client.post("/v1/answer", json={"prior_pregnancy_losses": 3, "nk_cell_percent": 18})
        assert answer.status_code == 200
        assert answer.json()["status"] == "matched"
        assert cluster.a.client.get("/healthz").status_code == 200
        ready = cluster.a.client.get("/readyz")
        assert (ready.status_code, ready.json()["status"], ready.json()["database"]) == (
            503,
            "not_ready",
            "storage.refused",
        )
    finally:
        postgres.start()
    ready = cluster.a.client.get("/readyz").json()
    assert (ready["status"], ready["database"]) == ("ready", "ok")
    assert cluster.b.client.post(FEEDBACK_URL, json=feedback_on(card), headers=bearer()).status_code == 200
