"""Settings from the environment (prefix IVIG_CDS_); the only module that reads it.

Clinical content (thresholds, estimates, wording) is never configuration: it is versioned data in
`evidence/` and `templates/`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PACKAGE = Path(__file__).resolve().parent

# 'self', 'none' (alone) or an http(s) origin, optionally with a wildcard subdomain or port; nothing that could
# smuggle another directive (";", ",", quotes) into the header.
FRAME_SOURCE = re.compile(
    r"^(?:'self'|'none'|https?://(?:\*\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::[0-9]{1,5}|:\*)?)$"
)


SYSTEM_BAR_CODE = re.compile(r"[^|\s]+\|[^|\s]+")


def check_frame_ancestors(sources: tuple[str, ...]) -> tuple[str, ...]:
    """Validate the allow-list at start-up, so a typo fails loudly instead of sending a broken header."""
    if not sources:
        raise ValueError("frame_ancestors must name at least one source; use 'none' to forbid framing")
    bad = [source for source in sources if not FRAME_SOURCE.match(source)]
    if bad:
        raise ValueError(
            f"frame_ancestors {bad} are not 'self', 'none' or an http(s) origin such as https://ehr.example.org"
        )
    if "'none'" in sources and len(sources) > 1:
        raise ValueError("frame_ancestors 'none' cannot be combined with other sources")
    return sources


def bundled(name: str) -> Path:
    """The wheel ships `evidence/` and `templates/` inside the package; a checkout has them beside it."""
    inside = _PACKAGE / "_data" / name
    return inside if inside.is_dir() else _PACKAGE.parent / name


class TrustedIssuer(BaseModel):
    """An EHR allowed to call the CDS Hooks services: where its signing keys are, and the FHIR servers it may send.

    Each `jwks` entry is a file path or an https URL; each FHIR server a base URL such as
    https://fhir.example.org/r4. Both are checked when the app is built.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    jwks: tuple[str, ...] = Field(min_length=1)
    fhir_servers: tuple[str, ...] = ()

    @field_validator("jwks", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value


class SmartIssuer(BaseModel):
    """An EHR's FHIR server the SMART launch accepts as `iss`: the client id it registered this app under, and for a
    confidential client (`private_key_jwt`) the private key file (PEM or JWK) with its key id and algorithm."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    client_id: str = Field(min_length=1)
    private_key: Path | None = None
    key_id: str | None = None
    alg: Literal["RS384", "ES384"] = "ES384"


def issuers_in_short_form(value: Any) -> Any:
    """The older issuer -> JWK Set form (a string or a list) stays valid, and allows no FHIR server."""
    if not isinstance(value, Mapping):
        return value
    return {
        issuer: {"jwks": where} if isinstance(where, str | list | tuple) else where for issuer, where in value.items()
    }


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IVIG_CDS_", frozen=True, extra="ignore")

    evidence_dir: Path = Field(default_factory=lambda: bundled("evidence"))
    templates_dir: Path = Field(default_factory=lambda: bundled("templates"))
    public_base_url: str = "http://127.0.0.1:8000"
    # Finished answers kept per worker, one per kind of patient (about 0.15 MB each); 0 turns the cache off.
    answer_cache_size: int = Field(default=128, ge=0)
    # Where decision tables proven on their whole grid are remembered (by the SHA-256 of the file and of the
    # proving code), so a restart need not prove them again; unset (IVIG_CDS_PROOF_DIR=) proves at every start.
    proof_dir: Path | None = Path("var/cache/proofs")
    log_level: str = "INFO"
    # EHR origins allowed to frame the widget (CSP frame-ancestors); the default allows same origin only, e.g.
    # IVIG_CDS_FRAME_ANCESTORS="[\"'self'\", \"https://ehr.example.org\"]" (a JSON list, like the others).
    frame_ancestors: Annotated[tuple[str, ...], AfterValidator(check_frame_ancestors)] = ("'self'",)
    # MCP over HTTP answers only these Host and Origin headers (DNS-rebinding guard); "name:*" allows any port.
    # Behind a real hostname, set the list (it replaces the default), e.g.
    # IVIG_CDS_MCP_ALLOWED_HOSTS='["cds.example.org"]'; otherwise every MCP call gets 421.
    mcp_allowed_hosts: tuple[str, ...] = ("localhost", "localhost:*", "127.0.0.1", "127.0.0.1:*", "[::1]", "[::1]:*")
    mcp_allowed_origins: tuple[str, ...] = (
        "http://localhost",
        "http://localhost:*",
        "http://127.0.0.1",
        "http://127.0.0.1:*",
        "http://[::1]",
        "http://[::1]:*",
    )
    # CDS Hooks door. Trusted JWT issuers: issuer -> its JWK Sets (file paths or https URLs) and the FHIR servers
    # it may send as fhirServer, e.g. IVIG_CDS_TRUSTED_ISSUERS='{"https://ehr.example.org": {"jwks":
    # "https://ehr.example.org/.well-known/jwks.json", "fhir_servers": ["https://fhir.example.org/r4"]}}'.
    # The short form issuer -> JWK Set (or a list of them) allows no FHIR server. A token's `jku` header is
    # followed only when it is one of that issuer's URLs.
    trusted_issuers: dict[str, TrustedIssuer] = {}
    # Local development only: accept CDS Hooks calls without a client JWT (announced at start-up).
    allow_unauthenticated: bool = False
    # Browser origins allowed to call /cds-services (the public CDS Hooks sandbox calls from the browser).
    cors_origins: tuple[str, ...] = ("https://sandbox.cds-hooks.org",)
    # Seconds allowed for each call to an EHR's FHIR server or to an issuer's JWK Set URL.
    fhir_timeout: float = Field(default=1.0, gt=0)
    # Seconds one CDS Hooks call may spend on all its FHIR reads together; after it the service answers from what
    # it has (the spec asks services to answer in about 500 ms; EHRs give up after a few seconds).
    deadline: float = Field(default=1.5, gt=0)
    # The database shared by every replica and worker (JWT replay guard, card record, feedback): an SQLite file
    # (the default, nothing to install) or PostgreSQL, e.g. postgresql://ivig@db.example.org/ivig. Created and
    # upgraded by `ivig-cds db upgrade`; `serve` refuses a schema older than it knows.
    database_url: str = "sqlite:///var/ivig-cds.sqlite3"
    # Seconds a database call may wait (SQLite busy timeout; PostgreSQL connect, statement and lock timeouts)
    # before it is retried and, failing that, answered 503.
    database_timeout: float = Field(default=5.0, gt=0)
    # Days card records and feedback are kept before `ivig-cds db purge` (or the service itself) removes them.
    retention_days: int = Field(default=365, ge=1)
    # Request limits, applied before any parsing (README, "Limits and logging"). Bodies in bytes: CDS Hooks calls
    # carry prefetched charts; every other door takes a small profile.
    max_body: int = Field(default=64 * 1024, gt=0)
    max_cds_body: int = Field(default=1024 * 1024, gt=0)
    max_query: int = Field(default=8192, gt=0)
    max_parameters: int = Field(default=64, gt=0)
    max_json_depth: int = Field(default=32, gt=0)
    # `serve`: seconds a client has to send a whole request (headers and body), seconds an idle keep-alive
    # connection stays open, and how many connections are served at once (more get 503).
    read_timeout: float = Field(default=10.0, gt=0)
    keep_alive_timeout: int = Field(default=5, gt=0)
    max_connections: int = Field(default=1000, gt=0)
    # Proxies whose X-Forwarded-For/-Proto are believed (uvicorn's forwarded_allow_ips); none by default.
    forwarded_allow_ips: tuple[str, ...] = ()
    # Site medication codes ("system|code") that identify an intravenous immunoglobulin order, e.g.
    # IVIG_CDS_IVIG_MEDICATION_CODES='["https://pharmacy.example.org/formulary|IVIG-10"]'; names are matched too.
    ivig_medication_codes: tuple[str, ...] = ()

    # SMART App Launch door. The EHR FHIR servers accepted as `iss`, each with this app's client id there, e.g.
    # IVIG_CDS_SMART_ISSUERS='{"https://ehr.example.org/fhir": {"client_id": "ivig-cds"}}'; an `http` issuer only
    # on a loopback address. Anything else gets an error page, never a redirect.
    smart_issuers: dict[str, SmartIssuer] = {}
    # Signs the widget's session cookie. Unset, each start makes a random one (logged), so a restart or a second
    # worker ends every session: set it for a deployment.
    session_secret: SecretStr | None = None

    @field_validator("proof_dir", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("ivig_medication_codes")
    @classmethod
    def _system_bar_code(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        """Each code as `system|code`, both parts present and without spaces, so a typo fails at start."""
        bad = [i for i, code in enumerate(value) if not SYSTEM_BAR_CODE.fullmatch(code)]
        if bad:
            raise ValueError(f"entries {bad} must be system|code, e.g. https://pharmacy.example.org/formulary|IVIG-10")
        return value

    @field_validator("trusted_issuers", mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return issuers_in_short_form(value)


@lru_cache
def get_settings() -> Settings:
    return Settings()
