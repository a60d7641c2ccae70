"""SIGHUP in the serving process: answered on the event loop, remembered when it comes during the start, and never
fatal (its default action would end the process)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable, Iterator

import pytest

from plugin.web.hangup import defer_hangups, on_hangup


@pytest.fixture
def hangups_restored() -> Iterator[None]:
    previous = signal.getsignal(signal.SIGHUP)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)


async def until(condition: Callable[[], bool], seconds: float = 5) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)


def test_a_sighup_during_the_start_is_remembered_and_each_later_one_calls_back_on_the_loop(
    hangups_restored: None,
) -> None:
    calls: list[str] = []
    defer_hangups()
    os.kill(os.getpid(), signal.SIGHUP)  # before the loop listens: remembered, the process lives on

    async def serving() -> None:
        with on_hangup(lambda: calls.append("reload")) as listening:
            assert listening
            assert calls == ["reload"]  # the one that came during the start, at once
            os.kill(os.getpid(), signal.SIGHUP)
            await until(lambda: len(calls) == 2)

    asyncio.run(serving())
    assert calls == ["reload", "reload"]
    os.kill(os.getpid(), signal.SIGHUP)  # after serving: remembered again, still not fatal
    assert calls == ["reload", "reload"]


def test_outside_the_main_thread_nothing_is_installed(hangups_restored: None) -> None:
    answers: list[bool] = []

    async def elsewhere() -> None:
        with on_hangup(lambda: None) as listening:
            answers.append(listening)

    thread = threading.Thread(target=lambda: asyncio.run(elsewhere()))
    thread.start()
    thread.join(10)
    assert answers == [False]
