"""The JSON door: POST /v1/answer, GET /v1/evidence, GET /healthz (liveness), GET /readyz (the database too)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from plugin.core.evidence import Analysis
from plugin.core.plugin import RenderedAnswer
from plugin.core.profile import PROFILE_EXAMPLE, PatientProfile
from plugin.storage.errors import StorageUnavailableError
from plugin.storage.store import Storage
from plugin.web.deps import PluginDep

router = APIRouter()

PROFILE_EXAMPLES: dict[str, Any] = {
    "nk-above-12": {
        "summary": "NK cells 14%, three losses: matched, NK subgroup then overall",
        "value": PROFILE_EXAMPLE,
    },
    "both-subgroups-with-baseline": {
        "summary": "NK 18%, IVIG from the conception cycle, baseline 30%: both subgroups, absolute effects",
        "value": {
            "prior_pregnancy_losses": 4,
            "nk_cell_percent": 18,
            "ivig_start": "conception_cycle",
            "baseline_live_birth_risk": 0.3,
        },
    },
    "insufficient-information": {
        "summary": "NK 12% (not above 12), autoimmune history unknown: asks for it",
        "value": {"prior_pregnancy_losses": 3, "nk_cell_percent": 12, "th1_th2_ratio_elevated": False},
    },
    "not-rpl": {"summary": "One prior loss: not recurrent pregnancy loss", "value": {"prior_pregnancy_losses": 1}},
}


class EvidenceResponse(BaseModel):
    evidence_version: str
    analyses: list[Analysis]


class Health(BaseModel):
    status: str
    evidence_version: str


class Readiness(BaseModel):
    """`status` is ready or not_ready; `database` is ok, or the code of what is wrong (never the URL)."""

    status: str
    database: str


@router.post("/v1/answer", response_model=RenderedAnswer, tags=["answer"])
def post_answer(
    plugin: PluginDep,
    profile: Annotated[PatientProfile, Body(openapi_examples=PROFILE_EXAMPLES)],
) -> RenderedAnswer:
    """What the evidence says about IVIG and live birth for this patient, with the non-randomized warning.

    Every field is optional; leave out what is not known (unknown is never read as "no").
    """
    return plugin.respond(profile)


@router.get("/v1/evidence", response_model=EvidenceResponse, tags=["evidence"])
def get_evidence(plugin: PluginDep) -> EvidenceResponse:
    """The evidence store: every analysis with its estimates, certainty, provenance, studies and warning."""
    return EvidenceResponse(evidence_version=plugin.store.version, analyses=list(plugin.store.analyses.values()))


@router.get("/healthz", response_model=Health, tags=["health"])
def healthz(plugin: PluginDep) -> Health:
    return Health(status="ok", evidence_version=plugin.store.version)


@router.get(
    "/readyz",
    response_model=Readiness,
    tags=["health"],
    responses={503: {"model": Readiness, "description": "the database is unavailable or its schema out of date"}},
)
async def readyz(request: Request) -> JSONResponse:
    """Whether this replica can answer every door: 200 when the database answers at the current schema, else 503.

    /healthz stays liveness: the JSON, widget and chat doors answer without a database.
    """
    storage: Storage = request.app.state.storage
    try:
        await storage.ready()
    except StorageUnavailableError as exc:
        return JSONResponse(status_code=503, content=Readiness(status="not_ready", database=exc.code).model_dump())
    return JSONResponse(content=Readiness(status="ready", database="ok").model_dump())
