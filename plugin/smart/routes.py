"""The SMART App Launch door (2.2): GET /smart/launch and GET /smart/callback, ending on the widget prefilled.

Launch: `iss` must be a configured issuer, its SMART configuration is read (cached), and the browser goes to the
authorization endpoint with PKCE S256, `aud` the `iss` as sent and the scopes in the syntax the server speaks
(`scopes`); the state travels in a signed cookie as well as the URL, so a callback is taken only in the browser that
started it. Callback: state checked and spent, code exchanged, the granted scope checked, `patient` taken from the
token response, her Conditions, Observations and (where granted) Patient record read once with the token through
the shared FHIR search (size limits, parsing off the event loop, one deadline), and mapped by the shared chart
reader (`plugin.fhir.chart`, as CDS Hooks does). The result is kept as this launch's record (`plugin.web.sessions`),
and the browser goes to /widget?launch=<its id>: the page shows that launch's patient, under her banner, and no
other. No patient data and no token in any URL, the page's
storage or the log. Every failure is an HTML error page naming a stable code.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from plugin.config import Settings
from plugin.fhir.chart import Parsed, chart_from
from plugin.fhir.search import PATIENT_READ, FhirAccess, FhirLimits, read_searches
from plugin.fhir.urls import for_log
from plugin.smart.issuers import Discovery, DiscoveryError, find_issuer, issuers_from
from plugin.smart.launch import (
    PENDING_SECONDS,
    CodeRefusedError,
    Pending,
    PendingLaunches,
    SharedLaunches,
    authorization_url,
    exchange,
)
from plugin.smart.reading import banner, entry, lifetime
from plugin.smart.scopes import granted
from plugin.storage.store import Storage
from plugin.web.cookies import SignedCookie
from plugin.web.deps import PluginDep, SessionsDep, SettingsDep, plugin_of
from plugin.web.error_page import error_page
from plugin.web.sealing import Sealer
from plugin.web.sessions import ChartSession

log = logging.getLogger(__name__)

router = APIRouter(prefix="/smart", tags=["smart"])

LAUNCH_COOKIE = "ivig_cds_launch"
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def redirect_uri(settings: Settings) -> str:
    return f"{settings.public_base_url.rstrip('/')}/smart/callback"


def refuse(request: Request, code: str, *, clear_launch: bool = False) -> Response:
    settings: Settings = request.app.state.settings
    response = error_page(plugin_of(request), code, settings.frame_ancestors)
    if clear_launch:
        request.app.state.smart_launch_cookie.clear(response)
    log.info("SMART %s refused: %s", request.url.path, code)
    return response


# Every failure is an HTML page naming its code (`data-error`), no patient data on it.
ERROR_PAGES: dict[int | str, dict[str, Any]] = {
    400: {"description": "An error page: a missing or unlisted issuer, or a launch this browser did not start."},
    401: {"description": "An error page: the EHR's access token has expired."},
    403: {"description": "An error page: the EHR refused the authorization, or granted too little to read the chart."},
    429: {"description": "An error page: too many sign-ins are waiting for the EHR, from this client or in all."},
    502: {"description": "An error page: the EHR's configuration, token endpoint or FHIR server failed."},
    503: {"description": "An error page: the shared database, which holds launches and sessions, is unavailable."},
}


@router.get(
    "/launch",
    response_class=Response,
    responses={302: {"description": "To the authorization endpoint."}, **ERROR_PAGES},
)
async def launch(
    request: Request, settings: SettingsDep, iss: str | None = None, launch: str | None = None
) -> Response:
    """Start an EHR launch (`iss` and `launch`) or, without `launch`, a standalone one asking for `launch/patient`."""
    if not iss:
        return refuse(request, "smart.missing_iss")
    issuer = find_issuer(request.app.state.smart_issuers, iss)
    if issuer is None:
        log.warning("SMART launch from an unlisted issuer %s", for_log(iss))
        return refuse(request, "smart.unlisted_issuer")
    discovery: Discovery = request.app.state.smart_discovery
    try:
        config = await discovery.get(issuer)
    except DiscoveryError:
        return refuse(request, "smart.discovery_failed")
    url, state, verifier, scope = authorization_url(issuer, config, redirect_uri(settings), launch or None, iss)
    launches: PendingLaunches = request.app.state.smart_launches
    client = request.client.host if request.client else ""
    if not await launches.add(state, Pending(issuer, config, verifier, scope=scope, client=client)):
        return refuse(request, "smart.too_many_launches")
    response = RedirectResponse(url, status_code=302, headers=NO_STORE)
    cookie: SignedCookie = request.app.state.smart_launch_cookie
    cookie.set(response, state, max_age=int(PENDING_SECONDS))
    return response


@router.get(
    "/callback",
    response_class=Response,
    responses={303: {"description": "To the widget, prefilled, at /widget?launch=<this launch's id>."}, **ERROR_PAGES},
)
async def callback(
    request: Request,
    plugin: PluginDep,
    settings: SettingsDep,
    sessions: SessionsDep,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
) -> Response:
    """The authorization server's answer: state checked, code exchanged, scope checked, chart read once, then to
    this launch's widget page."""
    cookie: SignedCookie = request.app.state.smart_launch_cookie
    started = cookie.read(request)
    if not state or started is None or not hmac.compare_digest(state.encode(), started.encode()):
        return refuse(request, "smart.state_mismatch")
    launches: PendingLaunches = request.app.state.smart_launches
    pending = await launches.take(state)
    if pending is None:
        return refuse(request, "smart.state_unknown", clear_launch=True)
    if error or not code:
        return refuse(request, "smart.authorization_denied", clear_launch=True)
    try:
        token = await exchange(pending, code, redirect_uri(settings), settings.fhir_timeout)
    except CodeRefusedError as exc:
        log.warning("SMART code exchange with %s refused: %s", pending.issuer.base, exc.error)
        return refuse(request, "smart.code_refused", clear_launch=True)
    patient, access_token = token.get("patient"), token.get("access_token")
    if not isinstance(patient, str) or not patient or not isinstance(access_token, str) or not access_token:
        return refuse(request, "smart.no_patient", clear_launch=True)
    seconds = lifetime(token.get("expires_in"))
    if seconds is None:
        return refuse(request, "smart.token_expired", clear_launch=True)
    scope = token.get("scope")
    grant = granted(scope if isinstance(scope, str) else pending.scope)
    if not grant.chart:
        log.warning("SMART token from %s does not grant searching Conditions and Observations", pending.issuer.base)
        return refuse(request, "smart.scope_not_granted", clear_launch=True)
    access = FhirAccess(pending.issuer.base, access_token)
    found = await read_searches(
        access,
        patient,
        timeout=settings.fhir_timeout,
        deadline=settings.deadline,
        limits=FhirLimits.of(settings),
        with_patient=grant.patient,
    )
    record = found.pop(PATIENT_READ, Parsed()).others
    if not found:
        return refuse(request, "smart.chart_unavailable", clear_launch=True)
    parsed = Parsed()
    for read in found.values():
        parsed.add(read)
    chart = await anyio.to_thread.run_sync(chart_from, parsed)
    entries = tuple(entry(finding, chart.profile) for finding in chart.findings)
    who = banner(patient, record, token.get("need_patient_banner"))
    session = ChartSession(chart.profile, entries, who, sessions.clock() + seconds, access_token)
    response = Response(status_code=303, headers=NO_STORE)
    launch_id = await sessions.open(request, response, session)
    response.headers["location"] = f"/widget?launch={launch_id}"
    cookie.clear(response)
    log.info("SMART launch from %s: chart read, %d finding(s)", pending.issuer.base, len(chart.findings))
    return response


def install(app: FastAPI, settings: Settings, storage: Storage, sealer: Sealer, secret: str | list[bytes]) -> None:
    """Mount the SMART door: the issuers allowed, discovery with its cache, the launches waiting (in the shared
    database, sealed) and their cookie.

    Raises:
        ValueError: a configured issuer is not usable (the service refuses to start).
    """
    app.state.smart_issuers = issuers = issuers_from(settings.smart_issuers)
    app.state.smart_discovery = Discovery(settings.fhir_timeout)
    app.state.smart_launches = SharedLaunches(
        storage, sealer, issuers, settings.smart_pending_launches, settings.smart_pending_per_client
    )
    app.state.smart_launch_cookie = SignedCookie(LAUNCH_COOKIE, secret, "smart-launch")
    app.include_router(router)
