"""Optional OpenTelemetry tracing: a server span per request when OpenTelemetry is installed and configured.

No hard dependency: without the `opentelemetry-api` package, or with no tracer provider set up when the app is
built, nothing is added and a request costs nothing more. Set one up with the OpenTelemetry SDK and an exporter,
e.g. `opentelemetry-instrument ivig-cds serve` with OTEL_TRACES_EXPORTER=otlp. A span carries only the
method, the route template and the status, as the access log does: never the URL, the query or a header other than
the incoming trace context (traceparent, tracestate).
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TRACE_HEADERS = (b"traceparent", b"tracestate")


def available() -> bool:
    return find_spec("opentelemetry") is not None and find_spec("opentelemetry.trace") is not None


class Tracing:
    """Pure ASGI: one SERVER span per HTTP request, named `METHOD /route/{template}`."""

    def __init__(self, app: ASGIApp, tracer: Any = None) -> None:
        from opentelemetry import trace

        self.app = app
        self.tracer = tracer or trace.get_tracer("ivig-cds")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from opentelemetry import propagate, trace

        carrier = {name.decode(): value.decode("latin-1") for name, value in scope["headers"] if name in TRACE_HEADERS}
        method = scope["method"]
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        context = propagate.extract(carrier)
        with self.tracer.start_as_current_span(method, context=context, kind=trace.SpanKind.SERVER) as span:
            try:
                await self.app(scope, receive, send_status)
            finally:
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                span.update_name(f"{method} {route}")
                span.set_attribute("http.request.method", method)
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(trace.StatusCode.ERROR)


def configured_provider() -> Any | None:
    """The process's tracer provider, when OpenTelemetry is installed and someone has set one up."""
    if not available():
        return None
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    return None if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider) else provider


def install(app: FastAPI, provider: Any = None) -> bool:
    """Add the tracing middleware when there is somewhere for spans to go; whether it was added."""
    provider = provider or configured_provider()
    if provider is None:
        return False
    app.add_middleware(Tracing, tracer=provider.get_tracer("ivig-cds"))
    return True
