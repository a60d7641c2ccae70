"""The EHR widget door: GET /widget, the forest-plot SVG, and the widget's own script and stylesheet."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from plugin.config import Settings
from plugin.core.answer.lru import Lru
from plugin.core.answer.plugin import Plugin
from plugin.core.rules.profile import PatientProfile
from plugin.web.deps import PluginDep, SessionsDep, plugin_of
from plugin.web.embedding import Document, security_headers
from plugin.web.error_page import error_page, request_error_page
from plugin.web.form import NONE, ProfileForm, parse_query
from plugin.web.links import widget_query
from plugin.web.sessions import Banner, ChartEntry
from plugin.widget.page import fits, render_forest, render_page

router = APIRouter()

# The only files the static route serves: an allow-list, so no path from a URL reaches the file system.
STATIC_FILES = {
    "widget.js": "text/javascript; charset=utf-8",
    "widget.css": "text/css; charset=utf-8",
    "aid.css": "text/css; charset=utf-8",  # the decision aid's (decision_aid.py), print rules included
}


EMPTY: dict[str, Any] = {"type": "string", "maxLength": 0}


def query_schema(name: str) -> dict[str, Any]:
    """The profile field's own JSON schema (null dropped: absent means unknown), as a query parameter's schema."""
    field = PROFILE_SCHEMA["properties"][name]
    options = [option for option in field.get("anyOf", [field]) if option != {"type": "null"}]
    schema: dict[str, Any] = {key: value for key, value in options[0].items() if key != "title"}
    if name == "autoimmune_conditions":
        schema["items"] = {**schema["items"], "enum": [*schema["items"]["enum"], NONE, ""]}
        return schema
    return {"anyOf": [schema, EMPTY]}  # an empty parameter is accepted, as unknown: the document says so too


def query_parameter(name: str, description: str | None) -> dict[str, Any]:
    """OpenAPI for one profile field as a widget query parameter (the route reads them itself, to show errors)."""
    repeated = name == "autoimmune_conditions"
    note = " Repeat once per condition; the single value `none` means none." if repeated else ""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": query_schema(name),
        "explode": True,
        "description": f"{description or ''}{note} Empty or absent means unknown.",
    }


PROFILE_SCHEMA = PatientProfile.model_json_schema()
LAUNCH_PARAMETER = "launch"
# The error page for each way a launch id is refused (`plugin.web.sessions.SessionStore.find`).
REFUSED = {
    "expired": "smart.token_expired",
    "foreign": "smart.other_browser",
    "retired": "smart.session_key_retired",
    "unreadable": "smart.session_unreadable",
}
PROFILE_PARAMETERS = [
    *(query_parameter(name, field.description) for name, field in PatientProfile.model_fields.items()),
    {
        "name": LAUNCH_PARAMETER,
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "The id of a SMART launch made in this browser (the callback redirects here with it): the page "
        "shows that launch's patient banner and, without profile parameters, her chart's findings.",
    },
]


def headers(request: Request, document: Document) -> dict[str, str]:
    settings: Settings = request.app.state.settings
    return security_headers(settings.frame_ancestors, document)


@router.get(
    "/widget",
    response_class=HTMLResponse,
    tags=["widget"],
    openapi_extra={"parameters": PROFILE_PARAMETERS},
    responses={
        422: {"description": "The page, showing which parameters are wrong and no answer.", "content": {}},
        401: {
            "description": "An error page: the launch has ended (its token expired), or its record was sealed with "
            "a session key no longer configured, or does not open."
        },
        403: {"description": "An error page: the launch was made in another browser."},
        503: {"description": "An error page: the shared database, which holds the launch's record, is unavailable."},
    },
)
async def get_widget(request: Request, plugin: PluginDep, sessions: SessionsDep) -> HTMLResponse:
    """The widget an EHR frames: a profile form prefilled from the query, the answer, and the forest plot.

    Parameters are named like the profile fields. A bad value is shown back in the page, naming the field. With
    `launch` (the SMART callback's redirect), the page is that launch's and no other's: her banner always, and
    without profile parameters her chart's findings, saying where each came from. Profile parameters alone (a
    card's link, a bookmark) never bring a chart or a banner, whatever the browser launched before. A launch that
    has ended, or that another browser made, gets an error page.
    """
    pairs = [(name, value) for name, value in request.query_params.multi_items() if name != LAUNCH_PARAMETER]
    launch_id = request.query_params.get(LAUNCH_PARAMETER)
    found, session = await sessions.find(request, launch_id)
    if found != "active" and found != "none":
        settings: Settings = request.app.state.settings
        return error_page(plugin, REFUSED[found], settings.frame_ancestors)
    chart: tuple[ChartEntry, ...] | None = None
    if session is not None and not pairs:
        pairs = parse_qsl(widget_query(session.profile).removeprefix("?"))
        chart = session.entries
    form = fits(plugin, parse_query(pairs))
    status = 422 if form.errors else 200
    banner = session.banner if session is not None else None
    page = page_for(request, plugin, form, chart, banner, launch_id if session is not None else None)
    return HTMLResponse(page, status_code=status, headers=headers(request, "page"))


def page_for(
    request: Request,
    plugin: Plugin,
    form: ProfileForm,
    chart: Sequence[ChartEntry] | None,
    banner: Banner | None = None,
    launch_id: str | None = None,
) -> str:
    """The page, rendered once per form as typed: a valid form without a chart or a banner is all the page is made
    of (its values shown back as typed, its answer from them), so the same query gets the same bytes. A launched
    page is never kept: it belongs to one patient."""
    if form.errors or chart is not None or banner is not None:
        return render_page(plugin, form, chart, banner, launch_id)
    pages: Lru[tuple[object, ...], str] = request.app.state.widget_pages
    key = (plugin.store.version, tuple(sorted(form.values.items())), form.conditions)
    page = pages.get(key)
    if page is None:
        page = render_page(plugin, form)
        pages.put(key, page)
    return page


@router.get(
    "/v1/evidence/{analysis_id}/forest.svg",
    response_class=Response,
    tags=["evidence"],
    responses={200: {"content": {"image/svg+xml": {}}, "description": "The forest plot as an SVG document."}},
)
def get_forest(
    request: Request,
    plugin: PluginDep,
    analysis_id: str,
    highlight: Annotated[
        list[str] | None, Query(description="Estimate ids to mark as applying to the patient, e.g. nk-above-12.")
    ] = None,
) -> Response:
    """Forest plot of every estimate of the analysis on a log axis, the highlighted ones marked by shape and words."""
    analysis = plugin.store.analyses.get(analysis_id)
    if analysis is None:
        error = {"code": "evidence.unknown_analysis", "message": "no such analysis", "details": {"id": analysis_id}}
        return JSONResponse({"error": error}, status_code=404)
    known = [e.id for e in analysis.estimates]
    unknown = [h for h in highlight or () if h not in known]
    if unknown:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("query", "highlight"),
                    # No value from the query is repeated: the message says what is allowed instead.
                    "msg": f"Value error, names an estimate {analysis_id} does not hold; the estimates are {known}",
                }
            ]
        )
    svg = render_forest(plugin, analysis, highlight or ())
    return Response(svg, media_type="image/svg+xml", headers=headers(request, "svg"))


@router.get("/widget/static/{name}", tags=["widget"], include_in_schema=False)
def get_static(request: Request, name: str) -> Response:
    """The widget's script and stylesheets (its own and the decision aid's), served by the plugin itself: no
    third-party assets."""
    media_type = STATIC_FILES.get(name)
    settings: Settings = request.app.state.settings
    if media_type is None:
        return request_error_page(
            plugin_of(request), 404, "widget.unknown_file", "no such file", settings.frame_ancestors
        )
    content = (settings.templates_dir / "widget" / "static" / name).read_bytes()
    return Response(content, media_type=media_type, headers=headers(request, "asset"))
