"""Which connections a server holds, and which one it lets go when a request needs room.

A connection is `idle` (no byte of a request yet: just opened, or between two requests), `reading` (a request has
begun but is not all in) or `busy` (the request is in and being answered). An idle connection costs a file and
little else, and its own deadline closes it soon; so a new connection is held whatever the count, and room is made
only when a connection begins a request while its client holds more than `per_client` connections, or the server
more than `total`: then the oldest idle connection goes (of that client, or of anyone), else the oldest one still
reading. A connection being answered is never cut; when nothing can go, the new request is refused instead.

So a client that opens a thousand connections and sends nothing holds them only until their first-byte deadline,
and a probe that sends its request at once always gets in. Closing idle connections only when a request needs the
room, never as new idle ones arrive, matters: a client that reopens whatever is closed would otherwise be answered
with a close for every connect, and the two would spin. Only past twice `total` is a new connection closed on
arrival, to stay within the open-file limit.

Clients are counted by address; a proxy listed in IVIG_CDS_FORWARDED_ALLOW_IPS is not capped per client, since all
its users share its address (the proxy caps them itself).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, Protocol

Phase = Literal["idle", "reading", "busy"]


class Connection(Protocol):
    def shed(self) -> None:
        """Close at once, to make room for a request on another connection."""


@dataclass(frozen=True)
class ConnectionLimits:
    total: int
    per_client: int
    uncapped: tuple[str, ...] = ()  # addresses or networks of proxies ("*": every client), as the setting lists them

    def capped(self, client: str) -> bool:
        """Whether `client` (an address) is held to `per_client`: not when it is one of the listed proxies."""
        return not any(matches(client, entry) for entry in self.uncapped)


def matches(client: str, entry: str) -> bool:
    if entry == "*":
        return True
    try:
        return ipaddress.ip_address(client) in ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return client == entry  # a Unix socket path or a name: compared as written


@dataclass
class Pool:
    """Connections in the order they became idle (or began reading): the first of each is the oldest."""

    idle: dict[Connection, None] = field(default_factory=dict)
    reading: dict[Connection, None] = field(default_factory=dict)
    busy: set[Connection] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.idle) + len(self.reading) + len(self.busy)

    def remove(self, connection: Connection) -> None:
        self.idle.pop(connection, None)
        self.reading.pop(connection, None)
        self.busy.discard(connection)

    def put(self, connection: Connection, phase: Phase) -> None:
        self.remove(connection)
        if phase == "idle":
            self.idle[connection] = None
        elif phase == "reading":
            self.reading[connection] = None
        else:
            self.busy.add(connection)

    def oldest(self, sparing: Connection) -> Connection | None:
        """The connection to let go first: the oldest idle one, else the oldest still reading; never `sparing`."""
        return first_other(self.idle, sparing) or first_other(self.reading, sparing)


def first_other(connections: Iterable[Connection], sparing: Connection) -> Connection | None:
    return next((connection for connection in connections if connection is not sparing), None)


class Admission:
    """Every connection of one server, by client: `admit` one as it arrives, `begin` when it starts a request."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.everyone = Pool()
        self.clients: dict[str, Pool] = {}
        self.client_of: dict[Connection, str] = {}

    def __len__(self) -> int:
        return len(self.everyone)

    def admit(self, connection: Connection, client: str) -> bool:
        """Count a new (idle) connection; False when the server already holds twice `total` (the caller closes it)."""
        if len(self.everyone) >= 2 * self.limits.total:
            return False
        self.client_of[connection] = client
        self.clients.setdefault(client, Pool()).put(connection, "idle")
        self.everyone.put(connection, "idle")
        return True

    def begin(self, connection: Connection) -> bool:
        """A request has begun on `connection`: let older connections go if its client or the server holds too many;
        False when none could go (the caller refuses the request)."""
        client = self.client_of.get(connection)
        if client is None:
            return False
        self.move(connection, "reading")
        pool = self.clients[client]
        crowded = self.limits.capped(client) and len(pool) > self.limits.per_client
        if crowded and not self.shed(pool, connection):
            return False
        return len(self.everyone) <= self.limits.total or self.shed(self.everyone, connection)

    def shed(self, pool: Pool, sparing: Connection) -> bool:
        victim = pool.oldest(sparing)
        if victim is None:
            return False
        self.leave(victim)
        victim.shed()
        return True

    def move(self, connection: Connection, phase: Phase) -> None:
        client = self.client_of.get(connection)
        if client is not None:
            self.clients[client].put(connection, phase)
            self.everyone.put(connection, phase)

    def leave(self, connection: Connection) -> None:
        """Forget a connection (closed, or let go); a second call does nothing."""
        client = self.client_of.pop(connection, None)
        if client is None:
            return
        self.everyone.remove(connection)
        pool = self.clients[client]
        pool.remove(connection)
        if not len(pool):
            del self.clients[client]
