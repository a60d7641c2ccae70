"""Card records of concurrent calls share a transaction, and no caller returns before its own rows are committed."""

from __future__ import annotations

import asyncio

import pytest

from plugin.storage import group_commit
from plugin.storage.errors import StorageUnavailableError
from plugin.storage.group_commit import GroupCommit


class Writer:
    """A database stand-in that takes a while per commit, and fails the batches it is told to."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.committed: set[int] = set()
        self.busy = asyncio.Event()
        self.fail_next = False

    async def __call__(self, rows: list[int]) -> None:
        self.busy.set()
        await asyncio.sleep(0.01)
        self.batches.append(list(rows))
        if self.fail_next:
            self.fail_next = False
            raise StorageUnavailableError("the database is unavailable")
        self.committed.update(rows)


def test_calls_that_arrive_together_share_one_transaction() -> None:
    async def scenario() -> list[list[int]]:
        writer = Writer()
        commits = GroupCommit(writer)
        await asyncio.gather(*(commits.add([n]) for n in range(40)))
        return writer.batches

    assert asyncio.run(scenario()) == [list(range(40))]


def test_calls_that_meet_a_commit_in_progress_wait_for_it_and_share_the_next() -> None:
    async def scenario() -> tuple[list[list[int]], bool]:
        writer = Writer()
        commits = GroupCommit(writer)
        first = asyncio.create_task(commits.add([0]))
        await writer.busy.wait()
        later = [asyncio.create_task(commits.add([n])) for n in range(1, 11)]
        await asyncio.sleep(0)
        returned_early = any(task.done() for task in later)
        await asyncio.gather(first, *later)
        return writer.batches, returned_early

    assert asyncio.run(scenario()) == ([[0], list(range(1, 11))], False)


def test_every_caller_of_a_failed_batch_gets_the_error_and_the_next_batch_is_committed() -> None:
    async def scenario() -> tuple[list[object], set[int]]:
        writer = Writer()
        writer.fail_next = True
        commits = GroupCommit(writer)
        outcomes = await asyncio.gather(*(commits.add([n]) for n in range(3)), return_exceptions=True)
        await commits.add([3])
        return [type(outcome).__name__ for outcome in outcomes], writer.committed

    assert asyncio.run(scenario()) == (["StorageUnavailableError"] * 3, {3})


def test_a_caller_that_goes_away_cancels_no_one_and_its_rows_are_still_committed() -> None:
    async def scenario() -> tuple[set[int], bool]:
        writer = Writer()
        commits = GroupCommit(writer)
        tasks = [asyncio.create_task(commits.add([n])) for n in range(5)]
        await writer.busy.wait()
        tasks[0].cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        return writer.committed, isinstance(outcomes[0], asyncio.CancelledError)

    assert asyncio.run(scenario()) == ({0, 1, 2, 3, 4}, True)


def test_a_batch_holds_at_most_max_batch_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(group_commit, "MAX_BATCH_ROWS", 8)

    async def scenario() -> list[int]:
        writer = Writer()
        commits = GroupCommit(writer)
        await asyncio.gather(*(commits.add([n]) for n in range(20)))
        return [len(batch) for batch in writer.batches]

    assert asyncio.run(scenario()) == [8, 8, 4]


def test_a_second_event_loop_gets_a_fresh_queue() -> None:
    writer = Writer()
    commits = GroupCommit(writer)
    for n in range(2):  # the app started twice, as the tests do
        writer.busy = asyncio.Event()
        asyncio.run(commits.add([n]))
    assert writer.batches == [[0], [1]]
