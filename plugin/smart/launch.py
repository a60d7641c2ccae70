"""The OAuth 2 part of a SMART launch: the authorization request with PKCE S256, the launches waiting for their
callback (in the shared database, sealed), and the code exchanged for a token, both through authlib's client
(`plugin.smart.oauth`, imported by the first launch).

A public client authenticates with PKCE alone; a confidential one also signs a `private_key_jwt` assertion
(SMART "asymmetric client authentication"). Tokens and verifiers are never logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from plugin.smart.issuers import Issuer, SmartConfiguration
from plugin.smart.scopes import requested
from plugin.storage.store import Storage
from plugin.web.sealing import Sealer

log = logging.getLogger(__name__)

PENDING_SECONDS = 600.0


@dataclass(frozen=True)
class Pending:
    """A launch sent to the authorization server, waiting for its callback (keyed by its `state`)."""

    issuer: Issuer
    config: SmartConfiguration
    verifier: str = field(repr=False)
    started: float = 0.0  # set by the store when the launch is added
    scope: str = ""  # what was asked for: a token response without `scope` grants just that (RFC 6749 5.1)
    client: str = ""  # the address that started it, for the per-client limit


class PendingLaunches(Protocol):
    """Where launches wait for their callback. A launch is never pushed out by newer ones: when a limit is reached
    the new launch is refused instead, so a real user's sign-in lasts its PENDING_SECONDS whatever anonymous
    traffic does meanwhile."""

    async def add(self, state: str, pending: Pending) -> bool:
        """Keep `pending` under `state`, started now; False (nothing kept) when its client or the store holds its
        most."""
        ...

    async def take(self, state: str) -> Pending | None:
        """The launch under `state`, once, within PENDING_SECONDS; None otherwise."""
        ...


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class SharedLaunches:
    """Launches in the database every replica and worker shares, so the callback may reach any of them: the row is
    named by the SHA-256 of the state, counts its client by a digest of the address, and holds sealed (bound to the
    row) the issuer, its endpoints, the scope asked for and the PKCE verifier. The issuer's key is never stored: it
    is found again by the issuer's URL among those configured. At most `total` waiting in all and `per_client` from
    one address, across every replica (the clock, epoch seconds, is injectable for tests)."""

    def __init__(
        self,
        storage: Storage,
        sealer: Sealer,
        issuers: Mapping[str, Issuer],
        total: int = 1000,
        per_client: int = 10,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.storage = storage
        self.sealer = sealer
        self.issuers = issuers
        self.total = total
        self.per_client = per_client
        self.clock = clock

    @staticmethod
    def context(key: str, started: float, until: float) -> bytes:
        return f"smart-launch\x00{key}\x00{started!r}\x00{until!r}".encode("ascii")

    async def add(self, state: str, pending: Pending) -> bool:
        now = self.clock()
        until = now + PENDING_SECONDS
        key = digest(state)
        config = pending.config
        kept = {
            "issuer": str(pending.issuer.base),
            "authorization_endpoint": config.authorization_endpoint,
            "token_endpoint": config.token_endpoint,
            "capabilities": sorted(config.capabilities),
            "verifier": pending.verifier,
            "scope": pending.scope,
        }
        sealed = self.sealer.seal(json.dumps(kept).encode("utf-8"), self.context(key, now, until))
        client = digest(f"client\x00{pending.client}")
        return await self.storage.add_launch(key, client, now, until, sealed, self.total, self.per_client)

    async def take(self, state: str) -> Pending | None:
        key = digest(state)
        row = await self.storage.take_launch(key)
        if row is None or self.clock() - row.started_at > PENDING_SECONDS:
            return None
        try:
            kept = json.loads(self.sealer.open(row.sealed, self.context(key, row.started_at, row.expires_at)))
        except ValueError:  # sealed with a retired key, or altered: it is spent all the same
            log.warning("a pending SMART launch did not open (a retired session key, or altered)")
            return None
        issuer = self.issuers.get(kept["issuer"])
        if issuer is None:
            return None  # no longer configured since the launch began
        config = SmartConfiguration(
            kept["authorization_endpoint"], kept["token_endpoint"], frozenset(kept["capabilities"])
        )
        return Pending(issuer, config, kept["verifier"], started=row.started_at, scope=kept["scope"])


def authorization_url(
    issuer: Issuer, config: SmartConfiguration, redirect_uri: str, launch: str | None, aud: str
) -> tuple[str, str, str, str]:
    """(URL to send the browser to, state, PKCE verifier, scope asked for): an EHR launch echoes `launch`, a
    standalone one asks for `launch/patient` instead, each with the scopes in the syntax the server speaks. `aud` is the
    `iss` exactly as the EHR sent it (SMART: "the value of the iss parameter"), trailing slash and all: a strict
    authorization server compares the two as strings, and a token is never minted for another server."""
    from plugin.smart import oauth  # authlib: imported by the first launch, not at every start

    verifier = secrets.token_urlsafe(64)  # 86 characters of [A-Za-z0-9_-]: within PKCE's 43 to 128
    state = secrets.token_urlsafe(32)  # 256 bits; SMART asks for at least 122
    extra: dict[str, str] = {"aud": aud}
    if launch is not None:
        extra["launch"] = launch
    scope = requested(config.capabilities, ehr_launch=launch is not None)
    url = oauth.authorization_request(issuer, config, redirect_uri, state, verifier, scope, extra)
    return url, state, verifier, scope


class CodeRefusedError(ValueError):
    """The token endpoint did not exchange the code: an OAuth error (its `error` code kept), a failure or no JSON."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


async def exchange(pending: Pending, code: str, redirect_uri: str, timeout: float) -> dict[str, Any]:
    """The token response for this code and the launch's PKCE verifier.

    Raises:
        CodeRefusedError: the authorization server refused (used code, wrong verifier...) or could not be reached.
    """
    from plugin.smart import oauth  # authlib: imported by the first launch, not at every start

    try:
        return await oauth.fetch_token(pending.issuer, pending.config, code, pending.verifier, redirect_uri, timeout)
    except oauth.TokenRefusedError as exc:
        raise CodeRefusedError(exc.error) from exc
