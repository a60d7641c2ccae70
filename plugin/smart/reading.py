"""What a launch keeps of what it read: the chart's findings as the widget lists them, and who she is for the banner.

The token response's expiry is read here too, since it bounds how long all of it is kept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from plugin.core.rules.profile import PatientProfile
from plugin.fhir.chart import Finding
from plugin.fhir.patient import identity
from plugin.fhir.search import Resource
from plugin.web.sessions import Banner, ChartEntry

# A token response without expires_in is taken to last this long; a longer one is kept at most MAX_LIFETIME (SMART:
# access tokens SHOULD last no more than an hour), so her chart never outlives that on this server.
DEFAULT_EXPIRES_IN = 300
MAX_LIFETIME = 3600


def lifetime(expires_in: object) -> int | None:
    """Seconds the chart may be kept: `expires_in` as any positive JSON number (3600 or 3600.0), capped at
    MAX_LIFETIME, DEFAULT_EXPIRES_IN when absent; None when it says the token is already spent or is no number."""
    if expires_in is None:
        return DEFAULT_EXPIRES_IN
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or not math.isfinite(expires_in):
        return None
    seconds = int(expires_in)
    return min(seconds, MAX_LIFETIME) if seconds > 0 else None


def entry(finding: Finding, profile: PatientProfile) -> ChartEntry:
    """A finding as the widget lists it, with the value the profile took from it."""
    value = None
    if finding.field == "nk_cell_percent" and profile.nk_cell_percent is not None:
        value = f"{profile.nk_cell_percent:g} %"
    elif finding.field == "prior_pregnancy_losses" and profile.prior_pregnancy_losses is not None:
        value = str(profile.prior_pregnancy_losses)
    code = finding.source.rpartition(", ")[2]  # "Observation, LOINC 18267-5" -> "LOINC 18267-5"
    return ChartEntry(finding.what, value, finding.field, finding.resource, code, finding.date)


def banner(patient_id: str, read: Sequence[Resource], need_patient_banner: object) -> Banner:
    """Her banner: name and birth date from her Patient record when it was read and is hers, else her id alone.

    Shown on every launched page; `need_patient_banner` false (the EHR shows its own) makes it one compact line.
    """
    found = next((who for who in (identity(resource, patient_id) for resource in read) if who is not None), None)
    full = need_patient_banner is not False
    if found is None:
        return Banner(patient_id, full=full)
    return Banner(patient_id, found.name, found.birth_date, full)
