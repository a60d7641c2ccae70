"""The FastAPI baselines: bare apps that validate the same request and return the very bytes our service returned.

Factories for `uvicorn --factory bench.bare_apps:sync_app` (or `async_app`), so each runs in its own process as a
minimal FastAPI service would; it imports nothing else, so its memory is FastAPI's and the request models' only.
What is left between them and `ivig-cds serve` is our own work: middleware, the answer, rendering, serialization.
The bodies and content types come from the directory named by BENCH_RESPONSES (`<name>.body`, `<name>.type`),
written by bench/http_throughput.py after fetching each once from our running service.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Response

from plugin.cds_hooks.models import PatientViewRequest
from plugin.core.rules.profile import PatientProfile

ANSWER_PATH = "/v1/answer"
CDS_PATH = "/cds-services/ivig-rpl-evidence"
WIDGET_PATH = "/widget"


def recorded(name: str) -> tuple[bytes, str]:
    """The body and content type our service answered for `name`, as written to BENCH_RESPONSES."""
    folder = Path(os.environ["BENCH_RESPONSES"])
    return (folder / f"{name}.body").read_bytes(), (folder / f"{name}.type").read_text()


def fixed_app(asynchronous: bool) -> FastAPI:
    """POST /v1/answer (PatientProfile body), the patient-view CDS service (PatientViewRequest body) and
    GET /widget (profile query parameters), each returning a recorded response; `def` or `async def` endpoints."""
    answer, answer_type = recorded("answer")
    cds, cds_type = recorded("cds")
    widget, widget_type = recorded("widget")
    app = FastAPI()

    if asynchronous:

        @app.post(ANSWER_PATH)
        async def post_answer(profile: PatientProfile) -> Response:
            return Response(answer, media_type=answer_type)

        @app.post(CDS_PATH)
        async def patient_view(body: PatientViewRequest) -> Response:
            return Response(cds, media_type=cds_type)

        @app.get(WIDGET_PATH)
        async def get_widget(
            prior_pregnancy_losses: int | None = None,
            nk_cell_percent: float | None = None,
            ivig_start: str | None = None,
        ) -> Response:
            return Response(widget, media_type=widget_type)

    else:

        @app.post(ANSWER_PATH)
        def post_answer_sync(profile: PatientProfile) -> Response:
            return Response(answer, media_type=answer_type)

        @app.post(CDS_PATH)
        def patient_view_sync(body: PatientViewRequest) -> Response:
            return Response(cds, media_type=cds_type)

        @app.get(WIDGET_PATH)
        def get_widget_sync(
            prior_pregnancy_losses: int | None = None,
            nk_cell_percent: float | None = None,
            ivig_start: str | None = None,
        ) -> Response:
            return Response(widget, media_type=widget_type)

    return app


def sync_app() -> FastAPI:
    return fixed_app(asynchronous=False)


def async_app() -> FastAPI:
    return fixed_app(asynchronous=True)
