"""Storage: the one object the doors hold, over one database for every replica and worker (the replay guard, the
card record, feedback, and the SMART launches and chart sessions, sealed before they get here).

Every call from a request runs on this object's own threads (`THREADS`), never on the event loop and never on the
thread pool the synchronous routes share, so a locked or unreachable database delays only the calls that need it.
A call that meets a transient failure (SQLite busy past its timeout, a dropped PostgreSQL connection) is retried;
each transaction is safe to repeat. When the database stays unavailable, or its schema is older than this release,
the call raises StorageUnavailableError and the door answers 503.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from plugin.storage import cards, feedback, migrations, releases, replay, sessions
from plugin.storage.cards import CardRow
from plugin.storage.diagnosis import diagnose
from plugin.storage.engine import READ_ONLY, THREADS, database_url, open_engine
from plugin.storage.errors import (
    AuthenticationFailedError,
    MissingDatabaseError,
    SchemaOutOfDateError,
    StorageUnavailableError,
)
from plugin.storage.feedback import FeedbackRow
from plugin.storage.group_commit import GroupCommit
from plugin.storage.releases import ReleaseRow
from plugin.storage.sessions import SealedLaunch, SealedSession

log = logging.getLogger(__name__)

T = TypeVar("T")
ATTEMPTS = 3
BACKOFF = 0.05  # seconds before the first retry, doubled each time
TRANSIENT = (OperationalError, InterfaceError, PoolTimeoutError)
PURGE_EVERY = 300.0  # seconds between the purges a process starts on its own
# The row `ready` writes in the replay table (as an issuer no configuration can name), one per process; it has
# expired as soon as it is written, so the next purge removes it.
READINESS_PROBE = f"{socket.gethostname()}:{os.getpid()}"
# Causes no retry can mend: the call fails at once, naming the cause.
LASTING = (AuthenticationFailedError, MissingDatabaseError)


class Storage:
    """The replay guard, the card record, feedback and the evidence releases served, in the database at `url`
    (connected on first use)."""

    def __init__(
        self, url: str, *, timeout: float, retention_days: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.retention = timedelta(days=retention_days)
        self.clock = clock
        self._engine: Engine | None = None
        self._threads: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._schema_current = False
        self._next_purge = clock() + PURGE_EVERY
        self._card_records: GroupCommit[CardRow] = GroupCommit(self._write_cards)

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = open_engine(self.url, self.timeout)
            return self._engine

    @property
    def threads(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(THREADS, thread_name_prefix="storage")
            return self._threads

    def close(self) -> None:
        """Let go of the threads and connections (both come back on the next call).

        The threads go first, waiting for work already running (a poll or a purge started just before the end), so
        that no connection is still checked out, or opened anew, once the pool is disposed; work not yet started is
        cancelled."""
        with self._lock:
            threads, self._threads = self._threads, None
        if threads is not None:
            threads.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.dispose()

    # Synchronous: the CLI, the tests, and the storage threads.

    def transaction(self, work: Callable[[Connection], T], *, write: bool = True) -> T:
        """Run `work` in one transaction (committed when it returns), retrying transient failures.

        Raises:
            SchemaOutOfDateError: the schema is older than this release.
            StorageUnavailableError: the database still fails after ATTEMPTS tries.
        """
        for attempt in range(ATTEMPTS):
            try:
                with self.engine.connect() as connection:
                    connection.execution_options(**{READ_ONLY: not write})
                    with connection.begin():
                        self._check_schema(connection)
                        return work(connection)
            except TRANSIENT as exc:
                error = self.diagnose(exc)
                log.warning("database call failed (try %d of %d): %s", attempt + 1, ATTEMPTS, error.message)
                if attempt + 1 == ATTEMPTS or isinstance(error, LASTING):
                    raise error from exc
                time.sleep(BACKOFF * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def diagnose(self, exc: BaseException) -> StorageUnavailableError:
        """What went wrong, for the operator (host, port, user and database named; never the password)."""
        return diagnose(exc, database_url(self.url), self.timeout)

    def _check_schema(self, connection: Connection) -> None:
        if self._schema_current:
            return
        found = migrations.version(connection)
        if found < migrations.LATEST:
            raise SchemaOutOfDateError(
                f"the database schema is at version {found}, this release needs {migrations.LATEST}: "
                "run `ivig-cds db upgrade`",
                found=found,
                needed=migrations.LATEST,
            )
        self._schema_current = True

    def schema_version(self) -> int:
        """The database's schema version (0 for an empty database), read without the schema check.

        Raises:
            StorageUnavailableError: the database cannot be reached.
        """
        try:
            with self.engine.connect() as connection:
                connection.execution_options(**{READ_ONLY: True})
                with connection.begin():
                    return migrations.version(connection)
        except TRANSIENT as exc:
            raise self.diagnose(exc) from exc

    def upgrade(self) -> tuple[int, int]:
        """Bring the schema to `migrations.LATEST`; returns the version before and after."""
        try:
            return migrations.upgrade(self.engine)
        except TRANSIENT as exc:
            raise self.diagnose(exc) from exc

    def purge(self, now: float | None = None) -> dict[str, int]:
        """Drop what is past its time: spent tokens, and cards and feedback older than the retention period."""
        now = self.clock() if now is None else now
        before = datetime.fromtimestamp(now, UTC) - self.retention

        def work(connection: Connection) -> dict[str, int]:
            launches, chart_sessions = sessions.purge(connection, now)
            return {
                "jwt_replay": replay.purge(connection, now),
                "cards": cards.purge(connection, before),
                "feedback": feedback.purge(connection, before),
                "smart_launches": launches,
                "chart_sessions": chart_sessions,
            }

        return self.transaction(work)

    def feedback_entries(self) -> list[dict[str, Any]]:
        return self.transaction(feedback.entries, write=False)

    def card_rows(self) -> list[dict[str, Any]]:
        return self.transaction(cards.rows, write=False)

    # Asynchronous: what the doors await.

    async def run(self, work: Callable[[Connection], T], *, write: bool = True) -> T:
        """`transaction` on the storage threads, bounded in time as a whole."""
        future = asyncio.get_running_loop().run_in_executor(self.threads, partial(self.transaction, work, write=write))
        try:
            return await asyncio.wait_for(future, timeout=self.timeout * ATTEMPTS + 1)
        except TimeoutError as exc:
            raise StorageUnavailableError("the database did not answer in time") from exc

    async def first_use(self, issuer: str, jti: str, until: float, now: float) -> bool:
        """The replay guard: whether no replica or worker has accepted this (issuer, jti) before."""
        first = await self.run(partial(replay.first_use, issuer=issuer, jti=jti, until=until, now=now))
        self._purge_now_and_then(now)
        return first

    def _purge_now_and_then(self, now: float) -> None:
        """Start a purge on the storage threads when PURGE_EVERY has passed since the last one this process began."""
        if now >= self._next_purge:
            self._next_purge = now + PURGE_EVERY
            self.threads.submit(self._purge_quietly, now)

    async def record_cards(self, rows: Sequence[CardRow]) -> None:
        """Returns once the rows are committed; calls that meet a commit in progress share the next one."""
        if rows:
            await self._card_records.add(rows)

    async def _write_cards(self, rows: list[CardRow]) -> None:
        await self.run(partial(cards.record, rows=rows))

    async def issued(self, service_id: str, uuids: Sequence[UUID], issuer: str | None = None) -> set[UUID]:
        """Which of these card uuids `service_id` returned to calls from `issuer` (None: calls without one)."""
        return await self.run(partial(cards.issued, service_id=service_id, uuids=uuids, issuer=issuer), write=False)

    async def add_feedback(self, rows: Sequence[FeedbackRow], per_card: int | None = None) -> int:
        """Store the entries not stored yet (a retransmission adds nothing); returns how many were new.

        Raises:
            CardsFullError: with `per_card`, a card would hold more entries than that (nothing is stored).
        """
        return await self.run(partial(feedback.add, rows=rows, per_card=per_card))

    async def record_release(self, label: str, version: str, at: datetime) -> bool:
        """Record that a replica switched to this release; False when one had before."""
        return await self.run(partial(releases.record, label=label, version=version, at=at))

    async def newest_release(self) -> ReleaseRow | None:
        """The release with the highest label any replica has switched to."""
        return await self.run(releases.newest, write=False)

    # SMART launches and chart sessions: keys are digests and every secret is sealed by the caller.

    async def add_launch(
        self, state: str, client: str, now: float, until: float, sealed: bytes, total: int, per_client: int
    ) -> bool:
        """Keep a launch waiting for its callback unless a limit is reached (then False, nothing kept)."""
        work = partial(
            sessions.add_launch,
            state=state,
            client=client,
            now=now,
            until=until,
            sealed=sealed,
            total=total,
            per_client=per_client,
        )
        added = await self.run(work)
        self._purge_now_and_then(now)
        return added

    async def take_launch(self, state: str) -> SealedLaunch | None:
        """The launch under `state`, once across every replica."""
        return await self.run(partial(sessions.take_launch, state=state))

    async def put_session(self, launch: str, browser: str, expires_at: float, sealed: bytes) -> None:
        await self.run(
            partial(sessions.put_session, launch=launch, browser=browser, expires_at=expires_at, sealed=sealed)
        )

    async def get_session(self, launch: str) -> SealedSession | None:
        return await self.run(partial(sessions.get_session, launch=launch), write=False)

    async def drop_session(self, launch: str) -> None:
        await self.run(partial(sessions.drop_session, launch=launch))

    async def latest_session_expiry(self, browser: str, now: float) -> float | None:
        return await self.run(partial(sessions.latest_expiry, browser=browser, now=now), write=False)

    async def ready(self) -> None:
        """Raises StorageUnavailableError (or SchemaOutOfDateError) unless the database answers at this schema and
        accepts a write (a full disk or a read-only database still answers reads)."""
        self._schema_current = False  # read the version again: someone may have replaced the database
        await self.run(partial(replay.mark_ready, probe=READINESS_PROBE, now=self.clock()))

    def _purge_quietly(self, now: float) -> None:
        try:
            removed = self.purge(now)
        except StorageUnavailableError:
            return  # the next purge will try again; the request that started this one has its answer already
        log.info("purged %s", ", ".join(f"{count} {table}" for table, count in removed.items()))
