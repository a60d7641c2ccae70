"""How `ivig-cds serve` runs uvicorn: connections one client cannot fill, deadlines for slow clients, bounded request
heads, proxies trusted only by name.

Uvicorn closes an idle keep-alive connection after `keep_alive_timeout`, but has no limit on how long a client may
take to send a request, none on the size of its headers (with httptools), and answers 503 to everyone once its
connection limit is reached, however those connections are used. `Guard`, mixed into both of uvicorn's HTTP
protocols, adds what is missing:

- a new connection must send its first byte within `first_byte_timeout`, and its whole request within
  `read_timeout` of that (a request after a response gets `read_timeout` from the response's end);
- `Admission` (`plugin.web.connections`) caps connections per client and in total, letting idle connections go
  first when a request needs room, so a client that opens many and sends nothing cannot lock anyone else out;
- a request head (request line and headers) longer than `max_header_bytes`, or with more than `max_headers`
  fields, is answered 431 (a request line alone that long, 414) before the parser has buffered more of it, on
  both parsers; the connection then reads nothing more, and closes a moment later.

With several workers, SIGHUP to the parent reloads the evidence release in each worker (`HangupForwarding`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import resource
import shutil
import signal
import weakref
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from plugin.config import Settings
from plugin.web.connections import Admission, ConnectionLimits, Phase
from plugin.web.logs import log_config
from plugin.web.metrics import MULTIPROCESS_ENV

try:  # httptools parses HTTP in C; uvicorn falls back to the pure-Python h11 without it
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is a dependency; this keeps a bare install serving
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

log = logging.getLogger(__name__)
# Files the process keeps for itself beside its connections (the evidence, templates, the feedback database).
SPARE_FILES = 64
# Connections the kernel queues for accepting; asyncio may accept that many at once, before any can be shed.
BACKLOG = 2048
# After a refused head: how long the connection stays open, unread, so the answer reaches the client before the
# close (which resets a connection with unread data, and may drop what was not yet sent).
LINGER_SECONDS = 1.0
HEAD_END = re.compile(rb"\n\r?\n")


@dataclass(frozen=True)
class Guards:
    """What `Guard` enforces on each connection (from the settings)."""

    read_timeout: float = 10.0
    first_byte_timeout: float = 2.0
    max_header_bytes: int = 32 * 1024
    max_headers: int = 100
    connections: ConnectionLimits = field(default_factory=lambda: ConnectionLimits(total=1000, per_client=200))


def guards_from(settings: Settings, connections: int) -> Guards:
    return Guards(
        read_timeout=settings.read_timeout,
        first_byte_timeout=settings.first_byte_timeout,
        max_header_bytes=settings.max_header_bytes,
        max_headers=settings.max_headers,
        connections=ConnectionLimits(
            total=connections,
            per_client=min(settings.max_connections_per_client, connections),
            uncapped=tuple(settings.forwarded_allow_ips),
        ),
    )


class Refused(Exception):
    """A request head past a limit: the status and a stable code, with the limit in words."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class Head:
    """Counts the bytes and lines of one request head as they arrive, before the parser keeps them."""

    max_bytes: int
    max_fields: int
    size: int = 0
    lines: int = 0
    request_line: int | None = None  # its length, once its end has come
    tail: bytes = b""  # the last bytes seen, so an end split across two reads is found

    def count(self, data: bytes) -> int:
        """Count `data` up to the first blank line in it; returns how many bytes of `data` that was.

        Raises:
            Refused: the head is past a limit.
        """
        window = self.tail + data
        end = HEAD_END.search(window)
        counted = len(data) if end is None else end.end() - len(self.tail)
        self.add(data[:counted], complete=end is not None)
        self.tail = window[-2:]
        return counted

    def add(self, part: bytes, *, complete: bool) -> None:
        if self.request_line is None and (newline := part.find(b"\n")) >= 0:
            self.request_line = self.size + newline + 1
        self.size += len(part)
        self.lines += part.count(b"\n")
        fields = self.lines - (2 if complete else 1)  # the request line, and the blank line that ends the head
        if (self.size if self.request_line is None else self.request_line) > self.max_bytes:
            raise Refused(414, "request.uri_too_long", f"request line longer than {self.max_bytes} bytes")
        if self.size > self.max_bytes:
            raise Refused(431, "request.headers_too_large", f"request headers larger than {self.max_bytes} bytes")
        if fields > self.max_fields:
            raise Refused(431, "request.too_many_headers", f"more than {self.max_fields} request header fields")


BUSY = Refused(503, "server.busy", "every connection is busy answering a request; try again")
# One Admission per running server (its ServerState), shared by all that server's connections.
ADMISSIONS: weakref.WeakKeyDictionary[ServerState, Admission] = weakref.WeakKeyDictionary()


FULL_WARNING_EVERY = 10.0  # seconds: a flood of refused connections is logged once in that time
last_full_warning = -FULL_WARNING_EVERY


def warn_full(now: float) -> None:
    global last_full_warning
    if now - last_full_warning >= FULL_WARNING_EVERY:
        last_full_warning = now
        log.warning("new connections closed at once: the server holds twice its connection limit")


class Guard(asyncio.Protocol):
    """Deadlines, admission and head limits for one connection (mixed into a uvicorn protocol; see the module)."""

    guards: Guards = Guards()
    deadline: asyncio.TimerHandle | None = None
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    server_state: ServerState

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.phase: Phase = "idle"
        self.head: Head | None = self.new_head()
        self.lingering = False
        admission = ADMISSIONS.get(self.server_state)
        if admission is None:
            admission = ADMISSIONS[self.server_state] = Admission(self.guards.connections)
        self.admission = admission
        peer = transport.get_extra_info("peername")
        client = str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)
        if not admission.admit(self, client):
            warn_full(self.loop.time())
            self.transport.close()
            return
        self.arm(self.guards.first_byte_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.admission.leave(self)
        self.disarm()
        super().connection_lost(exc)

    def shed(self) -> None:
        """Let this connection go for a newer one (it is idle, or its request is still not all in)."""
        self.disarm()
        if not self.transport.is_closing():
            self.transport.close()

    def new_head(self) -> Head:
        return Head(self.guards.max_header_bytes, self.guards.max_headers)

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return  # read before reading was paused: the answer has gone, the connection closes soon
        if self.phase == "idle" and data:
            self.phase = "reading"
            self.arm(self.guards.read_timeout)
            if not self.admission.begin(self):
                self.refuse(BUSY)
                return
        try:
            counted = self.head.count(data) if self.head is not None else 0
            super().data_received(data)  # the uvicorn protocol this is mixed into
            if self.head is not None and self.parsed_head():
                self.head = None
            elif self.head is not None and counted < len(data):  # a blank line that did not end the head
                self.head.add(data[counted:], complete=False)
        except Refused as refused:
            self.refuse(refused)

    def parsed_head(self) -> bool:
        """Whether the parser has the whole head of the current request (each parser says so its own way)."""
        raise NotImplementedError

    def refuse(self, refused: Refused) -> None:
        """Answer without the parser, read nothing more, and close LINGER_SECONDS later."""
        log.info("request refused before parsing: %d %s", refused.status, refused.code)
        body = json.dumps({"error": {"code": refused.code, "message": refused.message}}).encode()
        head = (
            f"HTTP/1.1 {refused.status} {HTTPStatus(refused.status).phrase}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.lingering = True
        self.head = None
        self.transport.pause_reading()  # what else comes is not read at all
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the answer, then the end of it, before any reset the close may cause
        self.arm(LINGER_SECONDS)

    def enter(self, phase: Phase) -> None:
        self.phase = phase
        self.admission.move(self, phase)

    def request_in(self) -> None:
        """The whole request is in: it is being answered, and no deadline applies."""
        self.enter("busy")
        self.disarm()

    def response_done(self) -> None:
        """After a response: idle again, and the next request on this connection gets its own deadline."""
        if not self.transport.is_closing():
            self.enter("idle")
            self.head = self.new_head()
            self.arm(self.guards.read_timeout)

    def arm(self, seconds: float) -> None:
        self.disarm()
        self.deadline = self.loop.call_later(seconds, self.too_slow)

    def disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def too_slow(self) -> None:
        self.deadline = None
        if not self.transport.is_closing():
            self.transport.close()


class ReadDeadline(Guard, H11Protocol):
    """uvicorn's h11 protocol with the guards."""

    def parsed_head(self) -> bool:
        return self.conn.their_state is not h11.IDLE

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self.lingering and self.conn.their_state not in (h11.IDLE, h11.SEND_BODY) and self.phase != "busy":
            self.request_in()  # the whole request is in (or the connection is done with)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.response_done()


if HttpToolsProtocol is not None:

    class FastReadDeadline(Guard, HttpToolsProtocol):
        """uvicorn's httptools protocol with the guards: the parser's callbacks say where the request is."""

        head_parsed = False

        def parsed_head(self) -> bool:
            parsed, self.head_parsed = self.head_parsed, False
            return parsed

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            self.head_parsed = True

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self.request_in()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self.response_done()


def base_protocol() -> type[Guard]:
    """The httptools protocol when httptools is installed (it is a dependency), else the h11 one."""
    return FastReadDeadline if HttpToolsProtocol is not None else ReadDeadline


PROTOCOLS: dict[tuple[Guards, type[Guard]], type[Guard]] = {}


def protocol(guards: Guards, base: type[Guard] | None = None) -> type[Guard]:
    """The protocol class with these guards (one class per guards and base, made once)."""
    key = (guards, base or base_protocol())
    if key not in PROTOCOLS:
        PROTOCOLS[key] = type("GuardedProtocol", (key[1],), {"guards": guards})
    return PROTOCOLS[key]


def settings_protocol(*args: Any, **kwargs: Any) -> Guard:
    """The protocol factory worker processes import by name: the guards come from their own settings."""
    from plugin.config import get_settings

    settings = get_settings()
    return protocol(guards_from(settings, connections_for(settings)))(*args, **kwargs)


def open_files_for(connections: int) -> int:
    """Raise the soft open-file limit towards the hard one, so twice `connections` sockets fit (idle ones are held
    past the limit until their deadline) beside a burst of accepts (asyncio accepts up to the backlog at once, before
    any can be closed); returns the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * connections + BACKLOG + SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        soft = raised
    return soft if soft != resource.RLIM_INFINITY else wanted


def connections_for(settings: Settings) -> int:
    """The connections held at once: the setting, or fewer if the open-file limit cannot be raised to fit."""
    files = open_files_for(settings.max_connections)
    connections = max(min(settings.max_connections, (files - BACKLOG - SPARE_FILES) // 2), 1)
    if connections < settings.max_connections:
        log.warning("open-file limit %d allows only %d connections at once", files, connections)
    return connections


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Every uvicorn setting `serve` uses; proxy headers are read only from IVIG_CDS_FORWARDED_ALLOW_IPS."""
    trusted = list(settings.forwarded_allow_ips)
    return {
        "http": protocol(guards_from(settings, connections_for(settings))),
        "timeout_keep_alive": settings.keep_alive_timeout,
        "limit_concurrency": None,  # `Admission` decides, letting idle connections go first
        "backlog": BACKLOG,
        # h11 refuses a head past this itself (as a 400); the guard answers 431 before it gets there.
        "h11_max_incomplete_event_size": settings.max_header_bytes + 1024,
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
        options["http"] = "plugin.web.server:settings_protocol"
        config = uvicorn.Config("plugin.app:create_app", factory=True, workers=workers, host=host, port=port, **options)
        HangupForwarding(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.run(app, host=host, port=port, **options)
