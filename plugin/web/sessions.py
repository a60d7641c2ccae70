"""The chart session a SMART launch leaves for the widget: kept on the server, named by a signed cookie.

The SMART door writes one after reading her chart (the profile, where each finding came from, and the access
token, which never leaves the server); the widget door reads it by the cookie to open prefilled. Neither door
imports the other: this module is all they share. A session ends with its token (`expires_at`); the cookie is
`HttpOnly`, `Secure`, `SameSite=None` and `Partitioned` (the page lives in the EHR's iframe) and expires with
it. Sessions live in this process's memory: a restart ends them, and so does a second worker (the cookie names a
session only the worker that made it holds), so serve the SMART door with one worker.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from itsdangerous import BadSignature, Signer
from starlette.requests import Request
from starlette.responses import Response

from plugin.core.rules.profile import PatientProfile

log = logging.getLogger(__name__)

SESSION_COOKIE = "ivig_cds_session"
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
class ChartSession:
    """What one launch read from her chart, until the access token expires (seconds since the epoch)."""

    profile: PatientProfile
    entries: tuple[ChartEntry, ...]
    expires_at: float
    token: str = field(repr=False)


Lookup = tuple[Literal["none", "expired", "active"], ChartSession | None]


def partitioned(response: Response) -> None:
    """Mark the cookie just set Partitioned (CHIPS): kept under the EHR's site, so browsers that block third-party
    cookies still keep it in the EHR's iframe. Python's http.cookies knows the attribute only from 3.14."""
    name, header = response.raw_headers[-1]
    response.raw_headers[-1] = (name, header + b"; Partitioned")


class SignedCookie:
    """A random id in a cookie, signed so a forged or altered one is simply not found."""

    def __init__(self, name: str, secret: str, salt: str) -> None:
        self.name = name
        self.signer = Signer(secret, salt=salt)

    def set(self, response: Response, value: str, max_age: int) -> None:
        response.set_cookie(
            self.name,
            self.signer.sign(value).decode("ascii"),
            max_age=max_age,
            path="/",
            secure=True,
            httponly=True,
            samesite="none",
        )
        partitioned(response)

    def clear(self, response: Response) -> None:
        response.delete_cookie(self.name, path="/", secure=True, httponly=True, samesite="none")
        partitioned(response)  # a partitioned cookie is only replaced by another partitioned one

    def read(self, request: Request) -> str | None:
        raw = request.cookies.get(self.name)
        if not raw:
            return None
        try:
            return self.signer.unsign(raw).decode("ascii")
        except (BadSignature, UnicodeDecodeError):
            return None


class SessionStore:
    """Chart sessions by id, each dropped once its token expires; the clock is injectable for tests."""

    def __init__(self, secret: str, *, clock: Callable[[], float] = time.time, limit: int = MAX_SESSIONS) -> None:
        self.cookie = SignedCookie(SESSION_COOKIE, secret, "chart-session")
        self.clock = clock
        self.limit = limit
        self.sessions: dict[str, ChartSession] = {}

    def seconds_left(self, session: ChartSession) -> int:
        return int(session.expires_at - self.clock())

    def open(self, response: Response, session: ChartSession) -> None:
        """Keep the session and name it in the response's cookie, which expires with the token."""
        self.drop_expired()
        while len(self.sessions) >= self.limit:
            self.sessions.pop(next(iter(self.sessions)))  # the oldest first: dicts keep insertion order
        session_id = secrets.token_urlsafe(32)
        self.sessions[session_id] = session
        self.cookie.set(response, session_id, max(self.seconds_left(session), 0))

    def find(self, request: Request) -> Lookup:
        """The request's session: `none` without a (valid) cookie, `expired` when its token has run out or the
        server no longer holds it (after a restart), else `active` with the session."""
        session_id = self.cookie.read(request)
        if session_id is None:
            return "none", None
        session = self.sessions.get(session_id)
        if session is None or self.seconds_left(session) <= 0:
            self.sessions.pop(session_id, None)
            return "expired", None
        return "active", session

    def drop_expired(self) -> None:
        now = self.clock()
        for session_id in [k for k, s in self.sessions.items() if s.expires_at <= now]:
            del self.sessions[session_id]


def session_secret(configured: str | None) -> str:
    """The configured secret, or a random one for this process (announced: sessions end at every restart)."""
    if configured:
        return configured
    log.warning(
        "IVIG_CDS_SESSION_SECRET is not set: session cookies are signed with a random key made at start-up, so "
        "every restart ends the SMART sessions. Set it for a deployment."
    )
    return secrets.token_urlsafe(32)
