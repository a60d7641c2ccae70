"""POST /admin/evidence/reload: switch to the evidence release IVIG_CDS_EVIDENCE_DIR names now, without a restart.

Mounted only when IVIG_CDS_ADMIN_TOKEN is set (otherwise the path does not exist: 404), and answered only with
`Authorization: Bearer <that token>`, compared in constant time; a missing or wrong token gets a bare 401 that
repeats nothing of what was sent. The token is never logged (the access line names the route and status only).
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from plugin.config import Settings
from plugin.web.errors import ErrorBody, error_body
from plugin.web.evidence_switch import EvidenceSwitch, iso

router = APIRouter(prefix="/admin", tags=["admin"])

UNAUTHORIZED = error_body("admin.unauthorized", "a valid bearer token is required")


class Served(BaseModel):
    evidence_label: str
    evidence_version: str


class ReloadAnswer(BaseModel):
    """`switched`: the release now served (and the one before); `unchanged`: that release was already served."""

    outcome: str
    message: str
    evidence_label: str
    evidence_version: str
    switched_at: str
    previous: Served | None = None


def authorized(request: Request, settings: Settings) -> bool:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    expected = settings.admin_token.get_secret_value() if settings.admin_token is not None else ""
    if scheme.lower() != "bearer" or not presented or not expected:
        return False
    return hmac.compare_digest(presented.strip().encode(), expected.encode())


@router.post(
    "/evidence/reload",
    response_model=ReloadAnswer,
    responses={
        401: {"model": ErrorBody, "description": "No bearer token, or not the one configured."},
        422: {
            "model": ErrorBody,
            "description": "The release was refused (code, file and field); the one before keeps serving.",
        },
        500: {
            "model": ErrorBody,
            "description": "The release could not be loaded at all; the one before keeps serving.",
        },
    },
)
async def reload_evidence(request: Request) -> JSONResponse:
    """Load and prove the release the evidence directory names now (a symlink a curator swapped is followed), then
    switch to it: requests in flight finish on the release they started with. A broken release is refused and the
    one before keeps serving; the same release again is left as it is, and the answer says so."""
    settings: Settings = request.app.state.settings
    if not authorized(request, settings):
        return JSONResponse(UNAUTHORIZED, status_code=401, headers={"WWW-Authenticate": "Bearer"})
    switch: EvidenceSwitch = request.app.state.evidence
    result = await switch.reload("admin")
    served = switch.served
    if result.outcome == "failed":
        error = dict(result.error or {})
        code, message = str(error.pop("code", "evidence.invalid")), str(error.pop("message", "refused"))
        status = 500 if code == "evidence.reload_failed" else 422
        serving = {"evidence_label": served.label, "evidence_version": served.version}
        return JSONResponse(error_body(code, message, **error, serving=serving), status_code=status)
    report: dict[str, Any] = result.report()
    if result.outcome == "switched":
        message = f"switched to release {served.label} ({served.version})"
    else:
        message = f"release {served.label} ({served.version}) is already served: nothing to switch"
    answer = ReloadAnswer(
        outcome=result.outcome,
        message=message,
        evidence_label=served.label,
        evidence_version=served.version,
        switched_at=iso(served.switched_at),
        previous=Served(**report["previous"]) if "previous" in report else None,
    )
    return JSONResponse(answer.model_dump(exclude_none=True))
