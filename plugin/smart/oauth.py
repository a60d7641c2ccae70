"""authlib's OAuth 2 client for a SMART launch: the authorization request with PKCE S256, and the code exchanged for
a token, with a `private_key_jwt` assertion for a confidential client. Imported by the first launch, not at start
(authlib and its HTTP client take a tenth of a second to import).
"""

from __future__ import annotations

from typing import Any

import httpx2
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.client import OAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign

from plugin.smart.issuers import Issuer, SmartConfiguration

ASSERTION_SECONDS = 300  # SMART: a client assertion expires no more than five minutes after it is made


class TokenRefusedError(ValueError):
    """The token endpoint did not exchange the code: an OAuth error (its `error` code kept), a failure or no JSON."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def authorization_request(
    issuer: Issuer,
    config: SmartConfiguration,
    redirect_uri: str,
    state: str,
    verifier: str,
    scope: str,
    extra: dict[str, str],
) -> str:
    """The URL to send the browser to, with the PKCE S256 challenge of `verifier`."""
    client = OAuth2Client(None, client_id=issuer.client_id, redirect_uri=redirect_uri, code_challenge_method="S256")
    url, _ = client.create_authorization_url(
        config.authorization_endpoint, state=state, code_verifier=verifier, scope=scope, **extra
    )
    return str(url)


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


async def fetch_token(
    issuer: Issuer, config: SmartConfiguration, code: str, verifier: str, redirect_uri: str, timeout: float
) -> dict[str, Any]:
    """The token response for this code and the launch's PKCE verifier.

    Raises:
        TokenRefusedError: the authorization server refused (used code, wrong verifier...) or could not be reached.
    """
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
        client.register_client_auth_method(SmartPrivateKeyJWT(config.token_endpoint, headers=headers, alg=issuer.alg))
    try:
        async with client:
            token = await client.fetch_token(
                config.token_endpoint, grant_type="authorization_code", code=code, code_verifier=verifier
            )
    except OAuthError as exc:
        raise TokenRefusedError(str(exc.error)) from exc
    except (httpx2.HTTPError, ValueError) as exc:
        raise TokenRefusedError(type(exc).__name__) from exc
    return dict(token)
