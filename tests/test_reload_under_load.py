"""`kill -HUP` of a real `ivig-cds serve` switches evidence releases under load on 127.0.0.1: no request fails, none
mixes two releases (each body's version matches the label and the text it carries), and once the switch is seen
every answer is the new release's. A broken release sent the same way is refused while the old one keeps serving,
and /readyz says why."""

from __future__ import annotations

import itertools
import os
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.types.version import LATEST_MODERN_VERSION
from prometheus_client.parser import text_string_to_metric_families

from tests.cds_hooks.support import SERVICE_URL, chart, hook_request
from tests.releases import broken, marked, point, release
from tests.served import CONSOLE_SCRIPT, Server, served

THREADS = 6
SECONDS = 2.0  # of load before the signal, and again after the switch is seen
OLD, NEW = "2026.12", "2026.12.1"
WIDGET_VERSION = re.compile(r'<code id="evidence-version">([^<]+)</code> \(release ([^;]+);')
CARD_VERSION = re.compile(r"Evidence (\S+) \(`([^`]+)`\)")
MCP_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": LATEST_MODERN_VERSION,
    "Mcp-Method": "tools/call",
    "Mcp-Name": "ivig_rpl_answer",
}
MCP_META = {
    "io.modelcontextprotocol/protocolVersion": LATEST_MODERN_VERSION,
    "io.modelcontextprotocol/clientCapabilities": {},
}


def profiles() -> list[dict[str, Any]]:
    """Distinct profiles across every status and many classes: losses, NK %, conditions, Th1/Th2, timing, baseline."""
    found = []
    for losses, nk, conditions, th1, start in itertools.product(
        (None, 1, 2, 3, 5),
        (None, 5, 12, 12.5, 14, 30),
        (None, [], ["antiphospholipid_syndrome"], ["autoimmune_thyroid_disease", "other_autoimmune"]),
        (None, True, False),
        (None, "conception_cycle", "after_pregnancy_confirmed"),
    ):
        fields = {
            "prior_pregnancy_losses": losses,
            "nk_cell_percent": nk,
            "autoimmune_conditions": conditions,
            "th1_th2_ratio_elevated": th1,
            "ivig_start": start,
        }
        found.append({name: value for name, value in fields.items() if value is not None})
    return found


PROFILES = profiles()


@dataclass(frozen=True)
class Seen:
    """One answered request: the door, when it was sent and answered, and the release its body says it is from."""

    door: str
    sent: float
    answered: float
    version: str
    label: str | None  # the label the body carries, where it carries one
    marked: bool | None  # whether the release-specific text is in it, where the body carries the context records


def answer_call(client: httpx.Client, n: int) -> tuple[str, str | None, bool | None]:
    response = client.post("/v1/answer", json=PROFILES[n % len(PROFILES)])
    response.raise_for_status()
    body = response.json()
    version, label = body["evidence_version"], body["evidence_label"]
    assert f"Evidence version `{version}` (release {label};" in body["rendered"]["markdown"]
    return version, label, marked(body["context"])


def evidence_call(client: httpx.Client, n: int) -> tuple[str, str | None, bool | None]:
    response = client.get("/v1/evidence")
    response.raise_for_status()
    body = response.json()
    return body["evidence_version"], None, marked(body["context"])


def widget_call(client: httpx.Client, n: int) -> tuple[str, str | None, bool | None]:
    profile = PROFILES[(n * 7) % len(PROFILES)]
    query = [(k, str(v).lower() if isinstance(v, bool) else v) for k, v in profile.items() if not isinstance(v, list)]
    response = client.get("/widget", params=query)
    response.raise_for_status()
    found = WIDGET_VERSION.search(response.text)
    assert found, "the widget page names no evidence version"
    return found.group(1), found.group(2), None


def card_call(client: httpx.Client, n: int) -> tuple[str, str | None, bool | None]:
    response = client.post(SERVICE_URL, json=hook_request(chart(nkCells="nk-percent.json")))
    response.raise_for_status()
    (card,) = response.json()["cards"]
    found = CARD_VERSION.search(card["detail"])
    assert found, "the card names no evidence version"
    return found.group(2), found.group(1), None


def mcp_call(client: httpx.Client, n: int) -> tuple[str, str | None, bool | None]:
    arguments = PROFILES[(n * 13) % len(PROFILES)]
    params = {"name": "ivig_rpl_answer", "arguments": arguments, "_meta": MCP_META}
    response = client.post(
        "/mcp", json={"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": params}, headers=MCP_HEADERS
    )
    response.raise_for_status()
    structured = response.json()["result"]["structuredContent"]
    return structured["evidence_version"], structured["evidence_label"], marked(structured["context"])


def health_call(client: httpx.Client, n: int) -> tuple[str, str | None, bool | None]:
    response = client.get("/healthz")
    response.raise_for_status()
    return response.json()["evidence_version"], None, None


DOORS: dict[str, Callable[[httpx.Client, int], tuple[str, str | None, bool | None]]] = {
    "answer": answer_call,
    "evidence": evidence_call,
    "widget": widget_call,
    "cds-hooks": card_call,
    "mcp": mcp_call,
    "healthz": health_call,
}
# How often each door is asked, in a cycle of ten requests.
MIX = ["answer"] * 4 + ["evidence", "widget", "widget", "cds-hooks", "mcp", "healthz"]


class Load:
    """THREADS clients on keep-alive connections, each going round the mix until stopped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: list[Seen] = []
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(THREADS)]

    def run(self, offset: int) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            for n in itertools.count(offset * 101):
                if self.stop.is_set():
                    return
                door = MIX[n % len(MIX)]
                sent = time.monotonic()
                try:
                    version, label, mark = DOORS[door](client, n)
                except (httpx.HTTPError, AssertionError, KeyError, ValueError) as exc:
                    with self.lock:
                        self.failures.append(f"{door}: {type(exc).__name__}: {exc}")
                    continue
                with self.lock:
                    self.seen.append(Seen(door, sent, time.monotonic(), version, label, mark))

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)


@dataclass
class Releases:
    folder: Path
    link: Path
    old: Path
    new: Path


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Releases:
    folder = tmp_path_factory.mktemp("releases")
    old, new = release(folder, OLD), release(folder, NEW, marked=True)
    link = folder / "current"
    point(link, old)
    return Releases(folder, link, old, new)


@pytest.fixture(scope="module")
def server(releases: Releases) -> Iterator[Server]:
    env = {
        "IVIG_CDS_EVIDENCE_DIR": str(releases.link),
        "IVIG_CDS_ALLOW_UNAUTHENTICATED": "1",
        "IVIG_CDS_EVIDENCE_POLL_SECONDS": "0",
        "IVIG_CDS_LOG_LEVEL": "INFO",
    }
    with served(env=env) as running:
        yield running


def readyz(server: Server) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{server.url}/readyz", timeout=10).json()
    return body


def wait_for(server: Server, condition: Callable[[dict[str, Any]], bool], seconds: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        ready = readyz(server)
        if condition(ready) or time.monotonic() > deadline:
            assert condition(ready), ready
            return ready
        time.sleep(0.02)


def test_sighup_switches_releases_under_load_with_no_failed_request_and_none_mixed(
    server: Server, releases: Releases, report: list[str]
) -> None:
    old = readyz(server)
    assert old["evidence_label"] == OLD
    with Load(server.url) as load:
        time.sleep(SECONDS)
        point(releases.link, releases.new)
        signalled = time.monotonic()
        os.kill(server.pid, signal.SIGHUP)
        new = wait_for(server, lambda ready: ready["evidence_label"] == NEW)
        switched = time.monotonic()
        time.sleep(SECONDS)

    releases_by_version = {old["evidence_version"]: (OLD, False), new["evidence_version"]: (NEW, True)}
    assert load.failures == []
    assert {seen.version for seen in load.seen} == set(releases_by_version)
    mixed = [
        seen
        for seen in load.seen
        if seen.version not in releases_by_version
        or (seen.label is not None and seen.label != releases_by_version[seen.version][0])
        or (seen.marked is not None and seen.marked != releases_by_version[seen.version][1])
    ]
    assert mixed == []
    assert {seen.version for seen in load.seen if seen.answered < signalled} == {old["evidence_version"]}
    assert {seen.version for seen in load.seen if seen.sent > switched} == {new["evidence_version"]}
    assert {seen.door for seen in load.seen if seen.sent > switched} == set(DOORS)
    assert new["evidence_reload"]["status"] == "switched" and new["evidence_reload"]["trigger"] == "signal"
    doors = Counter(seen.door for seen in load.seen)
    versions = Counter(releases_by_version[seen.version][0] for seen in load.seen)
    report.append(
        f"reload under load: {len(load.seen)} requests ({', '.join(f'{d} {c}' for d, c in sorted(doors.items()))}), "
        f"{len(load.failures)} failed; release {OLD} {versions[OLD]}, {NEW} {versions[NEW]}; "
        f"switch seen {switched - signalled:.2f} s after SIGHUP"
    )


def test_a_broken_release_sent_by_sighup_is_refused_while_the_old_one_keeps_serving(
    server: Server, releases: Releases
) -> None:
    serving = readyz(server)
    with Load(server.url) as load:
        time.sleep(0.5)
        point(releases.link, broken(releases.folder, "unknown_key"))
        os.kill(server.pid, signal.SIGHUP)
        refused = wait_for(server, lambda ready: (ready["evidence_reload"] or {}).get("status") == "failed")
        time.sleep(0.5)
    point(releases.link, releases.new if serving["evidence_label"] == NEW else releases.old)

    assert load.failures == []
    assert {seen.version for seen in load.seen} == {serving["evidence_version"]}
    assert (refused["evidence_version"], refused["switched_at"]) == (
        serving["evidence_version"],
        serving["switched_at"],
    )
    error = refused["evidence_reload"]["error"]
    assert (error["code"], error["field"]) == ("context.schema", "colour")
    assert error["file"].endswith("fda-thrombosis-boxed-warning.toml")
    assert any('"level": "ERROR"' in line and "context.schema" in line for line in server.log_until("context.schema"))


def test_with_two_workers_sighup_to_the_parent_switches_each_worker_in_place(
    releases: Releases, tmp_path: Path
) -> None:
    """uvicorn would restart the workers on SIGHUP; `serve` has the parent forward it, so each worker proves and
    switches (and would keep its release if the new one were broken). The shared database is not looked at
    (poll 0): the signal alone switches both, as the reload counter summed over both workers shows."""
    point(releases.link, releases.old)
    env = {
        "IVIG_CDS_EVIDENCE_DIR": str(releases.link),
        "IVIG_CDS_EVIDENCE_POLL_SECONDS": "0",
        "IVIG_CDS_DATA_DIR": str(tmp_path),  # the workers' metrics files
        "IVIG_CDS_PROOF_DIR": str(Path("var", "cache", "proofs").resolve()),  # the other served tests' proofs
    }
    command = [CONSOLE_SCRIPT, "serve", "--host", "127.0.0.1", "--workers", "2"]
    with served(command, env=env) as workers:
        old = httpx.get(f"{workers.url}/healthz", timeout=10).json()["evidence_version"]
        point(releases.link, releases.new)
        os.kill(workers.pid, signal.SIGHUP)
        deadline = time.monotonic() + 60
        while switched_workers(workers) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert switched_workers(workers) == 2
        versions = set()
        for _ in range(20):
            with httpx.Client() as client:  # a new connection each time, so both workers answer some
                versions.add(client.get(f"{workers.url}/healthz", timeout=10).json()["evidence_version"])
        assert len(versions) == 1 and old not in versions
        assert "restarting processes" not in "".join(workers.log)


def switched_workers(server: Server) -> float:
    """How many reloads asked by a signal switched, summed over the workers."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "ivig_cds_evidence_reloads_total" and sample.labels == {
                "trigger": "signal",
                "outcome": "switched",
            }:
                return sample.value
    return 0.0
