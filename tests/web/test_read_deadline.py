"""The read deadline on both of uvicorn's HTTP parsers (httptools, and h11 where httptools is not installed): a
request not complete in time closes the connection, a complete one is answered and the next one gets its own."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from plugin.web.server import Deadline, FastReadDeadline, ReadDeadline, base_protocol, protocol

READ_TIMEOUT = 0.4


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(params=[FastReadDeadline, ReadDeadline], ids=["httptools", "h11"])
def port(request: pytest.FixtureRequest) -> Iterator[int]:
    config = uvicorn.Config(
        hello, host="127.0.0.1", port=0, http=protocol(READ_TIMEOUT, request.param), loop="asyncio", log_level="error"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    thread.join(timeout=5)


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
        received += sock.recv(4096)
    return received


def test_httptools_is_the_parser_serve_uses() -> None:
    assert base_protocol() is FastReadDeadline and issubclass(FastReadDeadline, Deadline)


def test_a_connection_that_sends_nothing_is_closed_after_the_deadline(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        started = time.monotonic()
        assert closed_within(sock, 5)
        assert READ_TIMEOUT - 0.05 < time.monotonic() - started < READ_TIMEOUT + 2


def test_half_sent_headers_are_cut_off_at_the_deadline(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        assert closed_within(sock, 5)


def test_a_complete_request_is_answered_and_the_next_one_on_the_connection_gets_its_own_deadline(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for _ in range(2):
            time.sleep(READ_TIMEOUT * 0.6)  # together longer than one deadline: each request has its own
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert response(sock).startswith(b"HTTP/1.1 200")
        assert closed_within(sock, 5)  # idle after the response: closed by the deadline (or the keep-alive)
