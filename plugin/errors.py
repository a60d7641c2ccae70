"""The plugin's exception tree; each class carries a stable dotted `code` that tests and clients rely on.

```
PluginError                      (base; each subclass has a class-level `code`)
├── EvidenceError                load time: bad evidence file, missing provenance, inconsistent numbers → won't start
├── RuleTableError               load time: bad cell, unknown input, gap or overlap, missing table → won't start
├── TemplateError                load time: a template that does not compile, or a channel that cannot render
├── ProfileError                 request: a valid profile asks for something that does not fit her (a sourced baseline
│                                measured in women she is not among)
├── MissingDataError             request: a datum the service cannot work without is absent and could not be fetched
├── UpstreamError                request: FHIR server error or timeout
├── StudyDataError               curator input: a study-counts CSV with a missing column or an impossible count
└── PoolingError                 curator input: counts from which the chosen method cannot pool (no events, no studies)
```

A non-answer (`insufficient_information`, `outside_population`, `not_rpl`) is not an error: it is an `Answer`.
No HTTP here; `app.py` maps these classes to responses in one place.
"""

from __future__ import annotations

from typing import Any, ClassVar


class PluginError(Exception):
    """Base class. `code` names the failure; `details` says where (file, field, value)."""

    code: ClassVar[str] = "plugin.error"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]  # a more specific code than the class default
        self.details = details

    def __str__(self) -> str:
        where = ", ".join(f"{key}={value!r}" for key, value in self.details.items())
        return f"[{self.code}] {self.message}" + (f" ({where})" if where else "")


class EvidenceError(PluginError):
    """An evidence file is missing, malformed, unprovenanced or internally inconsistent."""

    code = "evidence.invalid"


class RuleTableError(PluginError):
    """A decision table has a bad cell, an unknown input, a dangling estimate id, a gap or an overlap."""

    code = "rules.invalid"


class TemplateError(PluginError):
    """A template is missing or does not compile, or a channel renders some status wrongly: found at start."""

    code = "templates.invalid"


class ProfileError(PluginError):
    """The profile is valid field by field, but asks for something that does not fit her (`details["field"]` names
    the field); the message says why without repeating her values."""

    code = "profile.invalid"


class MissingDataError(PluginError):
    """A datum the service cannot work without is absent from prefetch and could not be fetched."""

    code = "fhir.unavailable"


class UpstreamError(PluginError):
    """The FHIR server failed or timed out."""

    code = "fhir.upstream_error"


class StudyDataError(PluginError):
    """A study-counts file is empty, lacks a column, or holds a count that cannot be (row and column in details)."""

    code = "study_data.invalid"


class PoolingError(PluginError):
    """The chosen pooling method is undefined for these counts, or its estimator did not converge."""

    code = "pooling.undefined"
