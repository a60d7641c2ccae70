"""SMART launches waiting for their callback and the chart sessions they open, shared by every replica and worker.

This module keeps rows and never reads what is sealed in them: the web layer seals (AES-GCM) the access token, her
findings, who she is and the PKCE verifier before they get here, and names each row by a digest of its state or
launch id, so the database holds nothing a reader of it could use to open a page or call the EHR.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select, text

from plugin.storage.schema import chart_sessions, smart_launches

LAUNCHES_LOCK = 0x1B16C0D6  # PostgreSQL advisory lock held while a launch is counted and added


@dataclass(frozen=True)
class SealedLaunch:
    started_at: float
    expires_at: float
    sealed: bytes


@dataclass(frozen=True)
class SealedSession:
    browser: str
    expires_at: float
    sealed: bytes


def add_launch(
    connection: Connection,
    state: str,
    client: str,
    now: float,
    until: float,
    sealed: bytes,
    total: int,
    per_client: int,
) -> bool:
    """Keep the launch unless `total` launches, or `per_client` from this client, are waiting; False if not kept.

    Counted and added under one lock on PostgreSQL (SQLite's BEGIN IMMEDIATE already serializes writers), so
    replicas adding at once cannot pass a limit together. Launches past their time are dropped first.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LAUNCHES_LOCK})
    row = smart_launches.c
    connection.execute(delete(smart_launches).where(row.expires_at <= now))
    waiting = connection.execute(select(func.count()).select_from(smart_launches)).scalar_one()
    if waiting >= total:
        return False
    mine = connection.execute(select(func.count()).where(row.client == client)).scalar_one()
    if mine >= per_client:
        return False
    connection.execute(
        insert(smart_launches).values(state=state, client=client, started_at=now, expires_at=until, sealed=sealed)
    )
    return True


def take_launch(connection: Connection, state: str) -> SealedLaunch | None:
    """The launch under `state`, removed as it is read: of two callbacks with one state, on any replicas, one gets
    it. Whether it is still in time is the caller's to say."""
    row = smart_launches.c
    statement = delete(smart_launches).where(row.state == state)
    found = connection.execute(statement.returning(row.started_at, row.expires_at, row.sealed)).first()
    return None if found is None else SealedLaunch(found.started_at, found.expires_at, bytes(found.sealed))


def put_session(connection: Connection, launch: str, browser: str, expires_at: float, sealed: bytes) -> None:
    connection.execute(
        insert(chart_sessions).values(launch=launch, browser=browser, expires_at=expires_at, sealed=sealed)
    )


def get_session(connection: Connection, launch: str) -> SealedSession | None:
    row = chart_sessions.c
    found = connection.execute(select(row.browser, row.expires_at, row.sealed).where(row.launch == launch)).first()
    return None if found is None else SealedSession(found.browser, found.expires_at, bytes(found.sealed))


def drop_session(connection: Connection, launch: str) -> None:
    connection.execute(delete(chart_sessions).where(chart_sessions.c.launch == launch))


def latest_expiry(connection: Connection, browser: str, now: float) -> float | None:
    """When the last of this browser's live sessions ends; None if it has none."""
    row = chart_sessions.c
    found = connection.execute(
        select(func.max(row.expires_at)).where(row.browser == browser, row.expires_at > now)
    ).scalar_one()
    return None if found is None else float(found)


def purge(connection: Connection, now: float) -> tuple[int, int]:
    """Drop every launch and session past its time; returns how many of each."""
    launches = connection.execute(delete(smart_launches).where(smart_launches.c.expires_at <= now)).rowcount
    sessions = connection.execute(delete(chart_sessions).where(chart_sessions.c.expires_at <= now)).rowcount
    return launches, sessions
