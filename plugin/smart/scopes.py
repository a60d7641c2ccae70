"""The SMART scopes the app asks for, in the syntax the EHR speaks, and what the token response says it granted.

The app reads three things: her Conditions and her Observations by search (the chart) and her Patient record (the
banner). It asks for those and nothing else (SMART App Launch 2.2, "Scopes and Launch Context"): no `openid
fhirUser`, since it never asks who the user is, and nothing to write. SMART v2 syntax (`patient/Observation.rs`)
goes to a server whose smart-configuration lists `permission-v2`; any other gets v1 syntax
(`patient/Observation.read`), which is what a server that does not claim v2 understands.

The token response's `scope` is what the app may do. Without search on Conditions and Observations there is no chart
to read; without read on Patient the banner shows her id instead of her name. A scope narrowed by a query
(`patient/Observation.rs?category=laboratory`) counts: the server applies its own narrowing to what it returns.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

CHART_TYPES = ("Condition", "Observation")
V2 = ("patient/Patient.r", "patient/Condition.rs", "patient/Observation.rs")
V1 = ("patient/Patient.read", "patient/Condition.read", "patient/Observation.read")
SCOPE = re.compile(r"^(patient|user)/([A-Za-z]+|\*)\.([a-z]+|\*)(\?\S*)?$")
V1_PERMISSIONS = {"read": "rs", "write": "cud", "*": "cruds"}
V2_ORDER = "cruds"


def requested(capabilities: Collection[str], ehr_launch: bool) -> str:
    """The scope to ask for: `launch` (EHR launch) or `launch/patient` (standalone), then the reads."""
    context = "launch" if ehr_launch else "launch/patient"
    reads = V2 if "permission-v2" in capabilities else V1
    return " ".join((context, *reads))


def letters(permission: str) -> str:
    """The permissions a scope's suffix grants, as v2 letters: `read` -> `rs`, `rs` -> `rs`, nonsense -> none."""
    if permission in V1_PERMISSIONS:
        return V1_PERMISSIONS[permission]
    in_order = "".join(letter for letter in V2_ORDER if letter in permission)
    return permission if in_order == permission else ""


def permits(scopes: Collection[str], resource: str, action: str) -> bool:
    """Whether one of the scopes lets the app `action` (`r` read, `s` search) `resource` for her."""
    for scope in scopes:
        found = SCOPE.match(scope)
        if found and found.group(2) in (resource, "*") and action in letters(found.group(3)):
            return True
    return False


@dataclass(frozen=True)
class Grant:
    """What the token allows of what the app reads: the chart searches, and her Patient record for the banner."""

    chart: bool
    patient: bool


def granted(scope: str) -> Grant:
    scopes = scope.split()
    return Grant(chart=all(permits(scopes, kind, "s") for kind in CHART_TYPES), patient=permits(scopes, "Patient", "r"))
