"""FHIR R4 Patient -> what a patient banner shows: her name and birth date, each read on its own, so one malformed
element loses only itself. A Patient whose `id` is not the one asked for is no answer at all: a banner must never
name somebody else."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# FHIR `date`: a year, year-month or full date (R4 datatypes); anything else is not shown.
FHIR_DATE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")
# The name uses SMART and FHIR prefer for display: `official`, then `usual`, then one without a use.
NAME_USES = ("official", "usual", None)
MAX_NAME = 200


@dataclass(frozen=True)
class Identity:
    name: str | None
    birth_date: str | None


def strings(value: object) -> list[str]:
    items = value if isinstance(value, Sequence) and not isinstance(value, str) else []
    return [item.strip() for item in items if isinstance(item, str) and item.strip()]


def spoken(name: Mapping[str, Any]) -> str | None:
    """`text` as the EHR wrote it, else the given names then the family name."""
    text = name.get("text")
    if isinstance(text, str) and text.strip():
        whole = text.strip()
    else:
        family = name.get("family")
        parts = [*strings(name.get("given")), *([family.strip()] if isinstance(family, str) and family.strip() else [])]
        whole = " ".join(parts)
    whole = " ".join(whole.split())  # no line breaks or runs of spaces from the record
    return whole[:MAX_NAME] or None


def display_name(names: object) -> str | None:
    entries = [n for n in names if isinstance(n, Mapping)] if isinstance(names, list) else []
    for use in NAME_USES:
        for entry in entries:
            if entry.get("use") == use and spoken(entry):
                return spoken(entry)
    return next((name for name in map(spoken, entries) if name), None)


def identity(resource: Mapping[str, Any], patient_id: str) -> Identity | None:
    """Her name and birth date from her Patient resource; None when it is not a Patient or is another patient's."""
    if resource.get("resourceType") != "Patient" or resource.get("id") != patient_id:
        return None
    born = resource.get("birthDate")
    birth_date = born if isinstance(born, str) and FHIR_DATE.match(born) else None
    return Identity(display_name(resource.get("name")), birth_date)
