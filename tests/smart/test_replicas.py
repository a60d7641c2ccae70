"""The SMART door on two `ivig-cds serve` replicas sharing one PostgreSQL database, each hop of a launch sent to the
other replica as a round-robin load balancer would: the launch on A, the callback on B, the page on A, a reload on
B; a replica restarted between the callback and the page; the session keys rotated and retired. And what the
database holds meanwhile: nothing of hers, and no token, in clear.

The test is the browser: it keeps the app's cookies (Secure, which a browser sends to loopback) and follows each
redirect itself, to whichever replica it chooses. Every replica has the same public URL, the load balancer's, which
is the redirect URI the EHR sends the browser back to.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest

from plugin.storage.store import Storage
from plugin.web.sessions import digest
from tests.smart.conftest import ALL_SCOPES
from tests.smart.ehr import PATIENT, PATIENT_B, Ehr
from tests.storage.conftest import postgres  # noqa: F401  # the session's PostgreSQL server
from tests.storage.postgres import Postgres, free_port
from tests.storage.replicas import BASE, Replica, command, replica_env, start

# Each patient's marks as her page shows them: name, birth date, NK result and its date.
MARKS = {
    PATIENT: ("Anna Aalders", "1990-04-12", "18 %", "2026-03-02"),
    PATIENT_B: ("Britt Bakker", "1986-09-30", "7.25 %", "2026-01-15"),
}
# What must never be in the database in clear: her id, her name, her birth date and her findings as read.
AT_REST = {
    PATIENT: (PATIENT, "Aalders", "1990-04-12", "18 %", "2026-03-02", "LOINC 18267-5", "2025-11-01"),
    PATIENT_B: (PATIENT_B, "Bakker", "1986-09-30", "7.25 %", "2026-01-15", "2025-09-01"),
}


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode("ascii")


@dataclass
class Browser:
    """One browser's cookies for the app (whichever replica set them: they all answer for one site)."""

    cookies: dict[str, str] = field(default_factory=dict)

    def get(self, replica: Replica, path: str) -> httpx.Response:
        header = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        response = replica.client.get(path, headers={"Cookie": header} if header else {})
        for set_cookie in response.headers.get_list("set-cookie"):
            name, _, rest = set_cookie.partition("=")
            value = rest.split(";", 1)[0]
            if value in ("", '""') or "Max-Age=0" in set_cookie:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return response


@dataclass
class Cluster:
    folder: Path
    url: str
    ehr: Ehr
    env: dict[str, str]
    a: Replica
    b: Replica

    def restart(self, name: str, **extra: str) -> Replica:
        """Stop replica `name` and start it again (on a new port), with `extra` settings changed."""
        old: Replica = getattr(self, name)
        old.stop()
        (new,) = start(self.folder, self.env | extra, f"{name}-again-{time.monotonic_ns()}")
        setattr(self, name, new)
        return new

    def rows(self) -> list[tuple[object, ...]]:
        """Every row of the two SMART tables as the database holds them, and each row's text form."""
        with psycopg.connect(self.url) as db:
            found: list[tuple[object, ...]] = []
            for table in ("chart_sessions", "smart_launches"):
                found += db.execute(f"SELECT *, t::text FROM {table} t").fetchall()
            return found


@pytest.fixture(scope="module")
def cluster(
    postgres: Postgres,  # noqa: F811
    ehr: Ehr,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("smart-replicas")
    url = postgres.new_database()
    storage = Storage(url, timeout=5.0, retention_days=1)
    storage.upgrade()
    storage.close()
    ehr.register(f"{BASE}/smart/callback", ALL_SCOPES)
    env = replica_env(
        folder,
        url,
        IVIG_CDS_SMART_ISSUERS=json.dumps({ehr.fhir: {"client_id": "ivig-cds"}}),
        IVIG_CDS_SESSION_KEYS=json.dumps([new_key()]),
    )
    a, b = start(folder, env, "a", "b")
    running = Cluster(folder, url, ehr, env, a, b)
    try:
        yield running
    finally:
        running.a.stop()
        running.b.stop()


def launch_on(first: Replica, then: Replica, browser: Browser, ehr: Ehr, patient: str) -> str:
    """An EHR launch for `patient` started on `first`, consented at the EHR, and called back on `then` (the EHR
    sends the browser to the public URL; the load balancer picks `then`); returns the widget path it ends on."""
    started = browser.get(first, f"/smart/launch?iss={ehr.fhir}&launch={ehr.launch(patient)}")
    assert started.status_code == 302, started.text
    consent = httpx.get(started.headers["location"])
    link = re.search(r'href="([^"]+)"', consent.text)
    assert link, consent.text
    callback = html.unescape(link.group(1))
    assert callback.startswith(f"{BASE}/smart/callback?")
    done = browser.get(then, callback.removeprefix(BASE))
    assert done.status_code == 303, done.text
    path: str = done.headers["location"]
    assert path.startswith("/widget?launch=")
    return path


def error_code(page: httpx.Response) -> str | None:
    found = re.search(r'data-error="([^"]+)"', page.text)
    return found.group(1) if found else None


def hers(page: httpx.Response, patient: str) -> None:
    """The page is her chart under her banner, and shows nothing of the other patient."""
    assert page.status_code == 200, page.text[:300]
    assert 'id="chart-source"' in page.text and 'id="patient-banner"' in page.text
    assert all(mark in page.text for mark in MARKS[patient])
    others = [mark for who, marks in MARKS.items() if who != patient for mark in marks if mark in page.text]
    assert others == []


def test_launch_on_a_callback_on_b_page_on_a_reload_on_b_and_the_two_patient_rule_holds(cluster: Cluster) -> None:
    browser = Browser()
    first = launch_on(cluster.a, cluster.b, browser, cluster.ehr, PATIENT)
    hers(browser.get(cluster.a, first), PATIENT)
    hers(browser.get(cluster.b, first), PATIENT)
    # A second patient launched in the same browser, the other way round: each page stays its own patient's.
    second = launch_on(cluster.b, cluster.a, browser, cluster.ehr, PATIENT_B)
    hers(browser.get(cluster.a, second), PATIENT_B)
    hers(browser.get(cluster.b, first), PATIENT)
    hers(browser.get(cluster.a, first), PATIENT)
    # A page built from a card's query values shows no chart and no banner, on either replica.
    for replica in (cluster.a, cluster.b):
        plain = browser.get(replica, "/widget?prior_pregnancy_losses=3&nk_cell_percent=18.4")
        assert plain.status_code == 200
        assert 'id="chart-source"' not in plain.text and 'id="patient-banner"' not in plain.text
    # Another browser (no cookie of this one) is refused the launch, on either replica.
    for replica in (cluster.a, cluster.b):
        assert error_code(Browser().get(replica, first)) == "smart.other_browser"


def test_a_session_survives_a_restart_of_the_replica_between_callback_and_page(cluster: Cluster) -> None:
    browser = Browser()
    path = launch_on(cluster.a, cluster.b, browser, cluster.ehr, PATIENT)
    restarted = cluster.restart("b")
    hers(browser.get(restarted, path), PATIENT)
    # And a launch whose callback comes after a restart of the replica that started it.
    started = browser.get(cluster.a, f"/smart/launch?iss={cluster.ehr.fhir}&launch={cluster.ehr.launch(PATIENT_B)}")
    consent = httpx.get(started.headers["location"])
    link = re.search(r'href="([^"]+)"', consent.text)
    assert link
    restarted_a = cluster.restart("a")
    done = browser.get(restarted_a, html.unescape(link.group(1)).removeprefix(BASE))
    assert done.status_code == 303, done.text
    hers(browser.get(cluster.b, done.headers["location"]), PATIENT_B)


def test_the_database_holds_no_token_no_patient_id_and_no_finding_in_clear(cluster: Cluster) -> None:
    browser = Browser()
    paths = [launch_on(cluster.a, cluster.b, browser, cluster.ehr, who) for who in (PATIENT, PATIENT_B)]
    # A launch still waiting for its callback is there too: its state and the launch must not be readable.
    waiting = browser.get(cluster.a, f"/smart/launch?iss={cluster.ehr.fhir}&launch={cluster.ehr.launch(PATIENT)}")
    state = parse_qs(urlsplit(waiting.headers["location"]).query)["state"][0]
    rows = cluster.rows()
    assert len(rows) >= 3
    raw = b"\x00".join(
        value if isinstance(value, bytes) else str(value).encode("utf-8") for row in rows for value in row
    )
    secrets = [*cluster.ehr.tokens, state, cluster.ehr.fhir]
    secrets += [path.partition("launch=")[2] for path in paths]
    secrets += [browser.cookies["ivig_cds_browser"].split(".")[0]]
    for text in [*secrets, *AT_REST[PATIENT], *AT_REST[PATIENT_B]]:
        assert text.encode("utf-8") not in raw, f"{text[:4]}… is in the database in clear"
    assert len(cluster.ehr.tokens) >= 2  # the tokens searched for were issued


def test_an_expired_session_is_refused_and_purged(cluster: Cluster) -> None:
    browser = Browser()
    cluster.ehr.token_lifetime = 2
    try:
        path = launch_on(cluster.a, cluster.b, browser, cluster.ehr, PATIENT)
    finally:
        cluster.ehr.token_lifetime = 300
    key = digest(path.partition("launch=")[2])
    hers(browser.get(cluster.a, path), PATIENT)
    assert any(row[0] == key for row in cluster.rows())
    time.sleep(2.5)
    page = browser.get(cluster.b, path)
    assert (page.status_code, error_code(page)) == (401, "smart.token_expired")
    assert not any(row[0] == key for row in cluster.rows())  # deleted as it was refused
    assert error_code(browser.get(cluster.a, path)) == "smart.token_expired"


def test_rotated_keys_read_older_sessions_and_a_retired_key_is_refused_with_its_page(cluster: Cluster) -> None:
    browser = Browser()
    path = launch_on(cluster.a, cluster.b, browser, cluster.ehr, PATIENT)
    old = json.loads(cluster.env["IVIG_CDS_SESSION_KEYS"])[0]
    newer = new_key()
    # Rotation: the new key first, the old one kept; both replicas restarted one after the other.
    rotated = json.dumps([newer, old])
    cluster.restart("a", IVIG_CDS_SESSION_KEYS=rotated)
    hers(browser.get(cluster.a, path), PATIENT)  # sealed with the old key, read after the rotation
    fresh = launch_on(cluster.a, cluster.a, browser, cluster.ehr, PATIENT_B)  # sealed with the new key
    cluster.restart("b", IVIG_CDS_SESSION_KEYS=rotated)
    hers(browser.get(cluster.b, fresh), PATIENT_B)
    hers(browser.get(cluster.b, path), PATIENT)
    # The old key retired: what it sealed is refused, with a page that says why; what the new one sealed opens.
    retired = cluster.restart("b", IVIG_CDS_SESSION_KEYS=json.dumps([newer]))
    page = browser.get(retired, path)
    assert (page.status_code, error_code(page)) == (401, "smart.session_key_retired")
    assert "no longer holds" in page.text and "Anna" not in page.text and PATIENT not in page.text
    hers(browser.get(retired, fresh), PATIENT_B)
    cluster.env["IVIG_CDS_SESSION_KEYS"] = rotated  # later restarts keep the rotated list


def test_serve_with_two_workers_on_sqlite_completes_every_launch_whichever_worker_each_hop_reaches(
    ehr: Ehr, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'ivig-cds.sqlite3'}"
    storage = Storage(url, timeout=5.0, retention_days=1)
    storage.upgrade()
    storage.close()
    ehr.register(f"{BASE}/smart/callback", ALL_SCOPES)
    env = replica_env(
        tmp_path,
        url,
        IVIG_CDS_DATA_DIR=str(tmp_path),
        IVIG_CDS_SMART_ISSUERS=json.dumps({ehr.fhir: {"client_id": "ivig-cds"}}),
        IVIG_CDS_SESSION_KEYS=json.dumps([new_key()]),
    )
    port, log = free_port(), tmp_path / "workers.log"
    with log.open("wb") as out:
        serve = command("serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2")
        process = subprocess.Popen(serve, env=env, stdout=out, stderr=out)
    served = Replica(process, f"http://127.0.0.1:{port}", log)
    # No keep-alive: each request is a new connection, which the kernel hands to either worker.
    served.client = httpx.Client(base_url=served.url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0))
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            try:
                if served.client.get("/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        ready = served.client.get("/readyz").json()
        assert (ready["status"], ready["database"], "sessions" in ready) == ("ready", "ok", False)
        for patient in (PATIENT, PATIENT_B) * 4:
            browser = Browser()
            path = launch_on(served, served, browser, ehr, patient)
            for _ in range(3):
                hers(browser.get(served, path), patient)
    finally:
        served.stop()
