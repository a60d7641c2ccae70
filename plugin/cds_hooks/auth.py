"""Client authentication for the CDS Hooks door: verify the EHR's signed JWT ("Trusting CDS Clients", 2.0).

Asymmetric algorithms only (`none` and HMAC refused before any key is looked at); header `typ` JWT and a `kid`;
`iss` on the allow-list, its key found by `kid` in the JWK Sets configured for it (a file, or an https URL: a key
fetched in clear could be swapped on the way; http only for a loopback address in development mode). A `jku`
header only says where to look first, when it is one of those URLs; any other `jku` is never fetched (a URL chosen
by whoever made the token proves nothing) and the `kid` is looked for in the configured sets as usual, so an EHR
that always sends its `jku`, as the public sandbox does, is accepted once its keys are configured. `aud` is the
public URL of the endpoint called (never the Host header); `exp`, `iat` (not in the future, not older than MAX_AGE)
and a `jti` never seen before by any replica or worker (the shared `ReplayGuard`, in the database). Every failure is
ClientRefusedError, answered with a bare 401; a replay guard that cannot answer raises StorageUnavailableError
(503): a token is never accepted unchecked. Tokens are never logged; reasons and issuers may be.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet
from joserfc.jwt import JWTClaimsRegistry

from plugin.fhir.urls import for_log, split

log = logging.getLogger(__name__)

ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
LEEWAY = 60  # seconds of clock skew allowed on exp and iat
MAX_AGE = 300  # a token issued longer ago than this is refused, which also bounds the replay memory
JWKS_TTL = 300.0  # seconds a loaded JWK Set is reused
JWKS_RETRY = 30.0  # an unknown `kid` reloads a URL's JWK Set at most this often (key rotation)
JWKS_FAILURE_TTL = 10.0  # seconds a JWK Set that failed to load is not asked for again (calls meanwhile get 401)
MAX_JTI = 256  # characters: a longer `jti` is refused (401 naming the limit) before the replay guard stores it
MAX_TENANT = 256  # characters: a longer `tenant` claim is refused the same way (it is stored with feedback)


class ClientRefusedError(Exception):
    """The caller is not a trusted CDS client. `reason` is for the log only; the client gets a bare 401."""

    def __init__(self, reason: str, *, told: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.told = told  # the reason names a limit and nothing of the token: the 401 may say it

    @property
    def challenge(self) -> str:
        """The WWW-Authenticate value: bare, or with the limit that was passed (RFC 6750 error_description)."""
        return f'Bearer error="invalid_token", error_description="{self.reason}"' if self.told else "Bearer"


@dataclass(frozen=True)
class Client:
    """Who called, as far as the verified token says."""

    issuer: str
    tenant: str | None
    jti: str


def is_url(location: str) -> bool:
    return location.lower().startswith(("https://", "http://"))


def check_location(issuer: str, location: str, development: bool) -> str:
    """A JWK Set location as configured, if it may be used.

    Raises:
        ValueError: an http:// URL (unless a loopback address in development mode), or a URL with userinfo.
    """
    if not is_url(location):
        return location  # a file path
    url = split(location, query_allowed=True)
    if url is None or not (url.scheme == "https" or (development and url.loopback)):
        raise ValueError(
            f"trusted issuer {issuer!r}: JWK Set {for_log(location)!r} must be a file or a plain https URL "
            "(http only for a loopback address in development mode)"
        )
    return location


class JwksCache:
    """JWK Sets by location (a file path or URL), reloaded after JWKS_TTL or, for rotation, on an unknown kid."""

    def __init__(self, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self.clock = clock
        self._sets: dict[str, tuple[float, KeySet]] = {}
        self._failed: dict[str, float] = {}  # when a location last failed to load

    async def get(self, location: str, *, refresh: bool = False) -> KeySet | None:
        now = self.clock()
        cached = self._sets.get(location)
        if cached is not None:
            age = now - cached[0]
            if age < JWKS_TTL and not (refresh and age >= JWKS_RETRY):
                return cached[1]
        failed = self._failed.get(location)
        if failed is not None and now - failed < JWKS_FAILURE_TTL:
            return None if cached is None else cached[1]  # failed a moment ago: not asked again yet
        try:
            key_set = KeySet.import_key_set(await self._load(location))
        except (OSError, ValueError, httpx.HTTPError, JoseError) as exc:
            log.warning("could not load a trusted issuer's JWK Set: %s", type(exc).__name__)
            self._failed[location] = now
            return None if cached is None else cached[1]
        self._failed.pop(location, None)
        self._sets[location] = (now, key_set)
        return key_set

    async def _load(self, location: str) -> Any:
        if is_url(location):
            async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:
                response = await client.get(location)
                response.raise_for_status()
                return response.json()
        return json.loads(Path(location).read_text(encoding="utf-8"))


class ReplayGuard(Protocol):
    async def first_use(self, issuer: str, jti: str, until: float, now: float) -> bool:
        """Whether (issuer, jti) is new to every replica; if so it is remembered until `until` (epoch seconds).

        Raises:
            StorageUnavailableError: the guard cannot tell; the caller must not accept the token.
        """
        ...


class ClientVerifier:
    """Verifies CDS Hooks client JWTs against the trusted issuers (issuer -> JWK Set locations)."""

    def __init__(
        self,
        issuers: Mapping[str, Sequence[str]],
        timeout: float,
        replays: ReplayGuard,
        *,
        development: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Raises:
        ValueError: a JWK Set location that may not be used (see `check_location`).
        """
        self.issuers = {
            issuer: tuple(check_location(issuer, where, development) for where in locations)
            for issuer, locations in issuers.items()
        }
        self.clock = clock
        self.jwks = JwksCache(timeout)
        self.replays = replays

    async def verify(self, token: str, audiences: Sequence[str]) -> Client:
        """Check the token and return its client.

        Raises:
            ClientRefusedError: on any failure; the reason is logged, never the token.
        """
        try:
            return await self._verify(token, audiences)
        except ClientRefusedError as refused:
            log.info("CDS Hooks client refused: %s", refused.reason)
            raise

    async def _verify(self, token: str, audiences: Sequence[str]) -> Client:
        try:
            unverified = jws.extract_compact(token.encode("ascii"))
            header = unverified.headers()
            claims = json.loads(unverified.payload)
        except (JoseError, ValueError) as exc:
            raise ClientRefusedError("not a compact JWS") from exc
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise ClientRefusedError(f"algorithm {alg!r} not allowed")
        if str(header.get("typ", "")).upper() != "JWT" or not isinstance(kid, str):
            raise ClientRefusedError("header needs typ JWT and a kid")
        issuer = claims.get("iss") if isinstance(claims, dict) else None
        if not isinstance(issuer, str) or issuer not in self.issuers:
            raise ClientRefusedError(f"issuer {issuer!r} not trusted")
        locations = self.issuers[issuer]
        jku = header.get("jku")
        if isinstance(jku, str) and jku in locations and is_url(jku):
            locations = (jku, *(location for location in locations if location != jku))
        key = await self._key(locations, kid)
        if key is None:
            raise ClientRefusedError(f"no key {kid!r} for issuer {issuer!r}")
        try:
            verified = jwt.decode(token, key, algorithms=[alg])
        except JoseError as exc:
            raise ClientRefusedError("bad signature") from exc
        client, until = self._check_claims(verified.claims, issuer, audiences)
        if not await self.replays.first_use(issuer, client.jti, until, self.clock()):
            raise ClientRefusedError(f"jti replayed for issuer {issuer!r}")
        return client

    def _check_claims(self, claims: dict[str, Any], issuer: str, audiences: Sequence[str]) -> tuple[Client, float]:
        """The client, and until when its jti must be remembered: past that the token is refused for its age."""
        now = self.clock()
        registry = JWTClaimsRegistry(
            now=int(now),
            leeway=LEEWAY,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "values": list(audiences)},
            exp={"essential": True},
            iat={"essential": True},
            jti={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise ClientRefusedError(f"claims rejected ({type(exc).__name__})") from exc
        issued, expires, jti = claims["iat"], claims["exp"], claims["jti"]
        if now - issued > MAX_AGE + LEEWAY:
            raise ClientRefusedError("token too old")
        if len(str(jti)) > MAX_JTI:
            raise ClientRefusedError(f"jti longer than {MAX_JTI} characters", told=True)
        tenant = claims.get("tenant")
        if isinstance(tenant, str) and len(tenant) > MAX_TENANT:
            raise ClientRefusedError(f"tenant longer than {MAX_TENANT} characters", told=True)
        client = Client(issuer=issuer, tenant=tenant if isinstance(tenant, str) else None, jti=str(jti))
        return client, min(expires, issued + MAX_AGE) + LEEWAY

    async def _key(self, locations: Sequence[str], kid: str) -> Key | None:
        for refresh in (False, True):
            for location in locations:
                if refresh and not is_url(location):
                    continue
                key_set = await self.jwks.get(location, refresh=refresh)
                key = None if key_set is None else next((k for k in key_set.keys if k.kid == kid), None)
                if key is not None:
                    return key
        return None
