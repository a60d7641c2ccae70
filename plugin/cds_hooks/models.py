"""CDS Hooks 2.0 wire models: requests, cards, discovery and feedback, as the spec names them.

Spec: https://cds-hooks.hl7.org/2.0/ (HL7/cds-hooks v2.0.1, input/pagecontent/index.md).
Wire names are camelCase (`CdsModel`). Nothing is sent null or empty, which the spec forbids (the one exception
is `cards: []`): optional fields are left out and required strings and lists refuse to be empty.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

CDS_PREFIX = "/cds-services"
# One id per hook: the sandbox keeps one discovery entry per id, and a client replaces a service's cards when the
# same id fires again, so an order-select answer must never wipe the patient-view card (docs/cds-hooks.md).
SERVICE_ID = "ivig-rpl-evidence"
ORDER_SELECT_SERVICE_ID = "ivig-rpl-evidence-order-select"
DETAIL_TEMPLATE = "cds/card_detail.md.j2"
# What of an answer the card detail reads (the template can read nothing else), so cards share one rendering.
DETAIL_READS = (
    "at_a_glance",
    "at_ivig_order",
    "context",
    "estimates",
    "warnings",
    "nonrandomized_warning",
    "missing_information",
    "evidence_version",
    "evidence_label",
    "sources_last_searched",
)
SUMMARY_LIMIT = 140  # "one-sentence, <140-character summary"
# List lengths a request may carry: far past any real batch or chart, short of a flood.
MAX_FEEDBACK_ENTRIES = 100
MAX_BUNDLE_ENTRIES = 1000

# Every string a caller sends is bounded before it is logged or stored: identifiers to a line's worth of visible
# ASCII (no space, no control character: a log line cannot be broken or padded with them), free text to a paragraph.
MAX_IDENTIFIER = 128
MAX_CALLER_TEXT = 1024
MAX_COMMENT = 4096
VISIBLE_ASCII = r"^[\x21-\x7e]+$"
Text = Annotated[str, Field(min_length=1)]
Identifier = Annotated[str, Field(min_length=1, max_length=MAX_IDENTIFIER, pattern=VISIBLE_ASCII)]
CallerText = Annotated[str, Field(min_length=1, max_length=MAX_CALLER_TEXT)]
Hook = Literal["patient-view", "order-select"]


def not_empty(value: tuple[Any, ...]) -> tuple[Any, ...]:
    """After the items: a length limit on the field would also report a list whose only item was bad as empty."""
    if not value:
        raise PydanticCustomError("cds.empty_list", "must not be empty")
    return value


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

    access_token: SecretStr = Field(min_length=1, max_length=MAX_COMMENT * 4)
    token_type: Annotated[str, Field(max_length=MAX_IDENTIFIER)]
    expires_in: int | None = None
    scope: Annotated[str, Field(max_length=MAX_COMMENT)] | None = None
    subject: Annotated[str, Field(max_length=MAX_CALLER_TEXT)] | None = None
    patient: Annotated[str, Field(max_length=MAX_CALLER_TEXT)] | None = None

    @field_validator("token_type")
    @classmethod
    def _bearer(cls, value: str) -> str:
        if value.lower() != "bearer":
            raise PydanticCustomError("cds.not_bearer", "must be Bearer")
        return value


class HookContext(CdsModel):
    """The patient-view context fields this service reads."""

    patient_id: Annotated[str, Field(min_length=1, max_length=MAX_CALLER_TEXT)]
    user_id: Annotated[str, Field(max_length=MAX_CALLER_TEXT)] | None = None
    encounter_id: Annotated[str, Field(max_length=MAX_CALLER_TEXT)] | None = None


class OrderSelectContext(HookContext):
    """order-select adds the orders being drafted and which of them the clinician just selected (both REQUIRED)."""

    selections: Annotated[tuple[CallerText, ...], Field(max_length=MAX_FEEDBACK_ENTRIES), AfterValidator(not_empty)]
    draft_orders: dict[str, Any]


class CdsRequest(CdsModel):
    """The fields every hook call shares; each service narrows `hook` and `context` to its own hook."""

    hook: Hook
    hook_instance: Identifier  # logged and stored with each card
    fhir_server: Annotated[str, Field(max_length=MAX_CALLER_TEXT)] | None = None  # judged against the issuer later
    fhir_authorization: FhirAuthorization | None = None
    context: HookContext
    prefetch: dict[str, Any] | None = None

    @field_validator("prefetch")
    @classmethod
    def _bundles_bounded(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        for key, item in (value or {}).items():
            entries = item.get("entry") if isinstance(item, dict) else None
            if isinstance(entries, list) and len(entries) > MAX_BUNDLE_ENTRIES:
                raise PydanticCustomError(
                    "cds.too_many_entries",
                    f"holds more than {MAX_BUNDLE_ENTRIES} Bundle entries",
                    {"field": f"{key}.entry"},
                )
        return value

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


# Feedback (CDS Hooks 2.0 "Feedback"): what the spec forbids is refused, naming the entry and field


class AcceptedSuggestion(CdsModel):
    id: Identifier


class ReasonCoding(CdsModel):
    """The override reason the clinician picked: a Coding with both `system` and `code`."""

    system: CallerText
    code: CallerText
    display: Annotated[str, Field(max_length=MAX_CALLER_TEXT)] | None = None


class OverrideReason(CdsModel):
    """Why a card was overridden: a picked reason, a comment, or both; never an empty object."""

    reason: ReasonCoding | None = None
    user_comment: Annotated[str, Field(min_length=1, max_length=MAX_COMMENT)] | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if self.reason is None and self.user_comment is None:
            raise PydanticCustomError("cds.empty_object", "must hold a reason or a userComment")
        return self


class FeedbackEntry(CdsModel):
    card: UUID
    outcome: Literal["accepted", "overridden"]
    accepted_suggestions: Annotated[tuple[AcceptedSuggestion, ...], AfterValidator(not_empty)] | None = None
    # Read under either name: overrideReason (the spec's) or overriddenReason.
    override_reason: OverrideReason | None = Field(
        default=None, validation_alias=AliasChoices("overrideReason", "overriddenReason")
    )
    outcome_timestamp: AwareDatetime

    @field_validator("outcome_timestamp")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        try:
            return value.astimezone(UTC)  # the spec asks for UTC; a +02:00 offset is the same instant
        except OverflowError:  # 0001-01-01T00:00:00+14:00 and 9999-12-31T23:59:59-00:01 have no UTC time
            raise PydanticCustomError("cds.out_of_range", "is outside the years 1 to 9999 once in UTC") from None

    @model_validator(mode="after")
    def _outcome_rules(self) -> Self:
        if self.outcome == "accepted":
            if self.accepted_suggestions is None:
                raise required("acceptedSuggestions", "is required for an accepted outcome")
            # This service issues no suggestions, so no suggestion id can be one of ours.
            raise PydanticCustomError(
                "cds.unknown_suggestion",
                "names a suggestion this service never issued (its cards carry none)",
                {"field": "acceptedSuggestions"},
            )
        if self.accepted_suggestions is not None:
            raise PydanticCustomError(
                "cds.not_allowed", "is only for an accepted outcome", {"field": "acceptedSuggestions"}
            )
        return self


class FeedbackRequest(CdsModel):
    """A batch of feedback: stored all together or, if any entry is refused, not at all."""

    feedback: Annotated[tuple[FeedbackEntry, ...], Field(max_length=MAX_FEEDBACK_ENTRIES), AfterValidator(not_empty)]
