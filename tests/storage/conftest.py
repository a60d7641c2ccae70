"""The storage tests run against both backends: an SQLite file and a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.storage.postgres import Postgres, missing, server_binaries


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    binaries = server_binaries()
    if binaries is None:
        missing("PostgreSQL server binaries not found under /usr/lib/postgresql")
    assert binaries is not None
    server = Postgres(binaries)
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ivig-cds.sqlite3'}"
    server: Postgres = request.getfixturevalue("postgres")
    return server.new_database()
