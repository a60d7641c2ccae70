"""The JSON doors' error shape, `{"error": {"code", "message", "details"}}`, for every error that has a body.

Validation errors name each field by its path (`nk_cell_percent`, `autoimmune_conditions[1]`) and say what is
allowed, from the constraint (`ctx`), never from the input: FastAPI's default 422 echoes the request, which can
hold a patient's findings and cannot even be serialized when it holds NaN.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

# What each pydantic error type means, in words; `{name}` is filled from the error's ctx (limits, allowed values).
REASONS: dict[str, str] = {
    "missing": "is required",
    "extra_forbidden": "is not allowed",
    "json_invalid": "is not valid JSON",
    "literal_error": "must be one of {expected}",
    "enum": "must be one of {expected}",
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
    "finite_number": "must be a finite number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be a JSON object",
    "too_short": "must have at least {min_length} items",
    "too_long": "must have at most {max_length} items",
    "string_too_short": "must be at least {min_length} characters",
    "string_too_long": "must be at most {max_length} characters",
}


class FieldProblem(BaseModel):
    path: str
    code: str
    message: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorBody(BaseModel):
    """Every non-2xx body of the JSON doors; `details.fields` names the fields at fault, when there are any."""

    error: ErrorDetail


def field_path(location: Sequence[str | int]) -> str:
    """`("body", "feedback", 2, "outcome")` -> `feedback[2].outcome`; the body itself is `body`."""
    parts = list(location[1:] if location and location[0] in ("body", "query", "path") else location)
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or str(location[0] if location else "body")


def shown(value: object) -> str:
    """A constraint as a person writes it: 100, not 100.0."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def reason(error: Mapping[str, Any]) -> str:
    """What is wrong with the field, from its type and constraint; messages of our own validators say it alone."""
    kind = str(error.get("type", ""))
    context = error.get("ctx") or {}
    if kind == "value_error":  # our validators' messages never carry the value (see plugin.core.rules.profile)
        return str(error.get("msg", "")).removeprefix("Value error, ")
    template = REASONS.get(kind)
    if template is None:
        return "is not valid"
    try:
        return template.format(**{key: shown(value) for key, value in context.items()})
    except (KeyError, IndexError):
        return "is not valid"


def error_body(code: str, message: str, fields: Iterable[FieldProblem] = (), **details: Any) -> dict[str, Any]:
    problems = [problem.model_dump() for problem in fields]
    return {"error": {"code": code, "message": message, "details": {**details, "fields": problems}}}


def validation_body(errors: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A 422 body naming every invalid field and what is allowed, echoing no value."""
    problems = []
    for error in errors:
        kind = str(error.get("type", ""))
        path = "body" if kind == "json_invalid" else field_path(tuple(error.get("loc", ())))
        code = "request.missing_field" if kind == "missing" else "request.invalid_field"
        problems.append(FieldProblem(path=path, code=code, message=f"{path} {reason(error)}"))
    names = ", ".join(dict.fromkeys(problem.path for problem in problems))
    return error_body("request.invalid", f"invalid request: {names}", problems)
