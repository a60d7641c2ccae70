"""What a hostile client could still do cheaply, replayed against a real `ivig-cds serve` on loopback: each finding
of the second hardening round, now refused or absorbed, with /healthz alive throughout where the attack was on it.

Probing follows `test_malformed_traffic`: /healthz every 50 ms on a fresh connection, every probe 200, nine in ten
within 100 ms. Figures (how long a refusal took, how often the attacker's connections were closed) are printed in
the run's summary.
"""

from __future__ import annotations

import html
import json
import os
import re
import resource
import selectors
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jws
from joserfc.jwk import ECKey, KeySet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.cds_hooks.support import SERVICE_URL, chart, hook_request, serve
from tests.conftest import ROOT
from tests.served import CONSOLE_SCRIPT, Server, served, upgraded_database
from tests.smart.conftest import ALL_SCOPES
from tests.smart.ehr import CLIENT_ID, LAUNCH, PATIENT, Ehr
from tests.test_malformed_traffic import Prober

# Each attack is timed against a probe that must keep answering: no other test may share the cores.
pytestmark = pytest.mark.alone

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
        for _ in range(20):  # warmed up, as the other servers are by the tests before theirs
            httpx.get(f"{running.url}/healthz")
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


# The CDS Hooks door with client JWTs: one issuer whose keys are in a file, and one whose JWK Set URL always fails.
ISSUER = "https://ehr.example.org"
OTHER_ISSUER = "https://other-ehr.example.org"
BROKEN_ISSUER = "https://broken-ehr.example.org"
BASE = "https://cds.example.org"
KEY = ECKey.generate_key("P-256", parameters={"kid": "ehr-1"})


def signed(issuer: str = ISSUER, path: str = SERVICE_URL, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": issuer, "aud": f"{BASE}{path}", "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    header = {"alg": "ES256", "typ": "JWT", "kid": "ehr-1"}
    return jws.serialize_compact(header, json.dumps(payload | claims), KEY)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def jwks_hits() -> Iterator[tuple[str, list[str]]]:
    """A loopback JWK Set URL that answers 500 every time, and the requests it received."""
    hits: list[str] = []

    async def failing(request: Request) -> Response:
        hits.append(request.url.path)
        return Response(status_code=500)

    with serve(Starlette(routes=[Route("/jwks.json", failing)])) as base:
        yield f"{base}/jwks.json", hits


def issuers_env(folder: Path, broken_jwks: str) -> dict[str, str]:
    keys = folder / "jwks.json"
    keys.write_text(json.dumps(KeySet([KEY]).as_dict(private=False)), encoding="utf-8")
    issuers = {
        ISSUER: {"jwks": str(keys)},
        OTHER_ISSUER: {"jwks": str(keys)},
        BROKEN_ISSUER: {"jwks": broken_jwks},
    }
    return {"IVIG_CDS_TRUSTED_ISSUERS": json.dumps(issuers), "IVIG_CDS_PUBLIC_BASE_URL": BASE}


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`serve` as deployed: every CDS Hooks call needs a client JWT (JWK Sets from files only)."""
    folder = tmp_path_factory.mktemp("guarded")
    keys = folder / "jwks.json"
    keys.write_text(json.dumps(KeySet([KEY]).as_dict(private=False)), encoding="utf-8")
    issuers = {ISSUER: {"jwks": str(keys)}, OTHER_ISSUER: {"jwks": str(keys)}}
    env = {
        "IVIG_CDS_TRUSTED_ISSUERS": json.dumps(issuers),
        "IVIG_CDS_PUBLIC_BASE_URL": BASE,
        "IVIG_CDS_FEEDBACK_PER_CARD": "3",
        "IVIG_CDS_FEEDBACK_PER_MINUTE": "8",
    }
    with served(env=env) as running:
        yield running


def timed_post(port: int, path: str, body: bytes, headers: str = "") -> tuple[int, float]:
    """POST `body` on a raw socket, sending it as fast as the server reads it; the status and the seconds from the
    first byte sent to the status line received."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{headers}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.perf_counter()
        sender = threading.Thread(target=lambda: send_quietly(sock, head + body), daemon=True)
        sender.start()
        received = b""
        while b"\r\n" not in received:
            data = sock.recv(4096)
            if not data:
                break
            received += data
        elapsed = time.perf_counter() - started
        sender.join(timeout=10)
    return int(received.split(b" ", 2)[1]), elapsed


def send_quietly(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
    except OSError:
        pass  # answered and closed before all of it was sent: what the test is about


def test_2_a_1_mib_unauthenticated_cds_body_is_refused_from_its_headers(guarded: Server, report: list[str]) -> None:
    body = b"[" + b"{}," * (1024 * 1024 // 3 - 1) + b"{}]"
    assert 1_000_000 < len(body) <= 1024 * 1024
    with Prober(guarded.url):
        results = [timed_post(guarded.port, SERVICE_URL, body) for _ in range(8)]
    assert {status for status, _ in results} == {401}
    slowest = max(elapsed for _, elapsed in results)
    assert slowest < 0.05, results
    # A token that fails verification is refused as early, its body unread too.
    status, elapsed = timed_post(guarded.port, SERVICE_URL, body, f"Authorization: Bearer {signed(aud='x')}\r\n")
    assert (status, elapsed < 0.05) == (401, True)
    report.append(f"finding 2: a 1 MiB unauthenticated CDS body refused (401) in at most {slowest * 1000:.1f} ms")


def test_6_a_feedback_timestamp_at_the_edge_of_the_date_range_is_422_naming_it(server: Server) -> None:
    for moment in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-00:01"):
        entry = {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": moment}
        response = httpx.post(f"{server.url}{SERVICE_URL}/feedback", json={"feedback": [entry]})
        assert response.status_code == 422, moment
        assert response.json()["issue"][0]["expression"] == ["feedback[0].outcomeTimestamp"]


def test_7_a_900_kb_hook_instance_is_422_naming_the_limit_and_never_logged(server: Server) -> None:
    huge = "h" * 900_000
    response = httpx.post(f"{server.url}{SERVICE_URL}", json=hook_request(chart(), hookInstance=huge))
    assert response.status_code == 422
    (issue,) = response.json()["issue"]
    assert issue["expression"] == ["hookInstance"]
    assert issue["details"]["text"] == "hookInstance is longer than 128 characters"
    httpx.get(f"{server.url}/openapi.json")
    lines = server.log_until('"route": "/openapi.json"')
    assert max(len(line) for line in lines) < 2000
    assert not any("hhhhhhhhhh" in line for line in lines)


def issued_card(server: Server, token: str | None = None) -> str:
    headers = bearer(token) if token else {}
    response = httpx.post(f"{server.url}{SERVICE_URL}", json=hook_request(chart()), headers=headers)
    assert response.status_code == 200, response.text
    card: str = response.json()["cards"][0]["uuid"]
    return card


def feedback(card: str, second: int) -> dict[str, Any]:
    moment = f"2026-03-02T10:00:{second:02d}Z"
    return {"feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": moment}]}


FEEDBACK_URL = f"{SERVICE_URL}/feedback"


def test_7_feedback_is_taken_only_from_the_cards_issuer_and_bounded_per_card_and_per_client(guarded: Server) -> None:
    card = issued_card(guarded, signed())
    url = f"{guarded.url}{FEEDBACK_URL}"
    stranger = httpx.post(url, json=feedback(card, 0), headers=bearer(signed(OTHER_ISSUER, FEEDBACK_URL)))
    assert (stranger.status_code, stranger.json()["issue"][0]["expression"]) == (422, ["feedback[0].card"])
    statuses = [
        httpx.post(url, json=feedback(card, second), headers=bearer(signed(path=FEEDBACK_URL))).status_code
        for second in range(4)
    ]
    assert statuses == [200, 200, 200, 422]  # IVIG_CDS_FEEDBACK_PER_CARD is 3 here
    full = httpx.post(url, json=feedback(card, 9), headers=bearer(signed(path=FEEDBACK_URL))).json()
    assert full["issue"][0]["details"]["text"] == (
        "feedback[0].card already has the most feedback entries one card may hold (3)"
    )
    # Eight entries a minute per client here: five taken or refused above, three more now, then 429.
    other = issued_card(guarded, signed())
    answers = [httpx.post(url, json=feedback(other, n), headers=bearer(signed(path=FEEDBACK_URL))) for n in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["issue"][0]["diagnostics"] == "cds.too_many_feedback_entries"
    assert int(answers[-1].headers["Retry-After"]) > 0


def test_8_a_long_jti_is_a_401_naming_the_limit(guarded: Server) -> None:
    response = httpx.post(
        f"{guarded.url}{SERVICE_URL}", json=hook_request(chart()), headers=bearer(signed(jti="j" * 2800))
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        'Bearer error="invalid_token", error_description="jti longer than 256 characters"'
    )
    assert response.content == b""


def test_8_a_jwk_set_that_fails_to_load_is_not_asked_again_for_a_while(
    tmp_path: Path, jwks_hits: tuple[str, list[str]]
) -> None:
    url, hits = jwks_hits
    env = issuers_env(tmp_path, url) | {"IVIG_CDS_ALLOW_UNAUTHENTICATED": "1"}  # http JWK Sets: development only
    with served(env=env) as running:
        hits.clear()
        for _ in range(3):
            headers = bearer(signed(BROKEN_ISSUER))
            assert httpx.post(f"{running.url}{SERVICE_URL}", json=hook_request(chart()), headers=headers).is_success
    assert len(hits) == 1  # not twice per request, nor once per request


def test_8_readyz_is_not_ready_when_the_database_cannot_be_written(tmp_path: Path) -> None:
    with served(env={"IVIG_CDS_ALLOW_UNAUTHENTICATED": "1"}) as running:
        assert httpx.get(f"{running.url}/readyz").status_code == 200
        _, hard = resource.prlimit(running.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(running.pid, resource.RLIMIT_FSIZE, (1, hard))  # no file may grow: a full disk
        try:
            response = httpx.get(f"{running.url}/readyz", timeout=30)
            assert (response.status_code, response.json()["status"]) == (503, "not_ready")
            assert httpx.get(f"{running.url}/healthz").status_code == 200  # liveness is not readiness
        finally:
            resource.prlimit(running.pid, resource.RLIMIT_FSIZE, (hard, hard))
        assert httpx.get(f"{running.url}/readyz").status_code == 200


def test_8_development_mode_sends_no_request_to_a_loopback_port_it_was_not_given(server: Server) -> None:
    seen: list[str] = []

    async def anything(request: Request) -> Response:
        seen.append(request.url.path)
        return Response(status_code=200)

    with serve(Starlette(routes=[Route("/{path:path}", anything)])) as base:
        body = hook_request(None, fhirServer=base, fhirAuthorization={"access_token": "t", "token_type": "Bearer"})
        response = httpx.post(f"{server.url}{SERVICE_URL}", json=body)
    assert (response.status_code, seen) == (412, [])


def test_8_an_evidence_file_that_is_not_utf8_is_named_when_serve_stops(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    shutil.copytree(ROOT / "evidence", evidence)
    broken = next((evidence / "context").glob("*.toml"))
    broken.write_bytes(broken.read_bytes().replace(b"\n", "\n# caf\xe9\n".encode("latin-1"), 1))
    env = {**os.environ, **upgraded_database({"IVIG_CDS_EVIDENCE_DIR": str(evidence)})}
    finished = subprocess.run(
        [CONSOLE_SCRIPT, "serve", "--host", "127.0.0.1", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode != 0
    output = finished.stdout + finished.stderr
    assert broken.name in output and "not UTF-8" in output
    assert "UnicodeDecodeError" not in output


def error_code(response: httpx.Response) -> str:
    found = re.search(r'data-error="([^"]+)"', response.text)
    assert found, response.text[:500]
    return found.group(1)


# Anonymous launches in the flood: ten times what the three addresses may hold pending (30), each on a connection
# of its own.
LAUNCHES = 300


def test_5_anonymous_launches_do_not_evict_a_pending_sign_in(report: list[str]) -> None:
    ehr = Ehr()
    with serve(ehr.app()) as base:
        ehr.base = base
        env = {
            "IVIG_CDS_SMART_ISSUERS": json.dumps({ehr.fhir: {"client_id": CLIENT_ID}}),
            "IVIG_CDS_SMART_PENDING_LAUNCHES": "40",
            "IVIG_CDS_SMART_PENDING_PER_CLIENT": "10",
        }
        with served(env=env) as running:
            launch = f"{running.url}/smart/launch?iss={ehr.fhir}&launch=abc"
            with httpx.Client() as user:
                started = user.get(launch)
                assert started.status_code == 302
                state = parse_qs(urlsplit(started.headers["location"]).query)["state"][0]
                refused = 0
                with ThreadPoolExecutor(8) as pool:
                    for status in pool.map(anonymous_launch, [(launch, n) for n in range(LAUNCHES)]):
                        refused += status == 429
                assert refused == LAUNCHES - 30  # the user's 1, then 10 from each of three addresses: 40 in all
                # The user's launch is still waiting: the EHR's answer reaches it (here a denial, not "unknown").
                cookie = started.headers["set-cookie"].split(";", 1)[0]  # Secure: a browser sends it to loopback
                callback = f"{running.url}/smart/callback?state={state}&error=access_denied"
                answer = user.get(callback, headers={"Cookie": cookie})
            assert (answer.status_code, error_code(answer)) == (403, "smart.authorization_denied")
            kept = "the pending sign-in kept"
            report.append(f"finding 5: {LAUNCHES} anonymous launches, {refused} refused (429); {kept}")


def anonymous_launch(job: tuple[str, int]) -> int:
    url, n = job
    source = f"127.0.0.{2 + n % 3}"  # three anonymous addresses, none the user's
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source)) as client:
        return client.get(url).status_code


# Finding 3: FHIR responses past the size limits, from a FHIR server on loopback that the service is told of.
FHIR_TOKEN = "fhir-token-5d0c2b"
DEADLINE = 1.5  # IVIG_CDS_DEADLINE, its default
MAX_FHIR_RESPONSE = 2 * 1024 * 1024  # IVIG_CDS_MAX_FHIR_RESPONSE_BYTES, its default
BUNDLE_BYTES = 10_000_000
BOMB_INFLATED = 128 * 1024 * 1024
CHUNK = 64 * 1024


def large_bundle(size: int = BUNDLE_BYTES) -> bytes:
    """A searchset of about `size` bytes: her hypertension, over and over (nothing this service is about)."""
    entry = json.dumps(
        {
            "resource": {
                "resourceType": "Condition",
                "clinicalStatus": {"coding": [{"code": "active"}]},
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}], "text": "Hypertension"},
                "subject": {"reference": f"Patient/{PATIENT}"},
            }
        }
    )
    entries = ",".join([entry] * (size // (len(entry) + 1) + 1))
    return f'{{"resourceType":"Bundle","type":"searchset","entry":[{entries}]}}'.encode()


def gzip_bomb(inflated: int = BOMB_INFLATED) -> bytes:
    """An empty searchset padded with spaces to `inflated` bytes, gzip-compressed to about a thousandth of that."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [packer.compress(b'{"resourceType":"Bundle","type":"searchset",')]
    spaces = b" " * (1024 * 1024)
    parts += [packer.compress(spaces) for _ in range(inflated // len(spaces))]
    parts += [packer.compress(b'"entry":[]}'), packer.flush()]
    return b"".join(parts)


class LargeFhir:
    """A FHIR server whose searches answer a 10 MB Bundle streamed without a length (under /big), or a small gzip
    reply that inflates to 128 MiB (under /bomb)."""

    def __init__(self) -> None:
        self.bundle = large_bundle()
        self.bomb = gzip_bomb()

    async def big(self, request: Request) -> StreamingResponse:
        async def pieces() -> AsyncIterator[bytes]:
            for start in range(0, len(self.bundle), CHUNK):
                yield self.bundle[start : start + CHUNK]

        return StreamingResponse(pieces(), media_type="application/fhir+json")

    async def bombed(self, request: Request) -> Response:
        headers = {"Content-Encoding": "gzip"}
        return Response(self.bomb, media_type="application/fhir+json", headers=headers)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/big/{rest:path}", self.big), Route("/bomb/{rest:path}", self.bombed)])


@pytest.fixture(scope="module")
def large_fhir() -> Iterator[tuple[LargeFhir, str, Server]]:
    """The FHIR server, and `serve` in development mode allowed to query it."""
    fhir = LargeFhir()
    with serve(fhir.app()) as base:
        port = urlsplit(base).port
        env = {"IVIG_CDS_ALLOW_UNAUTHENTICATED": "1", "IVIG_CDS_DEVELOPMENT_FHIR_PORTS": json.dumps([port])}
        with served(env=env) as running:
            yield fhir, base, running


def fetched_from(server: str, prefetch: dict[str, Any] | None = None) -> dict[str, Any]:
    authorization = {"access_token": FHIR_TOKEN, "token_type": "Bearer"}
    return hook_request(prefetch, fhirServer=server, fhirAuthorization=authorization)


def timed_call(server: Server, body: dict[str, Any]) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = httpx.post(f"{server.url}{SERVICE_URL}", json=body, timeout=60)
    return response, time.perf_counter() - started


def cut_lines(server: Server, setting: str, count: int) -> list[str]:
    """The log lines naming `setting`, once `count` of them have arrived (bounded wait)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [line for line in server.log if setting in line]
        if len(lines) >= count:
            return lines
        time.sleep(0.05)
    return [line for line in server.log if setting in line]


def test_3_a_10_mb_fhir_bundle_is_cut_at_the_limit_with_the_probe_still_answering(
    large_fhir: tuple[LargeFhir, str, Server], report: list[str]
) -> None:
    _, base, running = large_fhir
    with Prober(running.url) as prober:
        unavailable, took = timed_call(running, fetched_from(f"{base}/big"))
        # With the problem list sent, the card is built and names what the cut searches would have told.
        partial, partial_took = timed_call(running, fetched_from(f"{base}/big", chart()))
    assert unavailable.status_code == 412
    assert unavailable.json()["issue"][0]["diagnostics"] == "fhir.unavailable"
    assert partial.status_code == 200
    (card,) = partial.json()["cards"]
    assert "NK" not in card["summary"] and "peripheral-blood NK-cell percentage" in card["detail"]
    assert max(took, partial_took) < DEADLINE, (took, partial_took)
    lines = cut_lines(running, "IVIG_CDS_MAX_FHIR_RESPONSE_BYTES", 5)
    keys = {key for key in ("conditions", "nkCells", "obstetricHistory") for line in lines if f"'{key}'" in line}
    assert keys == {"conditions", "nkCells", "obstetricHistory"}
    assert all(f"({MAX_FHIR_RESPONSE} bytes)" in line and "read as unavailable" in line for line in lines)
    assert not any(PATIENT in line or FHIR_TOKEN in line for line in running.log)
    report.append(
        f"finding 3: 10 MB FHIR Bundles cut at {MAX_FHIR_RESPONSE // 1024 // 1024} MiB: 412 in {took * 1000:.0f} ms, "
        f"a card in {partial_took * 1000:.0f} ms; /healthz p90 {prober.p90 * 1000:.0f} ms over {prober.count} probes"
    )


def test_3_a_gzip_reply_that_inflates_past_the_limit_is_cut_and_memory_stays_bounded(
    large_fhir: tuple[LargeFhir, str, Server], report: list[str]
) -> None:
    fhir, base, running = large_fhir
    assert len(fhir.bomb) < 200_000
    before = running.peak_memory_mib()
    with Prober(running.url):
        response, took = timed_call(running, fetched_from(f"{base}/bomb"))
    grown = running.peak_memory_mib() - before
    assert response.status_code == 412
    assert response.json()["issue"][0]["diagnostics"] == "fhir.unavailable"
    assert took < DEADLINE, took
    assert grown < 40, grown  # three searches, each inflated to at most 4 MiB, never 128 MiB
    lines = cut_lines(running, "IVIG_CDS_MAX_FHIR_DECOMPRESSED_BYTES", 3)
    assert len(lines) == 3, lines
    report.append(
        f"finding 3: a {len(fhir.bomb) // 1024} KiB gzip reply inflating to 128 MiB cut at 4 MiB in "
        f"{took * 1000:.0f} ms; peak memory grew {grown:.1f} MiB"
    )


def test_3_the_smart_callback_with_10_mb_bundles_is_cut_with_the_probe_still_answering(report: list[str]) -> None:
    ehr = Ehr(oversized=large_bundle())
    with serve(ehr.app()) as base:
        ehr.base = base
        ehr.register(f"{BASE}/smart/callback", ALL_SCOPES)
        env = {
            "IVIG_CDS_SMART_ISSUERS": json.dumps({ehr.fhir: {"client_id": CLIENT_ID}}),
            "IVIG_CDS_PUBLIC_BASE_URL": BASE,
        }
        with served(env=env) as running, httpx.Client(timeout=60) as user:
            started = user.get(f"{running.url}/smart/launch?iss={ehr.fhir}&launch={LAUNCH}")
            assert started.status_code == 302
            cookie = started.headers["set-cookie"].split(";", 1)[0]
            consent = httpx.get(started.headers["location"])
            found = re.search(r'href="([^"]+)"', consent.text)
            assert found, consent.text
            link = urlsplit(html.unescape(found.group(1)))  # to BASE, which is this serve
            with Prober(running.url) as prober:
                began = time.perf_counter()
                answer = user.get(f"{running.url}{link.path}?{link.query}", headers={"Cookie": cookie})
                took = time.perf_counter() - began
            assert (answer.status_code, error_code(answer)) == (502, "smart.chart_unavailable")
            assert PATIENT not in answer.text
            assert took < DEADLINE + 1.0, took  # the code exchange, then the reads within the deadline
            lines = cut_lines(running, "IVIG_CDS_MAX_FHIR_RESPONSE_BYTES", 3)
            assert len(lines) == 3, lines
            assert not any(PATIENT in line for line in running.log)
    report.append(
        f"finding 3: SMART callback with 10 MB Bundles: chart_unavailable page in {took * 1000:.0f} ms; "
        f"/healthz p90 {prober.p90 * 1000:.0f} ms"
    )
