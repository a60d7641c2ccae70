"""GET /metrics: Prometheus text that prometheus-client's own parser reads, with figures per route template, cards,
feedback, answer cache and evidence version, and no value of any request's profile in it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from plugin.app import create_app
from tests.cds_hooks.support import SERVICE_URL, cds_settings, chart, hook_request

# Values only this test sends: none may appear anywhere in the scrape.
NK, LOSSES, WIDGET_NK = 37.25, 7, 41.75
HOOK_INSTANCE = "6f3c0a52-1b8e-4a57-9c3d-5e0f1a2b3c4d"
COMMENT = "Discussed with Ms Example, MRN-99817"
PROBE = "/v1/evidence/probe-4471/fhir"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, TestClient]]:
    """A fresh app (its own figures) after a known set of calls on every door that counts something."""
    settings = cds_settings(tmp_path_factory.mktemp("metrics"))
    with TestClient(create_app(settings)) as client:
        profile = {"nk_cell_percent": NK, "prior_pregnancy_losses": LOSSES}
        assert client.post("/v1/answer", json=profile).status_code == 200  # worked out: a miss
        assert client.post("/v1/answer", json=profile).status_code == 200  # the same profile again: a hit
        assert client.post("/v1/answer", json={"nk_cell_percent": 140}).status_code == 422
        assert client.get("/widget", params={"nk_cell_percent": WIDGET_NK}).status_code == 200
        assert client.get(PROBE).status_code == 404
        assert client.get("/no-such-door", params={"nk_cell_percent": NK}).status_code == 404
        body = hook_request(chart(nkCells="nk-percent.json", obstetricHistory="obstetric-3-losses.json"))
        card = client.post(SERVICE_URL, json=body | {"hookInstance": HOOK_INSTANCE}).json()["cards"][0]
        reason = {"reason": {"system": "https://ehr.example.org/reasons", "code": "patient-declined"}}
        entry = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-03-02T10:00:00Z"}
        feedback = {"feedback": [entry | {"overrideReason": reason | {"userComment": COMMENT}}]}
        assert client.post(f"{SERVICE_URL}/feedback", json=feedback).status_code == 200
        response = client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=")
        yield response.text, client


def test_requests_are_counted_per_route_template_and_status(scraped: tuple[str, TestClient]) -> None:
    found = samples(scraped[0])
    requests = {labels: value for (name, labels), value in found.items() if name == "ivig_cds_http_requests_total"}
    assert requests == {
        (("method", "POST"), ("route", "/v1/answer"), ("status", "200")): 2.0,
        (("method", "POST"), ("route", "/v1/answer"), ("status", "422")): 1.0,
        (("method", "GET"), ("route", "/widget"), ("status", "200")): 1.0,
        (("method", "GET"), ("route", "/v1/evidence/{analysis_id}/fhir"), ("status", "404")): 1.0,
        (("method", "GET"), ("route", "unmatched"), ("status", "404")): 1.0,
        (("method", "POST"), ("route", "/cds-services/ivig-rpl-evidence"), ("status", "200")): 1.0,
        (("method", "POST"), ("route", "/cds-services/ivig-rpl-evidence/feedback"), ("status", "200")): 1.0,
    }
    latency_counts = {
        labels: value
        for (name, labels), value in found.items()
        if name == "ivig_cds_http_request_duration_seconds_count"
    }
    assert latency_counts == requests


def test_cards_feedback_cache_and_evidence_version_are_reported(scraped: tuple[str, TestClient]) -> None:
    text, client = scraped
    found = samples(text)
    assert found[("ivig_cds_cds_cards_total", (("indicator", "info"), ("service", "ivig-rpl-evidence")))] == 1.0
    feedback = (("outcome", "overridden"), ("override_reason", "coded_with_comment"), ("service", "ivig-rpl-evidence"))
    assert found[("ivig_cds_cds_feedback_entries_total", feedback)] == 1.0
    cache = {labels: value for (name, labels), value in found.items() if name == "ivig_cds_answer_cache_lookups_total"}
    assert cache == {(("result", "hit"),): 1.0, (("result", "miss"),): 3.0}  # the second POST; the first, widget, card
    info = {labels for (name, labels), _ in found.items() if name == "ivig_cds_evidence_info"}
    ready = client.get("/readyz").json()
    assert info == {
        (
            ("evidence_label", ready["evidence_label"]),
            ("evidence_version", ready["evidence_version"]),
            ("version", "0.1.0"),
        )
    }


def test_no_value_of_any_request_appears_in_the_scrape(scraped: tuple[str, TestClient]) -> None:
    text = scraped[0]
    sent = [str(NK), str(WIDGET_NK), "probe-4471", "no-such-door", HOOK_INSTANCE, "1288992", "patient-declined"]
    assert [value for value in [*sent, COMMENT, "MRN"] if value in text] == []
    routes = set(scraped[1].get("/openapi.json").json()["paths"]) | {"unmatched"}
    families = text_string_to_metric_families(text)
    labelled = [s.labels["route"] for family in families for s in family.samples if "route" in s.labels]
    assert set(labelled) <= routes  # route templates only, never a path as it was sent


def test_metrics_is_in_the_openapi_document_as_text(scraped: tuple[str, TestClient]) -> None:
    operation = scraped[1].get("/openapi.json").json()["paths"]["/metrics"]["get"]
    assert "text/plain" in operation["responses"]["200"]["content"]


def test_without_a_worker_directory_the_figures_are_this_process_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with TestClient(create_app(cds_settings(tmp_path))) as client:
        client.get("/healthz")
        found = samples(client.get("/metrics").text)
    key = ("ivig_cds_http_requests_total", (("method", "GET"), ("route", "/healthz"), ("status", "200")))
    assert found[key] == 1.0
