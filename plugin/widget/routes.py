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
from plugin.web.deps import PluginDep, SessionsDep
from plugin.web.embedding import Document, security_headers
from plugin.web.error_page import error_page
from plugin.web.links import widget_query
from plugin.web.sessions import ChartEntry
from plugin.widget.form import NONE, ProfileForm, parse_query
from plugin.widget.page import render_forest, render_page

router = APIRouter()

# The only files the static route serves: an allow-list, so no path from a URL reaches the file system.
STATIC_FILES = {"widget.js": "text/javascript; charset=utf-8", "widget.css": "text/css; charset=utf-8"}


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
PROFILE_PARAMETERS = [query_parameter(name, field.description) for name, field in PatientProfile.model_fields.items()]


def headers(request: Request, document: Document) -> dict[str, str]:
    settings: Settings = request.app.state.settings
    return security_headers(settings.frame_ancestors, document)


@router.get(
    "/widget",
    response_class=HTMLResponse,
    tags=["widget"],
    openapi_extra={"parameters": PROFILE_PARAMETERS},
    responses={422: {"description": "The page, showing which parameters are wrong and no answer.", "content": {}}},
)
async def get_widget(request: Request, plugin: PluginDep, sessions: SessionsDep) -> HTMLResponse:
    """The widget an EHR frames: a profile form prefilled from the query, the answer, and the forest plot.

    Parameters are named like the profile fields. A bad value is shown back in the page, naming the field. After a
    SMART launch (its session cookie), a page without parameters opens with her chart's findings, and the page
    says where each came from; an expired session gets an error page and loses its cookie.
    """
    found, session = sessions.find(request)
    if found == "expired":
        settings: Settings = request.app.state.settings
        refused = error_page(plugin, "smart.token_expired", settings.frame_ancestors)
        sessions.cookie.clear(refused)
        return refused
    pairs = request.query_params.multi_items()
    if session is not None and not pairs:
        pairs = parse_qsl(widget_query(session.profile).removeprefix("?"))
    form = parse_query(pairs)
    status = 422 if form.errors else 200
    chart = session.entries if session is not None else None
    return HTMLResponse(page_for(request, plugin, form, chart), status_code=status, headers=headers(request, "page"))


def page_for(request: Request, plugin: Plugin, form: ProfileForm, chart: Sequence[ChartEntry] | None) -> str:
    """The page, rendered once per form as typed: a valid form without a chart is all the page is made of (its
    values shown back as typed, its answer from them), so the same query gets the same bytes."""
    if form.errors or chart is not None:
        return render_page(plugin, form, chart)
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
    """The widget's script and stylesheet, served by the plugin itself: no third-party assets."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        error = {"code": "widget.unknown_file", "message": "no such file", "details": {"name": name}}
        return JSONResponse({"error": error}, status_code=404)
    settings: Settings = request.app.state.settings
    content = (settings.templates_dir / "widget" / "static" / name).read_bytes()
    return Response(content, media_type=media_type, headers=headers(request, "asset"))
