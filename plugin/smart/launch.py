"""The OAuth 2 part of a SMART launch, through authlib's client: the authorization request with PKCE S256, the
launches waiting for their callback, and the code exchanged for a token.

A public client authenticates with PKCE alone; a confidential one also signs a `private_key_jwt` assertion
(SMART "asymmetric client authentication"). Tokens and verifiers are never logged.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import httpx2
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.client import OAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign

from plugin.smart.issuers import Issuer, SmartConfiguration
from plugin.smart.scopes import requested

PENDING_SECONDS = 600.0
ASSERTION_SECONDS = 300  # SMART: a client assertion expires no more than five minutes after it is made


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
    """Where launches wait for their callback: this process's memory (`Launches`) today; a table in the shared
    database would let a callback reach another replica. A launch is never pushed out by newer ones: when a limit
    is reached the new launch is refused instead, so a real user's sign-in lasts its PENDING_SECONDS whatever
    anonymous traffic does meanwhile."""

    def add(self, state: str, pending: Pending) -> bool:
        """Keep `pending` under `state`, started now; False (nothing kept) when its client or the store holds its
        most."""
        ...

    def take(self, state: str) -> Pending | None:
        """The launch under `state`, once, within PENDING_SECONDS; None otherwise."""
        ...


class Launches:
    """Launches by state in memory, at most `total` and `per_client` at once (the clock is injectable for tests)."""

    def __init__(self, total: int = 1000, per_client: int = 10, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.per_client = per_client
        self.clock = clock
        self.pending: dict[str, Pending] = {}
        self.by_client: dict[str, int] = {}

    def add(self, state: str, pending: Pending) -> bool:
        now = self.clock()
        for old in [s for s, p in self.pending.items() if now - p.started > PENDING_SECONDS]:
            self.drop(old)
        if len(self.pending) >= self.total or self.by_client.get(pending.client, 0) >= self.per_client:
            return False
        self.pending[state] = replace(pending, started=now)
        self.by_client[pending.client] = self.by_client.get(pending.client, 0) + 1
        return True

    def drop(self, state: str) -> Pending | None:
        pending = self.pending.pop(state, None)
        if pending is not None:
            left = self.by_client.pop(pending.client, 1) - 1
            if left:
                self.by_client[pending.client] = left
        return pending

    def take(self, state: str) -> Pending | None:
        pending = self.drop(state)
        if pending is None or self.clock() - pending.started > PENDING_SECONDS:
            return None
        return pending


def authorization_url(
    issuer: Issuer, config: SmartConfiguration, redirect_uri: str, launch: str | None, aud: str
) -> tuple[str, str, str, str]:
    """(URL to send the browser to, state, PKCE verifier, scope asked for): an EHR launch echoes `launch`, a
    standalone one asks for `launch/patient` instead, each with the scopes in the syntax the server speaks. `aud` is the
    `iss` exactly as the EHR sent it (SMART: "the value of the iss parameter"), trailing slash and all: a strict
    authorization server compares the two as strings, and a token is never minted for another server."""
    client = OAuth2Client(None, client_id=issuer.client_id, redirect_uri=redirect_uri, code_challenge_method="S256")
    verifier = secrets.token_urlsafe(64)  # 86 characters of [A-Za-z0-9_-]: within PKCE's 43 to 128
    state = secrets.token_urlsafe(32)  # 256 bits; SMART asks for at least 122
    extra: dict[str, str] = {"aud": aud}
    if launch is not None:
        extra["launch"] = launch
    scope = requested(config.capabilities, ehr_launch=launch is not None)
    url, _ = client.create_authorization_url(
        config.authorization_endpoint, state=state, code_verifier=verifier, scope=scope, **extra
    )
    return str(url), state, verifier, scope


class SmartPrivateKeyJWT(PrivateKeyJWT):  # type: ignore[misc]
    """authlib's private_key_jwt, its assertion expiring within SMART's five minutes (authlib's default is an hour)."""

    def sign(self, auth: Any, token_endpoint: str) -> Any:
        return private_key_jwt_sign(
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            claims=self.claims,
            header=self.headers,
            alg=self.alg,
            expires_in=ASSERTION_SECONDS,
        )


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
    issuer = pending.issuer
    method = "private_key_jwt" if issuer.key is not None else "none"
    client = AsyncOAuth2Client(
        client_id=issuer.client_id,
        client_secret=issuer.key,
        token_endpoint_auth_method=method,
        redirect_uri=redirect_uri,
        timeout=timeout,
        follow_redirects=False,
    )
    if issuer.key is not None:
        headers = {"typ": "JWT"} | ({"kid": issuer.key_id} if issuer.key_id else {})
        client.register_client_auth_method(
            SmartPrivateKeyJWT(pending.config.token_endpoint, headers=headers, alg=issuer.alg)
        )
    try:
        async with client:
            token = await client.fetch_token(
                pending.config.token_endpoint,
                grant_type="authorization_code",
                code=code,
                code_verifier=pending.verifier,
            )
    except OAuthError as exc:
        raise CodeRefusedError(str(exc.error)) from exc
    except (httpx2.HTTPError, ValueError) as exc:
        raise CodeRefusedError(type(exc).__name__) from exc
    return dict(token)
