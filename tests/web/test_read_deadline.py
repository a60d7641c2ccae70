"""The guards on both of uvicorn's HTTP parsers (httptools, and h11 where httptools is not installed): a silent
connection is closed after the first-byte deadline, a request not complete in time closes the connection, a
complete one is answered and the next one gets its own deadline; a head past its limits is answered 431 (414 for a
request line alone) before the parser buffers more of it; and idle connections make room for new ones."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from plugin.web.connections import ConnectionLimits
from plugin.web.server import FastReadDeadline, Guard, Guards, ReadDeadline, base_protocol, protocol

READ_TIMEOUT = 0.4
FIRST_BYTE_TIMEOUT = 0.2
GUARDS = Guards(
    read_timeout=READ_TIMEOUT,
    first_byte_timeout=FIRST_BYTE_TIMEOUT,
    max_header_bytes=4096,
    max_headers=20,
    connections=ConnectionLimits(total=40, per_client=30),
)


RELEASE = threading.Event()  # set: every request to /slow is answered


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":  # held until the test releases it: a connection busy answering
        while not RELEASE.is_set():
            await asyncio.sleep(0.01)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


# The admission tests hold connections longer than the deadlines above would let them live.
ROOMY = dataclasses.replace(GUARDS, first_byte_timeout=10.0, read_timeout=10.0)
PARSERS = [FastReadDeadline, ReadDeadline]


@contextmanager
def running(guards: Guards, parser: type[Guard]) -> Iterator[int]:
    config = uvicorn.Config(
        hello,
        host="127.0.0.1",
        port=0,
        http=protocol(guards, parser),
        loop="asyncio",
        log_level="error",
        limit_concurrency=None,
        h11_max_incomplete_event_size=guards.max_header_bytes + 1024,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        RELEASE.set()
        server.should_exit = True
        thread.join(timeout=5)
        RELEASE.clear()


@pytest.fixture(params=PARSERS, ids=["httptools", "h11"])
def port(request: pytest.FixtureRequest) -> Iterator[int]:
    with running(GUARDS, request.param) as bound:
        yield bound


@pytest.fixture(params=PARSERS, ids=["httptools", "h11"])
def roomy(request: pytest.FixtureRequest) -> Iterator[int]:
    with running(ROOMY, request.param) as bound:
        yield bound


def closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    return True


def response(sock: socket.socket) -> bytes:
    """One whole response of `hello` (headers and its two-byte body may come in separate pieces)."""
    sock.settimeout(5)
    received = b""
    while not received.endswith(b"\r\n\r\nok"):
        data = sock.recv(4096)
        if not data:
            break
        received += data
    return received


def test_httptools_is_the_parser_serve_uses() -> None:
    assert base_protocol() is FastReadDeadline and issubclass(FastReadDeadline, Guard)


def test_a_connection_that_sends_nothing_is_closed_after_the_first_byte_deadline(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        started = time.monotonic()
        assert closed_within(sock, 5)
        assert FIRST_BYTE_TIMEOUT - 0.05 < time.monotonic() - started < READ_TIMEOUT


def test_a_request_begun_in_time_has_the_read_deadline_from_its_first_byte(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n")
        time.sleep(FIRST_BYTE_TIMEOUT + 0.1)  # past the first-byte deadline: the request has begun, it still counts
        sock.sendall(b"Host: x\r\n\r\n")
        assert response(sock).startswith(b"HTTP/1.1 200")


def test_half_sent_headers_are_cut_off_at_the_deadline(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        assert closed_within(sock, 5)


def test_a_complete_request_is_answered_and_the_next_one_on_the_connection_gets_its_own_deadline(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for request in range(2):
            if request:
                time.sleep(READ_TIMEOUT * 0.6)  # together longer than one deadline: each request has its own
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            time.sleep(READ_TIMEOUT * 0.6)
            sock.sendall(b"\r\n")
            assert response(sock).startswith(b"HTTP/1.1 200")
        assert closed_within(sock, 5)  # idle after the response: closed by the deadline (or the keep-alive)


def status_of(sock: socket.socket) -> tuple[int, bytes]:
    """The status and body of the one response on `sock`, read until the server closes it."""
    sock.settimeout(5)
    received = b""
    try:
        while data := sock.recv(65536):
            received += data
    except ConnectionResetError:
        pass
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def send_all(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # answered and dropped: what the test is about


@pytest.mark.parametrize(
    ("head", "status", "code"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 16_000_000 + b"\r\n\r\n", 431, "request.headers_too_large"),
        (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: 1\r\n" * 21 + b"\r\n", 431, "request.too_many_headers"),
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "request.uri_too_long"),
    ],
    ids=["16-mb-header", "21-fields", "long-request-line"],
)
def test_a_head_past_its_limits_is_refused_naming_the_limit(port: int, head: bytes, status: int, code: str) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        send_all(sock, head)
        found, body = status_of(sock)
    assert (found, json.loads(body)["error"]["code"]) == (status, code)


def test_a_head_at_its_limits_is_answered(port: int) -> None:
    fields = b"Host: x\r\n" + b"X-A: 1\r\n" * 18 + b"X-B: "
    head = b"GET / HTTP/1.1\r\n" + fields
    head += b"b" * (GUARDS.max_header_bytes - len(head) - 4) + b"\r\n\r\n"
    assert len(head) == GUARDS.max_header_bytes
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head)
        assert response(sock).startswith(b"HTTP/1.1 200")


def test_a_head_split_across_many_reads_is_counted_whole(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        for _ in range(30):
            send_all(sock, b"X-Drip: " + b"d" * 200 + b"\r\n")
            time.sleep(0.002)
        send_all(sock, b"\r\n")
        assert status_of(sock)[0] == 431


def connections(port: int, count: int, source: str = "127.0.0.1") -> list[socket.socket]:
    return [socket.create_connection(("127.0.0.1", port), source_address=(source, 0)) for _ in range(count)]


def get(port: int, path: str = "/", source: str = "127.0.0.1") -> bytes:
    with socket.create_connection(("127.0.0.1", port), source_address=(source, 0)) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        return response(sock)


def test_idle_connections_make_room_so_a_new_request_is_answered(roomy: int) -> None:
    idle = connections(roomy, ROOMY.connections.total + 10)  # past the total and the per-client limit
    try:
        assert get(roomy).startswith(b"HTTP/1.1 200")
        assert closed_within(idle[0], 1)  # the oldest idle connection made room
        assert not closed_within(idle[-1], 0.05)  # the others are held until their own deadline
    finally:
        for sock in idle:
            sock.close()


def test_a_client_past_its_cap_loses_its_own_idle_connections_not_another_clients(roomy: int) -> None:
    other = connections(roomy, 5, source="127.0.0.2")
    crowd = connections(roomy, ROOMY.connections.per_client)
    try:
        assert get(roomy).startswith(b"HTTP/1.1 200")
        assert closed_within(crowd[0], 1)
        assert not any(closed_within(sock, 0.01) for sock in other)
    finally:
        for sock in other + crowd:
            sock.close()


def test_connections_being_answered_are_never_closed_to_make_room(roomy: int) -> None:
    busy = connections(roomy, ROOMY.connections.per_client)
    try:
        for sock in busy:
            sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)  # let the server take them all in
        with socket.create_connection(("127.0.0.1", roomy)) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            status, body = status_of(sock)
        assert (status, json.loads(body)["error"]["code"]) == (503, "server.busy")
        RELEASE.set()
        assert all(response(sock).startswith(b"HTTP/1.1 200") for sock in busy)  # none of them was cut
    finally:
        for sock in busy:
            sock.close()


def test_a_connection_that_began_its_request_makes_room_before_one_still_reading(roomy: int) -> None:
    reading = connections(roomy, ROOMY.connections.per_client)
    try:
        for sock in reading:
            sock.sendall(b"GET / HTTP/1.1\r\n")  # begun, never finished
        time.sleep(0.2)
        assert get(roomy).startswith(b"HTTP/1.1 200")
        assert closed_within(reading[0], 1)  # no idle one left: the oldest still reading made room
    finally:
        for sock in reading:
            sock.close()


def test_past_twice_the_limit_a_new_connection_is_closed_on_arrival(roomy: int) -> None:
    held = connections(roomy, 2 * ROOMY.connections.total)
    try:
        time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", roomy)) as extra:
            assert closed_within(extra, 1)
        assert not closed_within(held[-1], 0.05)
    finally:
        for sock in held:
            sock.close()
