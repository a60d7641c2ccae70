"""The OpenAPI document, told the truth: every status each operation can answer, each with its door's error body.

FastAPI lists 200 and its own 422 (whose body, HTTPValidationError, this service never sends). The limits answer
400, 413, 414 and 422 on any operation, a defect 500, and the CDS Hooks services 401 and 412 as well. Each door
has one error body and one content type: an OperationOutcome (application/json on CDS Hooks, application/fhir+json
on the FHIR Evidence endpoint), an HTML page on the pages an EHR frames, the JSON doors' `ErrorBody` elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plugin.web.errors import ErrorBody

OUTCOME_SCHEMA: dict[str, Any] = {
    "title": "OperationOutcome",
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
        "issue": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {"type": "string"},
                    "code": {"type": "string"},
                    "diagnostics": {"type": "string"},
                    "details": {"type": "object"},
                    "expression": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}
WHY: dict[int, str] = {
    400: "The request's framing is wrong (a Content-Length that is not a number).",
    401: "No client JWT, or one that does not verify (no body).",
    404: "No such resource.",
    412: "The problem list was neither prefetched nor retrievable from the FHIR server.",
    413: "The body is larger than the limit; the message names the limit.",
    414: "The query string is longer than the limit.",
    422: "A field is invalid or the JSON is not strict; the body names each field, never its value.",
    500: "An unexpected defect; the body names nothing.",
}
FORBIDDEN_FRAMEWORK_SCHEMAS = ("HTTPValidationError", "ValidationError")


# Each door's error body: (media type, schema).
ERROR_BODIES: dict[str, tuple[str, dict[str, Any]]] = {
    "cds": ("application/json", {"$ref": "#/components/schemas/OperationOutcome"}),
    "fhir": ("application/fhir+json", {"$ref": "#/components/schemas/OperationOutcome"}),
    "page": ("text/html", {"type": "string"}),
    "json": ("application/json", {"$ref": "#/components/schemas/ErrorBody"}),
    "mcp": ("application/json", {"type": "object"}),
}


def error_response(status: int, door: str | None) -> dict[str, Any]:
    if door is None:
        return {"description": WHY[status]}
    media, schema = ERROR_BODIES[door]
    return {"description": WHY[status], "content": {media: {"schema": schema}}}


def statuses_for(path: str, method: str, operation: dict[str, Any], cds_prefix: str) -> list[int]:
    statuses = [414, 422, 500]
    if "requestBody" in operation:
        statuses += [400, 413]
    if path.startswith(f"{cds_prefix}/") and method == "post":
        statuses += [401] if path.endswith("/feedback") else [401, 412]
    if "{" in path:
        statuses.append(404)
    return sorted(statuses)


def document_errors(schema: dict[str, Any], cds_prefix: str, door_of: Callable[[str], str]) -> dict[str, Any]:
    """Add every error status to every operation of `schema` (in place), in the body of the door `door_of` names
    for its path, and return it."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in FORBIDDEN_FRAMEWORK_SCHEMAS:
        components.pop(name, None)
    error_json = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(error_json.pop("$defs", {}))
    components["ErrorBody"] = error_json
    components["OperationOutcome"] = OUTCOME_SCHEMA
    for path, operations in schema.get("paths", {}).items():
        door = door_of(path)
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in statuses_for(path, method, operation, cds_prefix):
                documented = responses.get(str(status), {})
                if status == 422 and documented.get("content") == {}:  # a door that answers 422 in its own page
                    continue
                responses[str(status)] = error_response(status, None if status == 401 else door)
    return schema
