"""The widget's query string for a profile: the one encoding the widget reads, so other doors can link to it."""

from __future__ import annotations

from urllib.parse import urlencode

from plugin.core.rules.profile import PatientProfile


def widget_query(profile: PatientProfile) -> str:
    """One query parameter per known field, conditions repeated, `none` for []; empty when nothing is known."""
    params: list[tuple[str, str]] = []
    for name, value in profile.model_dump(exclude_none=True).items():
        if name == "autoimmune_conditions":
            params += [(name, condition) for condition in value] or [(name, "none")]
        elif isinstance(value, bool):
            params.append((name, "true" if value else "false"))
        else:
            params.append((name, str(value)))
    return f"?{urlencode(params)}" if params else ""
