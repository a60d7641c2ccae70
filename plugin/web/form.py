"""Profile parameters as text -> PatientProfile, keeping what was typed so a page can show it back with errors.

Parameters are named exactly like the profile fields, so an EHR, a CDS Hooks card link or a bookmark can open
the widget or the decision aid for a patient, and an MCP prompt's arguments (strings, like a query's) read the same
way. An empty or absent parameter means unknown. `autoimmune_conditions` is repeated once
per condition, and the single value `none` means she has none. A bad value never raises: it becomes a
`FieldError` naming the field, and no profile is built (an answer for a different profile would mislead).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from plugin.core.rules.profile import PatientProfile

FIELDS: tuple[str, ...] = tuple(PatientProfile.model_fields)
CONDITIONS = "autoimmune_conditions"
NONE = "none"
WHOLE_NUMBER = re.compile(r"^[0-9]+$")
MAX_DIGITS = 9
ACROSS_FIELDS = "baseline_live_birth_source"
# Unknown parameters each named back in the page, at most; the rest are counted in one more error.
MAX_UNKNOWN_SHOWN = 3
# A valid floating-point number in the sense of HTML number inputs: no sign other than minus, no "nan",
# "inf" or "1_000" (which Python's float() would accept).
DECIMAL = re.compile(r"^-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$")


@dataclass(frozen=True)
class FieldError:
    field: str
    value: str
    message: str


@dataclass(frozen=True)
class ProfileForm:
    """The form as submitted: raw values for prefilling, and either a profile or the errors that prevent one."""

    values: dict[str, str] = field(default_factory=dict)
    conditions: tuple[str, ...] = ()
    profile: PatientProfile | None = None
    errors: tuple[FieldError, ...] = ()

    def value(self, name: str) -> str:
        return self.values.get(name, "")

    def error_for(self, name: str) -> FieldError | None:
        return next((e for e in self.errors if e.field == name), None)


class BadValue(ValueError):
    """A raw parameter that cannot be turned into its field's type; the message says what is allowed."""


def to_int(raw: str) -> int:
    if not WHOLE_NUMBER.match(raw):
        raise BadValue("must be a whole number, such as 3")
    if len(raw.lstrip("0")) > MAX_DIGITS:  # int() refuses 4,301 digits and more; no count has more than a few
        raise BadValue(f"must be a whole number of at most {MAX_DIGITS} digits")
    return int(raw)


def to_float(raw: str) -> float:
    if not DECIMAL.match(raw):
        raise BadValue("must be a number written with digits and a decimal point, such as 14.5")
    number = float(raw)
    if not math.isfinite(number):
        raise BadValue("must be a finite number")
    return number


def to_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered not in ("true", "false"):
        raise BadValue("must be true or false")
    return lowered == "true"


CONVERTERS: dict[str, Callable[[str], object]] = {
    "prior_pregnancy_losses": to_int,
    "nk_cell_percent": to_float,
    "th1_th2_ratio_elevated": to_bool,
    "ivig_start": str,
    "rpl_type": str,
    "baseline_live_birth_risk": to_float,
    "baseline_live_birth_source": str,
}


def conditions_value(raw: tuple[str, ...]) -> tuple[str, ...]:
    """Checked boxes -> the profile's tuple; `none` alone is the empty tuple (nothing checked never gets here)."""
    if NONE in raw:
        if len(raw) > 1:
            raise BadValue(f"'{NONE}' cannot be combined with a condition")
        return ()
    return raw


def collect(pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, list[str]], list[FieldError]]:
    """Group parameters by name, dropping empty values (an empty form field is unknown)."""
    grouped: dict[str, list[str]] = {}
    errors: list[FieldError] = []
    unknown = 0
    for name, raw in pairs:
        if name not in FIELDS:
            unknown += 1
            if unknown <= MAX_UNKNOWN_SHOWN:
                errors.append(FieldError(name, raw, f"is not a profile field; the fields are {', '.join(FIELDS)}"))
            continue
        value = raw.strip()
        if value:
            grouped.setdefault(name, []).append(value)
    if unknown > MAX_UNKNOWN_SHOWN:
        more = unknown - MAX_UNKNOWN_SHOWN
        errors.append(FieldError("other_parameters", "", f"{more} more parameters are not profile fields"))
    for name, values in grouped.items():
        if name != CONDITIONS and len(values) > 1:
            errors.append(FieldError(name, ", ".join(values), "was given more than once"))
    return grouped, errors


def validation_errors(exc: ValidationError, shown: dict[str, str]) -> list[FieldError]:
    """Pydantic's messages, one per field, with the value as it was typed."""
    errors: dict[str, FieldError] = {}
    for error in exc.errors():
        # The profile's one rule across fields (one baseline, not both) has no location: it is about the source.
        name = str(error["loc"][0]) if error["loc"] else ACROSS_FIELDS
        errors.setdefault(name, FieldError(name, shown.get(name, ""), error["msg"]))
    return list(errors.values())


def parse_query(pairs: Iterable[tuple[str, str]]) -> ProfileForm:
    """Read the widget's query parameters; never raises on bad input."""
    grouped, errors = collect(pairs)
    values = {name: ", ".join(v) for name, v in grouped.items()}
    conditions = tuple(grouped.get(CONDITIONS, ()))
    data: dict[str, Any] = {}
    for name, raw_values in grouped.items():
        if name != CONDITIONS and len(raw_values) > 1:
            continue
        try:
            data[name] = conditions_value(conditions) if name == CONDITIONS else CONVERTERS[name](raw_values[0])
        except BadValue as exc:
            errors.append(FieldError(name, values[name], str(exc)))
    profile: PatientProfile | None = None
    try:
        profile = PatientProfile.model_validate(data)
    except ValidationError as exc:
        errors.extend(validation_errors(exc, values))
    if errors:
        errors.sort(key=lambda e: FIELDS.index(e.field) if e.field in FIELDS else len(FIELDS))
        return ProfileForm(values=values, conditions=conditions, errors=tuple(errors))
    return ProfileForm(values=values, conditions=conditions, profile=profile)
