"""create_app(): the FastAPI application. Evidence, tables and templates load here, before serving (fail closed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.routing import Route

from plugin import __version__
from plugin.api import routes as api
from plugin.cds_hooks import routes as cds
from plugin.cds_hooks.auth import ClientRefusedError
from plugin.cds_hooks.models import CDS_PREFIX
from plugin.cds_hooks.outcome import http_outcome, invalid_request, operation_outcome
from plugin.chat import function_calling
from plugin.chat.mcp_server import McpHttp, build_server, loaded
from plugin.config import Settings, get_settings
from plugin.core.errors import MissingDataError, PluginError, UpstreamError
from plugin.core.plugin import load_plugin
from plugin.smart import routes as smart
from plugin.storage.errors import StorageUnavailableError
from plugin.storage.store import Storage
from plugin.web.sessions import SessionStore, session_secret
from plugin.widget import routes as widget

STATUS_FOR_ERROR: list[tuple[type[PluginError], int]] = [
    (MissingDataError, 412),
    (UpstreamError, 502),
    (StorageUnavailableError, 503),
]


def on_cds_hooks(request: Request) -> bool:
    """CDS Hooks answers every non-2xx that has a body with a FHIR OperationOutcome (other doors keep theirs)."""
    return (request.url.path + "/").startswith(f"{CDS_PREFIX}/")


async def plugin_error(request: Request, exc: Exception) -> JSONResponse:
    """The plugin's own error shape: {"error": {"code", "message", "details"}}; one place for every route."""
    error = exc if isinstance(exc, PluginError) else PluginError(str(exc))
    status = next((code for cls, code in STATUS_FOR_ERROR if isinstance(error, cls)), 500)
    if on_cds_hooks(request):
        return JSONResponse(status_code=status, content=operation_outcome(error))
    body = {"error": {"code": error.code, "message": error.message, "details": jsonable_encoder(error.details)}}
    return JSONResponse(status_code=status, content=body)


async def request_invalid(request: Request, exc: Exception) -> Response:
    """422. On CDS Hooks an OperationOutcome naming field paths only: FastAPI's default echoes the input, which
    there holds prefetch patient data and the EHR's access token."""
    if not isinstance(exc, RequestValidationError) or not on_cds_hooks(request):
        return await request_validation_exception_handler(request, exc)  # type: ignore[arg-type]
    return JSONResponse(status_code=422, content=invalid_request(exc.errors()))


async def http_error(request: Request, exc: Exception) -> Response:
    """Statuses the framework answers itself (404, 405...): an OperationOutcome on CDS Hooks, FastAPI's elsewhere."""
    if not isinstance(exc, HTTPException) or not on_cds_hooks(request):
        return await http_exception_handler(request, exc)  # type: ignore[arg-type]
    return JSONResponse(status_code=exc.status_code, content=http_outcome(exc.status_code), headers=exc.headers)


async def client_refused(request: Request, exc: Exception) -> Response:
    """A CDS Hooks client that failed authentication gets a bare 401: no body, no reason (best practice)."""
    return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Runs what must live as long as the server: the MCP session manager (without it /mcp cannot answer); lets go
    of the database connections at the end."""
    try:
        async with app.state.mcp.running():
            yield
    finally:
        app.state.storage.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. Raises EvidenceError or RuleTableError if the evidence store is broken, ValueError for a
    database URL that is neither SQLite nor PostgreSQL. The database is not connected here: only the doors that
    need it (CDS Hooks, /readyz) depend on it."""
    settings = settings or get_settings()
    app = FastAPI(
        title="ivig-cds",
        version=__version__,
        summary="What the evidence says about IVIG and live birth for a woman with recurrent pregnancy loss "
        "and an immune finding. Non-randomized evidence; decision support, not a prescription.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.plugin = load_plugin(settings)
    app.state.storage = storage = open_storage(settings)
    app.add_exception_handler(PluginError, plugin_error)
    app.add_exception_handler(ClientRefusedError, client_refused)
    app.add_exception_handler(RequestValidationError, request_invalid)
    app.add_exception_handler(HTTPException, http_error)
    secret = session_secret(settings.session_secret.get_secret_value() if settings.session_secret else None)
    # The chart sessions the SMART door opens and the widget reads: shared state, neither door imports the other.
    app.state.sessions = SessionStore(secret)
    app.include_router(api.router)
    app.include_router(widget.router)
    smart.install(app, settings, secret)
    app.include_router(function_calling.router)
    cds.install(app, settings, storage)
    app.state.mcp = McpHttp(build_server(loaded(app.state.plugin)), settings)
    # One exact route rather than Mount("/"): /mcp cannot shadow other paths, in whatever order they are added.
    app.router.routes.append(Route("/mcp", endpoint=app.state.mcp, name="mcp", include_in_schema=False))
    return app


def open_storage(settings: Settings) -> Storage:
    """The shared store at IVIG_CDS_DATABASE_URL (its URL is checked now; it is connected on first use).

    Raises:
        ValueError: a database URL that is neither SQLite nor PostgreSQL.
    """
    storage = Storage(settings.database_url, timeout=settings.database_timeout, retention_days=settings.retention_days)
    storage.engine  # noqa: B018  # builds the engine, which checks the URL
    return storage
