"""Which EHRs may launch the app (IVIG_CDS_SMART_ISSUERS), and what each says in its SMART configuration.

An `iss` is compared with the configured ones once both are normalized (`plugin.fhir.urls`), so a look-alike
never matches; an issuer and the endpoints it names must be `https`, or `http` on a literal loopback address,
since the code, the PKCE verifier and the token travel to them. `{iss}/.well-known/smart-configuration` is read
with a timeout and kept for CACHE_SECONDS; it must offer the authorization-code grant with PKCE S256 and no
`plain` (SMART App Launch 2.2 §"SMART configuration").
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx
from joserfc.jwk import ECKey, RSAKey

from plugin.config import SmartIssuer
from plugin.fhir.urls import BaseUrl, for_log, split

log = logging.getLogger(__name__)

CACHE_SECONDS = 300.0


@dataclass(frozen=True)
class Issuer:
    """A FHIR server this app may sign in to, with its client id there and, if confidential, its signing key."""

    base: BaseUrl
    client_id: str
    key: ECKey | RSAKey | None = field(default=None, repr=False)
    key_id: str | None = None
    alg: str = "ES384"


@dataclass(frozen=True)
class SmartConfiguration:
    authorization_endpoint: str
    token_endpoint: str
    capabilities: frozenset[str]


class DiscoveryError(ValueError):
    """The issuer's SMART configuration could not be read, or does not allow a launch with PKCE S256."""


def secure(url: BaseUrl) -> bool:
    """https, or plain http to a literal loopback address (nothing then crosses a network in clear)."""
    return url.scheme == "https" or url.loopback


def load_key(issuer: str, configured: SmartIssuer) -> ECKey | RSAKey | None:
    """The private key for `private_key_jwt`, from a PEM or JWK file; None for a public client."""
    if configured.private_key is None:
        return None
    kind = ECKey if configured.alg.startswith("ES") else RSAKey
    data = configured.private_key.read_bytes()
    try:
        parsed: Any = json.loads(data) if data.lstrip().startswith(b"{") else data
        key = kind.import_key(parsed)
    except ValueError as exc:
        raise ValueError(f"SMART issuer {issuer!r}: private_key is not a {configured.alg} private key") from exc
    if not key.is_private:
        raise ValueError(f"SMART issuer {issuer!r}: private_key holds a public key only")
    return key


def issuers_from(configured: Mapping[str, SmartIssuer]) -> dict[str, Issuer]:
    """The allow-list by normalized FHIR base URL.

    Raises:
        ValueError: an issuer is not a plain http(s) base URL, is http off loopback, or has an unusable key.
    """
    issuers: dict[str, Issuer] = {}
    for raw, settings in configured.items():
        base = split(raw)
        if base is None or not secure(base):
            raise ValueError(f"SMART issuer {raw!r} must be an https FHIR base URL (http only on 127.0.0.1 or ::1)")
        key = load_key(raw, settings)
        issuers[str(base)] = Issuer(base, settings.client_id, key, settings.key_id, settings.alg)
    return issuers


def find_issuer(issuers: Mapping[str, Issuer], raw: str) -> Issuer | None:
    base = split(raw)
    return None if base is None else issuers.get(str(base))


def endpoint(config: Mapping[str, Any], name: str, base: BaseUrl) -> str:
    """An endpoint of the configuration; a relative one is read relative to the FHIR base URL."""
    value = config.get(name)
    if not isinstance(value, str) or not value:
        raise DiscoveryError(f"no {name}")
    url = urljoin(f"{base}/", value)
    parsed = split(url)
    if parsed is None or not secure(parsed):
        raise DiscoveryError(f"{name} is not an https URL")
    return url


def configuration(config: object, base: BaseUrl) -> SmartConfiguration:
    """The parts of a smart-configuration document a launch needs, checked.

    Raises:
        DiscoveryError: it is not an object, or lacks an endpoint, the code grant or PKCE S256 (or offers plain).
    """
    if not isinstance(config, Mapping):
        raise DiscoveryError("not a JSON object")
    methods = config.get("code_challenge_methods_supported") or []
    if not isinstance(methods, list) or "S256" not in methods or "plain" in methods:
        raise DiscoveryError("PKCE S256 not offered, or plain offered")
    grants = config.get("grant_types_supported")
    if isinstance(grants, list) and "authorization_code" not in grants:
        raise DiscoveryError("no authorization_code grant")
    capabilities = config.get("capabilities") or []
    return SmartConfiguration(
        authorization_endpoint=endpoint(config, "authorization_endpoint", base),
        token_endpoint=endpoint(config, "token_endpoint", base),
        capabilities=frozenset(c for c in capabilities if isinstance(c, str))
        if isinstance(capabilities, list)
        else frozenset(),
    )


class Discovery:
    """Reads and caches each issuer's SMART configuration (per issuer, CACHE_SECONDS; failures are not cached)."""

    def __init__(self, timeout: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self.clock = clock
        self.cache: dict[str, tuple[float, SmartConfiguration]] = {}

    async def get(self, issuer: Issuer) -> SmartConfiguration:
        """Raises:
        DiscoveryError: unreachable, slow, not 200, not JSON, or not usable for a launch with PKCE S256.
        """
        key = str(issuer.base)
        cached = self.cache.get(key)
        if cached is not None and self.clock() - cached[0] < CACHE_SECONDS:
            return cached[1]
        url = f"{issuer.base}/.well-known/smart-configuration"
        try:
            async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:
                response = await client.get(url, headers={"Accept": "application/json"})
            if response.status_code != 200:
                raise DiscoveryError(f"HTTP {response.status_code}")
            found = configuration(response.json(), issuer.base)
        except (httpx.HTTPError, ValueError) as exc:  # DiscoveryError and JSON errors are ValueErrors
            log.warning("SMART configuration of %s unusable: %s", for_log(url), exc)
            raise DiscoveryError(str(exc)) from exc
        self.cache[key] = (self.clock(), found)
        return found
