"""FHIR OperationOutcome: the body of every non-2xx CDS Hooks response that has one."""

from __future__ import annotations

from typing import Any

from plugin.core.errors import MissingDataError, PluginError, UpstreamError

ISSUE_TYPES: list[tuple[type[PluginError], str]] = [(MissingDataError, "processing"), (UpstreamError, "transient")]


def operation_outcome(error: PluginError) -> dict[str, Any]:
    """A FHIR OperationOutcome for a non-2xx CDS Hooks response; `diagnostics` carries the stable error code."""
    issue_type = next((kind for cls, kind in ISSUE_TYPES if isinstance(error, cls)), "exception")
    issue = {"severity": "error", "code": issue_type, "diagnostics": error.code, "details": {"text": error.message}}
    return {"resourceType": "OperationOutcome", "issue": [issue]}
