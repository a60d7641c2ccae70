"""FHIR searches over HTTP with a bearer token, shared by the EHR doors: the chart's queries, bounded paging, one
deadline for all of them.

Never leaving the server the token belongs to, no redirects (a 3xx is a failure), a short timeout per read. The
problem list is searched `_count=100` at a time and its `next` pages followed until it ends or the deadline comes
(CONDITION_PAGES at most, against a server whose `next` never ends): a diagnosis on a later page counts like one on
the first. The Observation searches are sorted newest first, so MAX_PAGES of them is plenty. URLs and tokens are
never logged (a search URL carries the patient id).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from plugin.fhir.urls import BaseUrl

log = logging.getLogger(__name__)


class WithoutQuery(logging.Filter):
    """httpx logs each request URL at INFO, and a FHIR search URL carries the patient id: drop the query."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(a.copy_with(query=None) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


logging.getLogger("httpx").addFilter(WithoutQuery())

# The searches that read what the profile needs from a chart; PATIENT stands for the patient's id.
PATIENT = "{{patient}}"
SEARCHES: dict[str, str] = {
    "conditions": f"Condition?patient={PATIENT}&clinical-status=active,recurrence,relapse&_count=100",
    "nkCells": f"Observation?patient={PATIENT}"
    "&code=http://loinc.org|18267-5,http://loinc.org|107067-1,http://loinc.org|8133-1&_sort=-date&_count=10",
    "obstetricHistory": f"Observation?patient={PATIENT}&code=http://loinc.org|11614-5&_sort=-date&_count=5",
}
MAX_PAGES = 3
CONDITION_PAGES = 20
PAGES = {"conditions": CONDITION_PAGES}  # pages per search; MAX_PAGES for the others
PATIENT_READ = "patient"
ERROR_SEVERITIES = frozenset({"error", "fatal"})

Resource = dict[str, Any]


class BundleError(ValueError):
    """A FHIR value or fetched page that carries an error, or is not FHIR JSON at all."""


@dataclass(frozen=True)
class FhirAccess:
    """Where and how to query the EHR's FHIR server: the allowed base URL and the bearer token (never logged)."""

    base: BaseUrl
    token: str = field(repr=False)

    def url_for(self, search: str, patient_id: str) -> str:
        # `|` percent-encoded: Tomcat-based FHIR servers refuse it raw in a query (RFC 3986 does not allow it).
        query = search.replace("|", "%7C").replace(PATIENT, quote(patient_id, safe=""))
        return f"{self.base}/{query}"

    def read_url(self, resource_type: str, resource_id: str) -> str:
        return f"{self.base}/{resource_type}/{quote(resource_id, safe='')}"

    def owns(self, url: str) -> bool:
        """Paging links are followed only on the same server, under the same base, so the token never leaves it."""
        return self.base.contains(url)


def is_error(resource: Mapping[str, Any]) -> bool:
    if resource.get("resourceType") != "OperationOutcome":
        return False
    issues = resource.get("issue") or []
    return not issues or any(isinstance(i, Mapping) and i.get("severity") in ERROR_SEVERITIES for i in issues)


def unpack(value: object) -> tuple[list[Resource], str | None]:
    """A FHIR value or page as (resources, next page URL).

    Informational OperationOutcome entries (search mode `outcome`) are skipped; an error one spoils the page.

    Raises:
        BundleError: the value is an error OperationOutcome, or holds one, or is not a FHIR resource.
    """
    if not isinstance(value, Mapping) or not isinstance(value.get("resourceType"), str):
        raise BundleError("not a FHIR resource")
    if is_error(value):
        raise BundleError("OperationOutcome")
    if value["resourceType"] != "Bundle":
        return ([] if value["resourceType"] == "OperationOutcome" else [dict(value)]), None
    resources = [e["resource"] for e in value.get("entry") or [] if isinstance(e, Mapping) and "resource" in e]
    resources = [r for r in resources if isinstance(r, Mapping)]
    if any(is_error(r) for r in resources):
        raise BundleError("Bundle with an error OperationOutcome")
    links = [link for link in value.get("link") or [] if isinstance(link, Mapping)]
    following = next((link.get("url") for link in links if link.get("relation") == "next"), None)
    data = [dict(r) for r in resources if r.get("resourceType") != "OperationOutcome"]
    return data, following if isinstance(following, str) else None


async def fetch(
    client: httpx.AsyncClient, access: FhirAccess, key: str, url: str, pages: int, into: dict[str, list[Resource]]
) -> None:
    """GET a search and up to `pages - 1` next pages into `into[key]`, page by page, so a deadline keeps what came.

    Nothing is stored when the first page fails; a later failure keeps the pages before it.
    """
    next_url: str | None = url
    for page in range(pages):
        if next_url is None or not access.owns(next_url):
            break
        try:
            response = await client.get(next_url)
            if response.status_code != 200:
                raise BundleError(f"HTTP {response.status_code}")  # a 3xx too: redirects are never followed
            found, next_url = unpack(response.json())
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            log.warning("FHIR query for %r failed on page %d: %s", key, page + 1, type(exc).__name__)
            return
        into.setdefault(key, []).extend(found)


async def fetch_all(
    access: FhirAccess, queries: Mapping[str, tuple[str, int]], timeout: float, deadline: float
) -> dict[str, list[Resource]]:
    """Run the queries side by side until they finish or the deadline passes, whichever comes first.

    httpx's timeout bounds each read, so a server that drips a few bytes at a time never trips it; the deadline
    bounds the whole call. What arrived before it is kept; keys with nothing yet are left out.
    """
    headers = {"Authorization": f"Bearer {access.token}", "Accept": "application/fhir+json"}
    collected: dict[str, list[Resource]] = {}
    try:
        client = httpx.AsyncClient(timeout=timeout, headers=headers, follow_redirects=False)
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # e.g. a token that is not ASCII
        log.warning("FHIR client could not be set up: %s", type(exc).__name__)
        return collected
    async with client:
        try:
            async with asyncio.timeout(deadline):
                await asyncio.gather(*(fetch(client, access, k, url, n, collected) for k, (url, n) in queries.items()))
        except TimeoutError:
            late = sorted(set(queries) - set(collected))
            log.warning("FHIR queries cut at the %.2f s deadline; nothing yet for %s", deadline, late)
    return collected


async def read_searches(
    access: FhirAccess, patient_id: str, *, timeout: float, deadline: float, with_patient: bool = False
) -> dict[str, list[Resource]]:
    """Every chart search for this patient, each with up to its pages, and with `with_patient` her Patient record
    (under PATIENT_READ), all side by side within one deadline; a read that failed is left out."""
    queries = {key: (access.url_for(search, patient_id), PAGES.get(key, MAX_PAGES)) for key, search in SEARCHES.items()}
    if with_patient:
        queries[PATIENT_READ] = (access.read_url("Patient", patient_id), 1)
    return await fetch_all(access, queries, timeout, deadline)
