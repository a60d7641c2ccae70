"""FHIR R4 resources -> PatientProfile: what the chart says about NK cells, autoimmune disease, RPL and losses.

Codes and rules are in `plugin.fhir.codes`. Only current data counts: Observations that are final, amended or
corrected (newest wins), Conditions that are active, recurring or relapsed and neither refuted nor entered in
error. What the chart does not say stays unknown, never "no": a problem list without lupus is not proof of no
lupus, so autoimmune conditions are only ever read as present. Parsed with fhir.resources' R4B models, which
share R4's Observation and Condition.

A malformed element loses itself, not the resource: an element the reader does not use (`meta.lastUpdated` without a
time zone, a bad `note`) is dropped and the rest read. One it does use (status, code, value, date, clinical or
verification status) cannot be dropped without changing what the resource says, so that resource is counted as
unreadable (`Chart.unread`) and the card says so.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.observation import Observation
from pydantic import ValidationError

from plugin.core.answer.lru import Lru
from plugin.core.rules.profile import AUTOIMMUNE_CONDITIONS, MAX_LOSSES, PatientProfile
from plugin.fhir.codes import (
    ACTIVE,
    FEATURE_NAMES,
    FINAL,
    FRACTION_UNITS,
    ICD10,
    ICD10_FEATURES,
    LOINC,
    NK_PERCENT_CODES,
    NK_TEXT,
    NOT_BLOOD_TEXT,
    NOT_TRUE,
    PERCENT_UNITS,
    SNOMED,
    SNOMED_FEATURES,
    SPONTANEOUS_ABORTIONS,
    SYSTEM_NAMES,
    Feature,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finding:
    """One chart datum the profile used and where it came from, so a card or the widget can show its source and date.

    `resource` is the FHIR resource type it was read from; `field` the profile field it filled (None when it only
    says whether the evidence concerns her, as an RPL diagnosis does, or was not used).
    """

    what: str
    source: str
    date: str | None = None
    resource: str = "Observation"
    field: str | None = None


@dataclass(frozen=True)
class Chart:
    """The profile read from the chart, the findings behind it, whether RPL is on the problem list, and how many
    resources of each type could not be read at all (type -> count)."""

    profile: PatientProfile
    findings: tuple[Finding, ...]
    rpl_diagnosed: bool
    unread: tuple[tuple[str, int], ...] = ()

    @property
    def relevant(self) -> bool:
        """The chart shows what this evidence is about: RPL on the problem list or two or more known losses.

        An NK-cell result alone is not enough: many women have one without recurrent losses, and a card on every
        such chart would be noise (a clinician can still ask through the widget).
        """
        losses = self.profile.prior_pregnancy_losses
        return self.rpl_diagnosed or (losses is not None and losses >= 2)


def as_r4(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The resource with a lone `category` object read as R4's list of one (the public sandbox sends it so)."""
    resource = dict(raw)
    if isinstance(resource.get("category"), Mapping):
        resource["category"] = [resource["category"]]
    return resource


MODELS: dict[str, type[Observation] | type[Condition]] = {"Observation": Observation, "Condition": Condition}
# The elements the reader relies on; a malformed one leaves the resource unreadable rather than read differently.
USED: dict[str, frozenset[str]] = {
    "Observation": frozenset(
        {"status", "code", "valueQuantity", "valueInteger", "effectiveDateTime", "effectivePeriod", "effectiveInstant"}
        | {"issued"}
    ),
    "Condition": frozenset({"code", "clinicalStatus", "verificationStatus"}),
}


class Unreadable(ValueError):
    """A resource of a type the reader uses, malformed in an element it relies on."""


# Resources read whole at the first try, by their JSON text: a patient's problem list and history come again with
# every hook and every page of hers. The models are shared, so nothing may change them; a resource that lost a
# malformed element or could not be read is parsed (and logged) again each time.
PARSED_KEPT = 4096
_parsed: Lru[str, Observation | Condition] = Lru(PARSED_KEPT)


def json_text(resource: Mapping[str, Any]) -> str | None:
    """The resource as JSON text, or None when it holds what JSON cannot (such as NaN): then it is not kept."""
    try:
        return json.dumps(resource, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return None


def parse(raw: Mapping[str, Any]) -> Observation | Condition | None:
    """An Observation or Condition model, its malformed unused elements dropped; None for other types.

    Raises:
        Unreadable: an element the reader uses is malformed (logged by type and element, never by value).
    """
    kind = raw.get("resourceType")
    model = MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        return None
    resource = as_r4(raw)
    text = json_text(resource)
    kept = None if text is None else _parsed.get(text)
    if kept is not None:
        return kept
    whole = text is not None
    while True:
        try:
            read = model.model_validate(resource)
        except ValidationError as exc:
            whole = False
            elements = {str(error["loc"][0]) if error["loc"] else "" for error in exc.errors()}
            if "" in elements or elements & USED[model.__name__] or not elements <= resource.keys():
                log.warning("could not read a %s: malformed %s", kind, ", ".join(sorted(elements)) or "resource")
                raise Unreadable(kind) from exc
            log.info("read a %s without its malformed %s", kind, ", ".join(sorted(elements)))
            resource = {name: value for name, value in resource.items() if name not in elements}
        else:
            if whole and text is not None:
                _parsed.put(text, read)
            return read


def codings(concept: CodeableConcept | None) -> list[tuple[str, str]]:
    if concept is None:
        return []
    return [(c.system or "", c.code) for c in concept.coding or [] if c.code]


def texts(concept: CodeableConcept | None) -> list[str]:
    if concept is None:
        return []
    return [t for t in [concept.text, *(c.display for c in concept.coding or [])] if t]


def when(value: object) -> datetime:
    """A sort key for FHIR dates (full, partial "2026-03" or "2026", or with a time); undated sorts oldest."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str) and re.fullmatch(r"\d{4}(-\d{2})?", value):
        year, _, month = value.partition("-")
        return datetime(int(year), int(month or 1), 1, tzinfo=UTC)
    return datetime.min.replace(tzinfo=UTC)


def observed(obs: Observation) -> object:
    period = obs.effectivePeriod
    return obs.effectiveDateTime or obs.effectiveInstant or (period and (period.end or period.start)) or obs.issued


def day(value: object) -> str | None:
    if isinstance(value, datetime | date):
        return value.isoformat()[:10]
    return value if isinstance(value, str) else None


def loinc_codes(obs: Observation) -> set[str]:
    return {code for system, code in codings(obs.code) if system == LOINC}


def is_nk_percent(obs: Observation) -> bool:
    """An NK-% LOINC code; failing any LOINC code, a local test whose name says NK or CD56 in blood."""
    codes = loinc_codes(obs)
    if codes:
        return bool(codes & NK_PERCENT_CODES)
    names = " ".join(texts(obs.code))
    return bool(NK_TEXT.search(names)) and not NOT_BLOOD_TEXT.search(names)


def nk_percent(obs: Observation) -> float | None:
    """The NK-cell percentage: UCUM `%` as is, a fraction (`1` or no unit) times 100; anything else unreadable."""
    quantity = obs.valueQuantity
    if quantity is None or quantity.value is None or quantity.comparator is not None:
        return None
    unit = (quantity.code or quantity.unit or "").strip().lower()
    value = Decimal(quantity.value)
    if unit in PERCENT_UNITS:
        percent = value
    elif unit in FRACTION_UNITS:
        percent = value * 100
    else:
        return None
    return float(percent) if 0 <= percent <= 100 else None


def loss_count(obs: Observation) -> int | None:
    if obs.valueInteger is not None:
        return int(obs.valueInteger) if obs.valueInteger >= 0 else None
    quantity = obs.valueQuantity
    if quantity is None or quantity.value is None or quantity.comparator is not None:
        return None
    value = Decimal(quantity.value)
    return int(value) if value >= 0 and value == value.to_integral_value() else None


def features(concept: CodeableConcept | None) -> list[tuple[Feature, str]]:
    """Which features a diagnosis code names, each with its source ("SNOMED CT 102878001")."""
    found: list[tuple[Feature, str]] = []
    for system, code in codings(concept):
        if system == SNOMED and code in SNOMED_FEATURES:
            found.append((SNOMED_FEATURES[code], f"SNOMED CT {code}"))
        elif system in ICD10:
            bare = code.replace(".", "").upper()
            found += [
                (feature, f"{SYSTEM_NAMES[system]} {code}")
                for prefix, feature in ICD10_FEATURES
                if bare.startswith(prefix)
            ]
    return found


def is_current(condition: Condition) -> bool:
    clinical = {code for _, code in codings(condition.clinicalStatus)}
    verification = {code for _, code in codings(condition.verificationStatus)}
    return bool(clinical & ACTIVE) and not verification & NOT_TRUE


def newest(observations: Iterable[Observation]) -> Observation | None:
    return max(observations, key=lambda obs: when(observed(obs)), default=None)


class DeadlinePassedError(Exception):
    """Parsing stopped because the call's deadline passed (the resources not yet parsed are left unread)."""


@dataclass
class Parsed:
    """Resources already read into models, so the chart can be read from them later without parsing again: the
    FHIR search parses each page as it arrives, off the event loop. `others` keeps the resources of types the chart
    does not read (her Patient record for the banner); `unread` counts the unreadable ones by type."""

    models: list[Observation | Condition] = field(default_factory=list)
    others: list[dict[str, Any]] = field(default_factory=list)
    unread: Counter[str] = field(default_factory=Counter)

    def add(self, more: Parsed) -> None:
        self.models += more.models
        self.others += more.others
        self.unread += more.unread


def parse_all(resources: Iterable[Mapping[str, Any]], stop_at: float | None = None) -> Parsed:
    """Parse each resource (CPU-bound: run it off the event loop for more than a few).

    Raises:
        DeadlinePassedError: `time.monotonic()` passed `stop_at` before every resource was parsed.
    """
    parsed = Parsed()
    for raw in resources:
        if stop_at is not None and time.monotonic() > stop_at:
            raise DeadlinePassedError
        try:
            read = parse(raw)
        except Unreadable as exc:
            parsed.unread[str(exc)] += 1
            continue
        if read is not None:
            parsed.models.append(read)
        else:
            parsed.others.append(dict(raw))
    return parsed


def read_chart(resources: Iterable[Mapping[str, Any]], reasons: Iterable[CodeableConcept] = ()) -> Chart:
    """Read a profile from FHIR resources (any mix of Observations and Conditions; other types are ignored).

    `reasons` are diagnoses stated elsewhere, such as the reason on a draft IVIG order; they count like
    active Conditions.
    """
    return chart_from(parse_all(resources), reasons)


def chart_from(read: Parsed, reasons: Iterable[CodeableConcept] = ()) -> Chart:
    """Read a profile from resources already parsed (`parse_all`)."""
    parsed = read.models
    unread = read.unread
    observations = [r for r in parsed if isinstance(r, Observation) and r.status in FINAL]
    diagnoses: dict[Feature, Finding] = {}
    stated = [
        ("diagnosis", "Condition", c.code, c.recordedDate) for c in parsed if isinstance(c, Condition) and is_current(c)
    ]
    ordered = [("reason on the IVIG order", "MedicationRequest", reason, None) for reason in reasons]
    for kind, resource, concept, recorded in [*stated, *ordered]:
        for feature, source in features(concept):
            used = None if feature == "rpl" else "autoimmune_conditions"
            finding = Finding(FEATURE_NAMES[feature], f"{kind}, {source}", day(recorded), resource, used)
            diagnoses.setdefault(feature, finding)
    findings = list(diagnoses.values())
    rpl_diagnosed = "rpl" in diagnoses

    nk_obs = newest(o for o in observations if is_nk_percent(o) and nk_percent(o) is not None)
    nk = None if nk_obs is None else nk_percent(nk_obs)
    if nk_obs is not None:
        findings.append(
            Finding("NK-cell percentage", source_of(nk_obs), day(observed(nk_obs)), field="nk_cell_percent")
        )

    loss_obs = newest(o for o in observations if SPONTANEOUS_ABORTIONS in loinc_codes(o) and loss_count(o) is not None)
    losses = None if loss_obs is None else loss_count(loss_obs)
    if loss_obs is not None and losses is not None:
        if losses > MAX_LOSSES:
            # Past what the profile accepts (a typo, or a count of something else): unknown, and the card says so.
            losses = None
            findings.append(
                Finding(f"Spontaneous abortions (not used: more than {MAX_LOSSES} recorded)", source_of(loss_obs))
            )
        elif rpl_diagnosed and losses < 2:
            # The diagnosis and the count disagree (the count may be stale, or leave out stillbirths): unknown.
            losses = None
            findings.append(
                Finding("Spontaneous abortions (not used: conflicts with the RPL diagnosis)", source_of(loss_obs))
            )
        else:
            dated = day(observed(loss_obs))
            findings.append(
                Finding("Spontaneous abortions", source_of(loss_obs), dated, field="prior_pregnancy_losses")
            )

    autoimmune = sorted((f for f in diagnoses if f != "rpl"), key=AUTOIMMUNE_CONDITIONS.index)
    profile = PatientProfile(
        prior_pregnancy_losses=losses, nk_cell_percent=nk, autoimmune_conditions=tuple(autoimmune) or None
    )
    return Chart(profile, tuple(findings), rpl_diagnosed, tuple(sorted(unread.items())))


def source_of(obs: Observation) -> str:
    codes = sorted(loinc_codes(obs))
    return f"Observation, LOINC {codes[0]}" if codes else "Observation, local code"
