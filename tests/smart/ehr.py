"""A small, strict EHR for the SMART tests, on 127.0.0.1: an OAuth 2 authorization server built from authlib's
server components (the authorization-code grant with PKCE required, single-use codes), a FHIR server with two
patients serving their charts and Patient records to holders of a token for them, and a chart page that frames an
app.

Strict as a conformance reviewer would be: each launch is bound to the patient and the `iss` it was made with, and
the authorization request must carry that `iss` as `aud`, character for character; a v1-only server refuses v2
scope syntax; the FHIR server answers only within what the token's scope grants.

The authorize endpoint shows a consent page whose "Allow" link is the redirect back to the app, so a test can
follow it as a clinician would, or read it and tamper with it as an attacker would.
"""

from __future__ import annotations

import re
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.cds_hooks.support import load

PATIENT = "1288992"
PATIENT_B = "7430001"
LAUNCH = "launch-7f3a"
CLIENT_ID = "ivig-cds"
DENIED = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "login"}]}
V2_SCOPE = re.compile(r"^(patient|user|system)/[A-Za-z*]+\.[cruds]+(\?.*)?$")
# Who each patient is, for the banner.
PATIENTS: dict[str, dict[str, Any]] = {
    PATIENT: {"name": [{"use": "official", "family": "Aalders", "given": ["Anna"]}], "birthDate": "1990-04-12"},
    PATIENT_B: {"name": [{"use": "official", "family": "Bakker", "given": ["Britt"]}], "birthDate": "1986-09-30"},
}


def searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def observation(patient: str, code: str, date: str, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": date,
        **value,
    }


def chart_of_b(path: str, codes: str) -> dict[str, Any]:
    """The second patient's chart: RPL on her problem list, NK 7.25 % and six losses (not patient A's 18 % and 3)."""
    if path.endswith("/Condition"):
        rpl = load("conditions-snomed.json")["entry"][0]["resource"] | {
            "subject": {"reference": f"Patient/{PATIENT_B}"}
        }
        return searchset(rpl | {"recordedDate": "2024-06-10"})
    if "11614-5" in codes:
        return searchset(observation(PATIENT_B, "11614-5", "2025-09-01", {"valueInteger": 6}))
    nk = {"valueQuantity": {"value": 7.25, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}}
    return searchset(observation(PATIENT_B, "18267-5", "2026-01-15", nk))


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    """A registered public client: its id, redirect URIs and the scopes it may ask for."""

    client_id: str
    redirect_uris: list[str]
    scopes: set[str]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str | None:
        asked = set(scope.split())
        return scope if asked <= self.scopes else None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code:
    """An issued authorization code with its PKCE challenge and launch context; `used` once exchanged."""

    code: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    patient: str
    used: bool = False

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> None:
        return None

    def get_auth_time(self) -> None:
        return None

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


@dataclass(frozen=True)
class User:
    patient: str

    def get_user_id(self) -> str:
        return "practitioner-1"


class Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._datalist: dict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class FormRequest(OAuth2Request):  # type: ignore[misc]
    """A Starlette request, its form already read (authlib's server is synchronous)."""

    def __init__(self, request: Request, form: list[tuple[str, str]]) -> None:
        super().__init__(request.method, str(request.url), headers=dict(request.headers))
        self._args = dict(request.query_params)
        self._form = dict(form)
        self.payload = Payload([*request.query_params.multi_items(), *form])

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        ehr: Ehr = self.server.ehr
        ehr.codes[code] = Code(
            code,
            request.client.get_client_id(),
            data["redirect_uri"],
            request.scope,
            data.get("code_challenge"),
            data.get("code_challenge_method"),
            request.user.patient,
        )

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        found: Code | None = self.server.ehr.codes.get(code)
        if found is None or found.used or found.client_id != client.get_client_id():
            return None
        return found

    def delete_authorization_code(self, authorization_code: Code) -> None:
        authorization_code.used = True  # single use: a second exchange finds no code

    def authenticate_user(self, authorization_code: Code) -> User:
        return User(authorization_code.patient)


class Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, ehr: Ehr) -> None:
        super().__init__()
        self.ehr = ehr
        self.register_grant(CodeGrant, [CodeChallenge(required=True)])
        self.register_token_generator("default", ehr.bearer_token)

    def create_oauth2_request(self, request: FormRequest) -> FormRequest:
        return request  # built by the route, which has read the form already

    def query_client(self, client_id: str) -> Client | None:
        return self.ehr.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        patient = request.user.patient if request.user else ""
        issued = Issued(patient, time.time() + float(token["expires_in"]), set(str(token.get("scope", "")).split()))
        self.ehr.tokens[token["access_token"]] = issued

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
        if status == 302:
            return Response(status_code=302, headers=dict(headers))
        return JSONResponse(body, status_code=status, headers=dict(headers))

    def handle_error_response(self, request: OAuth2Request, error: Any) -> Response:
        self.ehr.refusals.append((error.error, error.description or ""))
        response: Response = super().handle_error_response(request, error)
        return response

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signals: nothing listens."""


@dataclass(frozen=True)
class Issued:
    """An access token: for whom, until when (epoch seconds) and what its scope grants."""

    patient: str
    expires: float
    scope: set[str]

    def allows(self, resource: str, action: str) -> bool:
        for scope in self.scope:
            context, _, rest = scope.partition("/")
            kind, _, permission = rest.partition(".")
            if context == "patient" and kind in (resource, "*"):
                if permission in ("read", "*") or action in permission.partition("?")[0]:
                    return True
        return False


@dataclass
class Ehr:
    """The EHR's state: registered clients, launches, issued codes and tokens, what it refused and was asked.

    `token_lifetime` is sent as `expires_in` as it is (an int, or a float such as 3600.0); `withheld` scopes are left
    out of what a token grants; `token_extras` are added to the token response (`need_patient_banner`...); every
    search answers `oversized`, when set, streamed without a length.
    """

    base: str = ""
    token_lifetime: float = 300
    fhir_refuses: bool = False
    denies: bool = False
    omits_patient: bool = False
    configuration_broken: bool = False
    empty_chart: bool = False
    oversized: bytes | None = None
    v1_only: bool = False
    withheld: set[str] = field(default_factory=set)
    token_extras: dict[str, Any] = field(default_factory=dict)
    launches: dict[str, tuple[str, str | None]] = field(default_factory=lambda: {LAUNCH: (PATIENT, None)})
    clients: dict[str, Client] = field(default_factory=dict)
    codes: dict[str, Code] = field(default_factory=dict)
    tokens: dict[str, Issued] = field(default_factory=dict)
    refusals: list[tuple[str, str]] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)

    @property
    def fhir(self) -> str:
        return f"{self.base}/fhir"

    def launch(self, patient: str, iss: str | None = None) -> str:
        """A new EHR launch for this patient, made with `iss` (the FHIR base as written; by default `fhir`)."""
        launch_id = f"launch-{secrets.token_urlsafe(8)}"
        self.launches[launch_id] = (patient, iss)
        return launch_id

    def register(self, redirect_uri: str, scopes: set[str]) -> None:
        self.clients[CLIENT_ID] = Client(CLIENT_ID, [redirect_uri], scopes)

    def bearer_token(self, grant_type: str, client: Client, user: User, scope: str, **_: Any) -> dict[str, Any]:
        granted = " ".join(s for s in scope.split() if s not in self.withheld)
        return {
            "access_token": f"tok-{secrets.token_urlsafe(24)}",
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "scope": granted,
            **({} if self.omits_patient else {"patient": user.patient}),
            **self.token_extras,
        }

    def refuse(self, error: str, description: str) -> JSONResponse:
        self.refusals.append((error, description))
        return JSONResponse({"error": error, "error_description": description}, status_code=400)

    def app(self) -> Starlette:
        server = Server(self)

        async def configuration(request: Request) -> JSONResponse:
            self.requests.append(("GET", request.url.path, {}))
            if self.configuration_broken:
                return JSONResponse({"error": "unavailable"}, status_code=503)
            permission = ["permission-v1"] if self.v1_only else ["permission-v1", "permission-v2"]
            return JSONResponse(
                {
                    "authorization_endpoint": f"{self.base}/auth/authorize",
                    "token_endpoint": f"{self.base}/auth/token",
                    "grant_types_supported": ["authorization_code"],
                    "code_challenge_methods_supported": ["S256"],
                    "capabilities": [
                        "launch-ehr",
                        "launch-standalone",
                        "client-public",
                        "context-ehr-patient",
                        "context-banner",
                        *permission,
                    ],
                }
            )

        async def authorize(request: Request) -> Response:
            params = dict(request.query_params)
            self.authorize_requests.append(params)
            scopes = params.get("scope", "").split()
            if "launch" in params:
                if params["launch"] not in self.launches:
                    return self.refuse("invalid_request", "unknown launch")
                patient, iss = self.launches[params["launch"]]
            elif "launch/patient" in scopes:
                patient, iss = PATIENT, None
            else:
                return self.refuse("invalid_request", "no launch context")
            if params.get("aud") != (iss or self.fhir):
                return self.refuse("invalid_request", "aud is not the iss of this launch")
            if self.v1_only and any(V2_SCOPE.match(scope) for scope in scopes):
                return self.refuse("invalid_scope", "SMART v2 scope syntax on a v1-only server")
            oauth = FormRequest(request, [])
            grant = server.get_consent_grant(oauth, end_user=User(patient))
            user = None if self.denies else User(patient)
            answer: Response = server.create_authorization_response(oauth, grant_user=user, grant=grant)
            location = answer.headers.get("location")
            if answer.status_code != 302 or location is None:
                return answer
            page = f'<!doctype html><title>EHR sign-in</title><a id="allow" href="{escape(location)}">Allow</a>'
            return HTMLResponse(page)

        async def token(request: Request) -> Response:
            form = parse_qsl((await request.body()).decode("ascii"))
            result: Response = server.create_token_response(FormRequest(request, form))
            return result

        def holder(request: Request, patient: str | None, resource: str, action: str) -> Issued | None:
            """The token's grant, if it lets the bearer `action` this `resource` of this patient."""
            scheme, _, presented = request.headers.get("authorization", "").partition(" ")
            issued = self.tokens.get(presented) if scheme == "Bearer" else None
            if self.fhir_refuses or issued is None or issued.expires <= time.time() or patient != issued.patient:
                return None
            return issued if issued.allows(resource, action) else None

        async def search(request: Request) -> Response:
            self.requests.append(("GET", request.url.path, dict(request.query_params)))
            resource = request.url.path.rpartition("/")[2]
            patient = request.query_params.get("patient")
            if holder(request, patient, resource, "s") is None:
                return JSONResponse(DENIED, status_code=401)
            if self.empty_chart:
                return JSONResponse(searchset())
            if self.oversized is not None:
                whole = self.oversized
                pieces = (whole[start : start + 65536] for start in range(0, len(whole), 65536))
                return StreamingResponse(pieces, media_type="application/fhir+json")
            codes = request.query_params.get("code", "")
            if patient == PATIENT_B:
                return JSONResponse(chart_of_b(request.url.path, codes))
            if resource == "Condition":
                return JSONResponse(load("conditions-snomed.json"))
            return JSONResponse(load("obstetric-3-losses.json" if "11614-5" in codes else "nk-percent.json"))

        async def patient_read(request: Request) -> JSONResponse:
            patient = request.path_params["id"]
            self.requests.append(("GET", request.url.path, {}))
            if holder(request, patient, "Patient", "r") is None or patient not in PATIENTS:
                return JSONResponse(DENIED, status_code=401)
            return JSONResponse({"resourceType": "Patient", "id": patient, **PATIENTS[patient]})

        async def chart(request: Request) -> HTMLResponse:
            src = request.query_params.get("src", "")
            frame = f'<iframe title="IVIG widget" width="420" height="900" src="{escape(src)}"></iframe>'
            return HTMLResponse(f"<!doctype html><title>EHR chart</title><h1>Chart</h1>{frame}")

        return Starlette(
            routes=[
                Route("/fhir/.well-known/smart-configuration", configuration),
                Route("/auth/authorize", authorize),
                Route("/auth/token", token, methods=["POST"]),
                Route("/fhir/Condition", search),
                Route("/fhir/Observation", search),
                Route("/fhir/Patient/{id}", patient_read),
                Route("/chart", chart),
            ]
        )
