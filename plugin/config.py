"""Settings from the environment (prefix IVIG_CDS_); the only module that reads it.

Clinical content (thresholds, estimates, wording) is never configuration: it is versioned data in
`evidence/` and `templates/`.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import os
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

_PACKAGE = Path(__file__).resolve().parent
ENV_PREFIX = "IVIG_CDS_"
SQLITE_FILE = "ivig-cds.sqlite3"

# 'self', 'none' (alone) or an http(s) origin, optionally with a wildcard subdomain or port; nothing that could
# smuggle another directive (";", ",", quotes) into the header.
FRAME_SOURCE = re.compile(
    r"^(?:'self'|'none'|https?://(?:\*\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::[0-9]{1,5}|:\*)?)$"
)


SYSTEM_BAR_CODE = re.compile(r"[^|\s]+\|[^|\s]+")
SESSION_KEY_BYTES = 32


def decode_key(text: str) -> bytes:
    """A session key as configured: 32 random bytes in base64 (standard or URL-safe, padding optional).

    Raises:
        ValueError: not base64, or not 32 bytes once decoded (the message never repeats the value).
    """
    cleaned = text.strip().replace("+", "-").replace("/", "_")
    try:
        key = base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("is not base64") from None
    if len(key) != SESSION_KEY_BYTES:
        raise ValueError(f"decodes to {len(key)} bytes, not {SESSION_KEY_BYTES}")
    return key


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
    """Every setting, read from IVIG_CDS_<NAME>; `docs/configuration.md` is generated from these fields.

    Lists and mappings are JSON. State (the SQLite database, remembered proofs) lives under `data_dir` unless a
    setting names another place.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    data_dir: Path = Field(
        default=Path("var"),
        description="The directory holding the service's state: the SQLite database and the remembered proofs of "
        "the decision tables. A relative path is taken from the working directory at start and printed, so set an "
        "absolute one when a chat client or a process manager starts the service from elsewhere.",
        examples=["/srv/ivig-cds"],
        json_schema_extra={"default_text": "./var"},
    )
    evidence_dir: Path = Field(
        default_factory=lambda: bundled("evidence"),
        description="The evidence store (analyses, context records, decision tables); the bundled one by default.",
        examples=["/srv/ivig-cds/evidence"],
        json_schema_extra={"default_text": "the bundled evidence/"},
    )
    templates_dir: Path = Field(
        default_factory=lambda: bundled("templates"),
        description="The Jinja templates every door renders with; the bundled ones by default.",
        examples=["/srv/ivig-cds/templates"],
        json_schema_extra={"default_text": "the bundled templates/"},
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The service's address as EHRs and browsers reach it: card links, the CDS Hooks audience, the "
        "SMART redirect URI.",
        examples=["https://cds.example.org"],
    )
    answer_cache_size: int = Field(
        default=128,
        ge=0,
        description="Finished answers kept per worker, one per kind of patient (about 0.15 MB each), and as many "
        "widget pages; 0 turns these caches off.",
        examples=[512],
    )
    proof_dir: Path | None = Field(
        default=None,
        description="Where decision tables proven on their whole grid are remembered (by the SHA-256 of the file "
        "and of the proving code), so a restart need not prove them again; empty proves at every start.",
        examples=["/var/cache/ivig-cds/proofs", ""],
        json_schema_extra={"default_text": "IVIG_CDS_DATA_DIR/cache/proofs"},
    )
    compiled_templates_dir: Path | None = Field(
        default=None,
        description="Where the templates compiled to Python are kept (by the checksum of each template's source), so a "
        "restart need not compile them again; empty compiles them at every start.",
        examples=["/var/cache/ivig-cds/templates", ""],
        json_schema_extra={"default_text": "IVIG_CDS_DATA_DIR/cache/templates"},
    )
    log_level: str = Field(
        default="INFO",
        description="Level of the JSON log lines on stderr (DEBUG, INFO, WARNING, ERROR).",
        examples=["WARNING"],
    )
    frame_ancestors: Annotated[tuple[str, ...], AfterValidator(check_frame_ancestors)] = Field(
        default=("'self'",),
        description="Origins allowed to frame the widget (CSP frame-ancestors): 'self', 'none' or http(s) "
        "origins; the default allows the service's own origin only.",
        examples=[["'self'", "https://ehr.example.org"]],
    )
    mcp_allowed_hosts: tuple[str, ...] = Field(
        default=("localhost", "localhost:*", "127.0.0.1", "127.0.0.1:*", "[::1]", "[::1]:*"),
        description="Host headers MCP over HTTP answers (DNS-rebinding guard; name:* allows any port). Behind a "
        "real hostname set the list, which replaces the default; otherwise every MCP call gets 421.",
        examples=[["cds.example.org"]],
    )
    mcp_allowed_origins: tuple[str, ...] = Field(
        default=(
            "http://localhost",
            "http://localhost:*",
            "http://127.0.0.1",
            "http://127.0.0.1:*",
            "http://[::1]",
            "http://[::1]:*",
        ),
        description="Origin headers MCP over HTTP answers (DNS-rebinding guard); the list replaces the default.",
        examples=[["https://cds.example.org"]],
    )
    trusted_issuers: dict[str, TrustedIssuer] = Field(
        default={},
        description="CDS Hooks clients whose JWTs are accepted: issuer -> its JWK Sets (file paths or https URLs) "
        "and the FHIR servers it may send as fhirServer. The short form issuer -> JWK Set (or a list of them) "
        "allows no FHIR server. A token's jku header is followed only when it is one of that issuer's URLs.",
        examples=[
            {
                "https://ehr.example.org": {
                    "jwks": "https://ehr.example.org/.well-known/jwks.json",
                    "fhir_servers": ["https://fhir.example.org/r4"],
                }
            }
        ],
    )
    allow_unauthenticated: bool = Field(
        default=False,
        description="Local development only: accept CDS Hooks calls without a client JWT (announced at start). "
        "`make run` sets it unless it is already set.",
        examples=[True],
    )
    cors_origins: tuple[str, ...] = Field(
        default=("https://sandbox.cds-hooks.org",),
        description="Browser origins allowed to call /cds-services (the public CDS Hooks sandbox calls from the "
        "browser).",
        examples=[["https://sandbox.cds-hooks.org", "https://ehr.example.org"]],
    )
    fhir_timeout: float = Field(
        default=1.0,
        gt=0,
        description="Seconds allowed for each call to an EHR's FHIR server or to an issuer's JWK Set URL.",
        examples=[2.5],
    )
    deadline: float = Field(
        default=1.5,
        gt=0,
        description="Seconds one CDS Hooks call may spend on all its FHIR reads together; after it the service "
        "answers from what it has.",
        examples=[3],
    )
    max_fhir_response_bytes: int = Field(
        default=2 * 1024 * 1024,
        gt=0,
        description="Largest response from an EHR's FHIR server in bytes as received, for CDS Hooks and SMART "
        "alike; a longer one is cut there, streaming, and read as a failed query (logged naming this setting).",
        examples=[4194304],
    )
    max_fhir_decompressed_bytes: int = Field(
        default=4 * 1024 * 1024,
        gt=0,
        description="Largest FHIR response in bytes once inflated (gzip or deflate): a small compressed reply that "
        "would inflate past it is cut as it inflates, and read as a failed query.",
        examples=[8388608],
    )
    database_url: str = Field(
        default="",
        description="The database shared by every replica and worker (JWT replay guard, card record, feedback): "
        "an SQLite file, whose directory must exist, or PostgreSQL through psycopg 3. Created and upgraded by "
        "`ivig-cds db upgrade`; `serve` refuses a schema older than it knows.",
        examples=["postgresql://ivig@db.example.org/ivig"],
        json_schema_extra={"default_text": "sqlite:///IVIG_CDS_DATA_DIR/ivig-cds.sqlite3"},
    )
    database_timeout: float = Field(
        default=5.0,
        gt=0,
        description="Seconds a database call may wait (SQLite busy timeout; PostgreSQL connect, statement and lock "
        "timeouts) before it is retried, twice, and then answered 503.",
        examples=[2],
    )
    retention_days: int = Field(
        default=365,
        ge=1,
        description="Days card records and feedback are kept before `ivig-cds db purge` (or the service itself) "
        "removes them.",
        examples=[90],
    )
    max_body: int = Field(
        default=64 * 1024,
        gt=0,
        description="Largest request body in bytes on every door but CDS Hooks (413 above it).",
        examples=[32768],
    )
    max_cds_body: int = Field(
        default=1024 * 1024,
        gt=0,
        description="Largest request body in bytes on /cds-services, whose calls carry prefetched charts.",
        examples=[2097152],
    )
    max_query: int = Field(
        default=8192, gt=0, description="Longest query string in bytes (414 above it).", examples=[4096]
    )
    max_parameters: int = Field(
        default=64, gt=0, description="Most query parameters in one request (422 above it).", examples=[32]
    )
    max_json_depth: int = Field(
        default=32, gt=0, description="Deepest JSON nesting accepted (422 naming the field).", examples=[16]
    )
    feedback_per_card: int = Field(
        default=20,
        gt=0,
        description="CDS Hooks feedback entries one card may hold; a batch that would pass it is refused whole (422 "
        "naming `feedback[i].card`).",
        examples=[50],
    )
    feedback_per_minute: int = Field(
        default=600,
        gt=0,
        description="CDS Hooks feedback entries one client (its issuer; its address in development mode) may send "
        "in a minute, per worker; more get 429 with Retry-After.",
        examples=[120],
    )
    development_fhir_ports: tuple[int, ...] = Field(
        default=(),
        description="Development mode: loopback ports an unauthenticated CDS Hooks call may name as its fhirServer "
        "(with the EHR's token), beside the ports of the trusted issuers' FHIR servers; no other loopback port "
        "(a database's, say) is ever sent a request.",
        examples=[[8080]],
    )
    smart_pending_launches: int = Field(
        default=1000,
        gt=0,
        description="SMART launches waiting for their callback at once, counted in the shared database across every "
        "worker and replica; past it a new launch gets a 429 page (none waiting is ever pushed out, so a real "
        "sign-in survives a flood of anonymous launches).",
        examples=[5000],
    )
    smart_pending_per_client: int = Field(
        default=10,
        gt=0,
        description="SMART launches one client address may have waiting at once, across every worker and replica "
        "(429 page past it).",
        examples=[20],
    )
    max_header_bytes: int = Field(
        default=32 * 1024,
        gt=0,
        description="`serve`: largest request head (request line and headers) in bytes; 431 above it (414 when the "
        "request line alone is longer), answered before the rest is buffered.",
        examples=[16384],
    )
    max_headers: int = Field(
        default=100, gt=0, description="`serve`: most header fields in one request (431 above it).", examples=[50]
    )
    read_timeout: float = Field(
        default=10.0,
        gt=0,
        description="`serve`: seconds a client has, from its first byte (or from the end of the previous response), "
        "to send a whole request (headers and body) before the connection is closed.",
        examples=[5],
    )
    first_byte_timeout: float = Field(
        default=2.0,
        gt=0,
        description="`serve`: seconds a new connection may stay silent before the first byte of its request; it "
        "is closed then.",
        examples=[1],
    )
    keep_alive_timeout: int = Field(
        default=5, gt=0, description="`serve`: seconds an idle keep-alive connection stays open.", examples=[15]
    )
    max_connections: int = Field(
        default=1000,
        gt=0,
        description="`serve`: connections per worker; fewer if the open-file limit cannot be raised to fit. A request "
        "that begins while more are held closes the oldest idle connection (then the oldest still sending its "
        "request), or gets 503 when every one is busy answering. Idle connections may pass it until their "
        "first-byte deadline; past twice the number a new connection is closed at once.",
        examples=[200],
    )
    max_connections_per_client: int = Field(
        default=200,
        gt=0,
        description="`serve`: connections per client address, per worker: a request that begins while the client "
        "holds more closes that client's oldest idle connection (then its oldest still sending), or gets 503 when "
        "every one of them is busy answering. Proxies in IVIG_CDS_FORWARDED_ALLOW_IPS are not capped (their users "
        "share their address).",
        examples=[50],
    )
    forwarded_allow_ips: tuple[str, ...] = Field(
        default=(),
        description="Proxies whose X-Forwarded-For and X-Forwarded-Proto are believed; none by default.",
        examples=[["10.0.0.5"]],
    )
    ivig_medication_codes: tuple[str, ...] = Field(
        default=(),
        description="Site medication codes (system|code) that identify an intravenous immunoglobulin order on "
        "order-select; the order's text is matched too.",
        examples=[["http://www.nlm.nih.gov/research/umls/rxnorm|1234567"]],
    )
    smart_issuers: dict[str, SmartIssuer] = Field(
        default={},
        description="SMART App Launch: the EHR FHIR servers accepted as iss, each with this app's client id there "
        "(and, for a confidential client, its private key file, key id and algorithm); an http issuer only on "
        "a loopback address.",
        examples=[{"https://ehr.example.org/fhir": {"client_id": "ivig-cds"}}],
    )
    admin_token: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="Bearer token of POST /admin/evidence/reload, which loads the evidence release "
        "IVIG_CDS_EVIDENCE_DIR names now and switches to it without a restart (as SIGHUP does). Unset, the endpoint "
        "does not exist (404); at least 16 characters.",
        examples=["a long random string"],
    )
    evidence_poll_seconds: float = Field(
        default=30.0,
        ge=0,
        description="Seconds between two looks at the shared database for a newer evidence release than this "
        "replica serves (another replica switched): when its evidence directory holds that release it switches "
        "too, so replicas converge within this interval and the load. 0 never looks.",
        examples=[10],
    )
    session_secret: SecretStr | None = Field(
        default=None,
        description="Signs the widget's session cookie. Unset, the cookie is signed with a secret derived from "
        "IVIG_CDS_SESSION_KEYS, or, without those either, with a random one made at each start (logged), so a "
        "restart or a second worker ends every session.",
        examples=["a long random string"],
    )
    session_keys: tuple[SecretStr, ...] = Field(
        default=(),
        description="Seal the SMART launches and chart sessions kept in the database (the access token, her "
        "findings and who she is; AES-256-GCM): each key 32 random bytes in base64, e.g. from `openssl rand "
        "-base64 32`. The first seals, every one opens: to rotate, put a new key first and keep the old one until "
        "the sessions it sealed have expired (an hour at most), then remove it. Every worker and replica needs the "
        "same list; unset, each process seals with a random key of its own (logged), which suits one process on "
        "one machine only, and /readyz reports `smart.session_key_missing` when SMART issuers are configured with "
        "PostgreSQL or several workers.",
        examples=[["<new key, base64>", "<previous key, base64>"]],
        json_schema_extra={"default_text": "a random key per process"},
    )

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()  # once, at start: later changes of directory move nothing

    @model_validator(mode="before")
    @classmethod
    def _state_under_data_dir(cls, values: Any) -> Any:
        """The state paths not given default to places under the data directory."""
        if not isinstance(values, dict):
            return values
        base = Path(values.get("data_dir") or "var").expanduser().resolve()
        if "proof_dir" not in values:
            values = {**values, "proof_dir": base / "cache" / "proofs"}
        if "compiled_templates_dir" not in values:
            values = {**values, "compiled_templates_dir": base / "cache" / "templates"}
        if not values.get("database_url"):
            values = {**values, "database_url": f"sqlite:///{base / SQLITE_FILE}"}
        return values

    @field_validator("proof_dir", "compiled_templates_dir", "admin_token", mode="before")
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

    @field_validator("session_keys")
    @classmethod
    def _session_keys(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        """Each key 32 bytes of base64, so a truncated key fails at start; the error names its place, not its value."""
        for i, key in enumerate(value):
            try:
                decode_key(key.get_secret_value())
            except ValueError as exc:
                raise ValueError(f"key [{i}] {exc}; each key is 32 random bytes in base64") from None
        if len({key.get_secret_value() for key in value}) != len(value):
            raise ValueError("a key is listed twice")
        return value

    @field_validator("trusted_issuers", mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return issuers_in_short_form(value)


class ConfigError(Exception):
    """The environment names a setting that does not exist, or gives one a value it cannot take.

    Each line names the variable and what is allowed, never the value (it may be a secret)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines


def variable(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One line per IVIG_CDS_* variable that is no setting, naming the closest one (a typo is never ignored)."""
    known = sorted(Settings.model_fields)
    lines = []
    for name in sorted(key for key in environ if key.upper().startswith(ENV_PREFIX)):
        field = name[len(ENV_PREFIX) :].lower()
        if field in known:
            continue
        close = difflib.get_close_matches(field, known, n=1, cutoff=0.6)  # on the names alone, not the prefix
        hint = f"did you mean {variable(close[0])}?" if close else "see docs/configuration.md for every setting"
        lines.append(f"{name} is not a setting: {hint}")
    return lines


def settings_from(environ: Mapping[str, str]) -> Settings:
    """The settings the environment gives, refusing unknown IVIG_CDS_* variables and invalid values.

    Raises:
        ConfigError: an unknown variable (with the closest valid name) or a value a setting cannot take.
    """
    lines = unknown_variables(environ)
    if lines:
        raise ConfigError(lines)
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError([f"{variable(str(error['loc'][0]))}: {error['msg']}" for error in exc.errors()]) from None
    except SettingsError as exc:  # a list or mapping whose value is not JSON: named, the value never repeated
        found = re.search(r'field "(\w+)"', str(exc))
        name = variable(found.group(1)) if found else "a list or mapping setting"
        raise ConfigError([f"{name}: is not valid JSON (lists and mappings are JSON)"]) from None


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read from the environment once.

    Raises:
        ConfigError: see `settings_from`.
    """
    return settings_from(os.environ)
