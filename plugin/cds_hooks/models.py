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
