"""How `ivig-cds serve` runs uvicorn: bounded connections, timeouts on slow clients, proxies trusted only by name.

Uvicorn closes an idle keep-alive connection after `keep_alive_timeout`, but has no limit on how long a client
may take to send a request: a connection that sends nothing, or half its headers, stays open for ever, and a few
hundred of them exhaust the open files. `ReadDeadline` closes any connection whose request is not complete
`read_timeout` seconds after the connection opened or the previous response ended.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from plugin.config import Settings
from plugin.web.logs import log_config

log = logging.getLogger(__name__)
# Files the process keeps for itself beside its connections (the evidence, templates, the feedback database).
SPARE_FILES = 64


class ReadDeadline(H11Protocol):
    """uvicorn's h11 protocol with a deadline for receiving each whole request (headers and body)."""

    read_timeout: float = 10.0
    deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.arm()

    def arm(self) -> None:
        self.disarm()
        self.deadline = self.loop.call_later(self.read_timeout, self.too_slow)

    def disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE and self.conn.their_state is not h11.SEND_BODY:
            self.disarm()  # the whole request is in (or the connection is done with)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self.arm()  # the next request on this connection gets its own deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm()
        super().connection_lost(exc)

    def too_slow(self) -> None:
        self.deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def protocol(read_timeout: float) -> type[ReadDeadline]:
    return type("ReadDeadlineProtocol", (ReadDeadline,), {"read_timeout": read_timeout})


class SettingsReadDeadline(ReadDeadline):
    """The same deadline for worker processes, which import the protocol by name and read the settings themselves."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        from plugin.config import get_settings

        self.read_timeout = get_settings().read_timeout
        super().connection_made(transport)


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
        "access_log": False,  # plugin.web.logs.AccessLog writes one structured line per request instead
        "log_config": log_config(settings.log_level),
    }


def serve(app: Any, settings: Settings, host: str, port: int, workers: int = 1) -> None:
    """Serve `app`; with several workers each builds its own app from the same settings (uvicorn imports it)."""
    options = uvicorn_options(settings)
    if workers > 1:
        options["http"] = "plugin.web.server:SettingsReadDeadline"
        uvicorn.run("plugin.app:create_app", factory=True, workers=workers, host=host, port=port, **options)
    else:
        uvicorn.run(app, host=host, port=port, **options)
