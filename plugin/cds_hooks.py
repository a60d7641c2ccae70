"""CDS Hooks 2.0 wire models, the discovery document, and Answer -> cards.

Spec: https://cds-hooks.hl7.org/2.0/ (HL7/cds-hooks v2.0.1, input/pagecontent/index.md); standards/interop.md §1.
Wire names are camelCase (`CdsModel`). Nothing is sent null or empty, which the spec forbids (the one exception
is `cards: []`): optional fields are left out and required strings and lists refuse to be empty. Every number
on a card is read from the `Answer`; the detail markdown comes from a template that must carry the warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlencode
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.alias_generators import to_camel

from plugin.answer import Answer
from plugin.errors import MissingDataError, PluginError, UpstreamError
from plugin.fhir import Finding
from plugin.prefetch import TEMPLATES
from plugin.profile import PatientProfile
from plugin.render import Renderer, fmt_ratio

CDS_PREFIX = "/cds-services"
SERVICE_ID = "ivig-rpl-evidence"
DETAIL_TEMPLATE = "cds/card_detail.md.j2"
SUMMARY_LIMIT = 140  # "one-sentence, <140-character summary"

Text = Annotated[str, Field(min_length=1)]
Hook = Literal["patient-view", "order-select"]


class CdsModel(BaseModel):
    """CDS Hooks objects: camelCase on the wire, snake_case in Python; unknown request fields (`extension`) ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


# Request


class FhirAuthorization(BaseModel):
    """The EHR's bearer token for its FHIR server. OAuth 2.0 names, so snake_case on the wire; the token is secret."""

    model_config = ConfigDict(frozen=True)

    access_token: SecretStr = Field(min_length=1)
    token_type: str
    expires_in: int | None = None
    scope: str | None = None
    subject: str | None = None
    patient: str | None = None

    @field_validator("token_type")
    @classmethod
    def _bearer(cls, value: str) -> str:
        if value.lower() != "bearer":
            raise ValueError(f"token_type {value!r} is not 'Bearer'")
        return value


class HookContext(CdsModel):
    """The context fields of patient-view and order-select that this service reads."""

    patient_id: Text
    user_id: str | None = None
    encounter_id: str | None = None
    selections: tuple[str, ...] | None = None
    draft_orders: dict[str, Any] | None = None


class CdsRequest(CdsModel):
    hook: Hook
    hook_instance: Text
    fhir_server: str | None = None
    fhir_authorization: FhirAuthorization | None = None
    context: HookContext
    prefetch: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _hook_rules(self) -> Self:
        if self.fhir_authorization is not None and not self.fhir_server:
            raise ValueError("fhirServer is required when fhirAuthorization is given")
        if self.hook == "order-select" and self.context.draft_orders is None:
            raise ValueError("context.draftOrders is required for the order-select hook")
        return self


# Response


class Coding(CdsModel):
    system: str | None = None
    code: Text
    display: str | None = None


class Source(CdsModel):
    label: Text
    url: str | None = None


class Link(CdsModel):
    label: Text
    url: Text
    type: Literal["absolute", "smart"]


class Card(CdsModel):
    uuid: UUID
    summary: str = Field(min_length=1, max_length=SUMMARY_LIMIT - 1)
    detail: Text
    indicator: Literal["info", "warning", "critical"]
    source: Source
    links: tuple[Link, ...] = Field(min_length=1)


class CdsResponse(CdsModel):
    cards: tuple[Card, ...]


class Service(CdsModel):
    hook: Hook
    id: Text
    title: Text
    description: Text
    prefetch: dict[str, str]
    usage_requirements: Text


class Discovery(CdsModel):
    services: tuple[Service, ...]


# Feedback


class AcceptedSuggestion(CdsModel):
    id: Text


class OverrideReason(CdsModel):
    reason: Coding | None = None
    user_comment: str | None = None


class FeedbackEntry(CdsModel):
    card: UUID
    outcome: Literal["accepted", "overridden"]
    accepted_suggestions: tuple[AcceptedSuggestion, ...] | None = None
    override_reason: OverrideReason | None = None
    outcome_timestamp: AwareDatetime


class FeedbackRequest(CdsModel):
    feedback: tuple[FeedbackEntry, ...] = Field(min_length=1)


# Discovery

DESCRIPTION = (
    "Pooled evidence on intravenous immunoglobulin (IVIG) and live birth for women with recurrent pregnancy loss "
    "and an immune finding (NK cells above 12%, autoimmune disease), from a meta-analysis of non-randomized studies."
)
USAGE = (
    "Reads active Conditions (recurrent pregnancy loss, antiphospholipid syndrome, lupus, autoimmune thyroiditis; "
    "SNOMED CT or ICD-10), NK-cell percentage Observations (LOINC) and the count of spontaneous abortions. The "
    "conditions prefetch is required unless fhirServer and fhirAuthorization let the service query it."
)
DISCOVERY = Discovery(
    services=(
        Service(
            hook="patient-view",
            id=SERVICE_ID,
            title="IVIG evidence for recurrent pregnancy loss",
            description=DESCRIPTION,
            prefetch=TEMPLATES,
            usage_requirements=USAGE,
        ),
        Service(
            hook="order-select",
            id=SERVICE_ID,
            title="IVIG evidence when intravenous immunoglobulin is ordered",
            description=f"{DESCRIPTION} Shown when a draft medication order is for intravenous immunoglobulin.",
            prefetch=TEMPLATES,
            usage_requirements=USAGE,
        ),
    )
)


# Answer -> cards

SHORT_NAMES = {
    "prior_pregnancy_losses": "number of losses",
    "nk_cell_percent": "NK-cell %",
    "autoimmune_conditions": "autoimmune status",
    "th1_th2_ratio_elevated": "Th1/Th2 ratio",
    "ivig_start": "IVIG timing",
    "baseline_live_birth_risk": "baseline risk",
}


def summary(answer: Answer) -> str:
    """The card's one sentence (< 140 characters): the leading estimate and its certainty, or what is missing."""
    if answer.status == "matched":
        lead = answer.estimates[0]
        numbers = f"RR {fmt_ratio(lead.rr)} ({fmt_ratio(lead.ci_low)}-{fmt_ratio(lead.ci_high)})"
        tail = f"{lead.certainty.label} certainty, non-randomized studies."
        full = f"IVIG and live birth, {lead.label}: {numbers}. {tail}"
        return full if len(full) < SUMMARY_LIMIT else f"IVIG and live birth: {numbers}. {tail}"
    if answer.status == "insufficient_information":
        needed = ", ".join(SHORT_NAMES[name] for name in answer.missing_information)
        return f"IVIG evidence in RPL: no estimate matched yet; needs {needed}."
    return "IVIG evidence in RPL does not apply: the studies only included women with an immune finding."


def widget_link(profile: PatientProfile, base_url: str) -> Link:
    """The widget for this profile: one query parameter per known field, conditions repeated, `none` for []."""
    params: list[tuple[str, str]] = []
    for name, value in profile.model_dump(exclude_none=True).items():
        if name == "autoimmune_conditions":
            params += [(name, condition) for condition in value] or [(name, "none")]
        elif isinstance(value, bool):
            params.append((name, "true" if value else "false"))
        else:
            params.append((name, str(value)))
    query = f"?{urlencode(params)}" if params else ""
    return Link(
        label="Open the IVIG evidence widget for these findings", url=f"{base_url}/widget{query}", type="absolute"
    )


def chart_notes(findings: Sequence[Finding]) -> str:
    """Where each datum came from, with its date, so a stale result is visible on the card."""
    if not findings:
        return ""
    lines = [f"- {f.what}: {f.source}" + (f", {f.date}" if f.date else "") for f in findings]
    return "\n**Taken from the chart:**\n\n" + "\n".join(lines) + "\n"


def cards_for(answer: Answer, findings: Sequence[Finding], renderer: Renderer, base_url: str) -> tuple[Card, ...]:
    """One `info` card for this answer, or none when the evidence is not about this patient (`not_rpl`)."""
    if answer.status == "not_rpl":
        return ()
    base = base_url.rstrip("/")
    card = Card(
        uuid=uuid4(),
        summary=summary(answer),
        detail=renderer.render_template(DETAIL_TEMPLATE, answer) + chart_notes(findings),
        indicator="info",
        source=Source(label=answer.citation.short, url=answer.citation.url),
        links=(widget_link(answer.profile, base),),
    )
    return (card,)


# Errors

ISSUE_TYPES: list[tuple[type[PluginError], str]] = [(MissingDataError, "processing"), (UpstreamError, "transient")]


def operation_outcome(error: PluginError) -> dict[str, Any]:
    """A FHIR OperationOutcome for a non-2xx CDS Hooks response; `diagnostics` carries the stable error code."""
    issue_type = next((kind for cls, kind in ISSUE_TYPES if isinstance(error, cls)), "exception")
    issue = {"severity": "error", "code": issue_type, "diagnostics": error.code, "details": {"text": error.message}}
    return {"resourceType": "OperationOutcome", "issue": [issue]}
