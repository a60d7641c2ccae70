"""CDS Hooks 2.0 wire models: requests, cards, discovery and feedback, as the spec names them.

Spec: https://cds-hooks.hl7.org/2.0/ (HL7/cds-hooks v2.0.1, input/pagecontent/index.md); standards/interop.md §1.
Wire names are camelCase (`CdsModel`). Nothing is sent null or empty, which the spec forbids (the one exception
is `cards: []`): optional fields are left out and required strings and lists refuse to be empty.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

CDS_PREFIX = "/cds-services"
# One id per hook: the sandbox keeps one discovery entry per id, and a client replaces a service's cards when the
# same id fires again, so an order-select answer must never wipe the patient-view card (DESIGN.md, "Doors").
SERVICE_ID = "ivig-rpl-evidence"
ORDER_SELECT_SERVICE_ID = "ivig-rpl-evidence-order-select"
DETAIL_TEMPLATE = "cds/card_detail.md.j2"
SUMMARY_LIMIT = 140  # "one-sentence, <140-character summary"

Text = Annotated[str, Field(min_length=1)]
Hook = Literal["patient-view", "order-select"]


def required(field: str, why: str) -> PydanticCustomError:
    """A rule across fields, reported on `field` (its wire name): `ctx.field` extends the error's location."""
    return PydanticCustomError("cds.required_with", why, {"field": field})


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
            raise PydanticCustomError("cds.not_bearer", "must be Bearer")
        return value


class HookContext(CdsModel):
    """The patient-view context fields this service reads."""

    patient_id: Text
    user_id: str | None = None
    encounter_id: str | None = None


class OrderSelectContext(HookContext):
    """order-select adds the orders being drafted and which of them the clinician just selected (both REQUIRED)."""

    selections: tuple[Text, ...] = Field(min_length=1)
    draft_orders: dict[str, Any]


class CdsRequest(CdsModel):
    """The fields every hook call shares; each service narrows `hook` and `context` to its own hook."""

    hook: Hook
    hook_instance: Text
    fhir_server: str | None = None  # judged later, against the caller's issuer, not here
    fhir_authorization: FhirAuthorization | None = None
    context: HookContext
    prefetch: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _server_with_authorization(self) -> Self:
        if self.fhir_authorization is not None and not self.fhir_server:
            raise required("fhirServer", "is required when fhirAuthorization is given")
        return self


class PatientViewRequest(CdsRequest):
    hook: Literal["patient-view"]


class OrderSelectRequest(CdsRequest):
    hook: Literal["order-select"]
    context: OrderSelectContext


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
