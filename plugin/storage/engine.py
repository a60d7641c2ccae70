"""The two backends: one engine per database URL, and the one statement they spell differently.

SQLite is a file in a directory that must exist (a mistyped path is refused rather than started empty). It runs
in WAL mode, set by `db upgrade`, with a busy timeout on every connection, and every writing transaction starts
with BEGIN IMMEDIATE: it takes the write lock up front, so two processes queue on the busy timeout instead of one
failing at once on a lock upgrade (SQLITE_BUSY_SNAPSHOT).
PostgreSQL goes through psycopg 3 (`postgresql://` means it), with a connect timeout, statement and lock timeouts,
and pre-ping so a restarted server costs no failed request.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, Table, create_engine, event, make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError

from plugin.storage.errors import DatabaseUrlError

THREADS = 4  # database calls run on this many threads per process (and PostgreSQL connections per process)
READ_ONLY = "ivig_read_only"  # an execution option: this transaction only reads (SQLite: no write lock taken)
CHUNK = 500  # rows per INSERT: SQLite allows 32,766 bound values per statement


def database_url(text: str) -> URL:
    """The URL SQLAlchemy needs: `postgresql://` and `postgres://` mean psycopg 3.

    Raises:
        DatabaseUrlError: not a URL, or a backend other than SQLite and PostgreSQL.
    """
    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise DatabaseUrlError("the database URL is not a URL such as sqlite:///var/ivig-cds.sqlite3") from exc
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and url.get_driver_name() in ("pysqlite", ""):
        return url
    raise DatabaseUrlError("the database URL must be sqlite:///PATH or postgresql://…")


def sqlite_file(url: URL) -> Path | None:
    """The file behind an SQLite URL, or None for an in-memory database."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def open_engine(text: str, timeout: float) -> Engine:
    """An engine for the database at `text`; nothing is connected until the first call.

    Raises:
        DatabaseUrlError: see `database_url`; or an SQLite file whose directory does not exist.
    """
    url = database_url(text)
    if url.get_backend_name() == "sqlite":
        return sqlite_engine(url, timeout)
    milliseconds = int(timeout * 1000)
    return create_engine(
        url,
        pool_size=THREADS,
        max_overflow=0,
        pool_timeout=timeout,
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": max(1, math.ceil(timeout)),
            "application_name": "ivig-cds",
            "options": f"-c statement_timeout={milliseconds} -c lock_timeout={milliseconds}",
        },
    )


def sqlite_engine(url: URL, timeout: float) -> Engine:
    path = sqlite_file(url)
    if path is not None and not path.parent.is_dir():
        raise DatabaseUrlError(f"the directory of the SQLite database does not exist: {path.parent.resolve()}")
    engine = create_engine(
        url, pool_size=THREADS, max_overflow=0, connect_args={"timeout": timeout, "check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver opens no transaction of its own: `_begin` does
        dbapi_connection.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        reading = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")

    return engine


def insert_if_absent(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert the rows whose key is not there yet; returns how many were inserted (the rest were already stored).

    Counted from RETURNING rather than the row count, which psycopg does not report for this statement.
    """
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    added = 0
    for start in range(0, len(rows), CHUNK):
        statement = dialect.insert(table).values(list(rows[start : start + CHUNK])).on_conflict_do_nothing()
        added += len(connection.execute(statement.returning(*table.primary_key.columns)).all())
    return added
