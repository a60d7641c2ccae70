"""Optional OpenTelemetry tracing: one server span per request, named by route template, carrying no request value."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from plugin.web import tracing

PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_a_request_gives_one_span_named_by_its_route_template(app: FastAPI) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with TestClient(tracing.Tracing(app, provider.get_tracer("test"))) as client:
        traceparent = f"00-{PARENT_TRACE}-00f067aa0ba902b7-01"
        response = client.get(
            "/v1/evidence/probe-4471/fhir", params={"nk": "37.25"}, headers={"traceparent": traceparent}
        )
    assert response.status_code == 404
    (span,) = exporter.get_finished_spans()
    assert span.name == "GET /v1/evidence/{analysis_id}/fhir"
    assert dict(span.attributes or {}) == {
        "http.request.method": "GET",
        "http.route": "/v1/evidence/{analysis_id}/fhir",
        "http.response.status_code": 404,
    }
    assert format(span.context.trace_id, "032x") == PARENT_TRACE  # the caller's trace goes on


def test_the_app_traces_only_when_opentelemetry_is_installed_and_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    configured, unconfigured, uninstalled = FastAPI(), FastAPI(), FastAPI()
    assert tracing.install(configured, TracerProvider()) is True
    assert [m.cls for m in configured.user_middleware] == [tracing.Tracing]  # type: ignore[comparison-overlap]
    assert tracing.install(unconfigured) is False  # the API is installed, but no provider was set up
    monkeypatch.setattr(tracing, "find_spec", lambda name: None)
    assert tracing.configured_provider() is None
    assert tracing.install(uninstalled) is False
    assert unconfigured.user_middleware == uninstalled.user_middleware == []
