"""order-select: which selected draft MedicationRequests are for intravenous immunoglobulin.

Only `selections` count: the hook sends every draft order on the screen in `draftOrders`, and the ones the
clinician just picked in `selections` ("MedicationRequest/103"); an unselected draft is not what is being decided.

A draft is, by the hook's own words, incomplete: EHRs (the public sandbox among them) send drafts without `intent`
or `subject`, which a whole-resource R4 parse refuses. So a draft is never parsed whole: only the parts this service
reads are, each on its own, and a malformed part is lost alone. The medicine is named by `medicationCodeableConcept`,
or by `medicationReference` to a Medication `contained` in the draft (`#id`) or sent beside it in `draftOrders`
(`Medication/id`), whose `code` then names it; R5's `medication` (a CodeableReference) is read the same way.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.reference import Reference
from pydantic import BaseModel, ValidationError

from plugin.fhir.chart import codings, texts
from plugin.fhir.codes import SNOMED

log = logging.getLogger(__name__)

IVIG_TEXT = re.compile(r"\bIVIG\b|\bIGIV\b", re.IGNORECASE)
IMMUNE_GLOBULIN = re.compile(r"immune globulin|immunoglobulin", re.IGNORECASE)
INTRAVENOUS = re.compile(r"intravenous|\bI\.?V\.?\b", re.IGNORECASE)
# Hyperimmune globulins and subcutaneous products are different medicines with different evidence.
NOT_IVIG = re.compile(
    r"hepatitis|\bHBIG\b|rabies|tetanus|\bRho|anti-?D\b|varicella|zoster|cytomegalovirus|\bCMV\b|botulism|vaccinia|"
    r"anthrax|subcutaneous|\bSCIG\b",
    re.IGNORECASE,
)
INTRAVENOUS_ROUTE = "47625008"  # SNOMED CT "Intravenous route"

Part = TypeVar("Part", bound=BaseModel)


@dataclass(frozen=True)
class Draft:
    """What a draft order says about its medicine and why it is given, as far as its parts could be read."""

    medicines: tuple[CodeableConcept, ...]
    names: tuple[str, ...]
    routes: tuple[CodeableConcept, ...]
    reasons: tuple[CodeableConcept, ...]


def part(model: type[Part], value: object, name: str) -> Part | None:
    """One element of a draft as its FHIR type, or None when absent or malformed (logged by name, never value)."""
    if value is None:
        return None
    try:
        return model.model_validate(value)
    except ValidationError:
        log.info("a draft order's %s is not valid FHIR R4 and is left out", name)
        return None


def parts(model: type[Part], values: object, name: str) -> list[Part]:
    items = values if isinstance(values, list) else []
    return [found for found in (part(model, item, name) for item in items) if found is not None]


def medication(reference: Reference | None, draft: Mapping[str, Any], beside: Sequence[Mapping[str, Any]]) -> object:
    """The `code` of the Medication a reference names: contained in the draft (`#id`) or in `draftOrders`."""
    target = reference.reference if reference is not None else None
    if not target:
        return None
    if target.startswith("#"):
        candidates = draft.get("contained")
        wanted = target[1:]
    else:
        candidates, wanted = beside, target.removeprefix("Medication/")
        if wanted == target:
            return None
    for resource in candidates if isinstance(candidates, list) else []:
        if isinstance(resource, Mapping) and resource.get("resourceType") == "Medication":
            if resource.get("id") == wanted:
                return resource.get("code")
    return None


def read_draft(draft: Mapping[str, Any], beside: Sequence[Mapping[str, Any]]) -> Draft:
    """The parts of a draft MedicationRequest this service reads, each read on its own."""
    medicines: list[CodeableConcept] = []
    names: list[str] = []
    given = draft.get("medication")
    r5: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    for concept_value, reference_value in (
        (draft.get("medicationCodeableConcept"), draft.get("medicationReference")),
        (r5.get("concept"), r5.get("reference")),
    ):
        reference = part(Reference, reference_value, "medication reference")
        if reference is not None and reference.display:
            names.append(reference.display)
        for value in (concept_value, medication(reference, draft, beside)):
            concept = part(CodeableConcept, value, "medication")
            if concept is not None:
                medicines.append(concept)
    dosages = draft.get("dosageInstruction")
    routes = parts(
        CodeableConcept,
        [d.get("route") for d in dosages if isinstance(d, Mapping)] if isinstance(dosages, list) else [],
        "route",
    )
    reasons = parts(CodeableConcept, draft.get("reasonCode"), "reason")
    return Draft(tuple(medicines), tuple(names), tuple(routes), tuple(reasons))


def is_ivig(draft: Draft, codes: Collection[str]) -> bool:
    """An intravenous immunoglobulin order: a configured code, or its name (IVIG, or immune globulin given IV).

    Hyperimmune globulins (anti-D, hepatitis B, rabies...) and subcutaneous immunoglobulin never match.
    """
    if any(f"{system}|{code}" in codes for concept in draft.medicines for system, code in codings(concept)):
        return True
    names = " ".join([*(t for concept in draft.medicines for t in texts(concept)), *draft.names])
    if not names or NOT_IVIG.search(names):
        return False
    if IVIG_TEXT.search(names):
        return True
    given_iv = bool(INTRAVENOUS.search(names)) or any(
        (SNOMED, INTRAVENOUS_ROUTE) in codings(route) or INTRAVENOUS.search(" ".join(texts(route)))
        for route in draft.routes
    )
    return bool(IMMUNE_GLOBULIN.search(names)) and given_iv


def ivig_orders(draft_orders: Mapping[str, Any], selections: Collection[str], codes: Collection[str]) -> list[Draft]:
    """The selected draft MedicationRequests in an order-select `draftOrders` Bundle that are for IVIG."""
    entries = draft_orders.get("entry")
    resources = [e.get("resource") for e in entries if isinstance(e, Mapping)] if isinstance(entries, list) else []
    beside = [r for r in resources if isinstance(r, Mapping)]
    found = []
    for raw in beside:
        if raw.get("resourceType") != "MedicationRequest" or f"MedicationRequest/{raw.get('id')}" not in selections:
            continue
        draft = read_draft(raw, beside)
        if is_ivig(draft, codes):
            found.append(draft)
    return found
