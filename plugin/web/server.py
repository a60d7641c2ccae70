"""How `ivig-cds serve` runs uvicorn: bounded connections, timeouts on slow clients, proxies trusted only by name.

Uvicorn closes an idle keep-alive connection after `keep_alive_timeout`, but has no limit on how long a client
may take to send a request: a connection that sends nothing, or half its headers, stays open for ever, and a few
hundred of them exhaust the open files. `ReadDeadline` closes any connection whose request is not complete
`read_timeout` seconds after the connection opened or the previous response ended.

With several workers, SIGHUP to the parent reloads the evidence release in each worker (`HangupForwarding`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import resource
import shutil
import signal
from pathlib import Path
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from plugin.config import Settings
from plugin.web.logs import log_config
from plugin.web.metrics import MULTIPROCESS_ENV

try:  # httptools parses HTTP in C; uvicorn falls back to the pure-Python h11 without it
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is a dependency; this keeps a bare install serving
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

log = logging.getLogger(__name__)
# Files the process keeps for itself beside its connections (the evidence, templates, the feedback database).
SPARE_FILES = 64


class Deadline(asyncio.Protocol):
    """A timer that closes the connection unless the whole request is in by then (mixed into a protocol)."""

    read_timeout: float = 10.0
    deadline: asyncio.TimerHandle | None = None
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm()
        super().connection_lost(exc)

    def arm(self) -> None:
        self.disarm()
        self.deadline = self.loop.call_later(self.read_timeout, self.too_slow)

    def disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def rearm(self) -> None:
        """After a response: the next request on this connection gets its own deadline."""
        if not self.transport.is_closing():
            self.arm()

    def too_slow(self) -> None:
        self.deadline = None
        if not self.transport.is_closing():
            self.transport.close()


class ReadDeadline(Deadline, H11Protocol):
    """uvicorn's h11 protocol with a deadline for receiving each whole request (headers and body)."""

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE and self.conn.their_state is not h11.SEND_BODY:
            self.disarm()  # the whole request is in (or the connection is done with)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.rearm()


if HttpToolsProtocol is not None:

    class FastReadDeadline(Deadline, HttpToolsProtocol):
        """uvicorn's httptools protocol with the same deadline: disarmed when the parser has the whole message."""

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self.disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self.rearm()


def base_protocol() -> type[Deadline]:
    """The httptools protocol when httptools is installed (it is a dependency), else the h11 one."""
    return FastReadDeadline if HttpToolsProtocol is not None else ReadDeadline


@functools.cache
def protocol(read_timeout: float, base: type[Deadline] | None = None) -> type[Deadline]:
    return type("ReadDeadlineProtocol", (base or base_protocol(),), {"read_timeout": read_timeout})


def settings_read_deadline(*args: Any, **kwargs: Any) -> Deadline:
    """The protocol factory worker processes import by name: the deadline comes from their own settings."""
    from plugin.config import get_settings

    return protocol(get_settings().read_timeout)(*args, **kwargs)


def open_files_for(connections: int) -> int:
    """Raise the soft open-file limit towards the hard one, so `connections` sockets fit; returns the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        soft = raised
    return soft if soft != resource.RLIM_INFINITY else wanted


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Every uvicorn setting `serve` uses; proxy headers are read only from IVIG_CDS_FORWARDED_ALLOW_IPS."""
    files = open_files_for(settings.max_connections)
    connections = min(settings.max_connections, files - SPARE_FILES)
    if connections < settings.max_connections:
        log.warning("open-file limit %d allows only %d connections at once", files, connections)
    trusted = list(settings.forwarded_allow_ips)
    return {
        "http": protocol(settings.read_timeout),
        "timeout_keep_alive": settings.keep_alive_timeout,
        "limit_concurrency": max(connections, 1),
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or [],
        "server_header": False,
        # asyncio rather than uvloop: uvloop gave the same throughput here with a p99 four times as long, and let a
        # 50 MB upload slow the answers to everyone else.
        "loop": "asyncio",
        "access_log": False,  # plugin.web.logs.AccessLog writes one structured line per request instead
        "log_config": log_config(settings.log_level),
    }


def shared_metrics(directory: Path) -> None:
    """Workers are separate processes: point prometheus-client's multiprocess mode at an empty directory before
    they start (they inherit the environment), so a scrape of any worker reports the figures of all of them."""
    shutil.rmtree(directory, ignore_errors=True)  # figures of an earlier run would be added to this one
    directory.mkdir(parents=True)
    os.environ[MULTIPROCESS_ENV] = str(directory)


class HangupForwarding(Multiprocess):
    """uvicorn's supervisor of several workers, except that SIGHUP reloads the evidence in each worker instead of
    replacing the workers: each proves the new release before it switches and keeps the old one if it is broken
    (saying why in its /readyz), where a replaced worker would start on whatever the directory holds. A worker
    that has not finished starting gets the signal once it has: until then, SIGHUP would end it."""

    def __init__(self, config: uvicorn.Config, sockets: list[Any]) -> None:
        super().__init__(config, sockets)
        self.owed: list[Process] = []

    def handle_hup(self) -> None:
        log.info("SIGHUP: every worker reloads the evidence release")
        self.owed = list(self.processes)
        self.forward_hangups()

    def keep_subprocess_alive(self) -> None:
        super().keep_subprocess_alive()
        self.forward_hangups()

    def forward_hangups(self) -> None:
        waiting = []
        for process in self.owed:
            if process not in self.processes or process.pid is None:
                continue  # replaced since: its successor loads the release the directory names as it starts
            if process.is_ready(timeout=1):
                os.kill(process.pid, signal.SIGHUP)
            else:
                waiting.append(process)
        self.owed = waiting


def serve(app: Any, settings: Settings, host: str, port: int, workers: int = 1) -> None:
    """Serve `app`; with several workers each builds its own app from the same settings (uvicorn imports it)."""
    options = uvicorn_options(settings)
    if workers > 1:
        shared_metrics(settings.data_dir / "metrics")
        options["http"] = "plugin.web.server:settings_read_deadline"
        config = uvicorn.Config("plugin.app:create_app", factory=True, workers=workers, host=host, port=port, **options)
        HangupForwarding(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.run(app, host=host, port=port, **options)
