"""GET /decision-aid: the decision aid for the conversation with the patient, as a printable page with no script.

Its parameters are the widget's (named like the profile fields, read by the same parser) and so are its headers
(framed only by the allowed EHR origins, kept out of caches and referrers). A bad parameter gets the error page
the widget's doors share, naming each field and what is allowed, never the value sent.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from plugin.config import Settings
from plugin.core.answer.render import AidPage
from plugin.errors import ProfileError
from plugin.web.deps import PluginDep
from plugin.web.embedding import security_headers
from plugin.web.error_page import request_error_page
from plugin.web.form import FieldError, parse_query
from plugin.web.links import DECISION_AID_PATH, widget_query
from plugin.widget.page import URLS
from plugin.widget.routes import LAUNCH_PARAMETER, PROFILE_PARAMETERS

router = APIRouter()
PARAMETERS: list[dict[str, Any]] = [p for p in PROFILE_PARAMETERS if p["name"] != LAUNCH_PARAMETER]


def invalid(errors: tuple[FieldError, ...]) -> str:
    """Every field that is wrong and what it allows, in one line (the page shows no answer until they are fixed)."""
    return "Check the patient details: " + "; ".join(f"{e.field}: {e.message}" for e in errors) + "."


@router.get(
    DECISION_AID_PATH,
    response_class=HTMLResponse,
    tags=["widget"],
    summary="The decision aid for the conversation with the patient",
    openapi_extra={"parameters": PARAMETERS},
    responses={422: {"description": "An error page naming each parameter that is wrong, and no aid."}},
)
def get_decision_aid(request: Request, plugin: PluginDep) -> HTMLResponse:
    """One page in plain words for the patient and her clinician, material for a conversation with a clinician, not
    advice: the options, what is known and how sure, what is not known, the harms and burdens, the positions that
    disagree, questions to ask, and the sources with their date and the evidence version. Parameters as the
    widget's; none of them is required."""
    settings: Settings = request.app.state.settings
    form = parse_query(request.query_params.multi_items())
    if form.profile is None:
        return request_error_page(plugin, 422, "request.invalid", invalid(form.errors), settings.frame_ancestors)
    try:
        aid = plugin.decision_aid(form.profile)
    except ProfileError as exc:  # a sourced baseline measured in women she is not among
        field = str(exc.details.get("field", ""))
        return request_error_page(plugin, 422, exc.code, f"{field}: {exc.message}", settings.frame_ancestors)
    page = AidPage(stylesheet=URLS.aid_css, evidence=f"{URLS.widget}{widget_query(form.profile)}")
    html = plugin.renderer.render_aid(aid, "html", page)
    return HTMLResponse(html, headers=security_headers(settings.frame_ancestors, "page"))
