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
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fhir.resources.R4B.codeableconcept import CodeableConcept

from plugin.cds_hooks import prefetch
from plugin.cds_hooks.auth import Client, ClientRefusedError, ClientVerifier
from plugin.cds_hooks.cards import CardDetails, cards_for
from plugin.cds_hooks.cors import CdsCors
from plugin.cds_hooks.discovery import DISCOVERY
from plugin.cds_hooks.feedback import feedback_rows
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
from plugin.cds_hooks.outcome import invalid_request
from plugin.config import Settings
from plugin.core.answer.plugin import Plugin
from plugin.fhir import chart as fhir
from plugin.fhir.search import FhirAccess
from plugin.storage.store import Storage
from plugin.web.deps import PluginDep
from plugin.web.metrics import Metrics

log = logging.getLogger(__name__)

router = APIRouter(prefix=CDS_PREFIX, tags=["cds-hooks"])


async def require_client(request: Request) -> Client | None:
    """The verified CDS client; None in unauthenticated development mode when no token verifies.

    Development mode still verifies a token that comes along, so a trusted issuer's FHIR servers stay usable there.

    Raises:
        ClientRefusedError: no bearer token, or one that fails verification (a bare 401), outside development mode.
    """
    settings: Settings = request.app.state.settings
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        if settings.allow_unauthenticated:
            return None
        raise ClientRefusedError("no bearer token")
    endpoint = f"{settings.public_base_url.rstrip('/')}{request.url.path}"
    # Feedback belongs to the service: accept either URL as its audience.
    audiences = (endpoint, endpoint.removesuffix("/feedback")) if endpoint.endswith("/feedback") else (endpoint,)
    verifier: ClientVerifier = request.app.state.cds_verifier
    try:
        return await verifier.verify(token.strip(), audiences)
    except ClientRefusedError:
        if settings.allow_unauthenticated:
            return None
        raise


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
    resources = await prefetch.gather(
        body.prefetch, access, body.context.patient_id, timeout=settings.fhir_timeout, deadline=settings.deadline
    )
    chart = fhir.read_chart(resources, reasons)
    if not chart.relevant:
        return respond(body, CdsResponse(cards=()), "no RPL diagnosis and no count of two or more losses")
    answer = plugin.answer(chart.profile, ivig_order=body.hook == "order-select")
    details: CardDetails = request.app.state.cds_details
    render = partial(details.render, plugin.renderer)
    cards = cards_for(answer, chart.findings, plugin.renderer, settings.public_base_url, render, chart.unread)
    storage: Storage = request.app.state.storage
    await storage.record_cards(card_rows(cards, body, service_id, answer, datetime.now(UTC)))
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
    """All or nothing: a batch naming any card this service never issued is refused whole (422), nothing stored.

    `{}` is answered only once the entries are committed, so an acknowledged post is never lost."""
    storage: Storage = request.app.state.storage
    issued = await storage.issued(service_id, [entry.card for entry in body.feedback])
    refused = never_issued(issued, body.feedback)
    if refused:
        log.info("%s feedback: %d entries refused, none stored", service_id, len(refused))
        return JSONResponse(status_code=422, content=invalid_request(refused))
    added = await storage.add_feedback(feedback_rows(service_id, body.feedback, client, datetime.now(UTC)))
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
    app.state.cds_fhir_servers = FhirServerPolicy(servers, development=development)
    app.state.cds_details = CardDetails(settings.answer_cache_size)
    app.add_middleware(CdsCors, origins=settings.cors_origins)
    app.include_router(router)
    if settings.allow_unauthenticated:
        log.warning(
            "IVIG_CDS_ALLOW_UNAUTHENTICATED is set: CDS Hooks calls are accepted without a client JWT. "
            "For local development only; never expose this service like this."
        )
    elif not settings.trusted_issuers:
        log.warning("no IVIG_CDS_TRUSTED_ISSUERS configured: every CDS Hooks service call will get 401")
