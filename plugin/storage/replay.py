"""The JWT replay guard: (issuer, jti) inserted if absent, so exactly one replica or worker accepts a token."""

from __future__ import annotations

from sqlalchemy import Connection, delete

from plugin.storage.engine import insert_if_absent
from plugin.storage.schema import jwt_replay


def first_use(connection: Connection, issuer: str, jti: str, until: float, now: float) -> bool:
    """Whether this is the first use of (issuer, jti); if so it is remembered until `until` (epoch seconds).

    A row whose time has passed no longer counts (its token is refused on its own age), so it is dropped first.
    Two concurrent callers cannot both insert: the primary key decides, and the loser sees a conflict.
    """
    row = jwt_replay.c
    connection.execute(delete(jwt_replay).where(row.issuer == issuer, row.jti == jti, row.expires_at < now))
    return insert_if_absent(connection, jwt_replay, [{"issuer": issuer, "jti": jti, "expires_at": until}]) == 1


READINESS_ISSUER = ""  # no trusted issuer is the empty string: a readiness write never meets a real token


def mark_ready(connection: Connection, probe: str, now: float) -> None:
    """A real write, committed: the row for `probe` replaced, already expired (so a purge drops it)."""
    row = jwt_replay.c
    connection.execute(delete(jwt_replay).where(row.issuer == READINESS_ISSUER, row.jti == probe))
    insert_if_absent(connection, jwt_replay, [{"issuer": READINESS_ISSUER, "jti": probe, "expires_at": now}])


def purge(connection: Connection, now: float) -> int:
    """Forget every token that could no longer be accepted; returns how many."""
    return connection.execute(delete(jwt_replay).where(jwt_replay.c.expires_at < now)).rowcount
