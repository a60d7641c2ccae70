"""GET /metrics: what an operator watches, in Prometheus text format, with no patient data in any label.

Labels hold only what the service itself names: the HTTP method (unknown methods as `other`), the route
*template* (`/v1/evidence/{analysis_id}/fhir`, or `unmatched`; never a raw path or a query), the status, the CDS
service id, the card indicator, the feedback outcome, the kind of override reason (a reason coding, a comment,
both or none: the codes and comments an EHR sends are free text and stay in the feedback table), and what asked for
an evidence reload and how it ended. Recording is a counter increment and a histogram observation per request;
everything else is read when /metrics is scraped.

Several workers (`serve --workers N`): uvicorn starts them as separate processes, so `serve` points
prometheus-client's multiprocess mode at `IVIG_CDS_DATA_DIR/metrics` before they start, and every scrape, whichever
worker answers it, adds up the figures of all of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import InfoMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from plugin import __version__

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class EvidenceInfo(Collector):
    """The evidence version and release label every answer carries, and the package version, as an info metric
    (read at scrape, so it follows a switch of releases)."""

    def __init__(self) -> None:
        self.labels = {"version": __version__}

    def serve(self, evidence_version: str, evidence_label: str) -> None:
        self.labels = {"evidence_version": evidence_version, "evidence_label": evidence_label, "version": __version__}

    def collect(self) -> Iterable[Metric]:
        yield InfoMetricFamily("ivig_cds_evidence", "The evidence store and release this process serves", self.labels)


class Metrics:
    """The service's counters and histograms, on a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.info = EvidenceInfo()
        self.registry.register(self.info)
        self.requests = Counter(
            "ivig_cds_http_requests",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ivig_cds_http_request_duration_seconds",
            "Time from the request's arrival to the end of its response, by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.cards = Counter(
            "ivig_cds_cds_cards",
            "CDS Hooks cards returned, by service and indicator",
            ["service", "indicator"],
            registry=self.registry,
        )
        self.feedback = Counter(
            "ivig_cds_cds_feedback_entries",
            "CDS Hooks feedback entries acknowledged (a retransmission counts again), by outcome and override reason",
            ["service", "outcome", "override_reason"],
            registry=self.registry,
        )
        self.cache = Counter(
            "ivig_cds_answer_cache_lookups",
            "Finished answers looked up: hit (made before) or miss (worked out now)",
            ["result"],
            registry=self.registry,
        )
        self._hit, self._miss = self.cache.labels("hit"), self.cache.labels("miss")
        self.reloads = Counter(
            "ivig_cds_evidence_reloads",
            "Evidence reloads, by what asked for one (signal, admin, poll) and how it ended (switched, unchanged, "
            "failed, waiting)",
            ["trigger", "outcome"],
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method if method in METHODS else "other", route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def answer_looked_up(self, hit: bool) -> None:
        (self._hit if hit else self._miss).inc()

    def evidence_served(self, evidence_version: str, evidence_label: str) -> None:
        self.info.serve(evidence_version, evidence_label)

    def evidence_reloaded(self, trigger: str, outcome: str) -> None:
        self.reloads.labels(trigger, outcome).inc()

    def cards_returned(self, service: str, indicators: Sequence[str]) -> None:
        for indicator in indicators:
            self.cards.labels(service, indicator).inc()

    def feedback_acknowledged(self, service: str, entries: Iterable[tuple[str, bool, bool]]) -> None:
        """Each entry as (outcome, has a reason coding, has a comment)."""
        for outcome, coded, commented in entries:
            reason = {(True, True): "coded_with_comment", (True, False): "coded", (False, True): "comment"}
            self.feedback.labels(service, outcome, reason.get((coded, commented), "none")).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The text a scrape gets: this process's figures, or with several workers the sum of all of theirs."""
        if os.environ.get(MULTIPROCESS_ENV):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # the library's own signature
            registry.register(self.info)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


router = APIRouter()


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    tags=["service"],
    summary="Prometheus metrics",
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Text format 0.0.4"}},
)
def scrape(request: Request) -> Response:
    """Requests and latencies per route template and status, cards, feedback, answer cache and evidence version.

    Run in a worker thread: formatting the figures never holds up the event loop."""
    metrics: Metrics = request.app.state.metrics
    body, media_type = metrics.exposition()
    return Response(body, media_type=media_type)
