"""order-select: which selected draft MedicationRequests are for intravenous immunoglobulin.

Only `selections` count: the hook sends every draft order on the screen in `draftOrders`, and the ones the
clinician just picked in `selections` ("MedicationRequest/103"); an unselected draft is not what is being decided.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping
from typing import Any

from fhir.resources.R4B.medicationrequest import MedicationRequest
from pydantic import ValidationError

from plugin.fhir.chart import as_r4, codings, texts
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


def is_ivig(order: MedicationRequest, codes: Collection[str]) -> bool:
    """An intravenous immunoglobulin order: a configured code, or its name (IVIG, or immune globulin given IV).

    Hyperimmune globulins (anti-D, hepatitis B, rabies...) and subcutaneous immunoglobulin never match.
    """
    concept = order.medicationCodeableConcept
    if any(f"{system}|{code}" in codes for system, code in codings(concept)):
        return True
    reference = order.medicationReference
    names = " ".join([*texts(concept), *([reference.display] if reference and reference.display else [])])
    if not names or NOT_IVIG.search(names):
        return False
    if IVIG_TEXT.search(names):
        return True
    routes = [d.route for d in order.dosageInstruction or [] if d.route]
    given_iv = bool(INTRAVENOUS.search(names)) or any(
        (SNOMED, INTRAVENOUS_ROUTE) in codings(route) or INTRAVENOUS.search(" ".join(texts(route))) for route in routes
    )
    return bool(IMMUNE_GLOBULIN.search(names)) and given_iv


def ivig_orders(
    draft_orders: Mapping[str, Any], selections: Collection[str], codes: Collection[str]
) -> list[MedicationRequest]:
    """The selected draft MedicationRequests in an order-select `draftOrders` Bundle that are for IVIG."""
    entries = draft_orders.get("entry") or []
    found = []
    for entry in entries if isinstance(entries, list) else []:
        raw = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(raw, Mapping) or raw.get("resourceType") != "MedicationRequest":
            continue
        if f"MedicationRequest/{raw.get('id')}" not in selections:
            continue
        try:
            order = MedicationRequest.model_validate(as_r4(raw))
        except ValidationError:
            log.warning("skipped a draft MedicationRequest that is not valid FHIR R4")
            continue
        if is_ivig(order, codes):
            found.append(order)
    return found
