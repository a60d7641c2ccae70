"""FHIR searches over HTTP with a bearer token, shared by the EHR doors: the chart's queries, bounded paging, one
deadline for all of them.

Never leaving the server the token belongs to, no redirects (a 3xx is a failure), a short timeout per read. The
problem list is searched `_count=100` at a time and its `next` pages followed until it ends or the deadline comes
(CONDITION_PAGES at most, against a server whose `next` never ends): a diagnosis on a later page counts like one on
the first. The Observation searches are sorted newest first, so MAX_PAGES of them is plenty. URLs and tokens are
never logged (a search URL carries the patient id).

Each response is streamed and cut past IVIG_CDS_MAX_FHIR_RESPONSE_BYTES as received, or past
IVIG_CDS_MAX_FHIR_DECOMPRESSED_BYTES once inflated (gzip or deflate, inflated here a piece at a time so a small
compressed reply cannot fill memory); a cut page counts as a failed read, logged naming the limit. Each page is
decoded and its resources parsed (`chart.parse_all`) in a worker thread, inside the same deadline: the event loop
never parses, and parsing stops when the deadline passes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import anyio.to_thread
import httpx

from plugin.config import Settings
from plugin.fhir.chart import DeadlinePassedError, Parsed, parse_all
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


class ResponseTooLargeError(BundleError):
    """A FHIR response past one of the size limits; it names the setting, never the content."""

    def __init__(self, setting: str, limit: int) -> None:
        super().__init__(f"past IVIG_CDS_{setting.upper()} ({limit} bytes)")
        self.setting = setting
        self.limit = limit


@dataclass(frozen=True)
class FhirLimits:
    """How large one FHIR response may be: as received, and once inflated (`Content-Encoding` gzip or deflate)."""

    max_bytes: int = 2 * 1024 * 1024
    max_decompressed: int = 4 * 1024 * 1024

    @classmethod
    def of(cls, settings: Settings) -> FhirLimits:
        return cls(settings.max_fhir_response_bytes, settings.max_fhir_decompressed_bytes)


# The encodings asked for and understood; any other is a failed read (httpx would ask for br or zstd too when
# their packages happen to be installed, and inflate them whole).
ACCEPT_ENCODING = "gzip, deflate"
WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class Inflater:
    """A response body put together a piece at a time, inflated no further than the decompressed limit allows."""

    def __init__(self, encoding: str, limit: int) -> None:
        """Raises:
        BundleError: an encoding other than identity, gzip or deflate.
        """
        self.limit = limit
        self.body = bytearray()
        coding = encoding.strip().lower()
        if coding not in ("", "identity") and coding not in WBITS:
            raise BundleError("unsupported Content-Encoding")
        self.inflater = zlib.decompressobj(WBITS[coding]) if coding in WBITS else None

    def feed(self, chunk: bytes) -> None:
        """Raises:
        ResponseTooLargeError: the body, inflated, passes the decompressed limit.
        BundleError: the compressed data is corrupt.
        """
        if self.inflater is None:
            self.keep(chunk)
            return
        try:
            # At most one byte past the room left: enough to know the limit is passed, never more in memory.
            self.keep(self.inflater.decompress(chunk, self.limit - len(self.body) + 1))
        except zlib.error:
            raise BundleError("corrupt compressed body") from None
        if self.inflater.unconsumed_tail:
            raise ResponseTooLargeError("max_fhir_decompressed_bytes", self.limit)

    def keep(self, data: bytes) -> None:
        self.body += data
        if len(self.body) > self.limit:
            raise ResponseTooLargeError("max_fhir_decompressed_bytes", self.limit)

    def finish(self) -> bytes:
        if self.inflater is not None:
            try:
                self.keep(self.inflater.flush(self.limit - len(self.body) + 1))
            except zlib.error:
                raise BundleError("corrupt compressed body") from None
        return bytes(self.body)


async def limited_body(response: httpx.Response, limits: FhirLimits) -> bytes:
    """The response body, read as it streams in and inflated here, within both limits.

    Raises:
        ResponseTooLargeError: more bytes than `limits.max_bytes` arrive (or are announced), or more than
            `limits.max_decompressed` once inflated.
        BundleError: an unsupported or corrupt encoding.
    """
    announced = response.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > limits.max_bytes:
        raise ResponseTooLargeError("max_fhir_response_bytes", limits.max_bytes)
    body = Inflater(response.headers.get("content-encoding", ""), limits.max_decompressed)
    received = 0
    async for chunk in response.aiter_raw():
        received += len(chunk)
        if received > limits.max_bytes:
            raise ResponseTooLargeError("max_fhir_response_bytes", limits.max_bytes)
        body.feed(chunk)
    return body.finish()


def read_page(body: bytes, stop_at: float) -> tuple[Parsed, str | None]:
    """A fetched page decoded and its resources parsed (CPU-bound: run in a worker thread).

    Raises:
        ValueError: not JSON, or not a usable FHIR page (`unpack`).
        RecursionError: JSON nested too deep to decode.
        DeadlinePassedError: the deadline passed while its resources were parsed.
    """
    found, next_url = unpack(json.loads(body))
    return parse_all(found, stop_at), next_url


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


@dataclass(frozen=True)
class Query:
    """One search to run: its key, first URL and page bound, with the limits and the deadline (monotonic) of the
    call it belongs to."""

    key: str
    url: str
    pages: int
    limits: FhirLimits
    stop_at: float


async def fetch(client: httpx.AsyncClient, access: FhirAccess, query: Query, into: dict[str, Parsed]) -> None:
    """GET a search and up to `pages - 1` next pages into `into[key]`, page by page, so a deadline keeps what came.

    Nothing is stored when the first page fails; a later failure keeps the pages before it.
    """
    key = query.key
    next_url: str | None = query.url
    for page in range(query.pages):
        if next_url is None or not access.owns(next_url):
            break
        try:
            async with client.stream("GET", next_url) as response:
                if response.status_code != 200:
                    raise BundleError(f"HTTP {response.status_code}")  # a 3xx too: redirects are never followed
                body = await limited_body(response, query.limits)
            # abandon_on_cancel: the deadline ends the wait at once; the thread itself stops at `stop_at`.
            found, next_url = await anyio.to_thread.run_sync(read_page, body, query.stop_at, abandon_on_cancel=True)
        except ResponseTooLargeError as exc:
            log.warning("FHIR response for %r cut on page %d, %s: read as unavailable", key, page + 1, exc)
            return
        except DeadlinePassedError:
            log.warning("FHIR page %d for %r not parsed before the call's deadline", page + 1, key)
            return
        except (httpx.HTTPError, httpx.InvalidURL, ValueError, RecursionError) as exc:
            log.warning("FHIR query for %r failed on page %d: %s", key, page + 1, type(exc).__name__)
            return
        into.setdefault(key, Parsed()).add(found)


async def fetch_all(
    access: FhirAccess,
    queries: Mapping[str, tuple[str, int]],
    timeout: float,
    deadline: float,
    limits: FhirLimits | None = None,
) -> dict[str, Parsed]:
    """Run the queries side by side until they finish or the deadline passes, whichever comes first.

    httpx's timeout bounds each read, so a server that drips a few bytes at a time never trips it; the deadline
    bounds the whole call, parsing included. What arrived and was parsed before it is kept; keys with nothing yet
    are left out.
    """
    headers = {
        "Authorization": f"Bearer {access.token}",
        "Accept": "application/fhir+json",
        "Accept-Encoding": ACCEPT_ENCODING,
    }
    stop_at = time.monotonic() + deadline
    runs = [Query(key, url, pages, limits or FhirLimits(), stop_at) for key, (url, pages) in queries.items()]
    collected: dict[str, Parsed] = {}
    try:
        client = httpx.AsyncClient(timeout=timeout, headers=headers, follow_redirects=False)
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # e.g. a token that is not ASCII
        log.warning("FHIR client could not be set up: %s", type(exc).__name__)
        return collected
    async with client:
        try:
            async with asyncio.timeout(deadline):
                await asyncio.gather(*(fetch(client, access, query, collected) for query in runs))
        except TimeoutError:
            late = sorted(set(queries) - set(collected))
            log.warning("FHIR queries cut at the %.2f s deadline; nothing yet for %s", deadline, late)
    return collected


async def read_searches(
    access: FhirAccess,
    patient_id: str,
    *,
    timeout: float,
    deadline: float,
    limits: FhirLimits | None = None,
    with_patient: bool = False,
) -> dict[str, Parsed]:
    """Every chart search for this patient, each with up to its pages, and with `with_patient` her Patient record
    (under PATIENT_READ), all side by side within one deadline; a read that failed is left out."""
    queries = {key: (access.url_for(search, patient_id), PAGES.get(key, MAX_PAGES)) for key, search in SEARCHES.items()}
    if with_patient:
        queries[PATIENT_READ] = (access.read_url("Patient", patient_id), 1)
    return await fetch_all(access, queries, timeout, deadline, limits)
