"""`ivig-cds db upgrade` and `db purge` through the real entry point, and `serve` refusing an older schema."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import httpx

from plugin.storage.cards import CardRow
from plugin.storage.migrations import LATEST
from plugin.storage.store import Storage
from tests.storage.postgres import free_port

CONSOLE_SCRIPT = Path(sys.executable).with_name("ivig-cds")


def run(*args: str, database_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("IVIG_CDS_")}
    environment |= {"IVIG_CDS_DATABASE_URL": database_url, **env}
    command = [str(CONSOLE_SCRIPT), *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, env=environment, timeout=60)


def test_db_upgrade_creates_the_schema_then_reports_it_current(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ivig-cds.sqlite3'}"
    first = run("db", "upgrade", database_url=url)
    assert (first.returncode, first.stdout) == (0, f"database schema at version {LATEST} (was 0)\n")
    again = run("db", "upgrade", database_url=url)
    assert (again.returncode, again.stdout) == (0, f"database schema at version {LATEST}\n")


def test_serve_refuses_a_database_older_than_it_knows_naming_the_command(tmp_path: Path) -> None:
    result = run("serve", "--port", str(free_port()), database_url=f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    assert result.returncode == 1
    assert f"schema is at version 0, this release needs {LATEST}: run `ivig-cds db upgrade`" in result.stderr


def test_db_purge_removes_cards_past_the_retention_period(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ivig-cds.sqlite3'}"
    storage = Storage(url, timeout=5.0, retention_days=1)
    storage.upgrade()
    now = datetime.now(UTC)
    rows = [
        CardRow(uuid4(), "ivig-rpl-evidence", "patient-view", "h", "matched", (), "v1", now - timedelta(days=age))
        for age in (40, 20)
    ]
    asyncio.run(storage.record_cards(rows))
    result = run("db", "purge", database_url=url, IVIG_CDS_RETENTION_DAYS="30")
    assert (result.returncode, result.stdout) == (
        0,
        (
            "jwt_replay: 0 removed, cards: 1 removed, feedback: 0 removed, smart_launches: 0 removed, "
            "chart_sessions: 0 removed\n"
        ),
    )
    assert [row["uuid"] for row in storage.card_rows()] == [rows[1].uuid]
    storage.close()


def test_db_upgrade_refuses_an_sqlite_path_whose_directory_does_not_exist(tmp_path: Path) -> None:
    result = run("db", "upgrade", database_url=f"sqlite:///{tmp_path / 'typo' / 'ivig-cds.sqlite3'}")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "ivig-cds db: IVIG_CDS_DATABASE_URL: the directory of the SQLite database does not exist: "
        f"{tmp_path / 'typo'}\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_db_commands_on_a_refused_port_say_so_without_printing_the_password() -> None:
    port = free_port()
    url = f"postgresql://ivig:s3cret-pw@127.0.0.1:{port}/ivig"
    result = run("db", "upgrade", database_url=url, IVIG_CDS_DATABASE_TIMEOUT="1")
    assert (result.returncode, result.stderr) == (
        1,
        f"ivig-cds: the database server at 127.0.0.1:{port} refused the connection: "
        "is PostgreSQL running and listening there?\n",
    )


def test_db_commands_refuse_a_database_url_of_another_kind_naming_the_setting() -> None:
    result = run("db", "upgrade", database_url="mysql://ivig:s3cret-pw@db.example.org/ivig")
    assert result.returncode == 2
    assert result.stderr.startswith("ivig-cds db: IVIG_CDS_DATABASE_URL: the database URL must be sqlite:///PATH")
    assert "s3cret-pw" not in result.stderr


def test_serve_starts_while_the_database_is_unreachable_and_readyz_says_so() -> None:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("IVIG_CDS_")}
    environment["IVIG_CDS_DATABASE_URL"] = f"postgresql://ivig@127.0.0.1:{free_port()}/ivig"
    command = [str(CONSOLE_SCRIPT), "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(600):  # up to a minute: importing under coverage on a shared machine is slow
                try:
                    health = client.get("/healthz")
                    break
                except httpx.TransportError:
                    assert process.poll() is None, "serve exited"
                    time.sleep(0.1)
            assert health.status_code == 200
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert {key: ready.json()[key] for key in ("status", "database", "evidence_version")} == {
                "status": "not_ready",
                "database": "storage.refused",
                "evidence_version": health.json()["evidence_version"],
            }
            assert client.post("/v1/answer", json={"prior_pregnancy_losses": 3}).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
