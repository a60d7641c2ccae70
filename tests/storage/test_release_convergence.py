"""Two `ivig-cds serve` replicas on one PostgreSQL converge on an evidence release: one is told to reload, and the
other, finding the newer label in the shared database, switches too within the bound its /readyz reports."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plugin.storage import releases
from plugin.storage.store import Storage
from tests.releases import point, release
from tests.storage.postgres import Postgres
from tests.storage.replicas import Replica, command, replica_env, start

TOKEN = "convergence-token-0123456789"
POLL = 0.5


def ready(replica: Replica) -> dict[str, Any]:
    body: dict[str, Any] = replica.client.get("/readyz").json()
    return body


def wait_for(replica: Replica, condition: Callable[[dict[str, Any]], bool], seconds: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        body = ready(replica)
        if condition(body) or time.monotonic() > deadline:
            assert condition(body), body
            return body
        time.sleep(0.02)


def test_two_replicas_on_postgresql_converge_on_the_newer_release(
    postgres: Postgres, tmp_path: Path, report: list[str]
) -> None:
    old, new = release(tmp_path, "2026.12"), release(tmp_path, "2026.12.1", marked=True)
    links = [tmp_path / "a-evidence", tmp_path / "b-evidence"]  # each replica's own evidence directory
    for link in links:
        point(link, old)
    database_url = postgres.new_database()
    settings = {"IVIG_CDS_EVIDENCE_POLL_SECONDS": str(POLL), "IVIG_CDS_ADMIN_TOKEN": TOKEN}
    env_a, env_b = (replica_env(tmp_path, database_url, IVIG_CDS_EVIDENCE_DIR=str(link), **settings) for link in links)
    subprocess.run(command("db", "upgrade"), env=env_a, check=True, capture_output=True, timeout=60)
    (a,) = start(tmp_path, env_a, "a")
    try:
        (b,) = start(tmp_path, env_b, "b")
    except BaseException:
        a.stop()
        raise
    try:
        before = [ready(a), ready(b)]
        assert {(r["evidence_label"], r["evidence_poll_seconds"]) for r in before} == {("2026.12", POLL)}

        for link in links:
            point(link, new)
        switched = a.client.post("/admin/evidence/reload", headers={"Authorization": f"Bearer {TOKEN}"})
        told = time.monotonic()
        assert switched.status_code == 200, switched.text
        assert switched.json()["evidence_label"] == "2026.12.1"
        converged = wait_for(b, lambda body: body["evidence_label"] == "2026.12.1")
        took = time.monotonic() - told

        after = [ready(a), converged]
        assert [(r["evidence_label"], r["evidence_version"]) for r in after] == [
            ("2026.12.1", switched.json()["evidence_version"])
        ] * 2
        assert (after[0]["evidence_reload"]["trigger"], after[1]["evidence_reload"]["trigger"]) == ("admin", "poll")
        bound = converged["evidence_converges_within_seconds"]
        assert POLL <= bound and took <= bound + 1.0, (took, bound)
        storage = Storage(database_url, timeout=5.0, retention_days=1)
        try:
            newest = storage.transaction(releases.newest, write=False)
        finally:
            storage.close()
        assert newest is not None
        assert (newest.label, newest.version) == ("2026.12.1", after[0]["evidence_version"])
        report.append(f"replicas on PostgreSQL: the second switched {took:.2f} s after the first (bound {bound} s)")
    finally:
        a.stop()
        b.stop()
