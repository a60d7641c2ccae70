"""The JSON door: POST /v1/answer, GET /v1/evidence (and as FHIR Evidence), GET /healthz (liveness),
GET /readyz (the database too)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from plugin.api.fhir_evidence import evidence_bundle
from plugin.core.answer.plugin import RenderedAnswer
from plugin.core.evidence.analysis import Analysis
from plugin.core.evidence.context import ContextRecord
from plugin.core.evidence.study_data import missing_counts
from plugin.core.rules.profile import PROFILE_EXAMPLE, PatientProfile
from plugin.storage.errors import StorageUnavailableError
from plugin.storage.store import Storage
from plugin.web.deps import PluginDep
from plugin.web.evidence_switch import EvidenceSwitch

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


class StudyData(BaseModel):
    """Whether an estimate can be recomputed from study counts in the store, and which counts are missing."""

    complete: bool
    missing: list[str]
    re_pooled_at_load: bool


class EvidenceResponse(BaseModel):
    evidence_version: str
    analyses: list[Analysis]
    study_data: dict[str, StudyData]
    context: list[ContextRecord]


def study_data_of(analysis: Analysis) -> dict[str, StudyData]:
    data = {}
    for estimate in analysis.estimates:
        missing = missing_counts(analysis, estimate)
        data[analysis.ref(estimate)] = StudyData(complete=not missing, missing=missing, re_pooled_at_load=not missing)
    return data


class Health(BaseModel):
    status: str
    evidence_version: str


class EvidenceReload(BaseModel):
    """What the last reload did: `switched`, `unchanged` (that release was served already), `failed` (with `error`:
    code, message, file, field; the release before keeps serving) or `waiting` (the shared database names a newer
    release than the evidence directory holds: `reason`)."""

    model_config = ConfigDict(extra="allow")

    status: str
    trigger: str
    at: str


class Readiness(BaseModel):
    """`status` is ready or not_ready; `database` is ok, or the code of what is wrong (never the URL); `sessions`,
    only when something is wrong with them, its code: `smart.session_key_missing` when SMART issuers are configured
    and several workers or replicas share the database without IVIG_CDS_SESSION_KEYS. The evidence release served,
    since when (ISO 8601, UTC: the start for the first), how often the shared database is looked at for a newer one
    (0: never) and so how soon replicas agree, and what the last reload did (null before any)."""

    status: str
    database: str
    sessions: str | None = None
    evidence_version: str
    evidence_label: str
    switched_at: str
    evidence_poll_seconds: float
    evidence_converges_within_seconds: float | None
    evidence_reload: EvidenceReload | None


@router.post("/v1/answer", response_model=RenderedAnswer, tags=["answer"])
async def post_answer(
    plugin: PluginDep,
    profile: Annotated[PatientProfile, Body(openapi_examples=PROFILE_EXAMPLES)],
) -> Response:
    """What the evidence says about IVIG and live birth for this patient, with the non-randomized warning.

    Every field is optional; leave out what is not known (unknown is never read as "no").
    """
    # The finished body, encoded as the response model would be (proven byte for byte in the tests).
    return Response(plugin.respond_json(profile), media_type="application/json")


@router.get("/v1/evidence", response_model=EvidenceResponse, tags=["evidence"])
def get_evidence(plugin: PluginDep) -> EvidenceResponse:
    """The evidence store: every analysis with its estimates, certainty, provenance, studies and warning."""
    analyses = list(plugin.store.analyses.values())
    return EvidenceResponse(
        evidence_version=plugin.store.version,
        analyses=analyses,
        study_data={ref: data for a in analyses for ref, data in study_data_of(a).items()},
        context=list(plugin.store.context.values()),
    )


@router.get("/healthz", response_model=Health, tags=["health"])
def healthz(plugin: PluginDep) -> Health:
    return Health(status="ok", evidence_version=plugin.store.version)


FHIR_JSON = "application/fhir+json"
# The FHIR door's 404 is FHIR too; it names what is allowed, not the id asked for.
UNKNOWN_ANALYSIS = {
    "resourceType": "OperationOutcome",
    "issue": [
        {
            "severity": "error",
            "code": "not-found",
            "diagnostics": "evidence.unknown_analysis",
            "details": {"text": "no analysis with this id; GET /v1/evidence lists the analyses"},
        }
    ],
}


@router.get(
    "/v1/evidence/{analysis_id}/fhir",
    tags=["evidence"],
    response_class=Response,
    responses={
        200: {"content": {FHIR_JSON: {}}, "description": "A FHIR R5 collection Bundle of Evidence resources."},
        404: {"description": "No analysis with this id: an OperationOutcome, diagnostics evidence.unknown_analysis."},
    },
)
def get_evidence_fhir(plugin: PluginDep, analysis_id: str) -> Response:
    """The analysis's estimates and the randomized context records as FHIR R5 Evidence (EBMonFHIR), with
    EvidenceVariables for population, exposure, comparator and outcome, and Citations."""
    if analysis_id not in plugin.store.analyses:
        return Response(json.dumps(UNKNOWN_ANALYSIS), status_code=404, media_type=FHIR_JSON)
    body = json.dumps(evidence_bundle(plugin.store, analysis_id), ensure_ascii=False)
    return Response(body, media_type=FHIR_JSON)


@router.get(
    "/readyz",
    response_model=Readiness,
    tags=["health"],
    responses={
        503: {
            "model": Readiness,
            "description": "the database is unavailable or its schema out of date, or the session key is missing",
        }
    },
)
async def readyz(request: Request) -> JSONResponse:
    """Whether this replica can answer every door: 200 when the database answers at the current schema and, with
    SMART issuers on several workers or replicas, the session keys are configured; else 503 naming the cause.
    Either way, which evidence release it serves and what its last reload did (a refused release does not make it
    unready: the release before keeps serving).

    /healthz stays liveness: the JSON, widget and chat doors answer without a database.
    """
    storage: Storage = request.app.state.storage
    switch: EvidenceSwitch = request.app.state.evidence
    sessions = {"sessions": "smart.session_key_missing"} if request.app.state.session_key_missing else {}
    try:
        await storage.ready()
    except StorageUnavailableError as exc:
        body = {"status": "not_ready", "database": exc.code} | sessions | switch.readiness()
        return JSONResponse(status_code=503, content=body)
    status = "not_ready" if sessions else "ready"
    body = {"status": status, "database": "ok"} | sessions | switch.readiness()
    return JSONResponse(status_code=503 if sessions else 200, content=body)
