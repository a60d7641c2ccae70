"""What a hostile client could still do cheaply, replayed against a real `ivig-cds serve` on loopback: each finding
of the second hardening round, now refused or absorbed, with /healthz alive throughout where the attack was on it.

Probing follows `test_malformed_traffic`: /healthz every 50 ms on a fresh connection, every probe 200, nine in ten
within 100 ms. Figures (how long a refusal took, how often the attacker's connections were closed) are printed in
the run's summary.
"""

from __future__ import annotations

import json
import selectors
import socket
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.served import Server, served
from tests.test_malformed_traffic import Prober

IDLE_CONNECTIONS = 1050


class Holder:
    """One client holding `count` connections that send nothing, reopening each one the server closes."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.count = count
        self.reopened = 0
        self.held = 0
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.selector = selectors.DefaultSelector()

    def connect(self) -> None:
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=2)
        except OSError:
            return
        sock.setblocking(False)
        self.selector.register(sock, selectors.EVENT_READ)
        self.held += 1

    def run(self) -> None:
        for _ in range(self.count):
            self.connect()
        self.ready.set()
        while not self.stop.is_set():
            for key, _ in self.selector.select(0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    closed = sock.recv(1) == b""
                except BlockingIOError:
                    closed = False
                except OSError:
                    closed = True
                if closed:
                    self.selector.unregister(sock)
                    sock.close()
                    self.held -= 1
                    self.reopened += 1
                    if not self.stop.is_set():
                        self.connect()
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self.selector.close()

    def __enter__(self) -> Holder:
        self.thread.start()
        assert self.ready.wait(60), "could not open the connections"
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with served(env={"IVIG_CDS_ALLOW_UNAUTHENTICATED": "1"}) as running:
        yield running


def test_1_a_thousand_idle_connections_held_by_one_client_leave_the_probe_answering(
    server: Server, report: list[str]
) -> None:
    with Holder(server.port, IDLE_CONNECTIONS) as holder, Prober(server.url) as prober:
        time.sleep(3)
    report.append(
        f"finding 1: {IDLE_CONNECTIONS} idle connections held, {holder.reopened} reopened after the server closed "
        f"them; /healthz p90 {prober.p90 * 1000:.0f} ms over {prober.count} probes"
    )


H11_SERVE = [sys.executable, "-m", "tests.web.serve_h11", "serve", "--host", "127.0.0.1"]


@pytest.fixture(scope="module", params=["httptools", "h11"])
def parser_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """`serve` on each HTTP parser the project supports."""
    with served(H11_SERVE if request.param == "h11" else (), env={"IVIG_CDS_ALLOW_UNAUTHENTICATED": "1"}) as running:
        running.log_until("Application startup complete")
        assert any("h11_impl" in line or "Started server" in line for line in running.log)
        yield running


def oversized_head(port: int, size: int) -> tuple[int, str]:
    """Send a request whose one header is `size` bytes, and read the status and error code of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered and dropped before all of it was sent: what the test is about
        received = b""
        try:
            while data := sock.recv(65536):
                received += data
        except ConnectionResetError:
            pass
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)["error"]["code"]


def test_4_a_16_mb_header_gets_431_on_both_parsers_and_twenty_of_them_cost_no_memory(
    parser_server: Server, report: list[str]
) -> None:
    before = parser_server.peak_memory_mib()
    with Prober(parser_server.url), ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: oversized_head(parser_server.port, 16 * 1024 * 1024), range(20)))
    grown = parser_server.peak_memory_mib() - before
    assert set(answers) == {(431, "request.headers_too_large")}
    assert grown < 20, grown  # each connection holds at most one read (256 KiB) beyond the 32 KiB limit
    report.append(f"finding 4: twenty 16 MB headers: {answers[0][0]} each, peak memory grew {grown:.1f} MiB")
