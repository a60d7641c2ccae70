"""Which `fhirServer` a hook call may make the service query, with the EHR's bearer token (closes the SSRF).

A caller's `fhirServer` is used only when it is, once normalized (`urls`), one of the FHIR base URLs configured
for the issuer that signed the call's JWT; in unauthenticated development mode a call without a verified issuer
may name only a loopback server, on a port of a configured FHIR server or one listed in
IVIG_CDS_DEVELOPMENT_FHIR_PORTS (so a database listening on loopback is never sent the token). `https` only,
except a literal loopback address in development mode, so the token never crosses the network in clear. Any other
`fhirServer` is ignored: the call is answered from its prefetch alone (a 412 when the problem list is missing),
and the log names the URL without its query.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from plugin.fhir.urls import BaseUrl, for_log, split

log = logging.getLogger(__name__)


class FhirServerPolicy:
    """The FHIR servers each trusted issuer may send, checked once at start-up."""

    def __init__(
        self, servers: Mapping[str, Sequence[str]], *, development: bool, development_ports: Sequence[int] = ()
    ) -> None:
        """Raises:
        ValueError: a configured FHIR server is not a plain base URL, or is http:// outside development mode.
        """
        self.development = development
        self.servers = {
            issuer: frozenset(self._configured(issuer, url) for url in urls) for issuer, urls in servers.items()
        }
        configured = {url.port for urls in self.servers.values() for url in urls if url.loopback}
        self.development_ports = frozenset(development_ports) | configured

    def _configured(self, issuer: str, raw: str) -> BaseUrl:
        url = split(raw)
        if url is None:
            raise ValueError(f"trusted issuer {issuer!r}: FHIR server {raw!r} is not a plain http(s) base URL")
        if not self.usable(url):
            raise ValueError(
                f"trusted issuer {issuer!r}: FHIR server {raw!r} must use https (http only for a loopback address "
                "in development mode)"
            )
        return url

    def usable(self, url: BaseUrl) -> bool:
        """https, or a loopback address in development mode: the bearer token never crosses a network in clear."""
        return url.scheme == "https" or (self.development and url.loopback)

    def allowed(self, raw: str, issuer: str | None) -> BaseUrl | None:
        """The normalized server to query, or None (logged) when this caller may not have it queried."""
        url = split(raw)
        if url is not None and self.usable(url):
            if issuer is None and self.development and url.loopback and url.port in self.development_ports:
                return url
            if issuer is not None and url in self.servers.get(issuer, frozenset()):
                return url
        log.warning(
            "fhirServer %s is not a FHIR server allowed for %s; answering from prefetch only",
            for_log(raw),
            f"issuer {issuer}" if issuer else "unauthenticated calls (configured loopback ports only)",
        )
        return None
