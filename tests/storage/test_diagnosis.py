"""A database that cannot be used says why: unreachable host, refused port, authentication, missing database or an
old schema, against a real PostgreSQL server and SQLite; never with the URL's password."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from plugin.storage.errors import DatabaseUrlError, StorageUnavailableError
from plugin.storage.store import Storage
from tests.storage.postgres import Postgres, free_port
from tests.test_cli_db import run

PASSWORD = "s3cret-pw"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose listen queue is full: connections to it are never answered, like a host that drops packets."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port: int = listener.getsockname()[1]
    waiting = []
    for _ in range(4):
        client = socket.socket()
        client.setblocking(False)
        try:
            client.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        waiting.append(client)
    time.sleep(0.1)  # the handshakes that fit in the queue complete; the rest are left unanswered
    yield port
    for client in waiting:
        client.close()
    listener.close()


def failure(url: str) -> StorageUnavailableError:
    storage = Storage(url, timeout=1.0, retention_days=1)
    try:
        with pytest.raises(StorageUnavailableError) as caught:
            storage.schema_version()
        return caught.value
    finally:
        storage.close()


def test_a_missing_database_is_named_as_such(postgres: Postgres) -> None:
    error = failure(f"postgresql://postgres:{PASSWORD}@127.0.0.1:{postgres.port}/no_such_db")
    assert error.code == "storage.missing_database"
    assert error.message == (
        f"the database no_such_db does not exist on 127.0.0.1:{postgres.port}: "
        "create it, then run `ivig-cds db upgrade`"
    )


def test_a_user_the_server_refuses_is_an_authentication_failure(postgres: Postgres) -> None:
    error = failure(f"postgresql://ghost:{PASSWORD}@127.0.0.1:{postgres.port}/postgres")
    assert error.code == "storage.authentication_failed"
    assert PASSWORD not in error.message and "ghost" in error.message


def test_a_port_nothing_listens_on_is_refused() -> None:
    error = failure(f"postgresql://ivig:{PASSWORD}@127.0.0.1:{free_port()}/ivig")
    assert error.code == "storage.refused"
    assert PASSWORD not in error.message


def test_a_host_that_never_answers_is_unreachable(silent_port: int) -> None:
    error = failure(f"postgresql://ivig:{PASSWORD}@127.0.0.1:{silent_port}/ivig")
    assert error.code == "storage.unreachable"
    assert error.message == "the database host 127.0.0.1 cannot be reached, or did not answer within 1 s"


def test_an_empty_database_is_a_schema_out_of_date(postgres: Postgres) -> None:
    storage = Storage(postgres.new_database(), timeout=1.0, retention_days=1)
    with pytest.raises(StorageUnavailableError) as caught:
        storage.card_rows()
    storage.close()
    assert caught.value.code == "storage.schema_out_of_date"


def test_db_upgrade_names_the_missing_database_without_the_password(postgres: Postgres) -> None:
    url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{postgres.port}/ivig_typo"
    result = run("db", "upgrade", database_url=url)
    assert result.returncode == 1
    assert result.stderr == (
        f"ivig-cds: the database ivig_typo does not exist on 127.0.0.1:{postgres.port}: "
        "create it, then run `ivig-cds db upgrade`\n"
    )


def test_an_sqlite_file_in_a_missing_directory_is_refused_and_nothing_is_created(tmp_path: Path) -> None:
    storage = Storage(f"sqlite:///{tmp_path / 'missing' / 'db.sqlite3'}", timeout=1.0, retention_days=1)
    with pytest.raises(DatabaseUrlError):
        storage.engine  # noqa: B018
    assert list(tmp_path.iterdir()) == []


def test_an_sqlite_file_that_cannot_be_opened_is_named(tmp_path: Path) -> None:
    (tmp_path / "db.sqlite3").mkdir()  # a directory where the file should be
    error = failure(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert (error.code, error.message) == (
        "storage.unavailable",
        f"the SQLite database {tmp_path / 'db.sqlite3'} cannot be opened",
    )
