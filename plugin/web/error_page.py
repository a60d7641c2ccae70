"""The HTML error page of the doors an EHR frames (the SMART launch, the widget): a stable code, plain words, and
never patient data, a token or anything from the request."""

from __future__ import annotations

from fastapi.responses import HTMLResponse

from plugin.core.answer.plugin import Plugin
from plugin.web.embedding import security_headers

ERROR_TEMPLATE = "web/error.html.j2"
RELAUNCH = "Open the app again from the patient's chart in the EHR."

# code -> (HTTP status, heading, what happened and what to do).
ERRORS: dict[str, tuple[int, str, str]] = {
    "smart.missing_iss": (
        400,
        "The EHR did not say which FHIR server to use",
        f"The launch URL needs `iss`. {RELAUNCH}",
    ),
    "smart.unlisted_issuer": (
        400,
        "This EHR is not registered with the app",
        "The FHIR server in `iss` is not on the app's list of issuers (IVIG_CDS_SMART_ISSUERS), so the app did not "
        "sign in to it. Ask the app's administrator to register it.",
    ),
    "smart.discovery_failed": (
        502,
        "The EHR's SMART configuration could not be read",
        "Its .well-known/smart-configuration did not answer in time or is not usable for an EHR launch with PKCE "
        f"S256. {RELAUNCH}",
    ),
    "smart.state_mismatch": (
        400,
        "This sign-in does not belong to this browser",
        "The `state` returned by the EHR does not match the launch this browser started, so it was refused. "
        f"{RELAUNCH}",
    ),
    "smart.state_unknown": (
        400,
        "This sign-in has already been used or has expired",
        f"Each launch can be completed once, within ten minutes. {RELAUNCH}",
    ),
    "smart.too_many_launches": (
        429,
        "Too many sign-ins are waiting",
        "The app holds as many unfinished sign-ins as it may, from this address or in all, so this one was not "
        f"started; those waiting end within ten minutes. {RELAUNCH}",
    ),
    "smart.authorization_denied": (
        403,
        "The EHR did not authorize the app",
        f"The EHR's authorization server answered with an error instead of a code. {RELAUNCH}",
    ),
    "smart.code_refused": (
        400,
        "The EHR refused the sign-in code",
        "The authorization server would not exchange the code for an access token: it may have been used already, "
        f"or the PKCE verifier did not match it. {RELAUNCH}",
    ),
    "smart.scope_not_granted": (
        403,
        "The EHR did not let the app read the chart",
        "The access token does not allow searching the patient's Conditions and Observations, which is all the app "
        f"reads. Ask the EHR's administrator to grant those scopes. {RELAUNCH}",
    ),
    "smart.other_browser": (
        403,
        "This page belongs to a launch made in another browser",
        "A launched page opens only in the browser that launched it, so nothing from the chart is shown here. "
        f"{RELAUNCH}",
    ),
    "smart.no_patient": (
        400,
        "The EHR did not name a patient",
        f"The token response has no `patient`, so there is no chart to read. {RELAUNCH}",
    ),
    "smart.token_expired": (
        401,
        "The EHR session has expired",
        "The access token has expired, so nothing from the chart is shown (the app keeps a launch no longer than "
        f"its token). {RELAUNCH}",
    ),
    "smart.session_key_retired": (
        401,
        "This launch was sealed with a key the app no longer holds",
        "What the app read from the chart is kept encrypted, and the key it was sealed with has since been removed "
        "from the app's session keys (IVIG_CDS_SESSION_KEYS), or the app was restarted without them, so it cannot be "
        f"opened and nothing from the chart is shown. {RELAUNCH}",
    ),
    "smart.session_unreadable": (
        401,
        "This launch's record could not be read",
        "What the app read from the chart is kept encrypted, and this record did not open: it was altered or does not "
        f"belong to this launch, so nothing from the chart is shown. {RELAUNCH}",
    ),
    "smart.chart_unavailable": (
        502,
        "The chart could not be read",
        "The EHR's FHIR server refused the access token, did not answer in time or answered with more than this "
        f"service reads, so no finding was read. {RELAUNCH}",
    ),
}


def error_page(plugin: Plugin, code: str, frame_ancestors: tuple[str, ...]) -> HTMLResponse:
    """The page for one error code, framable by the EHR like the widget."""
    status, title, message = ERRORS[code]
    html = plugin.renderer.env.get_template(ERROR_TEMPLATE).render(code=code, title=title, message=message)
    return HTMLResponse(html, status_code=status, headers=security_headers(frame_ancestors, "page"))


# Requests a framed page refuses before, or beside, its own errors: what a person sees instead of a JSON body.
REQUEST_TITLES: dict[int, str] = {
    404: "There is no such page",
    413: "The request is too large",
    414: "The address is too long",
    422: "The request is not valid",
}


def render_request_error(plugin: Plugin, status: int, code: str, message: str) -> str:
    """The error page's HTML for a refused request (`message` names the field and the limit, never a value)."""
    title = REQUEST_TITLES.get(status, "Something went wrong" if status >= 500 else "The request was refused")
    return plugin.renderer.env.get_template(ERROR_TEMPLATE).render(code=code, title=title, message=message)


def request_error_page(
    plugin: Plugin, status: int, code: str, message: str, frame_ancestors: tuple[str, ...]
) -> HTMLResponse:
    """A refused request on a framed door, as a page framable like the widget."""
    html = render_request_error(plugin, status, code, message)
    return HTMLResponse(html, status_code=status, headers=security_headers(frame_ancestors, "page"))
