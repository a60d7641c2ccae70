"""`serve --workers 2`: every scrape, whichever worker answers it, reports the requests all workers answered."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.served import CONSOLE_SCRIPT, served

CALLS = 12
SCRAPES = 4


def healthz_count(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "ivig_cds_http_requests_total" and sample.labels["route"] == "/healthz":
                return sample.value
    return 0.0


def test_each_scrape_of_two_workers_adds_up_both(tmp_path: Path) -> None:
    command = [CONSOLE_SCRIPT, "serve", "--host", "127.0.0.1", "--workers", "2"]
    with served(command, env={"IVIG_CDS_DATA_DIR": str(tmp_path)}) as server:
        # served() polls /healthz until it answers: those calls count too, so read the count first
        before = healthz_count(httpx.get(f"{server.url}/metrics", timeout=10).text)
        for _ in range(CALLS):
            with httpx.Client() as client:  # a new connection each time, so both workers take some
                assert client.get(f"{server.url}/healthz", timeout=10).status_code == 200
        counts = []
        for _ in range(SCRAPES):
            with httpx.Client() as client:
                counts.append(healthz_count(client.get(f"{server.url}/metrics", timeout=10).text))
        assert counts == [before + CALLS] * SCRAPES
        assert sorted(path.suffix for path in (tmp_path / "metrics").iterdir()) != []
