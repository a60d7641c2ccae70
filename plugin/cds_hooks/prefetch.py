"""The CDS Hooks prefetch this service asks for, and how each key becomes FHIR resources.

Per key (CDS Hooks 2.0 "Prefetch Template" and "Prefetch tokens"): a value is used as sent; `null` means the
EHR has no data, which is authoritative, so nothing is queried; an absent key, or one holding an error
OperationOutcome, is fetched from `fhirServer` with the bearer token of `fhirAuthorization` when both are given
and the server is one this caller may name (`fhir_servers`), through the shared FHIR search (`plugin.fhir.search`:
a short timeout per read and one deadline for all of them, the problem list followed page by page until it ends
or the deadline comes, never leaving that server, no redirects). Only `conditions` is required: without the problem
list the service cannot tell whether this evidence concerns the patient, so losing it is a 412. Nothing the caller
sends can make this a 500: a token httpx cannot put in a header fails like an unreachable server, and a response
past the FHIR size limits like one that failed. Every resource, sent or fetched, is parsed in a worker thread within
the call's deadline. URLs and tokens are never logged (a search URL carries the patient id).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import anyio.to_thread

from plugin.errors import MissingDataError
from plugin.fhir.chart import DeadlinePassedError, Parsed, parse_all
from plugin.fhir.search import (
    MAX_PAGES,
    PAGES,
    PATIENT,
    SEARCHES,
    BundleError,
    FhirAccess,
    FhirLimits,
    fetch_all,
    unpack,
)

log = logging.getLogger(__name__)

PATIENT_TOKEN = "{{context.patientId}}"
# The chart's searches as CDS Hooks prefetch templates (the discovery document shows these).
TEMPLATES: dict[str, str] = {key: search.replace(PATIENT, PATIENT_TOKEN) for key, search in SEARCHES.items()}
REQUIRED = ("conditions",)


async def gather(
    prefetch: Mapping[str, Any] | None,
    access: FhirAccess | None,
    patient_id: str,
    *,
    timeout: float,
    deadline: float,
    limits: FhirLimits | None = None,
) -> Parsed:
    """Every resource this call can get for our prefetch keys, from the request or from the FHIR server, parsed.

    Parsing and FHIR reads stop at `deadline` seconds; the answer is then built from what has arrived.

    Raises:
        MissingDataError: a required key was neither sent nor retrievable (the service answers 412).
    """
    stop_at = time.monotonic() + deadline
    sent = prefetch or {}
    have: dict[str, Parsed] = {}
    queries: dict[str, tuple[str, int]] = {}
    for key, search in SEARCHES.items():
        if key in sent and sent[key] is None:
            have[key] = Parsed()
            continue
        if key in sent:
            try:
                resources, next_url = unpack(sent[key])
                have[key] = await anyio.to_thread.run_sync(parse_all, resources, stop_at, abandon_on_cancel=True)
            except BundleError as exc:
                log.warning("prefetch key %r unusable (%s)", key, exc)
            except DeadlinePassedError:
                log.warning("prefetch key %r not parsed before the call's deadline", key)
            else:
                if next_url is not None and access is not None:
                    queries[key] = (next_url, PAGES.get(key, MAX_PAGES) - 1)  # the EHR paginated its prefetch
                continue
        if access is not None:
            queries[key] = (access.url_for(search, patient_id), PAGES.get(key, MAX_PAGES))
    if queries and access is not None:
        remaining = max(stop_at - time.monotonic(), 0.0)
        for key, fetched in (await fetch_all(access, queries, timeout, remaining, limits)).items():
            have.setdefault(key, Parsed()).add(fetched)
    for key in REQUIRED:
        if key not in have:
            raise MissingDataError(
                f"prefetch {key!r} was not sent and could not be fetched from the FHIR server", prefetch_key=key
            )
    everything = Parsed()
    for parsed in have.values():
        everything.add(parsed)
    return everything
