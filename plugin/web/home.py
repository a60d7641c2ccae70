"""GET /: a small page linking every door with the service's version, for a newcomer and an operator."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from plugin import __version__
from plugin.web.deps import PluginDep

HOME_TEMPLATE = "web/home.html.j2"
# No inline script or style: the page loads nothing and may not be framed.
HOME_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


@dataclass(frozen=True)
class Door:
    path: str
    what: str
    link: bool = True  # False for an endpoint a browser cannot open (it takes POSTs from a client)
    query: str = ""  # what the link adds to open an example

    @property
    def href(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path


DOORS = (
    Door("/widget", "The evidence for one patient as a page, for the EHR to frame (works without JavaScript)."),
    Door(
        "/decision-aid",
        "The decision aid for the talk with the patient, in plain words and printable: material for a conversation "
        "with a clinician, not advice.",
        query="prior_pregnancy_losses=3&nk_cell_percent=18&autoimmune_conditions=antiphospholipid_syndrome",
    ),
    Door("/docs", "The HTTP API, interactive (Swagger UI); /openapi.json is the document itself."),
    Door("/redoc", "The HTTP API as a reference (ReDoc)."),
    Door("/cds-services", "CDS Hooks discovery: the patient-view and order-select services an EHR calls."),
    Door(
        "/mcp",
        "MCP over streamable HTTP for chat assistants: a client POSTs JSON-RPC here (ivig-cds mcp serves stdio).",
        link=False,
    ),
    Door(
        "/v1/tools",
        "The tool's schema for function calling (?format=openai, openai-responses or anthropic).",
        query="format=openai",
    ),
    Door("/healthz", "Liveness: the process answers, with the evidence version."),
    Door("/readyz", "Readiness: the database answers at the current schema."),
    Door("/metrics", "Prometheus metrics: requests, latencies, cards, feedback, cache (no patient data)."),
)

router = APIRouter()


@router.get("/", response_class=HTMLResponse, tags=["service"], summary="A page linking every door")
def home(plugin: PluginDep) -> HTMLResponse:
    """Every door of the service with one line on what it is for, the version and the evidence version."""
    html = plugin.renderer.env.get_template(HOME_TEMPLATE).render(
        version=__version__, evidence_version=plugin.store.version, doors=DOORS
    )
    headers = {"Content-Security-Policy": HOME_POLICY, "X-Content-Type-Options": "nosniff"}
    return HTMLResponse(html, headers=headers)
