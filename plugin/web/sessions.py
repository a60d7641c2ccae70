"""The chart a SMART launch read, kept on the server for the widget: one record per launch, never per browser.

The SMART door keeps what one launch read (the profile, where each finding came from, who she is for the banner,
and the access token, which never leaves the server) under a new random launch id, and sends the browser to
`/widget?launch=<id>`; the widget door shows that record, and only that one. So a second launch in the same browser
makes a second record and never changes what an open page of the first shows, or its reload; and a page opened
without a launch id (a card's link, a bookmark) shows no chart and no banner at all.

The id alone opens nothing: each record also holds a digest of the browser that made it, whose signed random id is
in the cookie `ivig_cds_browser` (`HttpOnly`, `Secure`, `SameSite=None`, `Partitioned`: the page lives in the
EHR's iframe), and a launch id opened in another browser is refused. A record ends with its token (`expires_at`).

Neither door imports the other: this module is all they share. Records live in this process's memory
(`MemoryRecords`): a restart ends them, and so does a second worker, so serve the SMART door with one worker.
`Records` is all a shared store has to offer to take their place.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from starlette.requests import Request
from starlette.responses import Response

from plugin.core.rules.profile import PatientProfile
from plugin.web.cookies import SignedCookie

BROWSER_COOKIE = "ivig_cds_browser"
MAX_SESSIONS = 1000


@dataclass(frozen=True)
class ChartEntry:
    """One finding as the widget shows it: what, the value read, the profile field it filled, the FHIR resource
    type, the code that said so ("LOINC 18267-5") and the date."""

    what: str
    value: str | None
    field: str | None
    resource: str
    code: str
    date: str | None


@dataclass(frozen=True)
class Banner:
    """Who a launched page is about, read with her chart: her name and birth date, or her id where the EHR did not
    let the app read them. `full` is False when the EHR says it shows its own banner (`need_patient_banner`
    false): the page then keeps one line of its own rather than none."""

    patient_id: str = field(repr=False)
    name: str | None = field(default=None, repr=False)
    birth_date: str | None = field(default=None, repr=False)
    full: bool = True


@dataclass(frozen=True)
class ChartSession:
    """What one launch read from her chart, until the access token expires (seconds since the epoch); `browser`
    is the digest of the id of the browser that made the launch."""

    profile: PatientProfile
    entries: tuple[ChartEntry, ...]
    banner: Banner
    expires_at: float
    token: str = field(repr=False)
    browser: str = field(default="", repr=False)


class Records(Protocol):
    """Where launch records are kept, by launch id."""

    def put(self, launch_id: str, session: ChartSession) -> None: ...

    def get(self, launch_id: str) -> ChartSession | None: ...

    def drop(self, launch_id: str) -> None: ...

    def drop_expired(self, now: float) -> None: ...

    def latest_expiry(self, browser: str) -> float | None:
        """When the last of this browser's records ends (its cookie must last that long), None if it has none."""
        ...


class MemoryRecords:
    """Launch records in this process's memory, at most `limit` (the oldest go first)."""

    def __init__(self, limit: int = MAX_SESSIONS) -> None:
        self.limit = limit
        self.sessions: dict[str, ChartSession] = {}

    def put(self, launch_id: str, session: ChartSession) -> None:
        while len(self.sessions) >= self.limit:
            self.sessions.pop(next(iter(self.sessions)))  # dicts keep insertion order
        self.sessions[launch_id] = session

    def get(self, launch_id: str) -> ChartSession | None:
        return self.sessions.get(launch_id)

    def drop(self, launch_id: str) -> None:
        self.sessions.pop(launch_id, None)

    def drop_expired(self, now: float) -> None:
        for launch_id in [k for k, s in self.sessions.items() if s.expires_at <= now]:
            del self.sessions[launch_id]

    def latest_expiry(self, browser: str) -> float | None:
        return max((s.expires_at for s in self.sessions.values() if s.browser == browser), default=None)


Found = Literal["none", "expired", "foreign", "active"]
Lookup = tuple[Found, ChartSession | None]


def digest(browser: str) -> str:
    """What a record keeps of the browser id: enough to compare, not enough to forge its cookie."""
    return hashlib.sha256(browser.encode("ascii")).hexdigest()


class SessionStore:
    """Launch records and the browser cookie they are checked against; the clock is injectable for tests."""

    def __init__(
        self,
        secret: str,
        *,
        clock: Callable[[], float] = time.time,
        limit: int = MAX_SESSIONS,
        records: Records | None = None,
    ) -> None:
        self.cookie = SignedCookie(BROWSER_COOKIE, secret, "chart-browser")
        self.clock = clock
        self.records: Records = records if records is not None else MemoryRecords(limit)

    def open(self, request: Request, response: Response, session: ChartSession) -> str:
        """Keep the session under a new launch id, bound to this browser (its cookie, made here if it has none, set
        on `response` to last as long as its longest launch); returns the launch id."""
        now = self.clock()
        self.records.drop_expired(now)
        browser = self.cookie.read(request) or secrets.token_urlsafe(32)
        launch_id = secrets.token_urlsafe(32)
        self.records.put(launch_id, dataclasses.replace(session, browser=digest(browser)))
        latest = self.records.latest_expiry(digest(browser)) or session.expires_at
        self.cookie.set(response, browser, max(int(latest - now), 0))
        return launch_id

    def find(self, request: Request, launch_id: str | None) -> Lookup:
        """The launch's record for this request: `none` without a launch id; `expired` when its token has run out
        or the server no longer holds it (after a restart); `foreign` when another browser made the launch; else
        `active` with the record."""
        if not launch_id:
            return "none", None
        session = self.records.get(launch_id)
        if session is None or session.expires_at <= self.clock():
            self.records.drop(launch_id)
            return "expired", None
        browser = self.cookie.read(request)
        if browser is None or not hmac.compare_digest(digest(browser), session.browser):
            return "foreign", None
        return "active", session
