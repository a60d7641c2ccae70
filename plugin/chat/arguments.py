"""Tool-argument errors as a model can act on them: one line per field and what is allowed.

pydantic's own text is a multi-line dump with a documentation link; a model reading it tends to retry blindly.
Each line here is `field: what is allowed`, e.g. `nk_cell_percent: must be at most 100`. The value sent is
never repeated (it may be a patient's finding, and the caller has it), and never logged.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails


def field_of(error: ErrorDetails) -> str:
    return ".".join(str(part) for part in error["loc"]) or "arguments"


def allowed(error: ErrorDetails, model: type[BaseModel]) -> str:
    """What the field accepts, in a few words."""
    kind, ctx = error["type"], error.get("ctx") or {}
    bounds = {
        "less_than_equal": ("at most", "le"),
        "less_than": ("less than", "lt"),
        "greater_than_equal": ("at least", "ge"),
        "greater_than": ("greater than", "gt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        bound = ctx[key]
        return f"must be {words} {int(bound) if isinstance(bound, float) and bound.is_integer() else bound}"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}"
    if kind == "extra_forbidden":
        return f"is not an argument of this tool; it takes {', '.join(model.model_fields) or 'no arguments'}"
    if kind in ("int_type", "int_from_float", "int_parsing"):
        return "must be a whole number, or null if not known"
    if kind in ("float_type", "float_parsing", "finite_number"):
        return "must be a finite number, or null if not known"
    if kind == "bool_type":
        return "must be true or false, or null if not known"
    if kind in ("string_type", "enum"):
        return "must be a string, or null if not known"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return str(error["msg"]).lower()


def error_lines(exc: ValidationError, model: type[BaseModel]) -> list[str]:
    return [f"{field_of(e)}: {allowed(e, model)}" for e in exc.errors(include_url=False)]


def fields(exc: ValidationError) -> list[str]:
    """The rejected fields' names only: what the server log may say about a refused call."""
    return sorted({field_of(e) for e in exc.errors(include_url=False)})


def invalid_text(tool: str, lines: Iterable[str]) -> str:
    listed = "\n".join(f"- {line}" for line in lines)
    return (
        f"Invalid arguments for {tool}:\n{listed}\n"
        "Correct them and call again; send null for a finding that is not known, never a guess."
    )
