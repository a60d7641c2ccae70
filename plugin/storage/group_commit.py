"""Writes that queue up behind a commit share the next one.

Under load, each CDS Hooks call waited for its own card-record transaction (and its own fsync), and the calls
queued for the database lock: the p99 grew to more than half a second. Here the rows of every call that arrives
while a commit is in progress go into one batch, committed in one transaction once that commit is done. Each caller
still returns only when its own rows are committed ("no record, no card"), and when a batch fails every caller
in it gets the error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

R = TypeVar("R")
# Rows one transaction takes at most; later callers start the next batch.
MAX_BATCH_ROWS = 256


@dataclass
class Batch(Generic[R]):
    rows: list[R] = field(default_factory=list)
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupCommit(Generic[R]):
    """Commits rows in batches, one transaction at a time, on the event loop it was first used on (a new loop, as
    in a second start of the app, gets a fresh queue)."""

    def __init__(self, write: Callable[[list[R]], Awaitable[object]]) -> None:
        self._write = write
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._open: Batch[R] | None = None
        self._commits: set[asyncio.Task[None]] = set()

    async def add(self, rows: Sequence[R]) -> None:
        """Return once `rows` are committed; raise what the commit raised."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._lock, self._open, self._commits = loop, asyncio.Lock(), None, set()
        batch = self._open
        if batch is None or len(batch.rows) >= MAX_BATCH_ROWS:
            batch = self._open = Batch()
            # Retrieved even when every caller has gone, so a failure is never reported as unhandled.
            batch.done.add_done_callback(lambda done: done.cancelled() or done.exception())
            commit = loop.create_task(self._commit(batch))
            self._commits.add(commit)
            commit.add_done_callback(self._commits.discard)
        batch.rows.extend(rows)
        await asyncio.shield(batch.done)  # a caller that goes away does not cancel the others' commit

    async def _commit(self, batch: Batch[R]) -> None:
        async with self._lock:
            if self._open is batch:
                self._open = None  # from here on, callers start the next batch
            try:
                await self._write(batch.rows)
            except asyncio.CancelledError:  # the loop is closing: so are its callers
                batch.done.cancel()
                raise
            except Exception as exc:  # every caller in the batch gets it
                batch.done.set_exception(exc)
            else:
                batch.done.set_result(None)
