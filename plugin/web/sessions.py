"""The chart a SMART launch read, kept on the server for the widget: one record per launch, never per browser.

The SMART door keeps what one launch read (the profile, where each finding came from, who she is for the banner,
and the access token, which never leaves the server) under a new random launch id, and sends the browser to
`/widget?launch=<id>`; the widget door shows that record, and only that one. So a second launch in the same browser
makes a second record and never changes what an open page of the first shows, or its reload; and a page opened
without a launch id (a card's link, a bookmark) shows no chart and no banner at all.

The id alone opens nothing: each record also holds a digest of the browser that made it, whose signed random id is
in the cookie `ivig_cds_browser` (`HttpOnly`, `Secure`, `SameSite=None`, `Partitioned`: the page lives in the
EHR's iframe), and a launch id opened in another browser is refused. A record ends with its token (`expires_at`).

Neither door imports the other: this module is all they share. Records live in the database every worker and
replica shares (`Records`, which the storage offers), so a callback on one replica and the page on another, or a
restart in between, change nothing. The database holds each record under the SHA-256 of its launch id, beside the
browser's digest and its expiry; the rest (the token, her findings, her profile and who she is) is sealed
(`plugin.web.sealing`, bound to those three columns) and opened only here. A record past its token's expiry is
refused and deleted, and purged with the others past theirs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from starlette.requests import Request
from starlette.responses import Response

from plugin.core.rules.profile import PatientProfile
from plugin.web.cookies import SignedCookie
from plugin.web.sealing import RetiredKeyError, Sealer, UnreadableError

log = logging.getLogger(__name__)

BROWSER_COOKIE = "ivig_cds_browser"


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


class SealedRecord(Protocol):
    """A record as the database holds it: the browser's digest and the expiry in clear, the rest sealed."""

    @property
    def browser(self) -> str: ...

    @property
    def expires_at(self) -> float: ...

    @property
    def sealed(self) -> bytes: ...


class Records(Protocol):
    """Where launch records are kept, by the digest of their launch id: the shared database (`Storage`)."""

    async def put_session(self, launch: str, browser: str, expires_at: float, sealed: bytes) -> None: ...

    async def get_session(self, launch: str) -> SealedRecord | None: ...

    async def drop_session(self, launch: str) -> None: ...

    async def latest_session_expiry(self, browser: str, now: float) -> float | None:
        """When the last of this browser's records ends (its cookie must last that long), None if it has none."""
        ...


Found = Literal["none", "expired", "foreign", "retired", "unreadable", "active"]
Lookup = tuple[Found, ChartSession | None]


def digest(value: str) -> str:
    """What the database keeps of a browser id or a launch id: enough to find and compare, not enough to forge the
    cookie or to open the page."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def context(launch: str, browser: str, expires_at: float) -> bytes:
    """The associated data a record is sealed with: its row's key and clear columns, so none can be swapped."""
    return f"chart-session\x00{launch}\x00{browser}\x00{expires_at!r}".encode("ascii")


def to_json(session: ChartSession) -> bytes:
    return json.dumps(
        {
            "profile": json.loads(session.profile.model_dump_json()),
            "entries": [dataclasses.asdict(item) for item in session.entries],
            "banner": dataclasses.asdict(session.banner),
            "token": session.token,
        },
        separators=(",", ":"),
    ).encode("utf-8")


def from_json(data: bytes, expires_at: float, browser: str) -> ChartSession:
    opened: dict[str, Any] = json.loads(data)
    return ChartSession(
        profile=PatientProfile.model_validate_json(json.dumps(opened["profile"])),
        entries=tuple(ChartEntry(**item) for item in opened["entries"]),
        banner=Banner(**opened["banner"]),
        expires_at=expires_at,
        token=opened["token"],
        browser=browser,
    )


class SessionStore:
    """Launch records, sealed, and the browser cookie they are checked against; the clock is injectable for tests."""

    def __init__(
        self,
        cookie_secret: str | list[bytes],
        records: Records,
        sealer: Sealer,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cookie = SignedCookie(BROWSER_COOKIE, cookie_secret, "chart-browser")
        self.records = records
        self.sealer = sealer
        self.clock = clock

    async def open(self, request: Request, response: Response, session: ChartSession) -> str:
        """Keep the session, sealed, under a new launch id, bound to this browser (its cookie, made here if it has
        none, set on `response` to last as long as its longest launch); returns the launch id."""
        now = self.clock()
        browser = self.cookie.read(request) or secrets.token_urlsafe(32)
        launch_id = secrets.token_urlsafe(32)
        key, owner = digest(launch_id), digest(browser)
        sealed = self.sealer.seal(to_json(session), context(key, owner, session.expires_at))
        await self.records.put_session(key, owner, session.expires_at, sealed)
        latest = await self.records.latest_session_expiry(owner, now) or session.expires_at
        self.cookie.set(response, browser, max(int(max(latest, session.expires_at) - now), 0))
        return launch_id

    async def find(self, request: Request, launch_id: str | None) -> Lookup:
        """The launch's record for this request: `none` without a launch id; `expired` when its token has run out
        (the record is deleted) or no replica holds it; `retired` when it was sealed with a key no longer configured,
        `unreadable` when it does not open (altered); `foreign` when another browser made the launch; else `active`
        with the record."""
        if not launch_id:
            return "none", None
        key = digest(launch_id)
        row = await self.records.get_session(key)
        if row is None:
            return "expired", None
        if row.expires_at <= self.clock():
            await self.records.drop_session(key)
            return "expired", None
        # Opened before the browser is compared: the cookie was signed with the same keys, so after a key is retired
        # the page says so rather than blaming the browser. Nothing opened is shown unless the browser matches.
        try:
            opened = self.sealer.open(row.sealed, context(key, row.browser, row.expires_at))
        except RetiredKeyError:
            log.warning("a chart session was sealed with a key that is no longer in IVIG_CDS_SESSION_KEYS")
            return "retired", None
        except UnreadableError:
            log.warning("a chart session did not open: altered, or sealed for another row")
            return "unreadable", None
        browser = self.cookie.read(request)
        if browser is None or not hmac.compare_digest(digest(browser), row.browser):
            return "foreign", None
        return "active", from_json(opened, row.expires_at, row.browser)
