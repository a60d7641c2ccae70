"""create_app(): the FastAPI application. Evidence, tables and templates load here, before serving (fail closed)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from http import HTTPStatus
from typing import Any, Literal

import anyio
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.routing import Route

from plugin import __version__
from plugin.api import admin
from plugin.api import routes as api
from plugin.cds_hooks import routes as cds
from plugin.cds_hooks.auth import ClientRefusedError
from plugin.cds_hooks.cards import cards_for
from plugin.cds_hooks.models import CDS_PREFIX
from plugin.cds_hooks.outcome import http_outcome, invalid_request, operation_outcome, refusal_outcome
from plugin.chat import function_calling
from plugin.chat.http_door import MCP_PATH, LazyMcpHttp, jsonrpc_refusal
from plugin.config import Settings, get_settings
from plugin.core.answer.lru import Lru
from plugin.core.answer.model import Answer
from plugin.core.answer.plugin import Plugin, load_plugin, smoke_test
from plugin.core.evidence.analysis import Analysis
from plugin.errors import MissingDataError, PluginError, ProfileError, TemplateError, UpstreamError
from plugin.smart import routes as smart
from plugin.storage.errors import StorageUnavailableError
from plugin.storage.store import Storage
from plugin.web import api_docs, home, tracing
from plugin.web import metrics as metrics_door
from plugin.web.cookies import session_secret
from plugin.web.deps import plugin_of
from plugin.web.error_page import render_request_error, request_error_page
from plugin.web.errors import FieldProblem, error_body, validation_body
from plugin.web.evidence_switch import EvidenceSwitch, Reload, Served
from plugin.web.form import ProfileForm, parse_query
from plugin.web.hangup import on_hangup
from plugin.web.limits import Limits, RequestLimits
from plugin.web.links import DECISION_AID_PATH
from plugin.web.logs import AccessLog
from plugin.web.metrics import Metrics
from plugin.web.openapi import document_errors
from plugin.web.sealing import sealer_from, several_processes
from plugin.web.sessions import SessionStore
from plugin.web.strict_json import Refusal
from plugin.widget import decision_aid
from plugin.widget import routes as widget
from plugin.widget.page import render_forest, render_page
from plugin.widget.routes import STATIC_FILES

log = logging.getLogger(__name__)

STATUS_FOR_ERROR: list[tuple[type[PluginError], int]] = [
    (ProfileError, 422),
    (MissingDataError, 412),
    (UpstreamError, 502),
    (StorageUnavailableError, 503),
]


# Each door answers its errors in one shape and one content type: CDS Hooks an OperationOutcome as application/json
# (as its cards are), the FHIR Evidence endpoint an OperationOutcome as application/fhir+json, the pages an EHR
# frames (the widget, the SMART launch) an HTML page, MCP JSON-RPC, and the JSON doors `{"error": ...}`.
Door = Literal["cds", "fhir", "page", "mcp", "json"]
FHIR_PATH = re.compile(r"^/v1/evidence/[^/]+/fhir$")
FHIR_JSON = "application/fhir+json"


def door_of(path: str) -> Door:
    if (path + "/").startswith(f"{CDS_PREFIX}/"):
        return "cds"
    if FHIR_PATH.match(path):
        return "fhir"
    if path in ("/widget", DECISION_AID_PATH) or path.startswith(("/widget/", "/smart/")):
        return "page"
    return "mcp" if path == MCP_PATH else "json"


def outcome_response(door: Door, status: int, body: dict[str, Any], headers: Any = None) -> JSONResponse:
    media = FHIR_JSON if door == "fhir" else "application/json"
    return JSONResponse(body, status_code=status, headers=headers, media_type=media)


def page_response(request: Request, status: int, code: str, message: str, headers: Any = None) -> Response:
    settings: Settings = request.app.state.settings
    page = request_error_page(plugin_of(request), status, code, message, settings.frame_ancestors)
    page.headers.update(headers or {})
    return page


async def plugin_error(request: Request, exc: Exception) -> Response:
    """The plugin's own errors, in the door's shape: {"error": {"code", "message", "details"}} on the JSON doors."""
    error = exc if isinstance(exc, PluginError) else PluginError(str(exc))
    status = next((code for cls, code in STATUS_FOR_ERROR if isinstance(error, cls)), 500)
    door = door_of(request.url.path)
    if door in ("cds", "fhir"):
        return outcome_response(door, status, operation_outcome(error))
    if door == "page":
        return page_response(request, status, error.code, error.message)
    body = {"error": {"code": error.code, "message": error.message, "details": jsonable_encoder(error.details)}}
    return JSONResponse(status_code=status, content=body)


async def request_invalid(request: Request, exc: Exception) -> Response:
    """422 naming field paths only, never values: FastAPI's default echoes the input, which holds a patient's
    findings (and on CDS Hooks prefetch data and the EHR's access token)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    door = door_of(request.url.path)
    if door in ("cds", "fhir"):
        return outcome_response(door, 422, invalid_request(errors))
    body = validation_body(errors)
    if door == "page":
        return page_response(request, 422, body["error"]["code"], body["error"]["message"])
    return JSONResponse(status_code=422, content=body)


HTTP_CODES = {404: "request.not_found", 405: "request.method_not_allowed", 415: "request.unsupported_media_type"}


async def http_error(request: Request, exc: Exception) -> Response:
    """Statuses the framework answers itself (404, 405...), in the door's shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    headers = exc.headers if isinstance(exc, HTTPException) else None
    door = door_of(request.url.path)
    if door in ("cds", "fhir"):
        return outcome_response(door, status, http_outcome(status, "cds" if door == "cds" else "request"), headers)
    code = HTTP_CODES.get(status, f"request.http_{status}")
    if door == "page":
        return page_response(request, status, code, HTTPStatus(status).phrase, headers)
    return JSONResponse(status_code=status, content=error_body(code, HTTPStatus(status).phrase), headers=headers)


async def internal_error(request: Request, exc: Exception) -> Response:
    """A defect: a bare 500 in the door's shape, naming nothing (the log has the exception's type and stack)."""
    door = door_of(request.url.path)
    if door in ("cds", "fhir"):
        return outcome_response(door, 500, http_outcome(500, "cds" if door == "cds" else "request"))
    if door == "page":
        return page_response(request, 500, "internal_error", "internal error")
    return JSONResponse(status_code=500, content=error_body("internal_error", "internal error"))


def render_refusal(plugin: Plugin, path: str, refusal: Refusal) -> tuple[bytes, str]:
    """A request refused before parsing, in the shape and content type of the door it was for."""
    door = door_of(path)
    if door in ("cds", "fhir"):
        body = refusal_outcome(refusal.status, refusal.code, refusal.message, refusal.field)
        return json.dumps(body).encode(), FHIR_JSON if door == "fhir" else "application/json"
    if door == "mcp":  # JSON-RPC over HTTP answers a message it cannot read with 400 (413 stays 413)
        if refusal.status == 422:
            refusal.status = 400
        return json.dumps(jsonrpc_refusal(refusal.code, refusal.message, refusal.field)).encode(), "application/json"
    if door == "page":
        return render_request_error(
            plugin, refusal.status, refusal.code, refusal.message
        ).encode(), "text/html; charset=utf-8"
    problem = FieldProblem(path=refusal.field, code=refusal.code, message=refusal.message)
    return json.dumps(error_body(refusal.code, refusal.message, [problem])).encode(), "application/json"


def limits(settings: Settings) -> Limits:
    return Limits(
        max_body=settings.max_body,
        bodies=((CDS_PREFIX, settings.max_cds_body),),
        max_query=settings.max_query,
        max_parameters=settings.max_parameters,
        max_depth=settings.max_json_depth,
    )


async def client_refused(request: Request, exc: Exception) -> Response:
    """A CDS Hooks client that failed authentication gets a bare 401: no body, no reason (best practice)."""
    challenge = exc.challenge if isinstance(exc, ClientRefusedError) else "Bearer"
    return Response(status_code=401, headers={"WWW-Authenticate": challenge})


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Runs what must live as long as the server: the MCP server, built in a worker thread on the first /mcp
    request (without it /mcp cannot answer); an evidence reload on each SIGHUP; the look for a newer release in
    the shared database. Lets go of the database connections at the end."""
    switch: EvidenceSwitch = app.state.evidence
    try:
        async with app.state.mcp.running(), anyio.create_task_group() as tasks:
            with on_hangup(switch.ask):
                tasks.start_soon(switch.answer_signals)
                tasks.start_soon(switch.poll)
                try:
                    yield
                finally:
                    tasks.cancel_scope.cancel()
    finally:
        app.state.storage.close()


def forest_for(plugin: Plugin, analysis: Analysis, answer: Answer) -> str:
    return render_forest(plugin, analysis, [e.id.partition("#")[2] for e in answer.estimates])


def preflight(plugin: Plugin, settings: Settings) -> None:
    """Render every status once in every door's own channel (the core did chat), before any port is bound.

    Raises:
        TemplateError: a card, the widget page, the forest plot or a widget asset cannot be produced.
    """
    base = settings.public_base_url
    smoke_test(plugin, "cds-hooks card", lambda answer: cards_for(answer, (), plugin.renderer, base))
    smoke_test(plugin, "widget page", lambda answer: render_page(plugin, ProfileForm(profile=answer.profile)))
    smoke_test(plugin, "widget page with errors", lambda _: render_page(plugin, parse_query([("ivig_start", "?")])))
    for analysis in plugin.store.analyses.values():
        smoke_test(plugin, "forest plot", partial(forest_for, plugin, analysis))
    missing = [name for name in STATIC_FILES if not (settings.templates_dir / "widget" / "static" / name).is_file()]
    if missing:
        raise TemplateError(
            "widget assets are missing", file=str(settings.templates_dir / "widget" / "static"), names=missing
        )


def proven_plugin(settings: Settings, metrics: Metrics) -> Plugin:
    """The release IVIG_CDS_EVIDENCE_DIR names now, loaded and rendered once in every channel (fail closed).

    The directory is resolved once, first: a symlink swapped while it loads cannot mix two releases.

    Raises:
        EvidenceError, RuleTableError, TemplateError: what `load_plugin` and `preflight` raise.
    """
    here = settings.model_copy(update={"evidence_dir": settings.evidence_dir.resolve()})
    plugin = load_plugin(here)
    preflight(plugin, here)
    plugin.answers.on_lookup = metrics.answer_looked_up  # after preflight: its answers are not counted
    return plugin


def reloaded(metrics: Metrics, result: Reload, served: Served) -> None:
    metrics.evidence_reloaded(result.trigger, result.outcome)
    metrics.evidence_served(served.version, served.label)


def truthful_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document with every error status each operation can answer (cached like FastAPI's own)."""
    app.openapi_schema = document_errors(FastAPI.openapi(app), CDS_PREFIX, door_of)
    return app.openapi_schema


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. Raises EvidenceError, RuleTableError or TemplateError when any part is broken or missing,
    DatabaseUrlError for a database URL that cannot be used at all. The database is not connected here: only
    the doors that need it (CDS Hooks, /readyz) depend on it."""
    settings = settings or get_settings()
    app = FastAPI(
        title="ivig-cds",
        version=__version__,
        summary="What the evidence says about IVIG and live birth for a woman with recurrent pregnancy loss "
        "and an immune finding. Non-randomized evidence; decision support, not a prescription.",
        lifespan=lifespan,
        docs_url=None,  # served by plugin.web.api_docs from installed assets, not a CDN
        redoc_url=None,
    )
    # Redirects would be built from the Host header: an unknown path is a 404, with or without a trailing slash.
    app.router.redirect_slashes = False
    app.openapi = lambda: app.openapi_schema or truthful_openapi(app)  # type: ignore[method-assign]
    app.state.settings = settings
    app.state.metrics = metrics = Metrics()
    app.state.storage = storage = open_storage(settings)
    # The release every door serves, read once per request; SIGHUP, /admin/evidence/reload and the poll switch it.
    app.state.evidence = switch = EvidenceSwitch(
        partial(proven_plugin, settings, metrics),
        settings.evidence_dir,
        ledger=storage,
        poll_seconds=settings.evidence_poll_seconds,
        on_reload=partial(reloaded, metrics),
    )
    metrics.evidence_served(switch.served.version, switch.served.label)
    app.add_exception_handler(Exception, internal_error)
    app.add_exception_handler(PluginError, plugin_error)
    app.add_exception_handler(ClientRefusedError, client_refused)
    app.add_exception_handler(RequestValidationError, request_invalid)
    app.add_exception_handler(HTTPException, http_error)
    # Inside CORS (added by the CDS Hooks door), so a refused CDS call still carries its CORS headers.
    app.add_middleware(
        RequestLimits,
        limits=limits(settings),
        render=lambda path, refusal: render_refusal(switch.plugin, path, refusal),
    )
    sealer = sealer_from([key.get_secret_value() for key in settings.session_keys])
    secret = session_secret(settings.session_secret.get_secret_value() if settings.session_secret else None, sealer)
    # With SMART issuers and several processes, a random key per process would refuse every launch that crosses them.
    app.state.session_key_missing = missing = (
        bool(settings.smart_issuers) and not sealer.configured and several_processes(settings.database_url)
    )
    if missing:
        log.warning(
            "IVIG_CDS_SESSION_KEYS is not set while several workers or replicas share the database: a SMART launch "
            "whose callback or page reaches another process fails, and /readyz says smart.session_key_missing"
        )
    # The chart sessions the SMART door opens and the widget reads, sealed in the shared database: neither door
    # imports the other.
    app.state.sessions = SessionStore(secret, storage, sealer)
    app.state.widget_pages = Lru(settings.answer_cache_size)  # finished widget pages, one per form as typed
    app.include_router(home.router)
    app.include_router(metrics_door.router)
    api_docs.install(app, "ivig-cds")
    app.include_router(api.router)
    if settings.admin_token is not None:  # off unless configured: without a token the path does not exist
        app.include_router(admin.router)
    app.include_router(widget.router)
    app.include_router(decision_aid.router)
    smart.install(app, settings, storage, sealer, secret)
    app.include_router(function_calling.router)
    cds.install(app, settings, storage)
    # Outermost: one line and one observation for every request, whatever answered it.
    app.add_middleware(AccessLog, observe=metrics.observe_request)
    tracing.install(app)  # a span per request when OpenTelemetry is installed (route templates only)
    app.state.mcp = LazyMcpHttp(partial(served_plugin, switch), settings)  # the MCP SDK: on the first /mcp call
    # One exact route rather than Mount("/"): /mcp cannot shadow other paths, in whatever order they are added.
    app.router.routes.append(Route(MCP_PATH, endpoint=app.state.mcp, name="mcp", include_in_schema=False))
    return app


async def served_plugin(switch: EvidenceSwitch) -> Plugin:
    """The release an MCP tool call uses, asked for once at its start."""
    return switch.plugin


def open_storage(settings: Settings) -> Storage:
    """The shared store at IVIG_CDS_DATABASE_URL (its URL is checked now; it is connected on first use).

    Raises:
        DatabaseUrlError: neither SQLite nor PostgreSQL, or an SQLite file in a directory that does not exist.
    """
    if settings.database_url.startswith(f"sqlite:///{settings.data_dir}/"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)  # the data directory is ours to make; no other is
    storage = Storage(settings.database_url, timeout=settings.database_timeout, retention_days=settings.retention_days)
    storage.engine  # noqa: B018  # builds the engine, which checks the URL
    return storage
