"""The EHR door (CDS Hooks 2.0): discovery, one service per hook (patient-view, order-select), each with feedback.

A thin shell: the request's FHIR data becomes a `PatientProfile` (`prefetch`, `plugin.fhir`), the core answers,
and `cards` turns the `Answer` into cards. Service and feedback calls need a verified client JWT unless
IVIG_CDS_ALLOW_UNAUTHENTICATED is set; discovery is public (it holds no patient data). The shared `Storage` holds
the JWT replay guard, the record of every card returned (`issued`) and feedback; when it cannot answer, service and
feedback calls get 503. CORS (`cors`), preflight included, applies to /cds-services only and never asks for a token.
Logs carry the hook instance, never a token or a patient identifier.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fhir.resources.R4B.codeableconcept import CodeableConcept
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from plugin.cds_hooks import prefetch
from plugin.cds_hooks.auth import Client, ClientRefusedError, ClientVerifier
from plugin.cds_hooks.cards import cards_for
from plugin.cds_hooks.cors import CdsCors
from plugin.cds_hooks.discovery import DISCOVERY
from plugin.cds_hooks.feedback import FeedbackRate, feedback_rows, too_many_on_card
from plugin.cds_hooks.fhir_servers import FhirServerPolicy
from plugin.cds_hooks.issued import card_rows, never_issued
from plugin.cds_hooks.models import (
    CDS_PREFIX,
    ORDER_SELECT_SERVICE_ID,
    SERVICE_ID,
    CdsRequest,
    CdsResponse,
    Discovery,
    FeedbackRequest,
    OrderSelectRequest,
    PatientViewRequest,
)
from plugin.cds_hooks.orders import ivig_orders
from plugin.cds_hooks.outcome import invalid_request, refusal_outcome
from plugin.config import Settings
from plugin.core.answer.plugin import Plugin
from plugin.fhir import chart as fhir
from plugin.fhir.search import FhirAccess, FhirLimits
from plugin.storage.errors import StorageUnavailableError
from plugin.storage.feedback import CardsFullError
from plugin.storage.store import Storage
from plugin.web.deps import PluginDep
from plugin.web.metrics import Metrics

log = logging.getLogger(__name__)

router = APIRouter(prefix=CDS_PREFIX, tags=["cds-hooks"])


async def authenticate(settings: Settings, verifier: ClientVerifier, path: str, authorization: str) -> Client | None:
    """The verified CDS client, from the request's path and Authorization header alone; None in unauthenticated
    development mode when no token verifies.

    Development mode still verifies a token that comes along, so a trusted issuer's FHIR servers stay usable there.

    Raises:
        ClientRefusedError: no bearer token, or one that fails verification (a bare 401), outside development mode.
        StorageUnavailableError: the replay guard cannot answer (503).
    """
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        if settings.allow_unauthenticated:
            return None
        raise ClientRefusedError("no bearer token")
    endpoint = f"{settings.public_base_url.rstrip('/')}{path}"
    # Feedback belongs to the service: accept either URL as its audience.
    audiences = (endpoint, endpoint.removesuffix("/feedback")) if endpoint.endswith("/feedback") else (endpoint,)
    try:
        return await verifier.verify(token.strip(), audiences)
    except ClientRefusedError:
        if settings.allow_unauthenticated:
            return None
        raise


class CdsAuthentication:
    """Decides who calls a CDS service from the headers, before any of the body is read: a refused caller gets its
    bare 401 at once (the body left unread, the connection closed), so an unauthenticated megabyte costs nothing
    to parse. The verdict is left in the request's state for `require_client`."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "POST" or not path.startswith(f"{CDS_PREFIX}/"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        verifier: ClientVerifier = scope["app"].state.cds_verifier
        try:
            verdict: Client | None | Exception = await authenticate(
                self.settings, verifier, path, headers.get("authorization", "")
            )
        except ClientRefusedError as refused:
            refusal = Response(status_code=401, headers={"WWW-Authenticate": refused.challenge, "Connection": "close"})
            await refusal(scope, receive, send)
            return
        except StorageUnavailableError as exc:
            verdict = exc  # answered by the route, in the door's shape, once the request has been read
        scope.setdefault("state", {})[CLIENT_STATE] = verdict
        await self.app(scope, receive, send)


CLIENT_STATE = "cds_client"


async def require_client(request: Request) -> Client | None:
    """The caller `CdsAuthentication` verified; None in development mode when no token verified.

    Raises:
        ClientRefusedError: never reached through the middleware (it answers the 401 itself).
        StorageUnavailableError: the replay guard could not answer.
    """
    verdict = getattr(request.state, CLIENT_STATE, None)
    if isinstance(verdict, Exception):
        raise verdict
    if verdict is None and not request.app.state.settings.allow_unauthenticated:
        raise ClientRefusedError("not verified")
    return verdict if isinstance(verdict, Client) else None


ClientDep = Annotated[Client | None, Depends(require_client)]


@router.get("", response_model=Discovery, response_model_exclude_none=True)
def discovery() -> Discovery:
    """CDS Hooks discovery: one service on patient-view and one on order-select, with their prefetch."""
    return DISCOVERY


@router.post(f"/{SERVICE_ID}", response_model=CdsResponse, response_model_exclude_none=True)
async def patient_view(body: PatientViewRequest, request: Request, plugin: PluginDep, client: ClientDep) -> CdsResponse:
    """Cards with the evidence that applies to this patient; `cards: []` when it is not about her.

    Answers 412 with an OperationOutcome when the problem list was neither prefetched nor retrievable.
    """
    return await answer_call(body, SERVICE_ID, (), request, plugin, client)


@router.post(f"/{ORDER_SELECT_SERVICE_ID}", response_model=CdsResponse, response_model_exclude_none=True)
async def order_select(body: OrderSelectRequest, request: Request, plugin: PluginDep, client: ClientDep) -> CdsResponse:
    """The evidence card when a selected draft order is for IVIG; `cards: []` for any other selection."""
    settings: Settings = request.app.state.settings
    orders = ivig_orders(body.context.draft_orders, body.context.selections, settings.ivig_medication_codes)
    if not orders:
        return respond(body, CdsResponse(cards=()), "no IVIG order")
    reasons = [reason for order in orders for reason in order.reasons]
    return await answer_call(body, ORDER_SELECT_SERVICE_ID, reasons, request, plugin, client)


async def answer_call(
    body: CdsRequest,
    service_id: str,
    reasons: Sequence[CodeableConcept],
    request: Request,
    plugin: Plugin,
    client: Client | None,
) -> CdsResponse:
    """The chart read from prefetch (and the FHIR server), answered by the core and turned into cards, each one
    recorded before it is returned (no record, no card: feedback on it would be refused)."""
    settings: Settings = request.app.state.settings
    access = fhir_access(body, client, request.app.state.cds_fhir_servers)
    parsed = await prefetch.gather(
        body.prefetch,
        access,
        body.context.patient_id,
        timeout=settings.fhir_timeout,
        deadline=settings.deadline,
        limits=FhirLimits.of(settings),
    )
    chart = await anyio.to_thread.run_sync(fhir.chart_from, parsed, reasons)
    if not chart.relevant:
        return respond(body, CdsResponse(cards=()), "no RPL diagnosis and no count of two or more losses")
    answer = plugin.answer(chart.profile, ivig_order=body.hook == "order-select")
    cards = cards_for(answer, chart.findings, plugin.renderer, settings.public_base_url, chart.unread)
    storage: Storage = request.app.state.storage
    issuer = client.issuer if client else None
    await storage.record_cards(card_rows(cards, body, service_id, answer, datetime.now(UTC), issuer))
    metrics: Metrics = request.app.state.metrics
    metrics.cards_returned(service_id, [card.indicator for card in cards])
    return respond(body, CdsResponse(cards=cards), answer.status)


def fhir_access(body: CdsRequest, client: Client | None, policy: FhirServerPolicy) -> FhirAccess | None:
    """The FHIR server to query and its token, when the call gives both and its issuer may name that server."""
    auth, server = body.fhir_authorization, body.fhir_server
    if auth is None or not server:
        return None
    base = policy.allowed(server, client.issuer if client else None)
    return None if base is None else FhirAccess(base, auth.access_token.get_secret_value())


def respond(body: CdsRequest, response: CdsResponse, why: str) -> CdsResponse:
    log.info("%s hookInstance=%s: %d card(s), %s", body.hook, body.hook_instance, len(response.cards), why)
    return response


async def store_feedback(service_id: str, body: FeedbackRequest, request: Request, client: Client | None) -> Response:
    """All or nothing: a batch naming any card this service never issued to the caller's issuer, or a card that
    already holds IVIG_CDS_FEEDBACK_PER_CARD entries, is refused whole (422), nothing stored; past
    IVIG_CDS_FEEDBACK_PER_MINUTE entries from one client, 429.

    `{}` is answered only once the entries are committed, so an acknowledged post is never lost."""
    settings: Settings = request.app.state.settings
    rate: FeedbackRate = request.app.state.cds_feedback_rate
    caller = f"issuer {client.issuer}" if client else f"address {request.client.host if request.client else '?'}"
    wait = rate.allow(caller, len(body.feedback))
    if wait is not None:
        log.info("%s feedback: refused, the client sent more than %d entries in a minute", service_id, rate.per_minute)
        message = f"more than {rate.per_minute} feedback entries in a minute from this client"
        return JSONResponse(
            status_code=429,
            content=refusal_outcome(429, "cds.too_many_feedback_entries", message, "feedback"),
            headers={"Retry-After": str(int(wait) + 1)},
        )
    storage: Storage = request.app.state.storage
    issuer = client.issuer if client else None
    issued = await storage.issued(service_id, [entry.card for entry in body.feedback], issuer)
    refused = never_issued(issued, body.feedback)
    if refused:
        log.info("%s feedback: %d entries refused, none stored", service_id, len(refused))
        return JSONResponse(status_code=422, content=invalid_request(refused))
    rows = feedback_rows(service_id, body.feedback, client, datetime.now(UTC))
    try:
        added = await storage.add_feedback(rows, per_card=settings.feedback_per_card)
    except CardsFullError as full:
        log.info("%s feedback: %d card(s) full, none stored", service_id, len(full.cards))
        errors = too_many_on_card(full.cards, body.feedback, settings.feedback_per_card)
        return JSONResponse(status_code=422, content=invalid_request(errors))
    metrics: Metrics = request.app.state.metrics
    reasons = [entry.override_reason for entry in body.feedback]
    metrics.feedback_acknowledged(
        service_id,
        [
            (entry.outcome, bool(reason and reason.reason), bool(reason and reason.user_comment))
            for entry, reason in zip(body.feedback, reasons, strict=True)
        ],
    )
    log.info("%s feedback: %d received, %d new", service_id, len(body.feedback), added)
    return JSONResponse({})


@router.post(f"/{SERVICE_ID}/feedback")
async def patient_view_feedback(body: FeedbackRequest, request: Request, client: ClientDep) -> Response:
    """Store what the clinician did with the patient-view cards (overridden, with any reason); answers `{}`."""
    return await store_feedback(SERVICE_ID, body, request, client)


@router.post(f"/{ORDER_SELECT_SERVICE_ID}/feedback")
async def order_select_feedback(body: FeedbackRequest, request: Request, client: ClientDep) -> Response:
    """Store what the clinician did with the order-select cards; answers `{}`."""
    return await store_feedback(ORDER_SELECT_SERVICE_ID, body, request, client)


def install(app: FastAPI, settings: Settings, storage: Storage) -> None:
    """Mount the CDS Hooks door over the shared storage: routes, CORS, the JWT verifier and the FHIR servers allowed.

    Raises:
        ValueError: a trusted issuer's JWK Set or FHIR server may not be used (the service refuses to start).
    """
    issuers = settings.trusted_issuers
    development = settings.allow_unauthenticated
    jwks = {issuer: trusted.jwks for issuer, trusted in issuers.items()}
    app.state.cds_verifier = ClientVerifier(
        jwks, timeout=settings.fhir_timeout, replays=storage, development=development
    )
    servers = {issuer: trusted.fhir_servers for issuer, trusted in issuers.items()}
    app.state.cds_fhir_servers = FhirServerPolicy(
        servers, development=development, development_ports=settings.development_fhir_ports
    )
    app.state.cds_feedback_rate = FeedbackRate(settings.feedback_per_minute)
    app.add_middleware(CdsAuthentication, settings=settings)  # outside the body limits, inside CORS
    app.add_middleware(CdsCors, origins=settings.cors_origins)
    app.include_router(router)
    if settings.allow_unauthenticated:
        log.warning(
            "IVIG_CDS_ALLOW_UNAUTHENTICATED is set: CDS Hooks calls are accepted without a client JWT. "
            "For local development only; never expose this service like this."
        )
    elif not settings.trusted_issuers:
        log.warning("no IVIG_CDS_TRUSTED_ISSUERS configured: every CDS Hooks service call will get 401")
