"""The profile's query string, the one encoding the widget and the decision aid read, so other doors can link to
either; and how every door offers the decision aid."""

from __future__ import annotations

from urllib.parse import urlencode

from plugin.core.rules.profile import PatientProfile

DECISION_AID_PATH = "/decision-aid"
# Said wherever the decision aid is offered (the widget, the CDS card, the MCP prompt): what it is for, and not.
NOT_ADVICE = "material for a conversation with a clinician, not advice"
DECISION_AID_LABEL = f"Decision aid for the talk with the patient, in plain words: {NOT_ADVICE}"


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


def decision_aid_url(profile: PatientProfile, base_url: str = "") -> str:
    """The decision aid for this profile, on the plugin's own origin (`base_url` empty) or at its public URL."""
    return f"{base_url.rstrip('/')}{DECISION_AID_PATH}{widget_query(profile)}"
