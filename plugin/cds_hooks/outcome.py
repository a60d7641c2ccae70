"""FHIR OperationOutcome: the body of every non-2xx CDS Hooks response that has one (the 401 stays bare).

Nothing from the request is echoed: a validation issue names the field's path (`context.selections`,
`feedback[2].overrideReason`), never its value, since prefetch carries patient data and `fhirAuthorization`
carries a token. `diagnostics` holds the stable error code that clients and tests rely on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from plugin.errors import MissingDataError, PluginError, UpstreamError
from plugin.storage.errors import StorageUnavailableError

ISSUE_TYPES: list[tuple[type[PluginError], str]] = [
    (MissingDataError, "processing"),
    (UpstreamError, "transient"),
    (StorageUnavailableError, "transient"),
]
# What a status means, as a FHIR issue type and our code, for errors raised by the framework rather than by us.
HTTP_ISSUES: dict[int, tuple[str, str]] = {
    400: ("invalid", "cds.bad_request"),
    404: ("not-found", "cds.not_found"),
    405: ("not-supported", "cds.method_not_allowed"),
    415: ("not-supported", "cds.unsupported_media_type"),
    500: ("exception", "cds.internal_error"),
}
# pydantic's own messages can quote the input (a UUID's bad character, a date's tail), so only the error type is
# turned into words here; messages of our own validators (types starting "cds.") never carry values.
READABLE: dict[str, str] = {
    "missing": "is required",
    "json_invalid": "is not valid JSON",
    "literal_error": "is not one of the allowed values",
    "too_short": "must not be empty",
    "string_too_short": "must not be empty",
    "extra_forbidden": "is not allowed",
    "timezone_aware": "needs a time zone",
    "too_long": "has too many items",
    "string_pattern_mismatch": "holds characters that are not allowed",
}


def outcome(*issues: Mapping[str, Any]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [dict(issue) for issue in issues]}


def operation_outcome(error: PluginError) -> dict[str, Any]:
    """A FHIR OperationOutcome for a non-2xx CDS Hooks response; `diagnostics` carries the stable error code."""
    issue_type = next((kind for cls, kind in ISSUE_TYPES if isinstance(error, cls)), "exception")
    return outcome(
        {"severity": "error", "code": issue_type, "diagnostics": error.code, "details": {"text": error.message}}
    )


def http_outcome(status: int, prefix: str = "cds") -> dict[str, Any]:
    """An OperationOutcome for a status the framework answers itself (unknown service, wrong method...); its code
    under `prefix` (`cds.not_found`; another FHIR door's under its own)."""
    issue_type, code = HTTP_ISSUES.get(status, ("exception" if status >= 500 else "invalid", f"cds.http_{status}"))
    return outcome({"severity": "error", "code": issue_type, "diagnostics": f"{prefix}.{code.partition('.')[2]}"})


def field_path(location: Sequence[str | int]) -> str:
    """`("body", "feedback", 2, "outcome")` -> `feedback[2].outcome`; the body itself is `body`."""
    parts = list(location[1:] if location and location[0] == "body" else location)
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def invalid_request(errors: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A 422 OperationOutcome: one issue per invalid field, naming its path and what is wrong, never its value."""
    issues = []
    for error in errors:
        kind = str(error.get("type", ""))
        location = tuple(error.get("loc", ()))
        if kind.startswith("cds."):  # our rules across fields name the field they are about in ctx
            location += tuple(filter(None, [(error.get("ctx") or {}).get("field")]))
        path = "body" if kind == "json_invalid" else field_path(location)
        reason = str(error.get("msg")) if kind.startswith("cds.") else READABLE.get(kind, "is not valid")
        if kind == "string_too_long":  # the limit is ours, never the caller's value
            reason = f"is longer than {int((error.get('ctx') or {}).get('max_length', 0))} characters"
        code = "request.missing_field" if kind == "missing" else "request.invalid_field"
        issues.append(
            {
                "severity": "error",
                "code": "required" if kind == "missing" else "invalid",
                "diagnostics": code,
                "details": {"text": f"{path} {reason}"},
                "expression": [path],
            }
        )
    return outcome(*issues)


def refusal_outcome(status: int, code: str, message: str, field: str) -> dict[str, Any]:
    """An OperationOutcome for a request refused before parsing (too large, not strict JSON), naming the field."""
    issue_type = "too-costly" if status in (413, 414) else "invalid"
    return outcome(
        {
            "severity": "error",
            "code": issue_type,
            "diagnostics": code,
            "details": {"text": message},
            "expression": [field],
        }
    )
