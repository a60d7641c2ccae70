"""SIGHUP asks the serving process to reload its evidence release (`kill -HUP <pid>`).

SIGHUP's default action ends a process, so `serve` defers it before loading anything (`defer_hangups`): a SIGHUP
that comes while the process starts is remembered, and answered as soon as the app's event loop takes the signal
over (`on_hangup`, in the app's lifespan). With several workers the parent process forwards it to each of them
(`plugin.web.server`).
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

_deferred = threading.Event()


def _remember(signum: int, frame: FrameType | None) -> None:
    _deferred.set()


def defer_hangups() -> None:
    """Until the event loop takes SIGHUP over, remember one instead of ending the process (main thread only)."""
    if hasattr(signal, "SIGHUP") and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGHUP, _remember)


@contextmanager
def on_hangup(callback: Callable[[], object]) -> Iterator[bool]:
    """While inside, each SIGHUP calls `callback` on the running event loop (and one that came while the process
    was starting, at once). Only the main thread receives signals: elsewhere (an app under a test client) nothing
    is installed, and False is given."""
    if not hasattr(signal, "SIGHUP") or threading.current_thread() is not threading.main_thread():
        yield False
        return
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, callback)
    try:
        if _deferred.is_set():
            _deferred.clear()
            callback()
        yield True
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        defer_hangups()  # while shutting down, a SIGHUP is not a reason to end before the requests in flight
